// RoomStream (the room fabric's NATS layer) against a real nats-server: stored-event reads
// (read_after), including many reads of one room at once, which are served together; the
// latest offset; live fan-out with its sequence headers; ephemeral events (never stored); reads
// after stop.
#include "rooms/room_stream.hpp"

#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <map>

namespace roomcast::edge::rooms {
namespace {

using namespace std::chrono_literals;
using natsbus::testing::Collector;
using natsbus::testing::connect_or_fail;
using natsbus::testing::shared_server;
using natsbus::testing::test_options;
using natsbus::testing::unique_name;

class RoomStreamTest : public ::testing::Test {
protected:
    void SetUp() override {
        conn_ = connect_or_fail(test_options(shared_server().url()));
        ASSERT_NE(conn_, nullptr);
        const std::string name = unique_name("RS");
        options_.stream = name;
        options_.room_prefix = "rs." + name + ".room.";
        options_.fanout_prefix = "rs." + name + ".fanout.";
        options_.ephemeral_prefix = "rs." + name + ".ephemeral.";
        natsbus::StreamConfig c;
        c.name = name;
        c.subjects = {options_.room_prefix + ">"};
        c.storage = natsbus::Storage::kMemory;
        c.republish_source = options_.room_prefix + ">";
        c.republish_destination = options_.fanout_prefix + ">";
        ASSERT_TRUE(conn_->jetstream().ensure_stream(c));
        stream_ = std::make_unique<RoomStream>(*conn_, options_);
    }
    void TearDown() override { stream_.reset(); }

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
    RoomStreamOptions options_;
    std::unique_ptr<RoomStream> stream_;
};

std::uint64_t last_offset_of(RoomStream& stream, const std::string& room) {
    Collector<natsbus::Result<std::uint64_t>> got;
    stream.last_offset(room, [&got](natsbus::Result<std::uint64_t> r) { got.push(r); });
    EXPECT_TRUE(got.wait_for(1, 5s));
    auto items = got.items();
    return !items.empty() && items[0] ? *items[0] : UINT64_MAX;
}

TEST_F(RoomStreamTest, ManyReadsOfOneRoomEachGetTheirOwnWindow) {
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
    using Got = std::pair<std::size_t, natsbus::Result<RoomStream::Page>>;
    Collector<Got> got;
    for (std::size_t i = 0; i < wants.size(); ++i) {
        stream_->read_after("a", wants[i].after, wants[i].max, 0,
                            [&got, i](natsbus::Result<RoomStream::Page> r) { got.push({i, std::move(r)}); });
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
        for (const auto& [seq, ev] : r->events) {
            seqs.push_back(seq);
            EXPECT_EQ(ev.room(), "a");
        }
        EXPECT_EQ(seqs, expected) << "read " << i << " after " << wants[i].after << " max " << wants[i].max;
    }
}

TEST_F(RoomStreamTest, ReadsWithAByteBudgetAreCutIntoPages) {
    std::vector<std::uint64_t> offsets;
    for (int i = 0; i < 10; ++i) {
        offsets.push_back(store("a", 1000000 + i));  // envelopes of about 20 bytes
    }
    bus::v1::RoomEvent probe;
    probe.set_room("a");
    probe.set_event("e");
    probe.set_data_json("1000000");
    const std::uint64_t size = probe.ByteSizeLong();
    // Several requests at once (served by one read), each with its own window and budget.
    Collector<std::pair<int, natsbus::Result<RoomStream::Page>>> got;
    stream_->read_after("a", 0, 100, 3 * size, [&got](auto r) { got.push({0, std::move(r)}); });
    stream_->read_after("a", offsets[4], 100, 0, [&got](auto r) { got.push({1, std::move(r)}); });
    stream_->read_after("a", offsets[7], 100, 1, [&got](auto r) { got.push({2, std::move(r)}); });
    ASSERT_TRUE(got.wait_for(3, 10s));
    for (auto& [which, r] : got.items()) {
        ASSERT_TRUE(r) << which;
        std::vector<std::uint64_t> seqs;
        for (const auto& [seq, ev] : r->events) {
            seqs.push_back(seq);
        }
        switch (which) {
            case 0:
                EXPECT_EQ(seqs, (std::vector<std::uint64_t>{offsets[0], offsets[1], offsets[2]}));
                EXPECT_TRUE(r->cut);
                break;
            case 1:
                EXPECT_EQ(seqs.size(), 5u);
                EXPECT_FALSE(r->cut);
                break;
            case 2:
                EXPECT_EQ(seqs, std::vector<std::uint64_t>{offsets[8]}) << "at least one";
                EXPECT_TRUE(r->cut);
                break;
        }
    }
    Collector<natsbus::Result<RoomStream::Page>> last;
    stream_->read_last("a", 5, 2 * size, [&last](auto r) { last.push(std::move(r)); });
    ASSERT_TRUE(last.wait_for(1, 5s));
    const auto items = last.items();
    const auto& page = items[0];
    ASSERT_TRUE(page);
    ASSERT_EQ(page->events.size(), 2u) << "the newest that fit";
    EXPECT_EQ(page->events[1].first, offsets[9]);
    EXPECT_TRUE(page->cut);
}

TEST_F(RoomStreamTest, LastOffsetIsTheRoomsNewestStoredEvent) {
    EXPECT_EQ(last_offset_of(*stream_, "a"), 0u);
    const auto first = store("a", 1);
    store("b", 1);
    EXPECT_EQ(last_offset_of(*stream_, "a"), first);
}

TEST_F(RoomStreamTest, ASubscriptionReceivesEachEventWithItsOffsetAndTheRoomsPrevious) {
    Collector<RoomStream::Live> live;
    auto subs = stream_->subscribe(
        "a", [&live](RoomStream::Live&& l) { live.push(std::move(l)); }, nullptr, nullptr);
    ASSERT_TRUE(subs);
    ASSERT_TRUE(conn_->flush(5s));
    const auto a1 = store("a", 1);
    store("b", 1);  // another room's event in between: not seen, and not a gap
    const auto a2 = store("a", 2);
    ASSERT_TRUE(live.wait_for(2, 5s));
    auto items = live.items();
    EXPECT_EQ(items[0].seq, a1);
    EXPECT_EQ(items[1].seq, a2);
    EXPECT_EQ(items[1].prev, a1) << "Nats-Last-Sequence names the room's previous event";
    bus::v1::RoomEvent ev;
    ASSERT_TRUE(ev.ParseFromString(items[1].data));
    EXPECT_EQ(ev.data_json(), "2");
}

TEST_F(RoomStreamTest, EphemeralEventsReachTheRoomsSubscribersAndAreNeverStored) {
    Collector<RoomStream::Live> live;
    Collector<std::string> ephemeral;
    auto subs = stream_->subscribe(
        "a", [&live](RoomStream::Live&& l) { live.push(std::move(l)); },
        [&ephemeral](std::string&& e) { ephemeral.push(std::move(e)); }, nullptr);
    ASSERT_TRUE(subs);
    ASSERT_TRUE(conn_->flush(5s));
    bus::v1::RoomEvent ev;
    ev.set_room("a");
    ev.set_event("cursor");
    ev.set_data_json("{\"x\":1}");
    ASSERT_TRUE(stream_->publish_ephemeral("a", ev));
    ev.set_room("b");
    ASSERT_TRUE(stream_->publish_ephemeral("b", ev));  // another room's: not seen
    const auto stored = store("a", 1);
    ASSERT_TRUE(live.wait_for(1, 5s));
    ASSERT_TRUE(ephemeral.wait_for(1, 5s));
    EXPECT_EQ(ephemeral.items().size(), 1u);
    bus::v1::RoomEvent got;
    ASSERT_TRUE(got.ParseFromString(ephemeral.items()[0]));
    EXPECT_EQ(got.event(), "cursor");
    EXPECT_EQ(got.data_json(), "{\"x\":1}");
    // The stored event follows the last stored one directly: the ephemeral one took no offset,
    // and a read of the room finds only the stored event.
    EXPECT_EQ(live.items()[0].prev, 0u);
    EXPECT_EQ(last_offset_of(*stream_, "a"), stored);
    Collector<std::size_t> read;
    stream_->read_after("a", 0, 10, 0, [&read](natsbus::Result<RoomStream::Page> r) {
        read.push(r ? r->events.size() : 999);
    });
    ASSERT_TRUE(read.wait_for(1, 5s));
    EXPECT_EQ(read.items()[0], 1u);
}

TEST_F(RoomStreamTest, ReadsAfterStopFailClosed) {
    store("a", 1);
    stream_->stop();
    Collector<bool> got;
    stream_->read_after("a", 0, 10, 0, [&got](natsbus::Result<RoomStream::Page> r) {
        got.push(!r && r.error() == natsbus::Errc::kClosed);
    });
    ASSERT_TRUE(got.wait_for(1, 5s));
    EXPECT_TRUE(got.items()[0]);
}

}  // namespace
}  // namespace roomcast::edge::rooms
