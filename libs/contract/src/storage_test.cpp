// The stream and bucket settings every process creates them with.
#include "roomcast/contract/storage.hpp"

#include "roomcast/contract/timing.hpp"
#include "roomcast/core/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace roomcast::contract {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

const StorageBudgets kDefaults{};

TEST(Storage, RoomStreamWithTheEdgeDefaults) {
    const auto stream = room_stream({}, 3, kDefaults);
    EXPECT_EQ(stream.name, "ROOMCAST_ROOMS");
    EXPECT_EQ(stream.subjects, std::vector<std::string>{"roomcast.room.>"});
    EXPECT_EQ(stream.republish_source, "roomcast.room.>");
    EXPECT_EQ(stream.republish_destination, "roomcast.fanout.>");
    EXPECT_EQ(stream.max_msgs_per_subject, 1000);
    EXPECT_EQ(stream.max_age, hours(24));
    EXPECT_EQ(stream.max_msg_size, 256 * 1024 * 2 + 4096);
    EXPECT_EQ(stream.replicas, 3);
    EXPECT_EQ(stream.storage, natsbus::Storage::kFile);
    EXPECT_EQ(stream.max_bytes, 1LL << 30);
    EXPECT_EQ(stream.discard, natsbus::Discard::kOld);
}

TEST(Storage, RoomStreamFollowsTheFlags) {
    const auto stream = room_stream(
        {.history_max = 5, .history_max_age = milliseconds(60000), .max_publish_bytes = 16}, 1,
        {.room_stream = 5 * kMiB});
    EXPECT_EQ(stream.max_msgs_per_subject, 5);
    EXPECT_EQ(stream.max_age, milliseconds(60000));
    EXPECT_EQ(stream.max_msg_size, 16 * 2 + 4096);
    EXPECT_EQ(stream.max_bytes, 5 * 1024 * 1024);
    // The largest --max-publish-bytes (64 MiB) still fits; anything beyond is capped.
    EXPECT_EQ(room_stream({.max_publish_bytes = 64ULL << 20}, 1, kDefaults).max_msg_size,
              (64 << 20) * 2 + 4096);
    EXPECT_EQ(room_stream({.max_publish_bytes = 1ULL << 40}, 1, kDefaults).max_msg_size, INT32_MAX);
}

TEST(Storage, Buckets) {
    struct Case {
        natsbus::KvConfig config;
        const char* name;
        int history;
        milliseconds ttl;
        std::int64_t max_bytes;
    };
    const Case cases[] = {
        {rooms_bucket(2, kDefaults), "roomcast_rooms", 1, milliseconds(0), 256LL << 20},
        {sessions_bucket(2, kDefaults), "roomcast_sessions", 1, hours(24), 256LL << 20},
        {config_bucket(2, kDefaults), "roomcast_config", 5, milliseconds(0), 8LL << 20},
        {edges_bucket(2, kDefaults), "roomcast_edges", 1, hours(25), 8LL << 20},
        {presence_bucket(2, kDefaults), "roomcast_presence", 1, hours(24), 128LL << 20},
        {presence_leader_bucket(2, kDefaults), "roomcast_presence_leader", 1, milliseconds(3000),
         1LL << 20},
        {revocations_bucket(2, kDefaults), "roomcast_revocations", 1, hours(25), 64LL << 20},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(c.config.bucket, c.name);
        EXPECT_EQ(c.config.history, c.history) << c.name;
        EXPECT_EQ(c.config.ttl, c.ttl) << c.name;
        EXPECT_EQ(c.config.replicas, 2) << c.name;
        EXPECT_EQ(c.config.storage, natsbus::Storage::kFile) << c.name;
        EXPECT_EQ(c.config.max_value_size, -1) << c.name;
        EXPECT_EQ(c.config.max_bytes, c.max_bytes) << c.name;
    }
    EXPECT_EQ(edges_bucket(1, kDefaults, natsbus::Storage::kMemory).storage,
              natsbus::Storage::kMemory);
}

// Each bucket carries its own budget, not a neighbour's.
TEST(Storage, BucketsCarryTheirOwnBudget) {
    const StorageBudgets b{.room_stream = 11 * kMiB,
                           .rooms = 12 * kMiB,
                           .sessions = 13 * kMiB,
                           .presence = 14 * kMiB,
                           .edges = 15 * kMiB,
                           .presence_leader = 16 * kMiB,
                           .config = 17 * kMiB,
                           .revocations = 18 * kMiB};
    constexpr std::int64_t kM = 1 << 20;
    EXPECT_EQ(room_stream({}, 1, b).max_bytes, 11 * kM);
    EXPECT_EQ(rooms_bucket(1, b).max_bytes, 12 * kM);
    EXPECT_EQ(sessions_bucket(1, b).max_bytes, 13 * kM);
    EXPECT_EQ(presence_bucket(1, b).max_bytes, 14 * kM);
    EXPECT_EQ(edges_bucket(1, b).max_bytes, 15 * kM);
    EXPECT_EQ(presence_leader_bucket(1, b).max_bytes, 16 * kM);
    EXPECT_EQ(config_bucket(1, b).max_bytes, 17 * kM);
    EXPECT_EQ(revocations_bucket(1, b).max_bytes, 18 * kM);
}

struct Parsed {
    StorageBudgets budgets;
    std::string error;
};
Parsed parse(std::vector<const char*> args, std::vector<const char*> env = {}) {
    Parsed out;
    core::Config config("test", "");
    bind_storage_budgets(config, out.budgets);
    args.insert(args.begin(), "test");
    env.push_back(nullptr);
    const auto r = config.parse(static_cast<int>(args.size()), args.data(), env.data());
    out.error = r.error.value_or("");
    return out;
}

TEST(StorageBudgetFlags, DefaultsFlagsAndVariables) {
    const auto defaults = parse({});
    ASSERT_EQ(defaults.error, "");
    EXPECT_EQ(defaults.budgets.room_stream, 1024 * kMiB);
    EXPECT_EQ(defaults.budgets.presence_leader, kMiB);

    const auto set = parse(
        {"--storage-room-stream-max-bytes", "2Gi", "--storage-rooms-max-bytes=300m",
         "--storage-sessions-max-bytes", "1048576", "--storage-presence-max-bytes", "64Mi",
         "--storage-edges-max-bytes", "2Mi", "--storage-presence-leader-max-bytes", "3Mi",
         "--storage-config-max-bytes", "4Mi"},
        {"ROOMCAST_STORAGE_REVOCATIONS_MAX_BYTES=5Mi", "ROOMCAST_STORAGE_ROOMS_MAX_BYTES=7Mi"});
    ASSERT_EQ(set.error, "");
    EXPECT_EQ(set.budgets.room_stream, 2048 * kMiB);
    EXPECT_EQ(set.budgets.rooms, 300 * kMiB) << "the flag wins over the variable";
    EXPECT_EQ(set.budgets.sessions, kMiB);
    EXPECT_EQ(set.budgets.presence, 64 * kMiB);
    EXPECT_EQ(set.budgets.edges, 2 * kMiB);
    EXPECT_EQ(set.budgets.presence_leader, 3 * kMiB);
    EXPECT_EQ(set.budgets.config, 4 * kMiB);
    EXPECT_EQ(set.budgets.revocations, 5 * kMiB);
}

TEST(StorageBudgetFlags, RefusesBudgetsBelowOneWriteOrGarbage) {
    for (const char* flag : {"--storage-room-stream-max-bytes", "--storage-rooms-max-bytes",
                             "--storage-sessions-max-bytes", "--storage-presence-max-bytes",
                             "--storage-edges-max-bytes", "--storage-presence-leader-max-bytes",
                             "--storage-config-max-bytes", "--storage-revocations-max-bytes"}) {
        SCOPED_TRACE(flag);
        const auto small = parse({flag, "1023Ki"});
        EXPECT_THAT(small.error, HasSubstr(flag));
        EXPECT_THAT(small.error, HasSubstr("out of range"));
        EXPECT_THAT(parse({flag, "1GB"}).error, HasSubstr("not a byte size"));
        EXPECT_EQ(parse({flag, "1Mi"}).error, "");
    }
    EXPECT_THAT(parse({}, {"ROOMCAST_STORAGE_EDGES_MAX_BYTES=0"}).error,
                HasSubstr("storage-edges-max-bytes"));
}

TEST(StorageBudgetFlags, TheStreamBudgetMustHoldTheLargestEvent) {
    // Defaults: 256 KiB publishes, events up to 516 KiB, in a 1 GiB stream.
    EXPECT_EQ(check_room_stream_budget({}, kDefaults), "");
    const RoomStreamLimits big{.max_publish_bytes = 1 * kMiB};  // events up to 2 MiB + 4 KiB
    const std::string error = check_room_stream_budget(big, {.room_stream = 2 * kMiB});
    EXPECT_THAT(error, HasSubstr("--storage-room-stream-max-bytes (2097152)"));
    EXPECT_THAT(error, HasSubstr("2101248 bytes"));
    EXPECT_THAT(error, HasSubstr("--max-publish-bytes"));
    EXPECT_EQ(check_room_stream_budget(big, {.room_stream = 2 * kMiB + 4096}), "");
}

TEST(Timing, EdgeHeartbeatsOutliveTheLongestRecoveryWindow) {
    EXPECT_GE(edges_bucket(1, kDefaults).ttl, kMaxRecoveryWindow);
    EXPECT_EQ(kEdgeHeartbeatInterval, milliseconds(1000));
    EXPECT_EQ(kEdgeDeadAfter, milliseconds(3000));
    EXPECT_EQ(kPresenceGrace, milliseconds(5000));
    EXPECT_EQ(kPresenceLeaderTtl, milliseconds(3000));
    EXPECT_EQ(kPresenceLeaderRefresh, milliseconds(1000));
}

}  // namespace
}  // namespace roomcast::contract
