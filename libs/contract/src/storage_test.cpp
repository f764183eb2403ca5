// The stream and bucket settings every process creates them with.
#include "roomcast/contract/storage.hpp"

#include "roomcast/contract/timing.hpp"

#include <gtest/gtest.h>

namespace roomcast::contract {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

TEST(Storage, RoomStreamWithTheEdgeDefaults) {
    const auto stream = room_stream({}, 3);
    EXPECT_EQ(stream.name, "ROOMCAST_ROOMS");
    EXPECT_EQ(stream.subjects, std::vector<std::string>{"roomcast.room.>"});
    EXPECT_EQ(stream.republish_source, "roomcast.room.>");
    EXPECT_EQ(stream.republish_destination, "roomcast.fanout.>");
    EXPECT_EQ(stream.max_msgs_per_subject, 1000);
    EXPECT_EQ(stream.max_age, hours(24));
    EXPECT_EQ(stream.max_msg_size, 256 * 1024 * 2 + 4096);
    EXPECT_EQ(stream.replicas, 3);
    EXPECT_EQ(stream.storage, natsbus::Storage::kFile);
}

TEST(Storage, RoomStreamFollowsTheFlags) {
    const auto stream = room_stream(
        {.history_max = 5, .history_max_age = milliseconds(60000), .max_publish_bytes = 16}, 1);
    EXPECT_EQ(stream.max_msgs_per_subject, 5);
    EXPECT_EQ(stream.max_age, milliseconds(60000));
    EXPECT_EQ(stream.max_msg_size, 16 * 2 + 4096);
    // The largest --max-publish-bytes (64 MiB) still fits; anything beyond is capped.
    EXPECT_EQ(room_stream({.max_publish_bytes = 64ULL << 20}, 1).max_msg_size,
              (64 << 20) * 2 + 4096);
    EXPECT_EQ(room_stream({.max_publish_bytes = 1ULL << 40}, 1).max_msg_size, INT32_MAX);
}

TEST(Storage, Buckets) {
    struct Case {
        natsbus::KvConfig config;
        const char* name;
        int history;
        milliseconds ttl;
    };
    const Case cases[] = {
        {rooms_bucket(2), "roomcast_rooms", 1, milliseconds(0)},
        {sessions_bucket(2), "roomcast_sessions", 1, hours(24)},
        {config_bucket(2), "roomcast_config", 5, milliseconds(0)},
        {edges_bucket(2), "roomcast_edges", 1, hours(25)},
        {presence_bucket(2), "roomcast_presence", 1, hours(24)},
        {presence_leader_bucket(2), "roomcast_presence_leader", 1, milliseconds(3000)},
        {revocations_bucket(2), "roomcast_revocations", 1, hours(25)},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(c.config.bucket, c.name);
        EXPECT_EQ(c.config.history, c.history) << c.name;
        EXPECT_EQ(c.config.ttl, c.ttl) << c.name;
        EXPECT_EQ(c.config.replicas, 2) << c.name;
        EXPECT_EQ(c.config.storage, natsbus::Storage::kFile) << c.name;
        EXPECT_EQ(c.config.max_value_size, -1) << c.name;
    }
    EXPECT_EQ(edges_bucket(1, natsbus::Storage::kMemory).storage, natsbus::Storage::kMemory);
}

TEST(Timing, EdgeHeartbeatsOutliveTheLongestRecoveryWindow) {
    EXPECT_GE(edges_bucket(1).ttl, kMaxRecoveryWindow);
    EXPECT_EQ(kEdgeHeartbeatInterval, milliseconds(1000));
    EXPECT_EQ(kEdgeDeadAfter, milliseconds(3000));
    EXPECT_EQ(kPresenceGrace, milliseconds(5000));
    EXPECT_EQ(kPresenceLeaderTtl, milliseconds(3000));
    EXPECT_EQ(kPresenceLeaderRefresh, milliseconds(1000));
}

}  // namespace
}  // namespace roomcast::contract
