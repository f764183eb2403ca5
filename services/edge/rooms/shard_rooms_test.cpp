// The fabric's membership on a shard and the recovery merge, with fake members: joins, leaves,
// disconnects, kicks by user, fan-out with an excluded publisher, events held while a member
// recovers (and the cap on them), and the merge of replayed, caught-up and held events. A
// model-based churn test checks the index against a plain map.
#include "rooms/recovery.hpp"
#include "rooms/shard_rooms.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace roomcast::edge::rooms {
namespace {

struct FakeMember {
    explicit FakeMember(std::string u) : user_id(std::move(u)) {}
    std::vector<ShardRooms<FakeMember>::Membership>& memberships() { return ms; }
    const std::string& user() const { return user_id; }

    std::string user_id;
    std::vector<ShardRooms<FakeMember>::Membership> ms;
    std::unique_ptr<Held> recovery;
    std::vector<std::string> received;  // texts sent to it
};

transport::OutMessagePtr msg(std::string text, std::uint64_t tag = 0) {
    transport::OutMessage m;
    m.text = std::move(text);
    m.tag = tag;
    return std::make_shared<const transport::OutMessage>(std::move(m));
}

auto sender() {
    return [](FakeMember& m, const transport::OutMessagePtr& message) {
        m.received.push_back(message->text);
        return true;
    };
}

TEST(ShardRooms, JoinLeaveAndRoomsOfAMember) {
    ShardRooms<FakeMember> s;
    FakeMember a("alice");
    s.attach(a);
    EXPECT_TRUE(s.join(a, "r1", {5, 1000}));
    EXPECT_FALSE(s.join(a, "r1", {9, 2000})) << "joining twice keeps the first membership";
    EXPECT_TRUE(s.join(a, "r2", {7, 1001}));
    EXPECT_TRUE(s.in_room(a, "r1"));
    ASSERT_NE(s.info(a, "r1"), nullptr);
    EXPECT_EQ(s.info(a, "r1")->since, 5u);
    s.info(a, "r1")->since = 6;  // the join offset arrives later
    auto rooms = s.rooms_of(a);
    ASSERT_EQ(rooms.size(), 2u);
    EXPECT_EQ(rooms[0].first, "r1");
    EXPECT_EQ(rooms[0].second.since, 6u);
    EXPECT_EQ(rooms[0].second.joined_ms, 1000);
    EXPECT_TRUE(s.leave(a, "r1"));
    EXPECT_FALSE(s.leave(a, "r1"));
    EXPECT_FALSE(s.in_room(a, "r1"));
    EXPECT_EQ(s.rooms(), 1u);
}

TEST(ShardRooms, DetachLeavesEveryRoomAndTheUserIndex) {
    ShardRooms<FakeMember> s;
    FakeMember a1("alice");
    FakeMember a2("alice");
    FakeMember b("bob");
    for (auto* m : {&a1, &a2, &b}) {
        s.attach(*m);
        s.join(*m, "r", {});
    }
    s.join(a1, "q", {});
    ASSERT_NE(s.sockets_of("alice"), nullptr);
    EXPECT_EQ(s.sockets_of("alice")->size(), 2u);
    auto left = s.detach(a1);
    EXPECT_EQ(std::set<std::string>(left.begin(), left.end()), (std::set<std::string>{"r", "q"}));
    EXPECT_EQ(s.sockets_of("alice")->size(), 1u);
    EXPECT_EQ(s.members("q"), nullptr) << "an empty room is gone";
    EXPECT_EQ(s.members("r")->size(), 2u);
    s.detach(a2);
    EXPECT_EQ(s.sockets_of("alice"), nullptr);
}

TEST(ShardRooms, SelectFindsAUsersSocketsInARoomOrEveryone) {
    ShardRooms<FakeMember> s;
    FakeMember a1("alice");
    FakeMember a2("alice");
    FakeMember b("bob");
    for (auto* m : {&a1, &a2, &b}) {
        s.attach(*m);
        s.join(*m, "r", {});
    }
    EXPECT_EQ(s.select("r", "alice").size(), 2u);
    EXPECT_EQ(s.select("r", "").size(), 3u);
    EXPECT_TRUE(s.select("r", "carol").empty());
    EXPECT_TRUE(s.select("nowhere", "").empty());
    // Leaving while walking the copy is safe.
    for (auto* m : s.select("r", "alice")) {
        s.leave(*m, "r");
    }
    EXPECT_EQ(s.members("r")->size(), 1u);
}

TEST(ShardRooms, DeliverSkipsThePublisherAndHoldsForRecoveringMembers) {
    ShardRooms<FakeMember> s(2);
    FakeMember a("alice");
    FakeMember b("bob");
    FakeMember c("carol");
    for (auto* m : {&a, &b, &c}) {
        s.attach(*m);
        s.join(*m, "r", {});
    }
    s.hold(c);
    EXPECT_EQ(s.deliver("r", 1, msg("one"), &a, sender()), 2u);
    EXPECT_TRUE(a.received.empty()) << "the publisher is excluded";
    EXPECT_EQ(b.received, std::vector<std::string>{"one"});
    EXPECT_TRUE(c.received.empty()) << "held while recovering";
    s.deliver("r", 2, msg("two"), nullptr, sender());
    s.deliver("r", 3, msg("three"), nullptr, sender());  // over the cap of 2
    auto held = s.release(c);
    EXPECT_TRUE(held.overflowed);
    ASSERT_EQ(held.events.size(), 2u);
    EXPECT_EQ(held.events[0].seq, 1u);
    EXPECT_EQ(held.events[1].room, "r");
    EXPECT_FALSE(c.recovery);
    s.deliver("r", 4, msg("four"), nullptr, sender());
    EXPECT_EQ(c.received, std::vector<std::string>{"four"});
    EXPECT_EQ(s.deliver("empty", 5, msg("x"), nullptr, sender()), 0u);
}

TEST(ShardRooms, EphemeralEventsSkipThePublisherAndMembersStillRecovering) {
    ShardRooms<FakeMember> s(2);
    FakeMember a("alice");
    FakeMember b("bob");
    FakeMember c("carol");
    FakeMember d("dave");
    for (auto* m : {&a, &b, &c, &d}) {
        s.attach(*m);
        s.join(*m, "r", {});
    }
    s.hold(c);   // recovering: nothing held for it (ephemeral events are not replayed)
    s.hold(d);
    s.release(d);
    s.watch(d, {{"r", 10}});  // merged, watching for duplicates: ephemeral ones are never those
    EXPECT_EQ(s.deliver_ephemeral("r", msg("cursor"), &a, sender()), 2u);
    EXPECT_TRUE(a.received.empty()) << "the publisher is excluded";
    EXPECT_EQ(b.received, std::vector<std::string>{"cursor"});
    EXPECT_TRUE(c.received.empty());
    EXPECT_TRUE(c.recovery->events.empty()) << "not held";
    EXPECT_EQ(d.received, std::vector<std::string>{"cursor"});
    ASSERT_TRUE(d.recovery) << "the watch goes on: an ephemeral event has no offset";
    EXPECT_EQ(s.deliver_ephemeral("empty", msg("x"), nullptr, sender()), 0u);
}

TEST(ShardRooms, LiveEventsTheMergeCoveredAreNotSentAgain) {
    // Found by the edge-kill fault test (a recovered client got one event twice): the catch-up
    // read returned r:11 and r:12 before their live deliveries reached the shard, so they were
    // merged and sent, and then arrived live.
    ShardRooms<FakeMember> s;
    FakeMember a("alice");
    FakeMember b("bob");
    s.attach(a);
    s.attach(b);
    s.join(a, "r", {});
    s.join(a, "q", {});
    s.join(b, "r", {});
    s.hold(a);
    s.deliver("r", 10, msg("r10"), nullptr, sender());  // held: merged below
    s.release(a);
    s.watch(a, {{"r", 12}, {"q", 5}});
    s.deliver("r", 11, msg("r11"), nullptr, sender());
    s.deliver("r", 12, msg("r12"), nullptr, sender());
    EXPECT_TRUE(a.received.empty()) << "covered by the merge";
    ASSERT_TRUE(a.recovery) << "q is still watched";
    s.deliver("r", 13, msg("r13"), nullptr, sender());
    s.deliver("r", 12, msg("r12 again"), nullptr, sender());  // cannot happen: the watch is over
    s.deliver("q", 6, msg("q6"), nullptr, sender());
    EXPECT_EQ(a.received, (std::vector<std::string>{"r13", "r12 again", "q6"}));
    EXPECT_FALSE(a.recovery) << "every room's watch ended with its first newer event";
    EXPECT_EQ(b.received, (std::vector<std::string>{"r10", "r11", "r12", "r13", "r12 again"}));

    // Nothing covered: no watch at all.
    s.hold(b);
    s.release(b);
    s.watch(b, {});
    EXPECT_FALSE(b.recovery);
    // A watched member that recovers again holds again.
    s.watch(a, {{"r", 20}});
    s.hold(a);
    s.deliver("r", 15, msg("r15"), nullptr, sender());
    ASSERT_TRUE(a.recovery);
    EXPECT_EQ(a.recovery->events.size(), 1u);
}

TEST(ShardRooms, ASocketThatLeavesWhileRecoveringTakesNothingWithIt) {
    // A recovering socket is kicked from one room and then disconnects before its merge runs.
    ShardRooms<FakeMember> s;
    FakeMember a("alice");
    FakeMember b("bob");
    s.attach(a);
    s.attach(b);
    s.join(a, "r", {});
    s.join(a, "q", {});
    s.join(b, "r", {});
    s.hold(a);
    s.deliver("r", 7, msg("r7"), nullptr, sender());
    s.leave(a, "r");  // kicked: events of "r" no longer reach it
    s.deliver("r", 8, msg("r8"), nullptr, sender());
    s.deliver("q", 9, msg("q9"), nullptr, sender());
    ASSERT_TRUE(a.recovery);
    EXPECT_EQ(a.recovery->events.size(), 2u) << "r7 (before the kick) and q9";
    auto left = s.detach(a);
    EXPECT_EQ(left, std::vector<std::string>{"q"});
    EXPECT_FALSE(a.recovery) << "the held events go with it";
    EXPECT_TRUE(s.release(a).events.empty());
    EXPECT_EQ(b.received, (std::vector<std::string>{"r7", "r8"}));
    EXPECT_EQ(s.members("q"), nullptr);
}

TEST(ShardRooms, ChurnMatchesAModel) {
    // Random joins, leaves and detaches of 40 members over 12 rooms against a plain model.
    ShardRooms<FakeMember> s;
    std::vector<std::unique_ptr<FakeMember>> members;
    std::map<FakeMember*, std::set<std::string>> model;
    std::mt19937 rng(7);
    for (int i = 0; i < 40; ++i) {
        members.push_back(std::make_unique<FakeMember>("u" + std::to_string(i % 9)));
        s.attach(*members.back());
        model[members.back().get()];
    }
    for (int step = 0; step < 20000; ++step) {
        FakeMember* m = members[rng() % members.size()].get();
        const std::string room = "r" + std::to_string(rng() % 12);
        switch (rng() % 8) {
            case 0:
                s.detach(*m);
                model[m].clear();
                s.attach(*m);
                break;
            case 1:
            case 2:
            case 3:
                EXPECT_EQ(s.leave(*m, room), model[m].erase(room) == 1);
                break;
            default:
                EXPECT_EQ(s.join(*m, room, {}), model[m].insert(room).second);
                break;
        }
    }
    for (int r = 0; r < 12; ++r) {
        const std::string room = "r" + std::to_string(r);
        std::set<FakeMember*> expected;
        for (auto& [m, rooms] : model) {
            if (rooms.contains(room)) {
                expected.insert(m);
            }
        }
        const auto* list = s.members(room);
        std::set<FakeMember*> actual;
        if (list != nullptr) {
            actual.insert(list->begin(), list->end());
            EXPECT_EQ(list->size(), actual.size()) << "no member twice";
        }
        EXPECT_EQ(actual, expected) << room;
    }
    for (auto& [m, rooms] : model) {
        std::set<std::string> actual;
        for (const auto& [room, info] : s.rooms_of(*m)) {
            actual.insert(room);
        }
        EXPECT_EQ(actual, rooms);
    }
}

// --- merge_recovery ------------------------------------------------------------------------

RoomMessage rm(std::string room, std::uint64_t seq) {
    return RoomMessage{room, seq, msg(room + ":" + std::to_string(seq), seq)};
}

std::vector<std::string> texts(const std::vector<transport::OutMessagePtr>& list) {
    std::vector<std::string> out;
    for (const auto& m : list) {
        out.push_back(m->text);
    }
    return out;
}

TEST(MergeRecovery, ReplayCatchUpAndHeldBecomeOneOrderedStreamWithoutDuplicates) {
    // Replay (connect time) a:3 b:4 a:6; catch-up a:6 b:8 (overlapping); held live b:8 a:9.
    std::vector<RoomMessage> replay = {rm("a", 3), rm("b", 4), rm("a", 6), rm("a", 6), rm("b", 8)};
    std::vector<RoomMessage> held = {rm("b", 8), rm("a", 9)};
    auto out = merge_recovery(std::move(replay), std::move(held),
                              [](std::string_view) { return std::optional<std::uint64_t>(0); });
    EXPECT_EQ(texts(out), (std::vector<std::string>{"a:3", "b:4", "a:6", "b:8", "a:9"}));
}

TEST(MergeRecovery, EventsTheClientHasAndRoomsItLeftAreNotSent) {
    std::vector<RoomMessage> replay = {rm("a", 3), rm("a", 5), rm("gone", 6), rm("b", 7)};
    std::vector<RoomMessage> held = {rm("gone", 8), rm("b", 9), rm("a", 4)};
    auto start = [](std::string_view room) -> std::optional<std::uint64_t> {
        if (room == "a") {
            return 4;  // the client's offset: it has 3 and 4
        }
        if (room == "b") {
            return 0;
        }
        return std::nullopt;  // kicked while recovering
    };
    auto out = merge_recovery(std::move(replay), std::move(held), start);
    EXPECT_EQ(texts(out), (std::vector<std::string>{"a:5", "b:7", "b:9"}));
}

TEST(MergeRecovery, NothingToSend) {
    auto out = merge_recovery({}, {}, [](std::string_view) { return std::optional<std::uint64_t>(0); });
    EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace roomcast::edge::rooms
