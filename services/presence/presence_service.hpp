#pragma once
// The presence service logic: one replica's view of who is online where, kept from the edges'
// KV entries, published as batched changes, and answered to queries. Plain class: tests build
// it against a real nats-server without any gRPC server; main.cpp wires it to one.
//
// Wiring (docs/control-plane.md, "Presence"; spelled in libs/contract):
//   roomcast_edges            <edge id> → EdgeHeartbeat         watched: edge liveness
//   roomcast_presence         entry.<edge>.<key(room)>.<key(user)> → PresenceEntry   watched
//   roomcast_presence_leader  "leader" → replica id (TTL)       leader election
//   roomcast.presence.room.<room>   PresenceChange, published by the leader every batch
//   roomcast.presence.query         PresenceQuery → PresenceQueryResult (queue group
//                                   "presence"), served once the initial state is loaded
//
// Threading: the state lives on one strand (an io_context run by one thread of this class);
// KV watch and subscription callbacks copy what they received and post it there. Leader
// election runs on a thread of its own, because its KV calls block (bounded by natsbus' KV
// timeout) and must not hold up the strand. Every public method is thread-safe.
//
// Ownership: the caller owns the Connection, which must outlive this object. Watchers are
// shared with their gRPC streams; the registry never keeps a stream alive past its OnDone.

#include "presence_state.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/contract/timing.hpp"
#include "roomcast/natsbus/natsbus.hpp"
#include "roomcast/presence/v1/presence.pb.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace roomcast::presence {

struct ServiceOptions {
    // This replica's id in the leader key; unique per process (main.cpp draws a random one).
    std::string replica_id;
    // The bus contract's buckets and subjects (libs/contract); the bucket settings are always
    // the contract's. Tests run under names of their own, in memory.
    std::string presence_bucket{contract::kPresenceBucket};
    std::string edges_bucket{contract::kEdgesBucket};
    std::string leader_bucket{contract::kPresenceLeaderBucket};
    std::string room_subject_prefix{contract::kPresenceRoomSubjectPrefix};
    std::string query_subject{contract::kPresenceQuerySubject};
    std::string query_queue{contract::kPresenceQueryQueue};
    int replicas = 1;
    natsbus::Storage storage = natsbus::Storage::kFile;
    // Byte budgets of the buckets (--storage-*-max-bytes, the same in every process).
    contract::StorageBudgets budgets;

    std::chrono::milliseconds grace = contract::kPresenceGrace;
    std::chrono::milliseconds edge_dead_after = contract::kEdgeDeadAfter;
    // Changes are flushed (and liveness and graces checked) this often.
    std::chrono::milliseconds batch_interval{250};
    // Leader key lifetime (the leader bucket's TTL) and refresh period.
    std::chrono::milliseconds leader_ttl = contract::kPresenceLeaderTtl;
    std::chrono::milliseconds leader_refresh = contract::kPresenceLeaderRefresh;
    // Start-up wait for the edges bucket's current heartbeats (one small value per edge).
    std::chrono::milliseconds edges_load_timeout{10000};

    // Caps on inputs from the bus: a larger entry, heartbeat or query is ignored (counted).
    std::size_t max_entry_bytes = 4096;
    std::size_t max_query_bytes = 4096;
    // Users a query may list (PresenceQuery.limit is capped to it).
    std::uint32_t max_query_limit = contract::kMaxPresenceQueryUsers;
    // Concurrent WatchPresence streams; more are refused rather than slowing every batch.
    std::size_t max_watchers = 10000;
    std::size_t max_users_per_change = 1000;
    std::size_t max_entries = 10'000'000;
    // Edges whose last heartbeat is kept for ListEdges; more are not listed (counted as invalid
    // inputs). Far above any real fleet; bounds what a flood of bogus keys can cost.
    std::size_t max_edges = 10'000;

    // Runs once on the strand when the initial state is loaded (main: health SERVING).
    std::function<void()> on_loaded;
};

// Receives the batches of one room. Thread-safe; called on the service's strand, so it must not
// block (a gRPC stream queues and writes asynchronously).
class PresenceWatcher {
public:
    virtual ~PresenceWatcher() = default;
    virtual void on_event(const std::shared_ptr<const v1::PresenceEvent>& event) = 0;
    // The service is going away: end the stream.
    virtual void on_close() = 0;
};

// An edge as its last heartbeat described it (bus.v1.EdgeHeartbeat), for ListEdges.
struct EdgeReport {
    std::string id;
    std::uint32_t connections = 0;
    std::uint32_t rooms = 0;
    std::string version;
    bool draining = false;
    std::int64_t last_seen_ms = 0;
    bool alive = false;
};
struct EdgesPage {
    std::vector<EdgeReport> edges;
    bool more = false;
};

// Counters for logs and tests.
struct ServiceCounters {
    StateCounters state;
    std::uint64_t invalid_inputs = 0;  // unparsable keys/values, over-size inputs
    std::uint64_t queries = 0;
    std::uint64_t published = 0;  // PresenceChange messages published as leader
};

class PresenceService {
public:
    PresenceService(natsbus::Connection& nats, ServiceOptions options);
    ~PresenceService();  // stop()
    PresenceService(const PresenceService&) = delete;
    PresenceService& operator=(const PresenceService&) = delete;

    // Creates or binds the buckets, starts the strand, loads the edges' heartbeats (bounded by
    // edges_load_timeout), starts watching the entries, and starts leader election. Start-up
    // only: blocks. The entries load in the background; loaded() says when they are in.
    natsbus::Result<void> start();

    // Stops leading and deletes the leader key if it is still ours, so another replica takes
    // over within one refresh period instead of the key's TTL. Blocks for at most one KV round
    // trip (natsbus' KV timeout). Idempotent.
    void resign();
    // Ends every WatchPresence stream and refuses new ones (shutdown).
    void close_watchers();
    // Stops election (without resigning), watches, queries and the strand; idempotent. Reads
    // posted but not yet answered are dropped, so shut the gRPC server down first.
    void stop();

    // Feed of the Connection's state callback (any thread): while this replica is cut off from
    // NATS, missing heartbeats say nothing about the edges, so no edge is declared dead then
    // nor within edge_dead_after of the reconnect.
    void on_connection_state(natsbus::ConnectionState state);

    bool loaded() const noexcept { return loaded_.load(); }
    // Holds the leader key and its lease has not run out.
    bool is_leader() const noexcept;
    const std::string& replica_id() const noexcept { return options_.replica_id; }

    // Reads, answered on the strand. false (and `done` never runs) when the service is not
    // running.
    bool get_totals(std::string room, std::function<void(RoomTotals)> done);
    bool get_page(std::string room, std::string after, std::size_t limit,
                  std::function<void(Page)> done);
    bool get_live_rooms(std::string prefix, std::string after, std::size_t limit,
                        std::function<void(LiveRoomsPage)> done);
    // Edges with id > `after`, ascending, at most `limit`.
    bool get_edges(std::string after, std::size_t limit, std::function<void(EdgesPage)> done);

    using WatchId = std::uint64_t;
    // nullopt when closing or at max_watchers.
    std::optional<WatchId> add_watcher(std::string room, std::shared_ptr<PresenceWatcher> watcher);
    void remove_watcher(WatchId id);
    std::size_t watcher_count() const;

    // A snapshot taken on the strand; nullopt when it does not answer within `timeout`.
    std::optional<ServiceCounters> counters(std::chrono::milliseconds timeout);

private:
    void on_edge_entry(const natsbus::KvEntry& entry);
    void on_presence_entry(const natsbus::KvEntry& entry);
    void on_initial_state_loaded();
    void subscribe_queries();
    void on_query(const natsbus::Message& message);
    void schedule_batch();
    void run_batch();
    void dispatch(std::vector<RoomChange> changes);

    void leader_loop();
    void campaign();
    void step_down(std::string_view reason);
    void stop_election(bool resign);

    template <class F>
    void post(F&& f);

    natsbus::Connection& nats_;
    ServiceOptions options_;

    std::unique_ptr<natsbus::KeyValue> presence_kv_;
    std::unique_ptr<natsbus::KeyValue> edges_kv_;
    std::unique_ptr<natsbus::KeyValue> leader_kv_;

    // The strand. Members below up to the watch subscriptions are touched only on it.
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    boost::asio::steady_timer batch_timer_;
    PresenceState state_;
    bool edges_initial_ = true;
    // The last heartbeat of each edge, by id (ListEdges). Liveness is the state's.
    std::map<std::string, bus::v1::EdgeHeartbeat, std::less<>> edge_reports_;
    natsbus::Subscription query_sub_;
    std::uint64_t invalid_inputs_ = 0;
    std::uint64_t queries_ = 0;
    std::uint64_t published_ = 0;
    std::thread strand_thread_;

    natsbus::Subscription edges_watch_;
    natsbus::Subscription presence_watch_;

    std::atomic<bool> running_{false};
    std::atomic<bool> loaded_{false};

    // Leader election (its own thread). leader_revision_ is touched only by that thread.
    std::thread leader_thread_;
    std::mutex leader_mu_;
    std::condition_variable leader_cv_;
    bool leader_stop_ = false;
    bool leader_resign_ = false;
    bool leader_kick_ = false;  // campaign now (the state just loaded)
    std::uint64_t leader_revision_ = 0;
    std::atomic<bool> leader_{false};
    std::atomic<std::int64_t> lease_until_ns_{0};  // steady clock

    // WatchPresence registry.
    mutable std::mutex watch_mu_;
    bool watchers_closed_ = false;
    WatchId next_watch_id_ = 1;
    std::map<WatchId, std::pair<std::string, std::shared_ptr<PresenceWatcher>>> watchers_;
    std::unordered_map<std::string, std::set<WatchId>> watchers_by_room_;
};

// Unix milliseconds (the clock edges stamp heartbeats and entries with).
std::int64_t unix_ms() noexcept;

}  // namespace roomcast::presence
