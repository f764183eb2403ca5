// The lifecycle queue with a fake port: events' fields, batching by count, the full queue's
// drops (counted, and reported in the next batch), a refused publish, the interval timer and
// the early flush at `batch` events, and `enabled = false`.
#include "backends/lifecycle.hpp"
#include "backends/testing_port.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

namespace roomcast::edge::backends {
namespace {

namespace pb = roomcast::backend::v1;
using testing::FakePort;

pb::LifecycleBatch batch_of(const std::pair<std::string, std::string>& published) {
    pb::LifecycleBatch b;
    EXPECT_TRUE(b.ParseFromString(published.second));
    return b;
}

LifecycleSocket alice() { return LifecycleSocket{"alice", "Alice", "sid1", "/"}; }

TEST(Lifecycle, EventsCarryTheirFieldsInOrder) {
    FakePort port;
    Lifecycle lc(port, "edge-1", LifecycleOptions{}, [] { return std::int64_t{1234}; });
    lc.connect(alice(), true);
    lc.join(alice(), "lobby");
    lc.leave(alice(), "lobby");
    lc.kicked(alice(), "team:a", "spam");
    lc.disconnect(alice(), "transport close");
    EXPECT_EQ(lc.flush(), 1u);
    ASSERT_EQ(port.published.size(), 1u);
    EXPECT_EQ(port.published[0].first, "roomcast.lifecycle.edge-1");
    auto b = batch_of(port.published[0]);
    EXPECT_EQ(b.edge_id(), "edge-1");
    EXPECT_EQ(b.dropped(), 0u);
    ASSERT_EQ(b.events_size(), 5);
    EXPECT_EQ(b.events(0).kind(), pb::LifecycleEvent::KIND_CONNECT);
    EXPECT_TRUE(b.events(0).recovered());
    EXPECT_EQ(b.events(0).user_id(), "alice");
    EXPECT_EQ(b.events(0).user_name(), "Alice");
    EXPECT_EQ(b.events(0).socket_id(), "sid1");
    EXPECT_EQ(b.events(0).namespace_(), "/");
    EXPECT_EQ(b.events(0).at_ms(), 1234);
    EXPECT_EQ(b.events(1).kind(), pb::LifecycleEvent::KIND_JOIN);
    EXPECT_EQ(b.events(1).room(), "lobby");
    EXPECT_FALSE(b.events(1).recovered());
    EXPECT_EQ(b.events(2).kind(), pb::LifecycleEvent::KIND_LEAVE);
    EXPECT_EQ(b.events(3).kind(), pb::LifecycleEvent::KIND_KICKED);
    EXPECT_EQ(b.events(3).room(), "team:a");
    EXPECT_EQ(b.events(3).reason(), "spam");
    EXPECT_EQ(b.events(4).kind(), pb::LifecycleEvent::KIND_DISCONNECT);
    EXPECT_EQ(b.events(4).reason(), "transport close");
    EXPECT_EQ(lc.published_total(), 5u);
    EXPECT_EQ(lc.flush(), 0u) << "nothing waits: nothing is sent";
    EXPECT_EQ(port.published.size(), 1u);
}

TEST(Lifecycle, BatchesHoldAtMostBatchEvents) {
    FakePort port;
    LifecycleOptions o;
    o.batch = 3;
    Lifecycle lc(port, "e", o);
    for (int i = 0; i < 7; ++i) {
        lc.join(alice(), "r" + std::to_string(i));
    }
    EXPECT_EQ(lc.flush(), 3u);
    ASSERT_EQ(port.published.size(), 3u);
    EXPECT_EQ(batch_of(port.published[0]).events_size(), 3);
    EXPECT_EQ(batch_of(port.published[1]).events_size(), 3);
    auto last = batch_of(port.published[2]);
    ASSERT_EQ(last.events_size(), 1);
    EXPECT_EQ(last.events(0).room(), "r6");
}

TEST(Lifecycle, AFullQueueDropsNewEventsAndTheNextBatchSaysHowMany) {
    FakePort port;
    LifecycleOptions o;
    o.queue = 2;
    Lifecycle lc(port, "e", o);
    for (int i = 0; i < 5; ++i) {
        lc.join(alice(), "r" + std::to_string(i));
    }
    EXPECT_EQ(lc.waiting(), 2u);
    EXPECT_EQ(lc.dropped_total(), 3u);
    lc.flush();
    auto b = batch_of(port.published.at(0));
    EXPECT_EQ(b.events_size(), 2);
    EXPECT_EQ(b.events(0).room(), "r0") << "the oldest are kept";
    EXPECT_EQ(b.dropped(), 3u);
    lc.join(alice(), "x");
    lc.flush();
    EXPECT_EQ(batch_of(port.published.at(1)).dropped(), 0u) << "dropped counts since the previous batch";

    // A refused publish loses its events: counted, and told in the next batch that goes out.
    port.publish_ok = false;
    lc.join(alice(), "y");
    lc.flush();
    EXPECT_EQ(lc.dropped_total(), 4u);
    port.publish_ok = true;
    lc.flush();
    auto after = batch_of(port.published.at(2));
    EXPECT_EQ(after.events_size(), 0) << "drops alone still make a batch";
    EXPECT_EQ(after.dropped(), 1u);
}

TEST(Lifecycle, LongTextIsCapped) {
    FakePort port;
    Lifecycle lc(port, "e", LifecycleOptions{});
    auto s = alice();
    s.user_name = std::string(1000, 'n');
    lc.kicked(s, "r", std::string(1000, 'r'));
    lc.flush();
    auto b = batch_of(port.published.at(0));
    EXPECT_EQ(b.events(0).user_name().size(), kMaxLifecycleTextBytes);
    EXPECT_EQ(b.events(0).reason().size(), kMaxLifecycleTextBytes);
}

TEST(Lifecycle, DisabledRecordsNothing) {
    FakePort port;
    LifecycleOptions o;
    o.enabled = false;
    Lifecycle lc(port, "e", o);
    lc.connect(alice(), false);
    EXPECT_EQ(lc.waiting(), 0u);
    EXPECT_EQ(lc.flush(), 0u);
    EXPECT_TRUE(port.published.empty());
}

// Runs `ioc` until `done()` or `limit` passes.
template <class Done>
void run_until(boost::asio::io_context& ioc, Done done, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
        ioc.run_for(std::chrono::milliseconds(5));
    }
}

TEST(Lifecycle, TheTimerFlushesEveryIntervalAndAFullBatchAtOnce) {
    FakePort port;
    LifecycleOptions o;
    o.interval = std::chrono::milliseconds(50);
    o.batch = 4;
    // The executor outlives the publisher, as the edge's fabric executor does in main: the
    // publisher's timer belongs to it.
    boost::asio::io_context ioc;
    Lifecycle lc(port, "e", o);
    lc.start(ioc);
    lc.join(alice(), "a");
    const auto t0 = std::chrono::steady_clock::now();
    run_until(ioc, [&] { return !port.published.empty(); }, std::chrono::seconds(5));
    ASSERT_EQ(port.published.size(), 1u) << "the interval flushed the waiting event";
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(40));

    // A full batch goes before the interval: posted at once, so one poll() sends it.
    for (int i = 0; i < 4; ++i) {
        lc.join(alice(), "b");
    }
    ioc.poll();
    ASSERT_EQ(port.published.size(), 2u);
    EXPECT_EQ(batch_of(port.published[1]).events_size(), 4);

    // Still ticking; stop() sends what waits and ends the timer.
    lc.join(alice(), "c");
    run_until(ioc, [&] { return port.published.size() == 3u; }, std::chrono::seconds(5));
    EXPECT_EQ(port.published.size(), 3u);
    lc.join(alice(), "d");
    boost::asio::post(ioc, [&] { lc.stop(); });
    ioc.poll();
    EXPECT_EQ(port.published.size(), 4u);
    // No work left once the cancelled wait has run: run() returns instead of ticking on.
    const auto t1 = std::chrono::steady_clock::now();
    ioc.run_for(std::chrono::seconds(2));
    EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(1)) << "no timer left after stop()";
    EXPECT_EQ(port.published.size(), 4u);
}

}  // namespace
}  // namespace roomcast::edge::backends
