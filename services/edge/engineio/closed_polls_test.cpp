// ClosedPolls: which GET after a client's close takes the held close, until when, and how many
// closes are held. Deterministic: the test passes the time.

#include "engineio/closed_polls.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace roomcast::engineio {
namespace {

using namespace std::chrono_literals;
using Closed = ClosedPolls<int>;
using Clock = Closed::Clock;

TEST(ClosedPollsTest, TheFirstGetTakesTheHeldCloseOnce) {
    Closed closed(16, 1000ms);
    const Clock::time_point t0{};
    closed.add("sid", 7, t0);
    EXPECT_FALSE(closed.take("other"));
    EXPECT_EQ(closed.take("sid"), 7);
    // The client had one GET in flight at most: any further one is for an unknown session.
    EXPECT_FALSE(closed.take("sid"));
    EXPECT_EQ(closed.size(), 0u);
    // What was taken does not expire again.
    EXPECT_TRUE(closed.take_expired(t0 + 1000ms).empty());
    EXPECT_FALSE(closed.next_expiry());
}

TEST(ClosedPollsTest, UntakenClosesExpireAfterTheLingerOldestFirst) {
    Closed closed(16, 1000ms);
    const Clock::time_point t0{};
    closed.add("a", 1, t0);
    closed.add("b", 2, t0 + 300ms);
    closed.add("c", 3, t0 + 600ms);
    EXPECT_EQ(closed.next_expiry(), t0 + 1000ms);
    EXPECT_TRUE(closed.take_expired(t0 + 999ms).empty());
    EXPECT_EQ(closed.take("b"), 2);
    EXPECT_EQ(closed.take_expired(t0 + 1300ms), (std::vector<int>{1}));
    EXPECT_EQ(closed.next_expiry(), t0 + 1600ms);
    EXPECT_FALSE(closed.take("a"));  // expired: unknown
    EXPECT_EQ(closed.take_expired(t0 + 5000ms), (std::vector<int>{3}));
    EXPECT_FALSE(closed.next_expiry());
    EXPECT_EQ(closed.size(), 0u);
}

TEST(ClosedPollsTest, TakeAllEmptiesTheStore) {
    Closed closed(2, 1000ms);
    const Clock::time_point t0{};
    closed.add("a", 1, t0);
    closed.add("b", 2, t0);
    EXPECT_TRUE(closed.full());
    auto all = closed.take_all();
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, (std::vector<int>{1, 2}));
    EXPECT_EQ(closed.size(), 0u);
    EXPECT_FALSE(closed.full()) << "what was released frees its place";
    EXPECT_FALSE(closed.take("a"));
    EXPECT_TRUE(closed.take_expired(t0 + 1000ms).empty());
}

TEST(ClosedPollsTest, TheCapacityBoundsEverythingKept) {
    Closed closed(3, 1000ms);
    const Clock::time_point t0{};
    for (int i = 0; i < 3; ++i) {
        ASSERT_FALSE(closed.full());
        closed.add("s" + std::to_string(i), i, t0);
    }
    EXPECT_TRUE(closed.full());
    // Taken entries keep their place until they expire, so churn cannot grow the store.
    EXPECT_EQ(closed.take("s0"), 0);
    EXPECT_TRUE(closed.full());
    EXPECT_EQ(closed.take_expired(t0 + 1000ms), (std::vector<int>{1, 2}));
    EXPECT_FALSE(closed.full());
}

TEST(ClosedPollsTest, ZeroCapacityKeepsNothing) {
    Closed closed(0, 1000ms);
    EXPECT_TRUE(closed.full());
}

}  // namespace
}  // namespace roomcast::engineio
