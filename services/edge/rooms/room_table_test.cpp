// The room fabric's per-room state machine, driven deterministically: the derived counts and
// the subscription they imply, join offsets and the joins waiting for them, ordering,
// duplicates, gaps and their repair, stale subscriptions, reconnects.
#include "rooms/room_table.hpp"

#include <gtest/gtest.h>

namespace roomcast::edge::rooms {
namespace {

Incoming ev(std::uint64_t generation, std::uint64_t seq, std::uint64_t prev) {
    Incoming in;
    in.generation = generation;
    in.seq = seq;
    in.prev = prev;
    in.data = "e" + std::to_string(seq);
    return in;
}

std::vector<std::uint64_t> seqs(const RoomTable::Step& step) {
    std::vector<std::uint64_t> out;
    for (const auto& e : step.deliver) {
        out.push_back(e.seq);
    }
    return out;
}

std::vector<Stored> stored(std::initializer_list<std::uint64_t> list) {
    std::vector<Stored> out;
    for (auto s : list) {
        out.push_back(Stored{s, "e" + std::to_string(s)});
    }
    return out;
}

TEST(RoomTable, FirstSocketSubscribesLastUnsubscribesAndUsersAreCountedOnce) {
    RoomTable t;
    auto a = t.add("r", "alice", "Alice", std::nullopt);
    ASSERT_TRUE(a.subscribe);
    ASSERT_TRUE(a.user);
    EXPECT_EQ(a.user->user, "alice");
    EXPECT_EQ(a.user->name, "Alice");
    EXPECT_EQ(a.user->sockets, 1u);

    auto b = t.add("r", "alice", "Alice", std::nullopt);  // alice's second socket
    EXPECT_FALSE(b.subscribe);
    EXPECT_FALSE(b.user) << "presence changes only when the user's first socket enters";
    auto c = t.add("r", "bob", "Bob", std::nullopt);
    EXPECT_FALSE(c.subscribe);
    ASSERT_TRUE(c.user);
    EXPECT_EQ(t.sockets("r"), 3u);
    EXPECT_EQ(t.user_sockets("r", "alice"), 2u);

    auto r1 = t.remove("r", "alice", false);
    EXPECT_FALSE(r1.unsubscribe);
    EXPECT_FALSE(r1.user);
    auto r2 = t.remove("r", "alice", true);
    EXPECT_FALSE(r2.unsubscribe);
    ASSERT_TRUE(r2.user);
    EXPECT_EQ(r2.user->sockets, 0u);
    EXPECT_TRUE(r2.user->lost);
    auto r3 = t.remove("r", "bob", false);
    EXPECT_TRUE(r3.unsubscribe);
    ASSERT_TRUE(r3.user);
    EXPECT_FALSE(r3.user->lost);
    EXPECT_FALSE(t.contains("r"));
    EXPECT_EQ(t.rooms(), 0u);
}

TEST(RoomTable, RemovingFromAnUnknownRoomDoesNothing) {
    RoomTable t;
    auto r = t.remove("nowhere", "alice", false);
    EXPECT_FALSE(r.unsubscribe);
    EXPECT_FALSE(r.user);
}

TEST(RoomTable, JoinsWaitForTheSeedThenGetTheNewestOffsetKnown) {
    RoomTable t;
    auto a = t.add("r", "alice", "A", RoomTable::WaiterId{1});
    ASSERT_TRUE(a.subscribe);
    EXPECT_FALSE(a.offset) << "not known before the seed read";
    auto b = t.add("r", "bob", "B", RoomTable::WaiterId{2});
    EXPECT_FALSE(b.offset);
    EXPECT_FALSE(t.known_offset("r"));

    // An event delivered before the seed read answers raises what the seed will report.
    auto step = t.live("r", ev(*a.subscribe, 12, 11));
    EXPECT_EQ(seqs(step), std::vector<std::uint64_t>{12});
    auto s = t.seeded("r", *a.subscribe, 11);
    EXPECT_EQ(s.waiters, (std::vector<RoomTable::WaiterId>{1, 2}));
    EXPECT_EQ(s.offset, 12u) << "max(seed, delivered)";
    EXPECT_EQ(t.known_offset("r"), 12u);

    auto c = t.add("r", "carol", "C", RoomTable::WaiterId{3});
    ASSERT_TRUE(c.offset);
    EXPECT_EQ(*c.offset, 12u);
    step = t.live("r", ev(*a.subscribe, 15, 12));
    EXPECT_EQ(t.known_offset("r"), 15u);
}

TEST(RoomTable, AJoinAfterLeavingAgainIgnoresTheOldSubscriptionsSeedAndEvents) {
    RoomTable t;
    auto first = t.add("r", "alice", "A", RoomTable::WaiterId{1});
    ASSERT_TRUE(first.subscribe);
    auto gone = t.remove("r", "alice", false);
    EXPECT_TRUE(gone.unsubscribe);
    EXPECT_EQ(gone.waiters, std::vector<RoomTable::WaiterId>{1}) << "the orphaned join must be told";

    auto second = t.add("r", "alice", "A", RoomTable::WaiterId{2});
    ASSERT_TRUE(second.subscribe);
    EXPECT_NE(*second.subscribe, *first.subscribe);
    // The first subscription's seed and a late event of it arrive now.
    EXPECT_TRUE(t.seeded("r", *first.subscribe, 100).waiters.empty());
    EXPECT_FALSE(t.known_offset("r"));
    EXPECT_TRUE(t.live("r", ev(*first.subscribe, 101, 100)).deliver.empty());
    EXPECT_EQ(t.stats().stale_dropped, 1u);

    auto s = t.seeded("r", *second.subscribe, 105);
    EXPECT_EQ(s.waiters, std::vector<RoomTable::WaiterId>{2});
    EXPECT_EQ(s.offset, 105u);
}

TEST(RoomTable, EventsAreDeliveredInOrderAndDuplicatesDropped) {
    RoomTable t;
    const auto g = *t.add("r", "u", "U", std::nullopt).subscribe;
    EXPECT_EQ(seqs(t.live("r", ev(g, 5, 0))), std::vector<std::uint64_t>{5});
    EXPECT_EQ(seqs(t.live("r", ev(g, 9, 5))), std::vector<std::uint64_t>{9});
    EXPECT_TRUE(t.live("r", ev(g, 9, 5)).deliver.empty()) << "redelivered";
    EXPECT_TRUE(t.live("r", ev(g, 7, 5)).deliver.empty()) << "older than the last delivered";
    EXPECT_EQ(t.stats().duplicates_dropped, 2u);
    EXPECT_TRUE(t.live("r", ev(g, 0, 0)).deliver.empty());
    EXPECT_EQ(t.stats().invalid_dropped, 1u);
    EXPECT_EQ(t.stats().delivered, 2u);
}

TEST(RoomTable, AGapIsReadBackAndLiveEventsWaitForIt) {
    RoomTable t;
    const auto g = *t.add("r", "u", "U", std::nullopt).subscribe;
    t.live("r", ev(g, 10, 9));
    // 11 and 12 were lost (a NATS reconnect): 13 names 12 as its predecessor.
    auto step = t.live("r", ev(g, 13, 12));
    EXPECT_TRUE(step.deliver.empty());
    ASSERT_TRUE(step.repair_after);
    EXPECT_EQ(*step.repair_after, 10u);
    // Later live events wait behind the repair, duplicates included.
    EXPECT_TRUE(t.live("r", ev(g, 14, 13)).deliver.empty());
    EXPECT_TRUE(t.live("r", ev(g, 13, 12)).deliver.empty());
    // The read returns 11..14 (the stream has them all by now): only what is missing before
    // the held live events is taken from it.
    step = t.repaired("r", stored({11, 12, 13, 14}), {});
    EXPECT_EQ(seqs(step), (std::vector<std::uint64_t>{11, 12, 13, 14}));
    EXPECT_FALSE(step.repair_after);
    EXPECT_EQ(t.stats().gaps_detected, 1u);
    EXPECT_EQ(t.stats().events_repaired, 2u);
    EXPECT_EQ(t.stats().duplicates_dropped, 1u);
    EXPECT_EQ(seqs(t.live("r", ev(g, 15, 14))), std::vector<std::uint64_t>{15});
}

TEST(RoomTable, AFailedRepairResumesLiveDeliveryAfterTheGap) {
    RoomTable t;
    const auto g = *t.add("r", "u", "U", std::nullopt).subscribe;
    t.live("r", ev(g, 10, 9));
    ASSERT_TRUE(t.live("r", ev(g, 13, 12)).repair_after);
    auto step = t.repaired("r", std::nullopt, {});
    EXPECT_EQ(seqs(step), std::vector<std::uint64_t>{13});
    EXPECT_EQ(t.stats().events_lost, 1u);
}

TEST(RoomTable, ASecondGapWhileHeldEventsAreReplayedStartsAnotherRepair) {
    RoomTable t;
    const auto g = *t.add("r", "u", "U", std::nullopt).subscribe;
    t.live("r", ev(g, 10, 9));
    ASSERT_TRUE(t.live("r", ev(g, 12, 11)).repair_after);
    t.live("r", ev(g, 20, 19));  // held; another gap (13..19) behind it
    auto step = t.repaired("r", stored({11}), {});
    EXPECT_EQ(seqs(step), (std::vector<std::uint64_t>{11, 12}));
    ASSERT_TRUE(step.repair_after);
    EXPECT_EQ(*step.repair_after, 12u);
    step = t.repaired("r", stored({13, 19}), {});
    EXPECT_EQ(seqs(step), (std::vector<std::uint64_t>{13, 19, 20}));
}

TEST(RoomTable, TheFirstLiveEventIsCheckedAgainstTheSeed) {
    RoomTable t;
    const auto g = *t.add("r", "u", "U", std::nullopt).subscribe;
    t.seeded("r", g, 40);
    // 41 was missed between the seed read and this event.
    auto step = t.live("r", ev(g, 42, 41));
    ASSERT_TRUE(step.repair_after);
    EXPECT_EQ(*step.repair_after, 40u);
    step = t.repaired("r", stored({39, 40, 41, 42}), {});
    EXPECT_EQ(seqs(step), (std::vector<std::uint64_t>{41, 42}));
}

TEST(RoomTable, AfterAReconnectOffsetsAreReadAgainAndMissedEventsRepaired) {
    RoomTable t;
    const auto g = *t.add("r", "u", "U", std::nullopt).subscribe;
    t.seeded("r", g, 3);
    t.live("r", ev(g, 4, 3));
    auto reseeds = t.reconnected();
    ASSERT_EQ(reseeds.size(), 1u);
    EXPECT_EQ(reseeds[0].room, "r");
    EXPECT_FALSE(t.known_offset("r")) << "joins wait for the new read";
    EXPECT_TRUE(t.seeded("r", g, 5).waiters.empty()) << "a read of the old epoch cannot answer";
    EXPECT_FALSE(t.known_offset("r"));
    auto w = t.add("r", "v", "V", RoomTable::WaiterId{7});
    EXPECT_FALSE(w.offset);
    auto s = t.seeded("r", reseeds[0].epoch, 6);
    EXPECT_EQ(s.waiters, std::vector<RoomTable::WaiterId>{7});
    EXPECT_EQ(s.offset, 6u);

    EXPECT_FALSE(t.check_latest("r", 4)) << "nothing newer than delivered";
    auto gap = t.check_latest("r", 6);
    ASSERT_TRUE(gap);
    EXPECT_EQ(*gap, 4u);
    EXPECT_FALSE(t.check_latest("r", 6)) << "one repair at a time";
    auto step = t.repaired("r", stored({5, 6}), {});
    EXPECT_EQ(seqs(step), (std::vector<std::uint64_t>{5, 6}));
    // The subscription's live events (same generation) still flow.
    EXPECT_EQ(seqs(t.live("r", ev(g, 7, 6))), std::vector<std::uint64_t>{7});
}

TEST(RoomTable, AFailedSubscriptionIsRetriedByTheNextJoin) {
    RoomTable t;
    const auto g = *t.add("r", "u", "U", RoomTable::WaiterId{1}).subscribe;
    EXPECT_EQ(t.subscribe_failed("r", g), std::vector<RoomTable::WaiterId>{1});
    EXPECT_EQ(t.sockets("r"), 1u) << "the socket is still in the room";
    auto again = t.add("r", "v", "V", std::nullopt);
    ASSERT_TRUE(again.subscribe) << "the next join subscribes again";
    EXPECT_NE(*again.subscribe, g);
    t.remove("r", "u", false);
    EXPECT_TRUE(t.remove("r", "v", false).unsubscribe);
}

TEST(RoomTable, ASeedThatFailsSendsTheWaitersToTheStream) {
    RoomTable t;
    const auto g = *t.add("r", "u", "U", RoomTable::WaiterId{4}).subscribe;
    EXPECT_EQ(t.seed_failed("r", g), std::vector<RoomTable::WaiterId>{4});
    EXPECT_FALSE(t.known_offset("r"));
    EXPECT_TRUE(t.seed_failed("r", g).empty());
}

TEST(RoomTable, AHeldRoomQueuesLiveEventsUntilReleased) {
    RoomTable t;
    const auto g = *t.add("r", "u", "U", std::nullopt).subscribe;
    t.live("r", ev(g, 1, 0));
    EXPECT_FALSE(t.held("r"));
    t.hold("r");
    t.hold("r");  // holds nest
    EXPECT_TRUE(t.held("r"));
    EXPECT_TRUE(t.live("r", ev(g, 2, 1)).deliver.empty());
    EXPECT_TRUE(t.live("r", ev(g, 3, 2)).deliver.empty());
    EXPECT_TRUE(t.release("r").deliver.empty()) << "still held once";
    EXPECT_TRUE(t.held("r"));
    EXPECT_EQ(seqs(t.release("r")), (std::vector<std::uint64_t>{2, 3}));
    EXPECT_FALSE(t.held("r"));
    EXPECT_TRUE(t.release("r").deliver.empty()) << "releasing more than held does nothing";
    EXPECT_EQ(seqs(t.live("r", ev(g, 4, 3))), std::vector<std::uint64_t>{4});
    t.hold("unknown");
    EXPECT_TRUE(t.release("unknown").deliver.empty());
}

TEST(RoomTable, AHoldOutlastsARepair) {
    RoomTable t;
    const auto g = *t.add("r", "u", "U", std::nullopt).subscribe;
    t.live("r", ev(g, 1, 0));
    t.hold("r");
    EXPECT_TRUE(t.live("r", ev(g, 3, 2)).deliver.empty());
    // Released while nothing is repairing: 3's gap (2) is found now and repaired.
    auto step = t.release("r");
    EXPECT_TRUE(step.deliver.empty());
    ASSERT_TRUE(step.repair_after);
    t.hold("r");
    step = t.repaired("r", stored({2}), {});
    EXPECT_TRUE(step.deliver.empty()) << "held: the read-back waits too";
    EXPECT_EQ(seqs(t.release("r")), (std::vector<std::uint64_t>{2, 3}));
}

TEST(RoomTable, RoomsAreIndependent) {
    RoomTable t;
    const auto ga = *t.add("a", "u", "U", std::nullopt).subscribe;
    const auto gb = *t.add("b", "u", "U", std::nullopt).subscribe;
    t.live("a", ev(ga, 10, 0));
    ASSERT_TRUE(t.live("a", ev(ga, 12, 11)).repair_after);
    EXPECT_EQ(seqs(t.live("b", ev(gb, 11, 0))), std::vector<std::uint64_t>{11})
        << "a repair in one room does not hold another";
    EXPECT_TRUE(t.live("b", ev(ga, 13, 11)).deliver.empty()) << "another room's generation";
}

}  // namespace
}  // namespace roomcast::edge::rooms
