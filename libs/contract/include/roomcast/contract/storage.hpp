#pragma once
// The JetStream stream and KV buckets of the bus contract, with their settings, as natsbus
// configurations (target roomcast::contract_storage; the rest of libs/contract is pure). Every
// process that creates or binds one of them takes its configuration from here: natsbus applies
// a differing configuration over an existing bucket or stream, so two processes with two
// opinions would rewrite each other's settings on every start.
//
//   ROOMCAST_ROOMS            stream of room events (subjects.hpp): created by edges, read by
//                             edges and the rooms service
//   roomcast_rooms            room registry and rights: the rooms service writes (auto-created
//                             rooms too, on the edges' request), edges watch
//   roomcast_sessions         recovery records: edges
//   roomcast_edges            edge heartbeats: edges write, presence watches
//   roomcast_presence         presence entries: edges write, presence watches
//   roomcast_presence_leader  presence leader election
//   roomcast_config           the JWKS: auth writes, edges watch
//   roomcast_revocations      rights lost, for sessions away at the time: rooms service writes,
//                             edges watch
//
// Each has one owner, its writer above: the owner opens it with natsbus::BucketRole::kOwner
// (creating it, or applying these settings to it), the others with kUser (creating it when it is
// missing, else binding to it as it is). The NATS roles (docs/operations.md, "NATS roles") give
// only the owner the right to update a bucket's stream: a non-owner could otherwise shorten its
// max age and erase what it may not write (room rights, revocations, the JWKS).
//
// Each also has a byte budget (StorageBudgets, docs/operations.md "Storage budgets"), so no
// writer can fill the JetStream store that all of them share: a full store fails every write
// of every bucket, cluster-wide. The stream discards its oldest events when at its budget (the
// budget is retention, like its max age); a KV bucket refuses writes (natsbus::Errc::kStorageFull:
// KV buckets discard new). Every process takes the same budgets (bind_storage_budgets), so
// whichever creates a bucket creates it with the owner's numbers.
//
// Keys of each bucket: keys.hpp. TTLs: timing.hpp. Pure functions, thread-safe.

#include "roomcast/natsbus/natsbus.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace roomcast::core {
class Config;
}

namespace roomcast::contract {

inline constexpr std::string_view kRoomStream = "ROOMCAST_ROOMS";
inline constexpr std::string_view kRoomsBucket = "roomcast_rooms";
inline constexpr std::string_view kSessionsBucket = "roomcast_sessions";
inline constexpr std::string_view kEdgesBucket = "roomcast_edges";
inline constexpr std::string_view kPresenceBucket = "roomcast_presence";
inline constexpr std::string_view kPresenceLeaderBucket = "roomcast_presence_leader";
inline constexpr std::string_view kConfigBucket = "roomcast_config";
inline constexpr std::string_view kRevocationsBucket = "roomcast_revocations";

// What the room stream keeps, from the edge's flags (their defaults here).
struct RoomStreamLimits {
    // Events kept per room (--history-max): MaxMsgsPerSubject.
    std::int64_t history_max = 1000;
    // Age after which events are dropped (--history-max-age): MaxAge.
    std::chrono::milliseconds history_max_age{std::chrono::hours(24)};
    // Largest publish, data plus attachments (--max-publish-bytes), which sizes MaxMsgSize.
    std::uint64_t max_publish_bytes = 256 * 1024;
};

inline constexpr std::uint64_t kMiB = 1024 * 1024;

// Bytes each stream and bucket may hold in all (MaxBytes; per replica). Their sum must fit the
// JetStream file store of each NATS server (max_file_store): the server reserves each budget
// when the stream is created and refuses one that does not fit. Flags and variables:
// bind_storage_budgets.
struct StorageBudgets {
    std::uint64_t room_stream = 1024 * kMiB;   // ROOMCAST_ROOMS; DiscardOld: the oldest go
    std::uint64_t rooms = 256 * kMiB;          // roomcast_rooms
    std::uint64_t sessions = 256 * kMiB;       // roomcast_sessions
    std::uint64_t presence = 128 * kMiB;       // roomcast_presence
    std::uint64_t edges = 8 * kMiB;            // roomcast_edges
    std::uint64_t presence_leader = 1 * kMiB;  // roomcast_presence_leader
    std::uint64_t config = 8 * kMiB;           // roomcast_config
    std::uint64_t revocations = 64 * kMiB;     // roomcast_revocations
};

// The smallest budget a flag accepts: one KV write carries up to the server's max_payload (1 MiB
// unless configured), so a smaller bucket could refuse a single value while empty.
inline constexpr std::uint64_t kMinStorageBudget = 1 * kMiB;
// The largest (1 PiB): far beyond any disk, and well inside JetStream's int64 MaxBytes.
inline constexpr std::uint64_t kMaxStorageBudget = 1ULL << 50;

// Registers --storage-room-stream-max-bytes, --storage-rooms-max-bytes,
// --storage-sessions-max-bytes, --storage-presence-max-bytes, --storage-edges-max-bytes,
// --storage-presence-leader-max-bytes, --storage-config-max-bytes and
// --storage-revocations-max-bytes (ROOMCAST_STORAGE_*_MAX_BYTES), each from kMinStorageBudget to
// kMaxStorageBudget, with sizes such as 512Mi or 1Gi. Every process that touches NATS takes all
// of them, so one environment serves every component.
void bind_storage_budgets(core::Config& config, StorageBudgets& budgets);

// ROOMCAST_ROOMS: subjects roomcast.room.>, RePublish to roomcast.fanout.> (the fan-out), the
// stream sequence as every event's offset. MaxMsgSize is twice the largest publish plus 4 KiB:
// the RoomEvent envelope around it (room, event name, sender, socket id) always fits.
// MaxBytes is budgets.room_stream with DiscardOld: at its budget the stream drops its oldest
// events, so a history or recovery read past them finds them gone, as after their max age.
natsbus::StreamConfig room_stream(const RoomStreamLimits& limits, int replicas,
                                  const StorageBudgets& budgets);

// "" when the stream's budget holds its largest event (room_stream's MaxMsgSize), else the
// message to refuse to start with, naming the flags. The edge, which creates the stream, checks.
std::string check_room_stream_budget(const RoomStreamLimits& limits, const StorageBudgets& budgets);

// Each bucket's MaxBytes is its budget in `budgets`.
// roomcast_rooms: history 1, no TTL (rooms and members live until deleted).
natsbus::KvConfig rooms_bucket(int replicas, const StorageBudgets& budgets);
// roomcast_sessions: history 1, TTL kSessionsTtl.
natsbus::KvConfig sessions_bucket(int replicas, const StorageBudgets& budgets);
// roomcast_revocations: history 1, TTL kRevocationsTtl.
natsbus::KvConfig revocations_bucket(int replicas, const StorageBudgets& budgets);
// roomcast_config: history 5 (the last documents, for operators), no TTL (the JWKS must outlive
// any auth outage).
natsbus::KvConfig config_bucket(int replicas, const StorageBudgets& budgets);

// The presence service's tests run these buckets in memory, under names of their own; every
// process of a deployment uses file storage and the names above.
// roomcast_edges: history 1, TTL kEdgesTtl.
natsbus::KvConfig edges_bucket(int replicas, const StorageBudgets& budgets,
                               natsbus::Storage storage = natsbus::Storage::kFile);
// roomcast_presence: history 1, TTL kPresenceEntriesTtl.
natsbus::KvConfig presence_bucket(int replicas, const StorageBudgets& budgets,
                                  natsbus::Storage storage = natsbus::Storage::kFile);
// roomcast_presence_leader: history 1, TTL kPresenceLeaderTtl (the leader's lease).
natsbus::KvConfig presence_leader_bucket(int replicas, const StorageBudgets& budgets,
                                         natsbus::Storage storage = natsbus::Storage::kFile);

}  // namespace roomcast::contract
