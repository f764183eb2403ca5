#pragma once
// Connection state recovery records in NATS KV, so that a client reconnecting to ANY edge
// within the recovery window gets its socket id, user, rooms and missed events back.
//
//   roomcast_sessions  <pid> → SessionRecord {socket id, user, rooms, edge, disconnected_at}
//   roomcast_edges     <edge id> → EdgeHeartbeat {last_seen}, refreshed every second
//
// A record whose edge died without writing the disconnect (SIGKILL) counts as disconnected
// since the edge's last heartbeat. Every write after the first is a compare-and-set on the
// revision the writer last saw: when a client has been taken over by another edge, the old
// edge's late writes fail instead of clobbering the new owner's record.
//
// Both buckets, their settings (TTLs) and the heartbeat timings are the bus contract's
// (libs/contract): the presence service watches the same heartbeats.

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/timing.hpp"
#include "roomcast/natsbus/natsbus.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace roomcast::edge {

struct SessionStoreOptions {
    // At most contract::kMaxRecoveryWindow (the edges bucket's TTL outlives it).
    std::chrono::milliseconds recovery_window{120000};
    std::chrono::milliseconds heartbeat_interval = contract::kEdgeHeartbeatInterval;
    // An edge whose heartbeat is older than this is considered dead.
    std::chrono::milliseconds edge_dead_after = contract::kEdgeDeadAfter;
    int replicas = 1;
    contract::StorageBudgets budgets;
};

struct Recoverable {
    bus::v1::SessionRecord record;
    std::uint64_t revision = 0;
};

class SessionStore {
public:
    SessionStore(natsbus::Connection& nats, std::string edge_id, SessionStoreOptions options);

    // Creates or binds the KV buckets. Start-up only (blocking).
    natsbus::Result<void> open();
    // Starts refreshing this edge's heartbeat on `executor` (the bus thread). `fill` sets what
    // the edge reports beyond its id and time (connections, rooms, version, draining); it runs
    // on `executor` before each write.
    void start_heartbeat(boost::asio::io_context& executor,
                         std::function<void(bus::v1::EdgeHeartbeat&)> fill);
    void stop_heartbeat();
    // Writes the heartbeat now and restarts the interval (on `executor`, after start_heartbeat):
    // a change readers should see at once, such as the start of a drain.
    void beat_now() {
        if (heartbeat_timer_) {
            beat();
        }
    }

    // Looks up `pid` for `user_id`; `done` (library thread) gets the record when it may be
    // recovered now, nullopt otherwise (absent, another user, or outside the window).
    void lookup(std::string pid, std::string user_id,
                std::function<void(std::optional<Recoverable>)> done);

    // Writes a record: created when `revision` is 0, compare-and-set otherwise. `done` (library
    // thread) gets the new revision, or kWrongRevision when another edge took the session.
    void write(const std::string& pid, const bus::v1::SessionRecord& record, std::uint64_t revision,
               std::function<void(natsbus::Result<std::uint64_t>)> done);
    // Unconditional write by the edge that recovered the session: the new owner wins.
    void take_over(const std::string& pid, const bus::v1::SessionRecord& record,
                   std::function<void(natsbus::Result<std::uint64_t>)> done);
    void erase(const std::string& pid);

    const std::string& edge_id() const noexcept { return edge_id_; }
    const SessionStoreOptions& options() const noexcept { return options_; }

private:
    void beat();

    natsbus::Connection& nats_;
    std::string edge_id_;
    SessionStoreOptions options_;
    std::unique_ptr<natsbus::KeyValue> sessions_;
    std::unique_ptr<natsbus::KeyValue> edges_;
    std::unique_ptr<boost::asio::steady_timer> heartbeat_timer_;
    std::function<void(bus::v1::EdgeHeartbeat&)> fill_;
};

std::int64_t unix_ms() noexcept;

}  // namespace roomcast::edge
