// Which rooms a recovering session gets back, and the revocations that decide it: kicks,
// removed memberships, deleted and private rooms, DisconnectUser, rights that cannot be checked,
// the "newer than the join" rule, pruning and the fail-closed cap.
#include "app/recovery_plan.hpp"
#include "app/revocations.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace roomcast::edge {
namespace {

using namespace std::chrono_literals;

class FakeRights final : public RightsPort {
public:
    std::map<std::string, Verdict> rooms;  // room → verdict for everyone but `members`
    std::map<std::string, std::set<std::string>> members;  // room → users allowed anyway
    Verdict may_join(const std::string& room, const std::string& user) const override {
        if (auto m = members.find(room); m != members.end() && m->second.contains(user)) {
            return Verdict::kAllow;
        }
        auto it = rooms.find(room);
        return it == rooms.end() ? Verdict::kAllow : it->second;
    }
    Verdict may_publish(const std::string& room, const std::string& user) const override {
        return may_join(room, user);
    }
    void create(const std::string&, std::function<void(bool)> done) override { done(true); }
};

bus::v1::SessionRecord record(std::string user, std::int64_t started,
                              std::vector<std::tuple<std::string, std::uint64_t, std::int64_t>> rooms) {
    bus::v1::SessionRecord r;
    r.set_user_id(std::move(user));
    r.set_started_ms(started);
    for (auto& [room, since, joined] : rooms) {
        auto* m = r.add_rooms();
        m->set_room(room);
        m->set_since(since);
        m->set_joined_ms(joined);
    }
    return r;
}

std::vector<std::string> kept(const RecoveryPlan& p) {
    std::vector<std::string> out;
    for (const auto& r : p.rooms) {
        out.push_back(r.room);
    }
    return out;
}

TEST(RecoveryPlan, EverythingComesBackWhenNothingChanged) {
    FakeRights rights;
    Revocations rev(10min, 100);
    auto p = plan_recovery(record("u", 1000, {{"a", 5, 1000}, {"b", 9, 1100}}), 7, rights, rev);
    ASSERT_TRUE(p.recover);
    EXPECT_EQ(kept(p), (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(p.dropped.empty());
    EXPECT_EQ(p.rooms[0].start, 7u) << "max(client offset, join offset)";
    EXPECT_EQ(p.rooms[1].start, 9u);
    EXPECT_EQ(p.rooms[1].info.since, 9u);
    EXPECT_EQ(p.rooms[1].info.joined_ms, 1100);
}

TEST(RecoveryPlan, RoomsLostWhileAwayAreLeftOutWithTheirReasons) {
    FakeRights rights;
    rights.rooms["private"] = Verdict::kForbidden;     // turned PRIVATE, u not a member
    rights.rooms["removed"] = Verdict::kForbidden;     // PRIVATE, u's membership removed
    rights.rooms["gone"] = Verdict::kNotFound;         // deleted, no auto-create
    rights.rooms["gone-auto"] = Verdict::kCreate;      // deleted, auto-create prefix
    Revocations rev(10min, 100);
    rev.kick("kicked", "u", "spam", 2000);
    rev.kick("removed", "u", "membership_removed", 2000);
    rev.room("gone-auto", "room_deleted", 2000);
    rev.kick("kicked", "someone-else", "spam", 2000);
    auto p = plan_recovery(record("u", 1000, {{"kept", 1, 1000},
                                               {"private", 1, 1000},
                                               {"removed", 1, 1000},
                                               {"gone", 1, 1000},
                                               {"gone-auto", 1, 1000},
                                               {"kicked", 1, 1000}}),
                           0, rights, rev);
    ASSERT_TRUE(p.recover);
    EXPECT_EQ(kept(p), std::vector<std::string>{"kept"});
    std::map<std::string, std::string> dropped(p.dropped.begin(), p.dropped.end());
    EXPECT_EQ(dropped, (std::map<std::string, std::string>{{"private", "room_private"},
                                                           {"removed", "membership_removed"},
                                                           {"gone", "room_deleted"},
                                                           {"gone-auto", "room_deleted"},
                                                           {"kicked", "spam"}}));
}

TEST(RecoveryPlan, ARevocationOlderThanTheJoinDoesNotCount) {
    FakeRights rights;
    Revocations rev(10min, 100);
    rev.kick("a", "u", "spam", 900);  // kicked, then joined again at 1000
    auto p = plan_recovery(record("u", 500, {{"a", 1, 1000}}), 0, rights, rev);
    EXPECT_EQ(kept(p), std::vector<std::string>{"a"});
    rev.kick("a", "u", "spam", 1000);  // at the join's very millisecond: counts
    p = plan_recovery(record("u", 500, {{"a", 1, 1000}}), 0, rights, rev);
    EXPECT_TRUE(kept(p).empty());
}

TEST(RecoveryPlan, ARoomTurnedPrivateKeepsItsMembers) {
    FakeRights rights;
    rights.rooms["team"] = Verdict::kForbidden;
    rights.members["team"] = {"member"};
    Revocations rev(10min, 100);
    rev.room("team", "room_private", 2000);
    EXPECT_EQ(kept(plan_recovery(record("member", 1, {{"team", 1, 1000}}), 0, rights, rev)),
              std::vector<std::string>{"team"});
    auto p = plan_recovery(record("other", 1, {{"team", 1, 1000}}), 0, rights, rev);
    EXPECT_TRUE(p.rooms.empty());
    ASSERT_EQ(p.dropped.size(), 1u);
    EXPECT_EQ(p.dropped[0].second, "room_private");
}

TEST(RecoveryPlan, ADisconnectUserAtOrAfterTheStartMakesTheSessionUnrecoverable) {
    FakeRights rights;
    Revocations rev(10min, 100);
    rev.user("u", "banned", 1500);
    EXPECT_FALSE(plan_recovery(record("u", 1000, {{"a", 1, 1000}}), 0, rights, rev).recover);
    EXPECT_FALSE(plan_recovery(record("u", 1500, {}), 0, rights, rev).recover);
    EXPECT_TRUE(plan_recovery(record("u", 1501, {}), 0, rights, rev).recover) << "a later session";
    EXPECT_TRUE(plan_recovery(record("v", 1000, {}), 0, rights, rev).recover) << "another user";
}

TEST(RecoveryPlan, RightsThatCannotBeCheckedMeanNoRecovery) {
    FakeRights rights;
    rights.rooms["a"] = Verdict::kUnavailable;
    Revocations rev(10min, 100);
    EXPECT_FALSE(plan_recovery(record("u", 1, {{"a", 1, 1}}), 0, rights, rev).recover);
}

TEST(RecoveryPlan, InvalidRoomIdsInARecordAreSkipped) {
    FakeRights rights;
    Revocations rev(10min, 100);
    auto p = plan_recovery(record("u", 1, {{"bad room", 1, 1}, {"ok", 1, 1}}), 0, rights, rev);
    EXPECT_EQ(kept(p), std::vector<std::string>{"ok"});
}

TEST(RecoveryPlan, RoomLostRechecksOneRoom) {
    FakeRights rights;
    Revocations rev(10min, 100);
    EXPECT_FALSE(room_lost("a", "u", 1000, rights, rev));
    rev.kick("a", "u", "spam", 1001);
    EXPECT_EQ(room_lost("a", "u", 1000, rights, rev), "spam");
    rights.rooms["b"] = Verdict::kUnavailable;
    EXPECT_FALSE(room_lost("b", "u", 1000, rights, rev)) << "checked at connect already";
}

TEST(Revocations, TheNewestPerKeyCountsAndKeysDecodeFromKv) {
    Revocations rev(10min, 100);
    bus::v1::Revocation r;
    r.set_reason("spam");
    r.set_at_ms(2000);
    rev.apply("kick.YQ.dQ", r);  // key(a) = YQ, key(u) = dQ
    ASSERT_TRUE(rev.room_revoked("a", "u", 1000));
    r.set_reason("older");
    r.set_at_ms(1500);
    rev.apply("kick.YQ.dQ", r);
    EXPECT_EQ(rev.room_revoked("a", "u", 1000)->reason, "spam");
    r.set_reason("room_deleted");
    r.set_at_ms(3000);
    rev.apply("room.Yg", r);
    EXPECT_EQ(rev.room_revoked("b", "anyone", 1000)->reason, "room_deleted");
    r.set_reason("bye");
    rev.apply("user.dQ", r);
    EXPECT_FALSE(rev.session_recoverable("u", 2999));
    rev.apply("nonsense", r);
    rev.apply("kick.!!.dQ", r);
    EXPECT_EQ(rev.size(), 3u);
}

TEST(Revocations, OldEntriesArePrunedAndAFullStoreFailsClosed) {
    Revocations rev(std::chrono::milliseconds(1000), 3);
    rev.kick("a", "u", "x", 100);
    rev.kick("b", "u", "x", 200);
    rev.prune(1150);  // keeps at_ms >= 150
    EXPECT_FALSE(rev.room_revoked("a", "u", 0));
    EXPECT_TRUE(rev.room_revoked("b", "u", 0));
    rev.kick("c", "u", "x", 300);
    rev.kick("d", "u", "x", 400);
    rev.kick("e", "u", "x", 500);  // over the cap: "b" (200) goes, the horizon moves to 200
    EXPECT_EQ(rev.size(), 3u);
    EXPECT_FALSE(rev.session_recoverable("anyone", 200)) << "started before the horizon: unknown";
    EXPECT_TRUE(rev.session_recoverable("anyone", 201));
}

}  // namespace
}  // namespace roomcast::edge
