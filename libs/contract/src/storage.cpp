#include "roomcast/contract/storage.hpp"

#include "roomcast/contract/subjects.hpp"
#include "roomcast/contract/timing.hpp"
#include "roomcast/core/config.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace roomcast::contract {
namespace {

natsbus::KvConfig bucket(std::string_view name, int history, std::chrono::milliseconds ttl,
                         int replicas, std::uint64_t budget,
                         natsbus::Storage storage = natsbus::Storage::kFile) {
    natsbus::KvConfig config;
    config.max_bytes = static_cast<std::int64_t>(budget);
    config.bucket = std::string(name);
    config.history = history;
    config.ttl = ttl;
    config.storage = storage;
    config.replicas = replicas;
    return config;
}

constexpr std::chrono::milliseconds kNoTtl{0};

}  // namespace

void bind_storage_budgets(core::Config& config, StorageBudgets& b) {
    const auto add = [&config](const char* name, std::uint64_t* target, std::string help) {
        config.add_bytes(name, target, std::move(help), kMinStorageBudget, kMaxStorageBudget);
    };
    add("storage-room-stream-max-bytes", &b.room_stream,
        "bytes the room stream ROOMCAST_ROOMS keeps (its oldest events go first)");
    add("storage-rooms-max-bytes", &b.rooms,
        "bytes of the roomcast_rooms bucket (room rights; writes fail when full)");
    add("storage-sessions-max-bytes", &b.sessions,
        "bytes of the roomcast_sessions bucket (recovery records; writes fail when full)");
    add("storage-presence-max-bytes", &b.presence,
        "bytes of the roomcast_presence bucket (writes fail when full)");
    add("storage-edges-max-bytes", &b.edges,
        "bytes of the roomcast_edges bucket (edge heartbeats; writes fail when full)");
    add("storage-presence-leader-max-bytes", &b.presence_leader,
        "bytes of the roomcast_presence_leader bucket");
    add("storage-config-max-bytes", &b.config,
        "bytes of the roomcast_config bucket (the JWKS; writes fail when full)");
    add("storage-revocations-max-bytes", &b.revocations,
        "bytes of the roomcast_revocations bucket (writes fail when full)");
}

natsbus::StreamConfig room_stream(const RoomStreamLimits& limits, int replicas,
                                  const StorageBudgets& budgets) {
    natsbus::StreamConfig stream;
    stream.name = std::string(kRoomStream);
    stream.subjects = {std::string(kRoomSubjects)};
    stream.max_msgs_per_subject = limits.history_max;
    stream.max_age = limits.history_max_age;
    stream.replicas = replicas;
    constexpr std::uint64_t kMaxInt32 = std::numeric_limits<std::int32_t>::max();
    stream.max_msg_size = static_cast<std::int32_t>(
        std::min<std::uint64_t>(limits.max_publish_bytes * 2 + 4096, kMaxInt32));
    stream.max_bytes = static_cast<std::int64_t>(budgets.room_stream);
    // The budget is retention: a publish always succeeds, and the oldest events make room.
    stream.discard = natsbus::Discard::kOld;
    stream.republish_source = std::string(kRoomSubjects);
    stream.republish_destination = std::string(kFanoutSubjects);
    return stream;
}

std::string check_room_stream_budget(const RoomStreamLimits& limits,
                                     const StorageBudgets& budgets) {
    const auto largest = static_cast<std::uint64_t>(room_stream(limits, 1, budgets).max_msg_size);
    if (budgets.room_stream >= largest) {
        return {};
    }
    return "--storage-room-stream-max-bytes (" + std::to_string(budgets.room_stream) +
           ") is smaller than the largest room event the stream must hold (" +
           std::to_string(largest) +
           " bytes: twice --max-publish-bytes plus 4 KiB); raise it or lower --max-publish-bytes";
}

natsbus::KvConfig rooms_bucket(int replicas, const StorageBudgets& budgets) {
    return bucket(kRoomsBucket, 1, kNoTtl, replicas, budgets.rooms);
}

natsbus::KvConfig sessions_bucket(int replicas, const StorageBudgets& budgets) {
    return bucket(kSessionsBucket, 1, kSessionsTtl, replicas, budgets.sessions);
}

natsbus::KvConfig revocations_bucket(int replicas, const StorageBudgets& budgets) {
    return bucket(kRevocationsBucket, 1, kRevocationsTtl, replicas, budgets.revocations);
}

natsbus::KvConfig config_bucket(int replicas, const StorageBudgets& budgets) {
    return bucket(kConfigBucket, 5, kNoTtl, replicas, budgets.config);
}

natsbus::KvConfig edges_bucket(int replicas, const StorageBudgets& budgets,
                               natsbus::Storage storage) {
    return bucket(kEdgesBucket, 1, kEdgesTtl, replicas, budgets.edges, storage);
}

natsbus::KvConfig presence_bucket(int replicas, const StorageBudgets& budgets,
                                  natsbus::Storage storage) {
    return bucket(kPresenceBucket, 1, kPresenceEntriesTtl, replicas, budgets.presence, storage);
}

natsbus::KvConfig presence_leader_bucket(int replicas, const StorageBudgets& budgets,
                                         natsbus::Storage storage) {
    return bucket(kPresenceLeaderBucket, 1, kPresenceLeaderTtl, replicas, budgets.presence_leader,
                  storage);
}

}  // namespace roomcast::contract
