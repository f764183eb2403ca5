#include "app/sessions.hpp"

#include "roomcast/contract/storage.hpp"
#include "roomcast/core/log.hpp"

namespace roomcast::edge {

namespace log = core::log;

std::int64_t unix_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

SessionStore::SessionStore(natsbus::Connection& nats, std::string edge_id, SessionStoreOptions options)
    : nats_(nats), edge_id_(std::move(edge_id)), options_(std::move(options)) {}

natsbus::Result<void> SessionStore::open() {
    auto s =
        nats_.jetstream().key_value(contract::sessions_bucket(options_.replicas, options_.budgets));
    if (!s) {
        return s.error();
    }
    sessions_ = std::move(*s);
    // Its TTL outlives the longest recovery window, so a missing heartbeat means "dead for
    // longer than the window" (contract::kEdgesTtl).
    auto e =
        nats_.jetstream().key_value(contract::edges_bucket(options_.replicas, options_.budgets));
    if (!e) {
        return e.error();
    }
    edges_ = std::move(*e);
    return {};
}

void SessionStore::start_heartbeat(boost::asio::io_context& executor,
                                   std::function<void(bus::v1::EdgeHeartbeat&)> fill) {
    fill_ = std::move(fill);
    heartbeat_timer_ = std::make_unique<boost::asio::steady_timer>(executor);
    beat();
}

void SessionStore::stop_heartbeat() {
    if (heartbeat_timer_) {
        heartbeat_timer_->cancel();
    }
}

void SessionStore::beat() {
    bus::v1::EdgeHeartbeat hb;
    if (fill_) {
        fill_(hb);
    }
    hb.set_last_seen_ms(unix_ms());
    edges_->put_async(edge_id_, hb.SerializeAsString(), [](natsbus::Result<std::uint64_t> r) {
        if (!r) {
            log::debug("edge heartbeat not written", {{"error", r.error().message()}});
        }
    });
    heartbeat_timer_->expires_after(options_.heartbeat_interval);
    heartbeat_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
            beat();
        }
    });
}

void SessionStore::lookup(std::string pid, std::string user_id,
                          std::function<void(std::optional<Recoverable>)> done) {
    sessions_->get_async(pid, [this, user_id = std::move(user_id), done = std::move(done)](
                                  natsbus::Result<std::optional<natsbus::KvEntry>> entry) mutable {
        if (!entry || !*entry) {
            done(std::nullopt);
            return;
        }
        Recoverable rec;
        rec.revision = (*entry)->revision;
        if (!rec.record.ParseFromString((*entry)->value) || rec.record.user_id() != user_id) {
            done(std::nullopt);
            return;
        }
        const std::int64_t now = unix_ms();
        const std::int64_t window = options_.recovery_window.count();
        if (rec.record.disconnected_at_ms() != 0) {
            done(now - rec.record.disconnected_at_ms() <= window ? std::optional(std::move(rec))
                                                                 : std::nullopt);
            return;
        }
        if (rec.record.edge_id() == edge_id_) {
            done(std::move(rec));  // our own socket, not yet noticed as gone: take it over
            return;
        }
        // Connected on another edge: alive (the client reconnected before that edge noticed)
        // or dead since its last heartbeat.
        // The key is copied first: the callback below takes `rec` by move, and the order in
        // which the two arguments are evaluated is unspecified.
        std::string edge_key = rec.record.edge_id();
        edges_->get_async(std::move(edge_key),
                          [this, rec = std::move(rec), done = std::move(done)](
                              natsbus::Result<std::optional<natsbus::KvEntry>> hb_entry) mutable {
                              if (!hb_entry || !*hb_entry) {
                                  done(std::nullopt);
                                  return;
                              }
                              bus::v1::EdgeHeartbeat hb;
                              hb.ParseFromString((*hb_entry)->value);
                              const std::int64_t now = unix_ms();
                              const bool alive =
                                  now - hb.last_seen_ms() <= options_.edge_dead_after.count();
                              const bool in_window =
                                  now - hb.last_seen_ms() <= options_.recovery_window.count();
                              done(alive || in_window ? std::optional(std::move(rec)) : std::nullopt);
                          });
    });
}

void SessionStore::write(const std::string& pid, const bus::v1::SessionRecord& record,
                         std::uint64_t revision,
                         std::function<void(natsbus::Result<std::uint64_t>)> done) {
    if (revision == 0) {
        sessions_->create_async(pid, record.SerializeAsString(), std::move(done));
    } else {
        sessions_->update_async(pid, record.SerializeAsString(), revision, std::move(done));
    }
}

void SessionStore::take_over(const std::string& pid, const bus::v1::SessionRecord& record,
                             std::function<void(natsbus::Result<std::uint64_t>)> done) {
    sessions_->put_async(pid, record.SerializeAsString(), std::move(done));
}

void SessionStore::erase(const std::string& pid) {
    sessions_->erase_async(pid, [](natsbus::Result<void> r) {
        if (!r) {
            log::debug("session record not erased", {{"error", r.error().message()}});
        }
    });
}

}  // namespace roomcast::edge
