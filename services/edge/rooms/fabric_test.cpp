// The room fabric's shell in process, on its real threads: two shards with real Socket.IO
// sockets (raw WebSocket clients over loopback), the fabric thread, and a real nats-server with
// the room stream. Covers what the pure core's tests cannot: events fanned out to every shard
// once (the publisher excluded), io.to(room).emit through the bus, subscriptions dropped when
// the last member leaves, a kick on the socket's shard, and a recovery's catch-up read merged
// with live events. Also runs under ThreadSanitizer (scripts/sanitize).
#include "rooms/fabric.hpp"
#include "rooms/room_stream.hpp"
#include "socketio/server.hpp"
#include "testing/ws_client.hpp"

#include "roomcast/natsbus/testing.hpp"
#include "roomcast/transport/http_server.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <mutex>

namespace roomcast::edge::rooms {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using edge::testing::WsClient;
using natsbus::testing::Collector;

class FabricTest : public ::testing::Test {
protected:
    void SetUp() override {
        nats_ = natsbus::testing::connect_or_fail(
            natsbus::testing::test_options(natsbus::testing::shared_server().url()));
        ASSERT_NE(nats_, nullptr);
        const std::string name = natsbus::testing::unique_name("FB");
        options_.stream.stream = name;
        options_.stream.room_prefix = "fb." + name + ".room.";
        options_.stream.fanout_prefix = "fb." + name + ".fanout.";
        options_.stream.presence_prefix = "fb." + name + ".presence.";
        options_.stream.ephemeral_prefix = "fb." + name + ".ephemeral.";
        natsbus::StreamConfig c;
        c.name = name;
        c.subjects = {options_.stream.room_prefix + ">"};
        c.storage = natsbus::Storage::kMemory;
        c.republish_source = options_.stream.room_prefix + ">";
        c.republish_destination = options_.stream.fanout_prefix + ">";
        ASSERT_TRUE(nats_->jetstream().ensure_stream(c));
        stream_ = std::make_unique<RoomStream>(*nats_, options_.stream);

        pool_ = std::make_unique<transport::ShardPool>(2);
        io_ = std::make_unique<sio::Server>(*pool_, sio::ServerOptions{});
        auto fabric = std::make_unique<Fabric>(io_->of("/"), *stream_, options_, FabricHooks{});
        fabric_ = fabric.get();
        io_->of("/").set_adapter(std::move(fabric));
        // Every socket is user u<n> and enters room "r" when it connects.
        io_->of("/").on_connection([this](const sio::SocketPtr& s) {
            std::string user;
            {
                std::lock_guard lock(mu_);
                user = "u" + std::to_string(sockets_.size());
                sockets_.push_back(s);
            }
            fabric_->attach(*s, std::make_shared<const Identity>(Identity{user, user}));
            fabric_->enter(s, "r", [this](natsbus::Result<std::uint64_t> offset) { joined_.push(offset); });
        });
        http_ = std::make_unique<transport::HttpServer>(*pool_, transport::HttpLimits{});
        http_->add_route(transport::Route{"/socket.io/", &io_->engine(), 1000000});
        port_ = http_->listen("127.0.0.1", 0);
        fabric_->start();
        pool_->start();
    }
    void TearDown() override {
        if (pool_) {
            fabric_->stop();
            pool_->stop();
        }
    }

    // A connected client (CONNECT "/" answered): returns it and its socket id.
    std::pair<WsClient, std::string> client() {
        auto c = WsClient::open(client_ctx_, port_, "/socket.io/");
        c.send_text("40");
        EXPECT_TRUE(c.read_until(2));
        const auto& reply = c.texts.at(1);
        EXPECT_EQ(reply.substr(0, 2), "40");
        auto sid = std::string(json::parse(reply.substr(2)).at("sid").as_string());
        c.texts.clear();
        return {std::move(c), sid};
    }

    // Stores an event in room `room` (the fan-out delivers it to members).
    std::uint64_t store(const std::string& room, int n, const std::string& exclude = {}) {
        bus::v1::RoomEvent ev;
        ev.set_room(room);
        ev.set_event("e");
        ev.set_data_json(std::to_string(n));
        ev.set_from("x");
        ev.set_exclude_socket(exclude);
        auto ack = nats_->jetstream().publish(options_.stream.room_prefix + room, ev.SerializeAsString());
        EXPECT_TRUE(ack);
        return ack ? ack->sequence : 0;
    }

    static std::string packet(int n, std::uint64_t offset, const std::string& from = "x") {
        const auto off = std::to_string(offset);
        return "42[\"e\"," + std::to_string(n) + ",{\"room\":\"r\",\"from\":\"" + from + "\",\"offset\":\"" +
               off + "\"},\"" + off + "\"]";
    }

    // Runs `fn` on `socket`'s shard and waits for it.
    void on_shard(const sio::SocketPtr& socket, std::function<void()> fn) {
        Collector<bool> done;
        asio::post(socket->shard().ioc(), [&] {
            fn();
            done.push(true);
        });
        ASSERT_TRUE(done.wait_for(1, 5s));
    }

    sio::SocketPtr socket(std::size_t i) {
        std::lock_guard lock(mu_);
        return sockets_.at(i);
    }

    std::unique_ptr<natsbus::Connection> nats_;
    FabricOptions options_;
    std::unique_ptr<RoomStream> stream_;
    std::unique_ptr<transport::ShardPool> pool_;
    std::unique_ptr<sio::Server> io_;
    Fabric* fabric_ = nullptr;
    std::unique_ptr<transport::HttpServer> http_;
    std::uint16_t port_ = 0;
    asio::io_context client_ctx_;
    std::mutex mu_;
    std::vector<sio::SocketPtr> sockets_;
    Collector<natsbus::Result<std::uint64_t>> joined_;
};

// Recovery refuses a session whose events the stream may have dropped (its byte budget or
// max age drop from the front) and accepts it when the drops are older than what it needs.
TEST(EventsMayBeGone, FromTheOffsetsAndTheSessionsStart) {
    constexpr std::int64_t kStart = 1'700'000'000'000;  // the session's start, ms
    constexpr std::int64_t kMs = 1'000'000;             // ns per ms
    const natsbus::StreamState untouched{.messages = 100,
                                         .first_sequence = 1,
                                         .first_time_ns = (kStart - 3'600'000) * kMs,
                                         .last_sequence = 100};
    EXPECT_FALSE(events_may_be_gone(untouched, 0, kStart));
    EXPECT_FALSE(events_may_be_gone(untouched, 50, kStart));

    // Events 1..40 dropped, the oldest kept stored after the session began.
    const natsbus::StreamState dropped{.messages = 60,
                                       .first_sequence = 41,
                                       .first_time_ns = (kStart + 10'000) * kMs,
                                       .last_sequence = 100};
    EXPECT_TRUE(events_may_be_gone(dropped, 0, kStart));
    EXPECT_TRUE(events_may_be_gone(dropped, 20, kStart));
    EXPECT_TRUE(events_may_be_gone(dropped, 39, kStart));
    EXPECT_FALSE(events_may_be_gone(dropped, 40, kStart)) << "it needs 41 on: all kept";
    EXPECT_FALSE(events_may_be_gone(dropped, 90, kStart));

    // The same drops, but all of them older than the session (less the clock allowance).
    auto older = dropped;
    older.first_time_ns = (kStart - kRecoveryClockSkew.count() - 1) * kMs;
    EXPECT_FALSE(events_may_be_gone(older, 0, kStart));
    older.first_time_ns = (kStart - kRecoveryClockSkew.count() + 1) * kMs;
    EXPECT_TRUE(events_may_be_gone(older, 0, kStart)) << "within the clock allowance: in doubt";

    // Everything dropped: no time to compare with.
    const natsbus::StreamState empty{.messages = 0, .first_sequence = 101, .last_sequence = 100};
    EXPECT_TRUE(events_may_be_gone(empty, 50, kStart));
    EXPECT_FALSE(events_may_be_gone(empty, 100, kStart));
}

TEST_F(FabricTest, EventsReachEveryMemberOnEveryShardOnceButThePublisher) {
    std::vector<std::pair<WsClient, std::string>> clients;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(client());
    }
    ASSERT_TRUE(joined_.wait_for(4, 5s));
    for (const auto& offset : joined_.items()) {
        ASSERT_TRUE(offset);
    }
    EXPECT_EQ(fabric_->stats().subscriptions.load(), 1u) << "one subscription for the room, whatever the shards";
    const auto first = store("r", 1);
    const auto second = store("r", 2, clients[0].second);  // clients[0] published it
    const auto third = store("r", 3);
    EXPECT_TRUE(clients[0].first.read_until(2));
    EXPECT_EQ(clients[0].first.texts, (std::vector<std::string>{packet(1, first), packet(3, third)}));
    for (int i = 1; i < 4; ++i) {
        ASSERT_TRUE(clients[i].first.read_until(3)) << i;
        EXPECT_EQ(clients[i].first.texts,
                  (std::vector<std::string>{packet(1, first), packet(2, second), packet(3, third)}))
            << i;
    }
}

TEST_F(FabricTest, ARoomBroadcastGoesThroughTheBusAndTheLastLeaveUnsubscribes) {
    auto [a, a_sid] = client();
    auto [b, b_sid] = client();
    ASSERT_TRUE(joined_.wait_for(2, 5s));
    io_->of("/").to("r").emit("note", sio::Args().add(json::parse(R"({"t":"hi"})")));
    ASSERT_TRUE(a.read_until(1));
    ASSERT_TRUE(b.read_until(1));
    EXPECT_EQ(a.texts[0], b.texts[0]);
    EXPECT_NE(a.texts[0].find(R"(42["note",{"t":"hi"},{"room":"r","from":"server","offset":")"),
              std::string::npos)
        << a.texts[0];
    on_shard(socket(0), [&] { EXPECT_TRUE(fabric_->exit(*socket(0), "r")); });
    on_shard(socket(0), [&] { EXPECT_FALSE(fabric_->in_room(*socket(0), "r")); });
    EXPECT_EQ(fabric_->stats().subscriptions.load(), 1u);
    b.sock.close();  // a lost connection: the fabric lets go of its rooms
    EXPECT_TRUE(natsbus::testing::eventually([&] { return fabric_->stats().subscriptions.load() == 0; }));
}

TEST_F(FabricTest, EphemeralEventsReachEveryMemberButThePublisherWithoutAnOffset) {
    auto [a, a_sid] = client();
    auto [b, b_sid] = client();
    ASSERT_TRUE(joined_.wait_for(2, 5s));
    bus::v1::RoomEvent ev;
    ev.set_room("r");
    ev.set_event("cursor");
    ev.set_data_json(R"({"x":1})");
    ev.set_from("u");
    ev.set_exclude_socket(a_sid);
    ASSERT_TRUE(fabric_->publish_ephemeral("r", ev));
    // A volatile room broadcast from server code is an ephemeral event on every edge.
    io_->of("/").to("r").volatile_().emit("note", sio::Args().add(json::parse(R"({"t":"hi"})")));
    ASSERT_TRUE(b.read_until(2));
    EXPECT_EQ(b.texts, (std::vector<std::string>{R"(42["cursor",{"x":1},{"room":"r","from":"u"}])",
                                                 R"(42["note",{"t":"hi"},{"room":"r","from":"server"}])"}));
    ASSERT_TRUE(a.read_until(1));
    EXPECT_EQ(a.texts, (std::vector<std::string>{R"(42["note",{"t":"hi"},{"room":"r","from":"server"}])"}))
        << "the publisher's socket is excluded";
    Collector<natsbus::Result<std::uint64_t>> last;
    stream_->last_offset("r", [&last](natsbus::Result<std::uint64_t> r) { last.push(r); });
    ASSERT_TRUE(last.wait_for(1, 5s));
    ASSERT_TRUE(last.items()[0]);
    EXPECT_EQ(*last.items()[0], 0u) << "nothing stored";
}

TEST_F(FabricTest, EphemeralEventsOfAHeldRoomAreDroppedWhileItsStoredEventsWait) {
    auto [a, a_sid] = client();
    ASSERT_TRUE(joined_.wait_for(1, 5s));
    bus::v1::RoomEvent ev;
    ev.set_room("r");
    ev.set_event("cursor");
    ev.set_from("u");
    Collector<bool> held;
    fabric_->in_order([&] {
        fabric_->hold_room("r");  // a rights change of the room is being settled
        held.push(true);
    });
    ASSERT_TRUE(held.wait_for(1, 5s));
    ev.set_data_json("1");
    ASSERT_TRUE(fabric_->publish_ephemeral("r", ev));
    const auto stored = store("r", 2);
    EXPECT_TRUE(natsbus::testing::eventually([&] { return fabric_->stats().ephemeral_held_dropped.load() == 1; }));
    fabric_->in_order([this] { fabric_->release_room("r"); });
    ev.set_data_json("3");
    ASSERT_TRUE(fabric_->publish_ephemeral("r", ev));
    ASSERT_TRUE(a.read_until(2));
    // The stored event waited for the release (it may reach the fabric before or after it, so
    // its order against the later ephemeral one is not fixed); the ephemeral one sent while the
    // room was held is gone.
    auto texts = a.texts;
    std::sort(texts.begin(), texts.end());
    auto want = std::vector<std::string>{packet(2, stored), R"(42["cursor",3,{"room":"r","from":"u"}])"};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(texts, want);
}

TEST_F(FabricTest, AKickedSocketRecoversWhatItMissedThenLiveEvents) {
    auto [a, a_sid] = client();
    auto [b, b_sid] = client();
    ASSERT_TRUE(joined_.wait_for(2, 5s));
    const auto e1 = store("r", 1);
    ASSERT_TRUE(a.read_until(1));
    ASSERT_TRUE(b.read_until(1));
    // u0 is removed from the room on its shard (as a control action does).
    std::vector<sio::SocketPtr> removed;
    on_shard(socket(0), [&] { removed = fabric_->remove(socket(0)->shard().index(), "r", "u0"); });
    ASSERT_EQ(removed.size(), 1u);
    EXPECT_EQ(removed[0], socket(0));
    const auto e2 = store("r", 2);
    ASSERT_TRUE(b.read_until(2));  // the barrier: b has e2, so a would have it by now
    // Back in the room as a recovered socket that has e1: the catch-up read brings e2, then
    // live events follow, each once and in order.
    on_shard(socket(0), [&] {
        Fabric::Resume r;
        r.room = "r";
        r.info.since = e1;
        r.start = e1;
        fabric_->recover(socket(0), {r}, nullptr);
    });
    ASSERT_TRUE(a.read_until(2));
    const auto e3 = store("r", 3);
    ASSERT_TRUE(a.read_until(3));
    EXPECT_EQ(a.texts, (std::vector<std::string>{packet(1, e1), packet(2, e2), packet(3, e3)}));
    on_shard(socket(0), [&] {
        auto rooms = fabric_->memberships(*socket(0));
        ASSERT_EQ(rooms.size(), 1u);
        EXPECT_EQ(rooms[0].second.since, e1);
    });
}

}  // namespace
}  // namespace roomcast::edge::rooms
