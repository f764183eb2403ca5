#include "app/presence.hpp"

#include "app/sessions.hpp"

#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/log.hpp"

namespace roomcast::edge {

namespace log = core::log;

PresenceTracker::PresenceTracker(natsbus::Connection& nats, std::string edge_id, int replicas,
                                 contract::StorageBudgets budgets)
    : nats_(nats), edge_id_(std::move(edge_id)), replicas_(replicas), budgets_(budgets) {}

natsbus::Result<void> PresenceTracker::start() {
    auto kv = nats_.jetstream().key_value(contract::presence_bucket(replicas_, budgets_));
    if (!kv) {
        return kv.error();
    }
    kv_ = std::move(*kv);
    // A restarted edge (same id) starts with no sockets: whatever its last run left is stale.
    auto keys = kv_->keys(contract::edge_entry_key_filter(edge_id_));
    if (!keys) {
        return keys.error();
    }
    bus::v1::PresenceEntry gone;
    gone.set_edge_id(edge_id_);
    gone.set_sockets(0);
    gone.set_updated_ms(unix_ms());
    for (const auto& key : *keys) {
        (void)kv_->put(key, gone.SerializeAsString());
    }
    return {};
}

void PresenceTracker::set(const std::string& room, const std::string& user, const std::string& name,
                          std::uint32_t sockets, bool lost, std::function<void()> written) {
    const std::string key = contract::entry_key(edge_id_, room, user);
    std::lock_guard lock(mu_);
    auto& e = entries_[key];
    if (e.room.empty()) {
        e.room = room;
        e.user = user;
    }
    if (!name.empty()) {
        e.name = name;
    }
    e.sockets = sockets;
    e.lost = sockets == 0 && lost;
    if (written) {
        e.waiters.push_back(std::move(written));
    }
    if (e.writing) {
        e.dirty = true;
        return;
    }
    write_locked(key, e);
}

void PresenceTracker::write_locked(const std::string& key, Entry& e) {
    bus::v1::PresenceEntry entry;
    entry.set_edge_id(edge_id_);
    entry.set_room(e.room);
    entry.set_user_id(e.user);
    entry.set_name(e.name);
    entry.set_sockets(e.sockets);
    entry.set_lost(e.lost);
    entry.set_updated_ms(unix_ms());
    e.writing = true;
    e.dirty = false;
    kv_->put_async(key, entry.SerializeAsString(), [this, key](natsbus::Result<std::uint64_t> r) {
        if (!r) {
            log::warn("presence entry not written", {{"error", r.error().message()}});
        }
        on_written(key);
    });
}

void PresenceTracker::on_written(const std::string& key) {
    std::vector<std::function<void()>> waiters;
    {
        std::lock_guard lock(mu_);
        auto it = entries_.find(key);
        if (it == entries_.end()) {
            return;
        }
        auto& e = it->second;
        e.writing = false;
        if (e.dirty) {
            // The waiters wait for the newest value, which this write did not carry yet.
            write_locked(key, e);
            return;
        }
        waiters = std::move(e.waiters);
        // Written: the counts live in the room fabric, nothing here to remember.
        entries_.erase(it);
    }
    for (auto& w : waiters) {
        w();
    }
}

void PresenceTracker::query(const std::string& room, std::uint32_t limit,
                            std::function<void(natsbus::Result<bus::v1::PresenceQueryResult>)> done) {
    bus::v1::PresenceQuery q;
    q.set_room(room);
    q.set_limit(limit);
    nats_.request_async(contract::kPresenceQuerySubject, q.SerializeAsString(),
                        std::chrono::milliseconds(2000),
                        [done = std::move(done)](natsbus::Result<natsbus::Message> reply) {
                            if (!reply) {
                                done(reply.error());
                                return;
                            }
                            bus::v1::PresenceQueryResult result;
                            if (!result.ParseFromString(reply->data)) {
                                done(make_error_code(natsbus::Errc::kOther));
                                return;
                            }
                            done(std::move(result));
                        });
}

}  // namespace roomcast::edge
