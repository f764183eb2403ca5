#pragma once
// The timings of the bus contract: heartbeats, liveness, graces, leases and KV TTLs that more
// than one process relies on (docs/control-plane.md, services/presence/README.md). A service may
// expose one of these as a flag; its default is the value here. Pure constants.

#include <chrono>
#include <cstdint>

namespace roomcast::contract {

// --- edge liveness ---------------------------------------------------------------------------

// Every edge rewrites its key in roomcast_edges this often (bus.v1.EdgeHeartbeat).
inline constexpr std::chrono::milliseconds kEdgeHeartbeatInterval{1000};
// An edge whose last heartbeat is older than this is dead: presence counts its sockets as lost,
// and another edge may recover its sessions at once. Three intervals, so that one late or lost
// heartbeat (a NATS hiccup, a busy bus thread) does not kill a live edge.
inline constexpr std::chrono::milliseconds kEdgeDeadAfter{3000};
static_assert(kEdgeDeadAfter >= 2 * kEdgeHeartbeatInterval);

// --- presence --------------------------------------------------------------------------------

// A user whose last socket was lost (or whose edge died) stays present this long, so that a
// reconnect that recovers on another edge does not show as a leave and a join.
inline constexpr std::chrono::milliseconds kPresenceGrace{5000};
// The presence leader's key in roomcast_presence_leader lives this long and is refreshed this
// often: a crashed leader is replaced within about TTL + refresh, and two refreshes can fail
// before a live leader loses the key.
inline constexpr std::chrono::milliseconds kPresenceLeaderTtl{3000};
inline constexpr std::chrono::milliseconds kPresenceLeaderRefresh{1000};
static_assert(kPresenceLeaderTtl >= 2 * kPresenceLeaderRefresh);

// --- recovery and KV TTLs --------------------------------------------------------------------

// The longest connection state recovery window an edge accepts (--recovery-window).
inline constexpr std::chrono::milliseconds kMaxRecoveryWindow{std::chrono::hours(24)};

// roomcast_sessions: records are deleted on clean disconnects and ignored after the window;
// the TTL only collects what nobody deleted (a long-lived connection's record is rewritten on
// every join and leave, and a record that expired simply means a new session).
inline constexpr std::chrono::milliseconds kSessionsTtl{std::chrono::hours(24)};

// roomcast_presence: entries are rewritten whenever a count changes (sockets = 0 once it drops
// to zero); the TTL is garbage collection of what a crashed edge left behind.
inline constexpr std::chrono::milliseconds kPresenceEntriesTtl{std::chrono::hours(24)};

// roomcast_edges: a heartbeat key must outlive its edge by the longest recovery window. A
// session whose edge was killed before it could record the disconnect is recoverable while
// "now - the edge's last heartbeat" is within the window, and a missing key reads as "dead for
// longer than any window", so a key that expired earlier would refuse such sessions too soon.
// One fixed value for every edge: each edge's start rewrites the bucket's TTL (the edges own it),
// so any per-process value would flip-flop. 24 h (the
// longest window) + 1 h for clock skew between the edges (which stamp heartbeats) and the NATS
// server (which expires them). Its cost is one small key per edge id for a day after the edge
// is gone, which presence replicas load (as dead edges) when they start.
inline constexpr std::chrono::milliseconds kEdgesTtl = kMaxRecoveryWindow + std::chrono::hours(1);
static_assert(kEdgesTtl > kMaxRecoveryWindow);

// roomcast_revocations: a right lost matters to sessions that were away when it was lost, for
// as long as they may still be recovered; the same reasoning and margin as kEdgesTtl.
inline constexpr std::chrono::milliseconds kRevocationsTtl = kMaxRecoveryWindow + std::chrono::hours(1);
static_assert(kRevocationsTtl > kMaxRecoveryWindow);

// --- rooms ---------------------------------------------------------------------------------

// An edge waits this long for the rooms service to answer an auto-create request
// (subjects.hpp, kRoomAutoCreateSubject); then the join is answered `unavailable`. One KV read
// and one create on the rooms side, so a healthy service answers in milliseconds.
inline constexpr std::chrono::milliseconds kRoomAutoCreateTimeout{5000};

// An auto-created room with no event and nobody present for this long is deleted by the rooms
// service (--auto-room-idle-ttl; 0 keeps auto-created rooms forever). Its last event is read
// from the room stream, which drops events after the edges' --history-max-age (24 h by
// default): with a longer TTL, a room whose events have all aged out is judged by its creation
// time, so it may go after max-age of silence. Equal defaults, so the default never does.
inline constexpr std::chrono::milliseconds kAutoRoomIdleTtl{std::chrono::hours(24)};
// How often each rooms replica looks for idle auto-created rooms (--auto-room-sweep-interval),
// and how many rooms one look examines at most (--auto-room-sweep-batch; the next resumes where
// it stopped). A room goes at most about TTL + interval x (rooms / batch) after it fell idle.
inline constexpr std::chrono::milliseconds kAutoRoomSweepInterval{std::chrono::minutes(1)};
inline constexpr std::int64_t kAutoRoomSweepBatch = 1000;

}  // namespace roomcast::contract
