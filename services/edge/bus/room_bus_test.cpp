// RoomBus against a real nats-server: stored-event reads (read_after), including many reads of
// one room at once, which are served together.
#include "bus/room_bus.hpp"

#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <map>

namespace roomcast::edge {
namespace {

using namespace std::chrono_literals;
using natsbus::testing::Collector;
using natsbus::testing::connect_or_fail;
using natsbus::testing::shared_server;
using natsbus::testing::test_options;
using natsbus::testing::unique_name;

class RoomBusReadTest : public ::testing::Test {
protected:
    void SetUp() override {
        conn_ = connect_or_fail(test_options(shared_server().url()));
        ASSERT_NE(conn_, nullptr);
        const std::string name = unique_name("RB");
        options_.stream = name;
        options_.room_prefix = "rb." + name + ".room.";
        options_.fanout_prefix = "rb." + name + ".fanout.";
        natsbus::StreamConfig c;
        c.name = name;
        c.subjects = {options_.room_prefix + ">"};
        c.storage = natsbus::Storage::kMemory;
        c.republish_source = options_.room_prefix + ">";
        c.republish_destination = options_.fanout_prefix + ">";
        ASSERT_TRUE(conn_->jetstream().ensure_stream(c));
        bus_ = std::make_unique<RoomBus>(*conn_, options_,
                                         [this](const std::string&, std::uint64_t offset, auto&&...) {
                                             delivered_.push(offset);
                                         });
        bus_->start();
    }
    void TearDown() override {
        bus_.reset();
    }

    // Stores an event in `room` (another room's events interleave, as in a shared stream).
    std::uint64_t store(const std::string& room, int n) {
        bus::v1::RoomEvent ev;
        ev.set_room(room);
        ev.set_event("e");
        ev.set_data_json(std::to_string(n));
        auto ack = conn_->jetstream().publish(options_.room_prefix + room, ev.SerializeAsString());
        EXPECT_TRUE(ack);
        return ack ? ack->sequence : 0;
    }

    std::unique_ptr<natsbus::Connection> conn_;
    RoomBusOptions options_;
    std::unique_ptr<RoomBus> bus_;
    Collector<std::uint64_t> delivered_;
};

std::uint64_t last_offset_of(RoomBus& bus, const std::string& room) {
    Collector<natsbus::Result<std::uint64_t>> got;
    bus.last_offset(room, [&got](natsbus::Result<std::uint64_t> r) { got.push(r); });
    EXPECT_TRUE(got.wait_for(1, 5s));
    auto items = got.items();
    return !items.empty() && items[0] ? *items[0] : UINT64_MAX;
}

TEST_F(RoomBusReadTest, ManyReadsOfOneRoomEachGetTheirOwnWindow) {
    std::vector<std::uint64_t> offsets;  // of room "a"
    for (int i = 0; i < 40; ++i) {
        offsets.push_back(store("a", i));
        store("b", i);
    }
    // 60 reads at once: every `after` from before the first event to past the last, some with
    // a small max (the shared read is cut at the largest max: later windows read on their own).
    struct Want {
        std::uint64_t after;
        std::size_t max;
    };
    std::vector<Want> wants;
    for (std::size_t i = 0; i < 60; ++i) {
        const std::uint64_t after = i == 0 ? 0 : offsets[(i * 7) % offsets.size()];
        wants.push_back({after, i % 3 == 0 ? std::size_t{5} : std::size_t{10}});
    }
    using Got = std::pair<std::size_t, natsbus::Result<RoomBus::StoredEvents>>;
    Collector<Got> got;
    for (std::size_t i = 0; i < wants.size(); ++i) {
        bus_->read_after("a", wants[i].after, wants[i].max,
                         [&got, i](natsbus::Result<RoomBus::StoredEvents> r) { got.push({i, std::move(r)}); });
    }
    ASSERT_TRUE(got.wait_for(wants.size(), 10s));
    for (auto& [i, r] : got.items()) {
        ASSERT_TRUE(r) << "read " << i << ": " << r.error().message();
        std::vector<std::uint64_t> expected;
        for (auto o : offsets) {
            if (o > wants[i].after && expected.size() < wants[i].max) {
                expected.push_back(o);
            }
        }
        std::vector<std::uint64_t> seqs;
        for (const auto& [seq, ev] : *r) {
            seqs.push_back(seq);
            EXPECT_EQ(ev.room(), "a");
        }
        EXPECT_EQ(seqs, expected) << "read " << i << " after " << wants[i].after << " max " << wants[i].max;
    }
}

TEST_F(RoomBusReadTest, LastOffsetFollowsTheStreamWhileSubscribed) {
    EXPECT_EQ(last_offset_of(*bus_, "a"), 0u);  // not subscribed, no events: asks the stream
    const auto first = store("a", 1);
    store("b", 1);
    EXPECT_EQ(last_offset_of(*bus_, "a"), first);
    bus_->acquire("a");
    // Once the seed read is back it answers from what the edge knows, and follows every event
    // delivered since (another room's events do not move it).
    ASSERT_TRUE(natsbus::testing::eventually([&] { return last_offset_of(*bus_, "a") == first; }));
    std::uint64_t last = 0;
    for (int i = 0; i < 5; ++i) {
        last = store("a", i);
        store("b", i);
    }
    ASSERT_TRUE(delivered_.wait_for(5, 5s));
    EXPECT_EQ(last_offset_of(*bus_, "a"), last);
    bus_->release("a");
    const auto after = store("a", 9);
    EXPECT_EQ(last_offset_of(*bus_, "a"), after);  // unsubscribed: the stream again
}

TEST_F(RoomBusReadTest, ReadsAfterStopFailClosed) {
    store("a", 1);
    bus_->stop();
    Collector<bool> got;
    bus_->read_after("a", 0, 10, [&got](natsbus::Result<RoomBus::StoredEvents> r) {
        got.push(!r && r.error() == natsbus::Errc::kClosed);
    });
    ASSERT_TRUE(got.wait_for(1, 5s));
    EXPECT_TRUE(got.items()[0]);
}

}  // namespace
}  // namespace roomcast::edge
