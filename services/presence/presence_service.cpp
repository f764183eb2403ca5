#include "presence_service.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/core/log.hpp"

#include <boost/asio/post.hpp>

#include <future>
#include <limits>
#include <tuple>

namespace roomcast::presence {

namespace log = core::log;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxHeartbeatBytes = 1024;

std::int64_t steady_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::int64_t unix_ms() noexcept {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

PresenceService::PresenceService(natsbus::Connection& nats, ServiceOptions options)
    : nats_(nats),
      options_(std::move(options)),
      work_(boost::asio::make_work_guard(io_)),
      batch_timer_(io_),
      state_(StateOptions{options_.grace, options_.edge_dead_after, options_.max_users_per_change,
                          options_.max_entries}) {}

PresenceService::~PresenceService() {
    stop();
}

template <class F>
void PresenceService::post(F&& f) {
    boost::asio::post(io_, std::forward<F>(f));
}

natsbus::Result<void> PresenceService::start() {
    auto& js = nats_.jetstream();
    // The contract's settings (the edges own the first two: this service binds to them as they
    // are; it owns the leader's); names and the leader's lease as configured (tests run under
    // names of their own, with a shorter lease).
    natsbus::KvConfig presence =
        contract::presence_bucket(options_.replicas, options_.budgets, options_.storage);
    presence.bucket = options_.presence_bucket;
    natsbus::KvConfig edges =
        contract::edges_bucket(options_.replicas, options_.budgets, options_.storage);
    edges.bucket = options_.edges_bucket;
    natsbus::KvConfig leader =
        contract::presence_leader_bucket(options_.replicas, options_.budgets, options_.storage);
    leader.bucket = options_.leader_bucket;
    leader.ttl = options_.leader_ttl;
    using natsbus::BucketRole;
    for (auto [config, slot, role] : {std::tuple{&presence, &presence_kv_, BucketRole::kUser},
                                      std::tuple{&edges, &edges_kv_, BucketRole::kUser},
                                      std::tuple{&leader, &leader_kv_, BucketRole::kOwner}}) {
        auto kv = natsbus::again_on_timeout(config->bucket, [&] { return js.key_value(*config, role); });
        if (!kv) {
            log::error("cannot open a KV bucket",
                       {{"bucket", config->bucket}, {"error", kv.error().message()}});
            return kv.error();
        }
        *slot = std::move(*kv);
    }

    running_ = true;
    strand_thread_ = std::thread([this] { io_.run(); });

    // Heartbeats first, so that every entry of the initial load meets its edge's liveness.
    auto edges_loaded = std::make_shared<std::promise<void>>();
    auto edges_ready = edges_loaded->get_future();
    auto ew = edges_kv_->watch(
        ">", [this](natsbus::KvEntry&& e) { post([this, e = std::move(e)] { on_edge_entry(e); }); },
        [this, edges_loaded] {
            post([this, edges_loaded] {
                edges_initial_ = false;
                edges_loaded->set_value();
            });
        });
    if (!ew) {
        log::error("cannot watch the edges bucket", {{"error", ew.error().message()}});
        return ew.error();
    }
    edges_watch_ = std::move(*ew);
    if (edges_ready.wait_for(options_.edges_load_timeout) != std::future_status::ready) {
        log::error("edge heartbeats did not load in time",
                   {{"timeout_ms", options_.edges_load_timeout.count()}});
        return natsbus::make_error_code(natsbus::Errc::kTimeout);
    }

    auto pw = presence_kv_->watch(
        contract::kEntryKeyFilter,
        [this](natsbus::KvEntry&& e) { post([this, e = std::move(e)] { on_presence_entry(e); }); },
        [this] { post([this] { on_initial_state_loaded(); }); });
    if (!pw) {
        log::error("cannot watch the presence bucket", {{"error", pw.error().message()}});
        return pw.error();
    }
    presence_watch_ = std::move(*pw);

    leader_thread_ = std::thread([this] { leader_loop(); });
    return {};
}

// --------------------------------------------------------------------------------------------
// Inputs (strand)

void PresenceService::on_edge_entry(const natsbus::KvEntry& entry) {
    if (!contract::valid_edge_id(entry.key)) {
        ++invalid_inputs_;
        return;
    }
    const std::int64_t now = unix_ms();
    if (entry.deleted) {
        state_.edge_gone(entry.key, now);
        edge_reports_.erase(entry.key);
        return;
    }
    bus::v1::EdgeHeartbeat hb;
    if (entry.value.size() > kMaxHeartbeatBytes || !hb.ParseFromString(entry.value)) {
        ++invalid_inputs_;
        return;
    }
    // A live update was just written: its arrival is the freshest evidence and immune to the
    // edge's clock skew. The initial values may be old, so they carry the edge's own stamp.
    const std::int64_t seen = edges_initial_ ? hb.last_seen_ms() : now;
    state_.edge_heartbeat(entry.key, seen, now);
    if (edge_reports_.size() >= options_.max_edges && !edge_reports_.contains(entry.key)) {
        ++invalid_inputs_;
        return;
    }
    hb.set_last_seen_ms(std::min(seen, now));
    edge_reports_.insert_or_assign(entry.key, std::move(hb));
}

void PresenceService::on_presence_entry(const natsbus::KvEntry& entry) {
    auto key = contract::parse_entry_key(entry.key);
    if (!key) {
        ++invalid_inputs_;
        log::debug("presence entry with an invalid key ignored", {{"key", entry.key}});
        return;
    }
    const std::int64_t now = unix_ms();
    if (entry.deleted) {
        state_.remove_entry(key->edge, key->room, key->user, now);
        return;
    }
    bus::v1::PresenceEntry body;
    if (entry.value.size() > options_.max_entry_bytes || !body.ParseFromString(entry.value)) {
        ++invalid_inputs_;
        return;
    }
    // The key names the slot (deletes carry nothing else); the body carries the values. A body
    // that names another slot is a writer's bug: ignored rather than guessed at.
    if ((!body.edge_id().empty() && body.edge_id() != key->edge) ||
        (!body.room().empty() && body.room() != key->room) ||
        (!body.user_id().empty() && body.user_id() != key->user)) {
        ++invalid_inputs_;
        log::debug("presence entry whose body disagrees with its key ignored",
                   {{"key", entry.key}});
        return;
    }
    EntryValue value;
    value.name = body.name();
    value.sockets = body.sockets();
    value.lost = body.lost();
    value.updated_ms = body.updated_ms();
    state_.apply_entry(key->edge, key->room, key->user, value, now);
}

void PresenceService::on_initial_state_loaded() {
    if (state_.loaded()) {
        return;  // a watch restarted after a reconnect reports its initial values again
    }
    state_.mark_loaded();
    loaded_ = true;
    const auto c = state_.counters();
    log::info("presence state loaded", {{"slots", c.slots},
                                        {"rooms", c.rooms},
                                        {"edges", c.edges},
                                        {"edges_alive", c.edges_alive}});
    subscribe_queries();
    schedule_batch();
    {
        std::lock_guard lock(leader_mu_);
        leader_kick_ = true;
    }
    leader_cv_.notify_all();
    if (options_.on_loaded) {
        options_.on_loaded();
    }
}

void PresenceService::subscribe_queries() {
    if (query_sub_ || !running_) {
        return;
    }
    auto sub = nats_.subscribe(
        options_.query_subject,
        [this](natsbus::Message&& m) { post([this, m = std::move(m)] { on_query(m); }); },
        options_.query_queue);
    if (!sub) {
        // Retried every batch: until then requests go to other replicas (or find none).
        log::warn("cannot subscribe to presence queries", {{"error", sub.error().message()}});
        return;
    }
    query_sub_ = std::move(*sub);
}

void PresenceService::on_query(const natsbus::Message& message) {
    if (message.reply.empty()) {
        return;
    }
    ++queries_;
    bus::v1::PresenceQuery query;
    bus::v1::PresenceQueryResult result;
    // A malformed query still gets an (empty) answer: the edge then does not wait out its
    // request timeout for nothing.
    if (message.data.size() <= options_.max_query_bytes && query.ParseFromString(message.data) &&
        contract::valid_room_id(query.room())) {
        const std::size_t limit = std::min(query.limit(), options_.max_query_limit);
        const Page page = state_.page(query.room(), {}, limit);
        result.set_clients(page.totals.clients);
        result.set_users(page.totals.users);
        for (const auto& u : page.users) {
            auto* listed = result.add_listed();
            listed->set_id(u.id);
            listed->set_name(u.name);
        }
    } else {
        ++invalid_inputs_;
    }
    if (auto r = nats_.publish(message.reply, result.SerializeAsString()); !r) {
        log::debug("presence query reply not sent", {{"error", r.error().message()}});
    }
}

// --------------------------------------------------------------------------------------------
// Batches (strand)

void PresenceService::schedule_batch() {
    batch_timer_.expires_after(options_.batch_interval);
    batch_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && running_) {
            run_batch();
            schedule_batch();
        }
    });
}

void PresenceService::run_batch() {
    subscribe_queries();
    state_.tick(unix_ms());
    auto changes = state_.take_changes();
    if (!changes.empty()) {
        dispatch(std::move(changes));
    }
}

void PresenceService::dispatch(std::vector<RoomChange> changes) {
    const bool publish = is_leader() && nats_.connected();
    for (auto& change : changes) {
        std::vector<std::shared_ptr<PresenceWatcher>> targets;
        {
            std::lock_guard lock(watch_mu_);
            if (auto it = watchers_by_room_.find(change.room); it != watchers_by_room_.end()) {
                for (WatchId id : it->second) {
                    targets.push_back(watchers_.at(id).second);
                }
            }
        }
        if (!targets.empty()) {
            auto event = std::make_shared<v1::PresenceEvent>();
            event->set_room_id(change.room);
            for (const auto& u : change.joined) {
                auto* p = event->add_joined();
                p->set_id(u.id);
                p->set_name(u.name);
                p->set_sockets(state_.user_sockets(change.room, u.id));
            }
            for (const auto& u : change.left) {
                auto* p = event->add_left();
                p->set_id(u.id);
                p->set_name(u.name);
            }
            const std::shared_ptr<const v1::PresenceEvent> shared = std::move(event);
            for (const auto& w : targets) {
                w->on_event(shared);
            }
        }
        if (publish) {
            bus::v1::PresenceChange msg;
            msg.set_room(change.room);
            for (const auto& u : change.joined) {
                auto* p = msg.add_joined();
                p->set_id(u.id);
                p->set_name(u.name);
            }
            for (const auto& u : change.left) {
                auto* p = msg.add_left();
                p->set_id(u.id);
                p->set_name(u.name);
            }
            auto r =
                nats_.publish(options_.room_subject_prefix + change.room, msg.SerializeAsString());
            if (r) {
                ++published_;
            } else {
                log::warn("presence change not published", {{"error", r.error().message()}});
            }
        }
    }
}

// --------------------------------------------------------------------------------------------
// Leader election (its own thread)
//
// The lease: a refresh (or create) that succeeds was stored by the server after it was sent, so
// the key lives at least until send time + TTL. The leader publishes only while its steady
// clock is before that point minus a margin, and a successor can only create the key after it
// expired: two replicas never both consider themselves leader at the same instant (barring
// clock rate differences far beyond the margin).
//
// The failover gap: when the leader dies without resigning, nobody publishes PresenceChange
// messages until its key expires (at most TTL after its last refresh) and a follower's next
// create attempt succeeds (at most one refresh period later): up to ~4 s with the defaults.
// Changes flushed in that window reach WatchPresence streams (every replica computes them) but
// not NATS subscribers: PresenceChange is core NATS, at most once, and edges treat it as
// advisory (the authoritative counts are one PresenceQuery away). A graceful stop resigns
// (deletes the key), so a successor takes over within one refresh period.

void PresenceService::leader_loop() {
    std::unique_lock lock(leader_mu_);
    while (!leader_stop_) {
        lock.unlock();
        if (loaded_) {
            campaign();  // a replica still loading would publish from a partial view
        }
        lock.lock();
        leader_cv_.wait_for(lock, options_.leader_refresh,
                            [this] { return leader_stop_ || leader_kick_; });
        leader_kick_ = false;
    }
    const bool resign = leader_resign_;
    lock.unlock();
    if (!resign || leader_revision_ == 0) {
        return;
    }
    const std::uint64_t ours = leader_revision_;
    leader_ = false;
    leader_revision_ = 0;
    // Only our own write is deleted: the revision proves the key still holds it.
    auto current = leader_kv_->get(contract::kPresenceLeaderKey);
    if (current && *current && (*current)->revision == ours) {
        if (auto r = leader_kv_->erase(contract::kPresenceLeaderKey); !r) {
            log::warn("leader key not released", {{"error", r.error().message()}});
            return;
        }
        log::info("resigned as presence leader", {{"replica", options_.replica_id}});
    }
}

void PresenceService::campaign() {
    const std::int64_t started = steady_ns();
    const std::int64_t ttl_ns = std::chrono::nanoseconds(options_.leader_ttl).count();
    const std::int64_t margin_ns = std::min<std::int64_t>(ttl_ns / 4, 500'000'000);
    if (leader_revision_ != 0) {
        auto r =
            leader_kv_->update(contract::kPresenceLeaderKey, options_.replica_id, leader_revision_);
        if (r) {
            leader_revision_ = *r;
            lease_until_ns_ = started + ttl_ns - margin_ns;
            return;
        }
        if (r.error() == natsbus::Errc::kWrongRevision || r.error() == natsbus::Errc::kNotFound) {
            step_down("the leader key changed");
            return;
        }
        // Transient (timeout, disconnected): keep trying while the lease lasts.
        if (steady_ns() >= lease_until_ns_.load()) {
            step_down("the lease ran out");
        }
        return;
    }
    auto r = leader_kv_->create(contract::kPresenceLeaderKey, options_.replica_id);
    if (r) {
        leader_revision_ = *r;
        lease_until_ns_ = started + ttl_ns - margin_ns;
        leader_ = true;
        log::info("presence leader", {{"replica", options_.replica_id}});
    } else if (r.error() != natsbus::Errc::kAlreadyExists) {
        log::debug("leader campaign failed", {{"error", r.error().message()}});
    }
}

void PresenceService::step_down(std::string_view reason) {
    leader_ = false;
    leader_revision_ = 0;
    log::warn("no longer presence leader", {{"replica", options_.replica_id}, {"reason", reason}});
}

bool PresenceService::is_leader() const noexcept {
    return leader_.load() && steady_ns() < lease_until_ns_.load();
}

void PresenceService::stop_election(bool resign) {
    {
        std::lock_guard lock(leader_mu_);
        leader_stop_ = true;
        leader_resign_ = leader_resign_ || resign;
    }
    leader_cv_.notify_all();
    if (leader_thread_.joinable()) {
        leader_thread_.join();
    }
    leader_ = false;
}

void PresenceService::resign() {
    stop_election(true);
}

// --------------------------------------------------------------------------------------------
// Reads and watchers

bool PresenceService::get_totals(std::string room, std::function<void(RoomTotals)> done) {
    if (!running_) {
        return false;
    }
    post([this, room = std::move(room), done = std::move(done)] { done(state_.totals(room)); });
    return true;
}

bool PresenceService::get_page(std::string room, std::string after, std::size_t limit,
                               std::function<void(Page)> done) {
    if (!running_) {
        return false;
    }
    post([this, room = std::move(room), after = std::move(after), limit, done = std::move(done)] {
        done(state_.page(room, after, limit));
    });
    return true;
}

bool PresenceService::get_live_rooms(std::string prefix, std::string after, std::size_t limit,
                                     std::function<void(LiveRoomsPage)> done) {
    if (!running_) {
        return false;
    }
    post([this, prefix = std::move(prefix), after = std::move(after), limit,
          done = std::move(done)] { done(state_.live_rooms(prefix, after, limit)); });
    return true;
}

bool PresenceService::get_edges(std::string after, std::size_t limit,
                                std::function<void(EdgesPage)> done) {
    if (!running_) {
        return false;
    }
    post([this, after = std::move(after), limit, done = std::move(done)] {
        EdgesPage page;
        auto it = after.empty() ? edge_reports_.begin() : edge_reports_.upper_bound(after);
        for (; it != edge_reports_.end() && page.edges.size() < limit; ++it) {
            const bus::v1::EdgeHeartbeat& hb = it->second;
            page.edges.push_back(EdgeReport{it->first, hb.connections(), hb.rooms(), hb.version(),
                                            hb.draining(), hb.last_seen_ms(),
                                            state_.edge_alive(it->first)});
        }
        page.more = it != edge_reports_.end();
        done(std::move(page));
    });
    return true;
}

std::optional<PresenceService::WatchId> PresenceService::add_watcher(
    std::string room, std::shared_ptr<PresenceWatcher> watcher) {
    std::lock_guard lock(watch_mu_);
    if (watchers_closed_ || !running_ || watchers_.size() >= options_.max_watchers) {
        return std::nullopt;
    }
    const WatchId id = next_watch_id_++;
    watchers_by_room_[room].insert(id);
    watchers_.emplace(id, std::pair{std::move(room), std::move(watcher)});
    return id;
}

void PresenceService::remove_watcher(WatchId id) {
    std::shared_ptr<PresenceWatcher> released;  // destroyed outside the lock
    std::lock_guard lock(watch_mu_);
    auto it = watchers_.find(id);
    if (it == watchers_.end()) {
        return;
    }
    auto rit = watchers_by_room_.find(it->second.first);
    if (rit != watchers_by_room_.end()) {
        rit->second.erase(id);
        if (rit->second.empty()) {
            watchers_by_room_.erase(rit);
        }
    }
    released = std::move(it->second.second);
    watchers_.erase(it);
}

std::size_t PresenceService::watcher_count() const {
    std::lock_guard lock(watch_mu_);
    return watchers_.size();
}

void PresenceService::close_watchers() {
    std::vector<std::shared_ptr<PresenceWatcher>> all;
    {
        std::lock_guard lock(watch_mu_);
        watchers_closed_ = true;
        for (auto& [id, entry] : watchers_) {
            all.push_back(std::move(entry.second));
        }
        watchers_.clear();
        watchers_by_room_.clear();
    }
    for (const auto& w : all) {
        w->on_close();
    }
}

std::optional<ServiceCounters> PresenceService::counters(milliseconds timeout) {
    if (!running_) {
        return std::nullopt;
    }
    auto promise = std::make_shared<std::promise<ServiceCounters>>();
    auto future = promise->get_future();
    post([this, promise] {
        promise->set_value(
            ServiceCounters{state_.counters(), invalid_inputs_, queries_, published_});
    });
    if (future.wait_for(timeout) != std::future_status::ready) {
        return std::nullopt;
    }
    return future.get();
}

void PresenceService::on_connection_state(natsbus::ConnectionState st) {
    if (!running_) {
        return;
    }
    post([this, st] {
        if (st == natsbus::ConnectionState::kDisconnected) {
            state_.hold_liveness(std::numeric_limits<std::int64_t>::max());
        } else if (st == natsbus::ConnectionState::kConnected ||
                   st == natsbus::ConnectionState::kReconnected) {
            // Heartbeats resume within a second; give them the whole dead-after period.
            state_.hold_liveness(unix_ms() + options_.edge_dead_after.count());
        }
    });
}

void PresenceService::stop() {
    stop_election(false);
    close_watchers();
    if (!running_.exchange(false) && !strand_thread_.joinable()) {
        return;
    }
    // Watches first: once their Subscriptions are gone nothing posts to the strand any more.
    edges_watch_.reset();
    presence_watch_.reset();
    work_.reset();
    io_.stop();
    if (strand_thread_.joinable()) {
        strand_thread_.join();
    }
    query_sub_.reset();  // the strand is gone: no race with its use there
}

}  // namespace roomcast::presence
