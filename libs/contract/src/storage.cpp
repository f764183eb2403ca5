#include "roomcast/contract/storage.hpp"

#include "roomcast/contract/subjects.hpp"
#include "roomcast/contract/timing.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace roomcast::contract {
namespace {

natsbus::KvConfig bucket(std::string_view name, int history, std::chrono::milliseconds ttl,
                         int replicas, natsbus::Storage storage = natsbus::Storage::kFile) {
    natsbus::KvConfig config;
    config.bucket = std::string(name);
    config.history = history;
    config.ttl = ttl;
    config.storage = storage;
    config.replicas = replicas;
    return config;
}

constexpr std::chrono::milliseconds kNoTtl{0};

}  // namespace

natsbus::StreamConfig room_stream(const RoomStreamLimits& limits, int replicas) {
    natsbus::StreamConfig stream;
    stream.name = std::string(kRoomStream);
    stream.subjects = {std::string(kRoomSubjects)};
    stream.max_msgs_per_subject = limits.history_max;
    stream.max_age = limits.history_max_age;
    stream.replicas = replicas;
    constexpr std::uint64_t kMaxInt32 = std::numeric_limits<std::int32_t>::max();
    stream.max_msg_size = static_cast<std::int32_t>(
        std::min<std::uint64_t>(limits.max_publish_bytes * 2 + 4096, kMaxInt32));
    stream.republish_source = std::string(kRoomSubjects);
    stream.republish_destination = std::string(kFanoutSubjects);
    return stream;
}

natsbus::KvConfig rooms_bucket(int replicas) {
    return bucket(kRoomsBucket, 1, kNoTtl, replicas);
}

natsbus::KvConfig sessions_bucket(int replicas) {
    return bucket(kSessionsBucket, 1, kSessionsTtl, replicas);
}

natsbus::KvConfig revocations_bucket(int replicas) {
    return bucket(kRevocationsBucket, 1, kRevocationsTtl, replicas);
}

natsbus::KvConfig config_bucket(int replicas) {
    return bucket(kConfigBucket, 5, kNoTtl, replicas);
}

natsbus::KvConfig edges_bucket(int replicas, natsbus::Storage storage) {
    return bucket(kEdgesBucket, 1, kEdgesTtl, replicas, storage);
}

natsbus::KvConfig presence_bucket(int replicas, natsbus::Storage storage) {
    return bucket(kPresenceBucket, 1, kPresenceEntriesTtl, replicas, storage);
}

natsbus::KvConfig presence_leader_bucket(int replicas, natsbus::Storage storage) {
    return bucket(kPresenceLeaderBucket, 1, kPresenceLeaderTtl, replicas, storage);
}

}  // namespace roomcast::contract
