// The presence state machine, driven with a manual clock: joins, leaves, graces, dead edges,
// batching, paging, loading, and the cost of an update in a 100k-member room.
#include "presence_state.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace roomcast::presence {
namespace {

using namespace std::chrono_literals;

class StateTest : public ::testing::Test {
protected:
    StateTest(StateOptions options = {.grace = 5000ms, .edge_dead_after = 3000ms})
        : state_(options) {}

    void SetUp() override {
        beat("e1");
        beat("e2");
        state_.mark_loaded();
    }

    void put(const std::string& edge, const std::string& user, std::uint32_t sockets,
             bool lost = false, const std::string& room = "r") {
        state_.apply_entry(edge, room, user, EntryValue{"name-" + user, sockets, lost, now_}, now_);
    }
    void beat(const std::string& edge) { state_.edge_heartbeat(edge, now_, now_); }
    // Advances the clock in 250 ms steps (the batch interval), refreshing `beating` edges every
    // second as edges do, and ticking at every step.
    void advance(std::int64_t ms, const std::vector<std::string>& beating = {"e1", "e2"}) {
        const std::int64_t end = now_ + ms;
        while (now_ < end) {
            now_ = std::min(end, now_ + 250);
            if (now_ % 1000 == 0) {
                for (const auto& e : beating) {
                    beat(e);
                }
            }
            state_.tick(now_);
        }
    }
    // The changes since the last call: "room:+a,-b;" (joined then left, by user id).
    std::string changes() {
        std::string out;
        for (const auto& c : state_.take_changes()) {
            out += c.room + ":";
            for (const auto& u : c.joined) {
                out += "+" + u.id + ",";
            }
            for (const auto& u : c.left) {
                out += "-" + u.id + ",";
            }
            out += ";";
        }
        return out;
    }
    std::string totals(const std::string& room = "r") {
        const auto t = state_.totals(room);
        return std::to_string(t.clients) + "/" + std::to_string(t.users);
    }

    PresenceState state_;
    std::int64_t now_ = 1'700'000'000'000;
};

// rooms list --live: rooms with counted sockets, by id, filtered by prefix, paged; a room whose
// only edge died drops out.
TEST_F(StateTest, LiveRoomsArePagedByIdAndFollowSockets) {
    put("e1", "alice", 2, false, "team:b");
    put("e1", "bob", 1, false, "team:a");
    put("e2", "carol", 1, false, "team:a");
    put("e2", "dave", 1, false, "lobby");
    put("e1", "erin", 1, false, "team:c");
    put("e1", "erin", 0, false, "team:c");  // left: not live

    const LiveRoomsPage all = state_.live_rooms("", "", 10);
    ASSERT_EQ(all.rooms.size(), 3U);
    EXPECT_FALSE(all.more);
    EXPECT_EQ(all.rooms[0].id, "lobby");
    EXPECT_EQ(all.rooms[1].id, "team:a");
    EXPECT_EQ(all.rooms[1].totals.clients, 2U);
    EXPECT_EQ(all.rooms[1].totals.users, 2U);
    EXPECT_EQ(all.rooms[2].id, "team:b");
    EXPECT_EQ(all.rooms[2].totals.clients, 2U);
    EXPECT_EQ(all.rooms[2].totals.users, 1U);

    const LiveRoomsPage first = state_.live_rooms("team:", "", 1);
    ASSERT_EQ(first.rooms.size(), 1U);
    EXPECT_EQ(first.rooms[0].id, "team:a");
    EXPECT_TRUE(first.more);
    const LiveRoomsPage second = state_.live_rooms("team:", "team:a", 1);
    ASSERT_EQ(second.rooms.size(), 1U);
    EXPECT_EQ(second.rooms[0].id, "team:b");
    EXPECT_FALSE(second.more);

    advance(4000, {"e1"});  // e2 dead: lobby's only socket no longer counts
    const LiveRoomsPage after = state_.live_rooms("", "", 10);
    ASSERT_EQ(after.rooms.size(), 2U);
    EXPECT_EQ(after.rooms[0].id, "team:a");
    EXPECT_EQ(after.rooms[0].totals.clients, 1U);
}

TEST_F(StateTest, JoinAndCleanLeaveAreImmediate) {
    put("e1", "u1", 1);
    EXPECT_EQ(changes(), "r:+u1,;");
    EXPECT_EQ(totals(), "1/1");
    put("e1", "u1", 2);
    EXPECT_EQ(changes(), "");
    EXPECT_EQ(totals(), "2/1");
    put("e1", "u1", 0);
    EXPECT_EQ(changes(), "r:-u1,;");
    EXPECT_EQ(totals(), "0/0");
    EXPECT_EQ(state_.counters().rooms, 0U);
}

TEST_F(StateTest, KvDeleteIsACleanLeave) {
    put("e1", "u1", 1);
    changes();
    state_.remove_entry("e1", "r", "u1", now_);
    EXPECT_EQ(changes(), "r:-u1,;");
}

TEST_F(StateTest, LostConnectionLeavesAfterTheGrace) {
    put("e1", "u1", 1);
    changes();
    put("e1", "u1", 0, /*lost=*/true);
    EXPECT_EQ(changes(), "");
    EXPECT_EQ(totals(), "0/1");  // still a user during the grace, no longer a client
    advance(4750);
    EXPECT_EQ(changes(), "");
    advance(250);
    EXPECT_EQ(changes(), "r:-u1,;");
    EXPECT_EQ(totals(), "0/0");
}

TEST_F(StateTest, ReturningWithinTheGraceProducesNoEvents) {
    put("e1", "u1", 1);
    changes();
    put("e1", "u1", 0, true);
    advance(2000);
    put("e2", "u1", 1);  // recovered on another edge
    advance(10000);
    EXPECT_EQ(changes(), "");
    EXPECT_EQ(totals(), "1/1");
}

TEST_F(StateTest, CleanLeaveDuringAGraceIsImmediate) {
    put("e1", "u1", 1);
    changes();
    put("e1", "u1", 0, true);
    put("e2", "u1", 1);
    put("e2", "u1", 0, false);
    EXPECT_EQ(changes(), "r:-u1,;");
}

TEST_F(StateTest, JoinAndLeaveWithinOneBatchCancelOut) {
    put("e1", "u1", 1);
    put("e1", "u1", 0);
    EXPECT_EQ(changes(), "");
    put("e1", "u2", 1);
    changes();
    put("e1", "u2", 0);
    put("e1", "u2", 1);  // left and came back within one batch: still there
    EXPECT_EQ(changes(), "");
}

TEST_F(StateTest, AUserOnTwoEdgesStaysWhileEitherHasASocket) {
    put("e1", "u1", 1);
    put("e2", "u1", 2);
    EXPECT_EQ(changes(), "r:+u1,;");
    EXPECT_EQ(totals(), "3/1");
    put("e1", "u1", 0);
    EXPECT_EQ(changes(), "");
    EXPECT_EQ(totals(), "2/1");
    put("e2", "u1", 0);
    EXPECT_EQ(changes(), "r:-u1,;");
}

TEST_F(StateTest, ADeadEdgesUsersLeaveAfterDeadAfterPlusGrace) {
    put("e1", "u1", 1);
    put("e2", "u2", 1);
    changes();
    const std::int64_t last_beat = now_;
    advance(3000, {"e2"});
    EXPECT_TRUE(state_.edge_alive("e1"));  // exactly dead-after: not yet
    advance(250, {"e2"});
    EXPECT_FALSE(state_.edge_alive("e1"));
    EXPECT_EQ(totals(), "1/2");  // u1 no longer counted as a client, still in the grace
    EXPECT_EQ(changes(), "");
    advance(last_beat + 8000 - now_ - 250, {"e2"});
    EXPECT_EQ(changes(), "");
    advance(250, {"e2"});
    EXPECT_EQ(changes(), "r:-u1,;");
    EXPECT_EQ(totals(), "1/1");
}

TEST_F(StateTest, AnEdgeThatResumesWithinTheGraceCausesNoFlap) {
    put("e1", "u1", 2);
    changes();
    advance(6000, {"e2"});  // dead at +3 s, in the grace since
    EXPECT_FALSE(state_.edge_alive("e1"));
    EXPECT_EQ(totals(), "0/1");
    beat("e1");
    EXPECT_TRUE(state_.edge_alive("e1"));
    EXPECT_EQ(totals(), "2/1");
    advance(10000);
    EXPECT_EQ(changes(), "");
}

TEST_F(StateTest, AnEdgeThatResumesAfterTheGraceRejoinsItsUsers) {
    put("e1", "u1", 1);
    changes();
    advance(9000, {"e2"});
    EXPECT_EQ(changes(), "r:-u1,;");
    EXPECT_EQ(totals(), "0/0");
    beat("e1");
    EXPECT_EQ(changes(), "r:+u1,;");
    EXPECT_EQ(totals(), "1/1");
}

TEST_F(StateTest, ADeletedHeartbeatKillsTheEdgeAtOnce) {
    put("e1", "u1", 1);
    changes();
    state_.edge_gone("e1", now_);
    EXPECT_EQ(totals(), "0/1");
    advance(4750, {"e2"});
    EXPECT_EQ(changes(), "");
    advance(250, {"e2"});
    EXPECT_EQ(changes(), "r:-u1,;");
}

TEST_F(StateTest, NoEdgeDiesWhileLivenessIsHeld) {
    put("e1", "u1", 1);
    changes();
    state_.hold_liveness(now_ + 20000);
    advance(15000, {});
    EXPECT_TRUE(state_.edge_alive("e1"));
    EXPECT_EQ(changes(), "");
}

TEST_F(StateTest, PagesAreOrderedByUserIdWithTotals) {
    for (int i = 0; i < 250; ++i) {
        char id[16];
        std::snprintf(id, sizeof(id), "u%03d", i);
        put(i % 2 == 0 ? "e1" : "e2", id, 1 + i % 3);
    }
    std::string after;
    std::vector<std::size_t> sizes;
    std::string last;
    while (true) {
        const Page page = state_.page("r", after, 100);
        EXPECT_EQ(page.totals.users, 250U);
        sizes.push_back(page.users.size());
        for (const auto& u : page.users) {
            EXPECT_LT(last, u.id);
            last = u.id;
        }
        if (!page.more) {
            break;
        }
        after = page.users.back().id;
    }
    EXPECT_EQ(sizes, (std::vector<std::size_t>{100, 100, 50}));
    EXPECT_EQ(state_.page("r", "", 1).users.front().name, "name-u000");
    EXPECT_TRUE(state_.page("nobody-here", "", 10).users.empty());
}

TEST_F(StateTest, LargeBatchesAreSplit) {
    PresenceState small({.grace = 5000ms, .edge_dead_after = 3000ms, .max_users_per_change = 10});
    small.edge_heartbeat("e1", now_, now_);
    small.mark_loaded();
    for (int i = 0; i < 25; ++i) {
        small.apply_entry("e1", "r", "u" + std::to_string(100 + i), EntryValue{"", 1, false, now_},
                          now_);
    }
    const auto batches = small.take_changes();
    ASSERT_EQ(batches.size(), 3U);
    EXPECT_EQ(batches[0].joined.size(), 10U);
    EXPECT_EQ(batches[2].joined.size(), 5U);
}

TEST_F(StateTest, EntriesBeyondTheCapAreRefused) {
    PresenceState small({.max_entries = 2});
    small.edge_heartbeat("e1", now_, now_);
    small.mark_loaded();
    for (const char* u : {"a", "b", "c"}) {
        small.apply_entry("e1", "r", u, EntryValue{"", 1, false, now_}, now_);
    }
    EXPECT_EQ(small.totals("r").users, 2U);
    EXPECT_EQ(small.counters().refused, 1U);
}

TEST(StateLoading, ResumesGracesAndIgnoresLongDeadEdges) {
    PresenceState state({.grace = 5000ms, .edge_dead_after = 3000ms});
    const std::int64_t now = 1'700'000'000'000;
    state.edge_heartbeat("alive", now - 500, now);
    state.edge_heartbeat("died-2s-ago", now - 5000, now);  // dead since now - 2 s
    state.edge_heartbeat("died-long-ago", now - 60000, now);
    state.apply_entry("alive", "r", "a", EntryValue{"", 1, false, now - 9000}, now);
    state.apply_entry("alive", "r", "lost-1s-ago", EntryValue{"", 0, true, now - 1000}, now);
    state.apply_entry("alive", "r", "lost-long-ago", EntryValue{"", 0, true, now - 60000}, now);
    state.apply_entry("alive", "r", "left", EntryValue{"", 0, false, now - 1000}, now);
    state.apply_entry("died-2s-ago", "r", "b", EntryValue{"", 1, false, now - 9000}, now);
    state.apply_entry("died-long-ago", "r", "c", EntryValue{"", 1, false, now - 90000}, now);
    state.apply_entry("never-seen", "r", "d", EntryValue{"", 1, false, now - 90000}, now);
    state.mark_loaded();

    EXPECT_TRUE(state.take_changes().empty());  // the loaded state is not news
    EXPECT_EQ(state.totals("r").clients, 1U);
    EXPECT_EQ(state.totals("r").users, 3U);  // a, lost-1s-ago, b (in their graces)

    state.edge_heartbeat("alive", now + 2000, now + 2000);
    state.tick(now + 2999);
    EXPECT_TRUE(state.take_changes().empty());
    state.tick(now + 3000);  // b: dead since now - 2 s, grace 5 s
    state.tick(now + 4000);  // lost-1s-ago
    const auto changes = state.take_changes();
    ASSERT_EQ(changes.size(), 1U);
    ASSERT_EQ(changes[0].left.size(), 2U);
    EXPECT_EQ(changes[0].left[0].id, "b");
    EXPECT_EQ(changes[0].left[1].id, "lost-1s-ago");
    EXPECT_EQ(state.totals("r").users, 1U);

    // The long-dead edge comes back (same id): its entries count again.
    state.edge_heartbeat("died-long-ago", now + 5000, now + 5000);
    EXPECT_EQ(state.totals("r").users, 2U);
}

// 100k members in one room: the counts are running totals, so an update touches its own user
// and slot only, a count touches nothing, and a page touches its own size.
TEST(StateScale, HundredThousandMemberRoomUpdatesWithoutScanning) {
    PresenceState state({.grace = 5000ms, .edge_dead_after = 3000ms});
    std::int64_t now = 1'700'000'000'000;
    state.edge_heartbeat("e1", now, now);
    state.edge_heartbeat("e2", now, now);
    state.mark_loaded();
    constexpr int kMembers = 100'000;
    auto id = [](int i) {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "user%06d", i);
        return std::string(buf);
    };
    for (int i = 0; i < kMembers; ++i) {
        state.apply_entry(i % 2 == 0 ? "e1" : "e2", "big", id(i), EntryValue{"n", 1, false, now},
                          now);
    }
    EXPECT_EQ(state.take_changes().size(), 100U);  // 100k joins in batches of 1000
    EXPECT_EQ(state.totals("big").clients, static_cast<std::uint64_t>(kMembers));
    EXPECT_EQ(state.totals("big").users, static_cast<std::uint64_t>(kMembers));

    std::uint64_t before = state.counters().scanned;
    for (int i = 0; i < 1000; ++i) {
        (void)state.totals("big");
    }
    EXPECT_EQ(state.counters().scanned, before);  // counts never list

    // Each kind of update, one at a time: a socket more, a clean leave, a lost connection,
    // a return, a second edge, a new user.
    const auto one_update = [&](const std::string& edge, int user, std::uint32_t sockets,
                                bool lost) {
        const std::uint64_t b = state.counters().scanned;
        state.apply_entry(edge, "big", id(user), EntryValue{"n", sockets, lost, now}, now);
        return state.counters().scanned - b;
    };
    EXPECT_LE(one_update("e1", 10, 3, false), 2U);
    EXPECT_LE(one_update("e1", 12, 0, false), 2U);
    EXPECT_LE(one_update("e1", 14, 0, true), 2U);
    EXPECT_LE(one_update("e1", 14, 1, false), 2U);
    EXPECT_LE(one_update("e1", 11, 1, false), 2U);  // user 11 lives on e2: now on both
    EXPECT_LE(one_update("e1", kMembers + 1, 1, false), 2U);
    // +2 (3 sockets), -1 (left), -1 +1 (lost, back), +1 (second edge), +1 (new user).
    EXPECT_EQ(state.totals("big").clients, 100'003U);
    EXPECT_EQ(state.totals("big").users, static_cast<std::uint64_t>(kMembers));

    before = state.counters().scanned;
    for (int i = 0; i < 10'000; ++i) {
        state.apply_entry("e1", "big", id(1000 + 2 * (i % 1000)),
                          EntryValue{"n", 1U + i % 2, false, now}, now);
    }
    EXPECT_LE(state.counters().scanned - before, 20'000U);
    EXPECT_EQ(state.totals("big").users, static_cast<std::uint64_t>(kMembers));

    before = state.counters().scanned;
    const Page page = state.page("big", id(50'000), 100);
    EXPECT_EQ(page.users.size(), 100U);
    EXPECT_EQ(page.users.front().id, id(50'001));
    EXPECT_LE(state.counters().scanned - before, 100U);

    before = state.counters().scanned;
    state.tick(now + 1000);  // nothing expires: the tick walks edges, not members
    EXPECT_EQ(state.counters().scanned, before);
}

}  // namespace
}  // namespace roomcast::presence
