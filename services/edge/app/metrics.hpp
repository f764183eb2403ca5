#pragma once
// The edge's Prometheus metrics (docs/operations.md, "Metrics"). Hot-path counters stay where
// they are counted (per-shard Engine.IO stats, the room bus, these atomics) and are summed at
// scrape time; nothing on the message path touches a shared metric except the fan-out latency
// histogram, observed once per room event and shard.

#include "app/quotas.hpp"
#include "rooms/fabric.hpp"
#include "socketio/server.hpp"

#include "roomcast/natsbus/natsbus.hpp"
#include "roomcast/observability/metrics.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <memory>

namespace roomcast::edge {

// Why a reconnect that asked for recovery started a new session instead.
enum class RecoveryMiss : std::uint8_t {
    kNoRecord,       // no record: never written, another user's, or past --recovery-window
    kRevoked,        // DisconnectUser since, or the room rights were not loaded
    kInFlight,       // another reconnect of the same session is being recovered
    kReadFailed,     // reading the missed events from the stream failed
    kTooMuchMissed,  // more was missed than a recovery replays (--recovery-max-bytes)
    kEventsDropped,  // events it missed were dropped from the stream (byte budget or max age)
};
inline constexpr const char* kRecoveryMissNames[] = {
    "no_record", "revoked", "in_flight", "read_failed", "too_much_missed", "events_dropped"};

struct EdgeCounters {
    // Connect refusals by code: token_missing, token_invalid, token_expired.
    std::array<std::atomic<std::uint64_t>, 3> auth_failures{};
    // Reconnects that asked for recovery (a pid): recovered or started anew.
    std::atomic<std::uint64_t> recovered{0};
    std::atomic<std::uint64_t> not_recovered{0};
    // not_recovered by reason (RecoveryMiss), so an operator (and a failing test) can tell a
    // client back too late from a store that failed.
    std::array<std::atomic<std::uint64_t>, std::size(kRecoveryMissNames)> recovery_misses{};
    std::atomic<std::uint64_t> kicks{0};
    std::atomic<std::uint64_t> user_disconnects{0};
    // From a room event's arrival on the bus to its queueing on a shard's last local recipient.
    prometheus::Histogram* fanout_latency = nullptr;
};

// Registers every edge metric with `metrics`; the returned collector must live as long as the
// things it reads.
std::shared_ptr<prometheus::Collectable> register_edge_metrics(
    observability::Metrics& metrics, sio::Server& io, rooms::Fabric& fabric, const Quotas& quotas,
    natsbus::Connection& nats,
    EdgeCounters& counters, const std::atomic<bool>& draining);

}  // namespace roomcast::edge
