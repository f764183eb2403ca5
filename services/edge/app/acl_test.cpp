// AclCache's auto-create requests against a real nats-server, with a stand-in for the rooms
// service's responder: joins of one room that the cache does not know yet share one request
// (a connect storm into new rooms sent one per join and overran the rooms service's cap on
// requests at once: "the room could not be created" for a quarter of the joins in a bench run).
#include "app/acl.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace roomcast::edge {
namespace {

using namespace std::chrono_literals;
using natsbus::testing::Collector;
using natsbus::testing::connect_or_fail;
using natsbus::testing::shared_server;
using natsbus::testing::test_options;

TEST(AclCacheCreate, CallsForOneRoomShareOneRequest) {
    auto service = connect_or_fail(test_options(shared_server().url()));
    auto edge = connect_or_fail(test_options(shared_server().url()));
    ASSERT_NE(service, nullptr);
    ASSERT_NE(edge, nullptr);
    std::atomic<int> requests{0};
    std::atomic<bool> refuse{false};
    // Answers after a while, so that the calls below overlap the request in flight.
    auto sub = service->subscribe(std::string(contract::kRoomAutoCreateSubject), [&](natsbus::Message&& m) {
        ++requests;
        std::this_thread::sleep_for(200ms);
        bus::v1::AutoCreateRoomReply reply;
        reply.set_ok(!refuse.load());
        ASSERT_TRUE(service->publish(m.reply, reply.SerializeAsString()));
    });
    ASSERT_TRUE(sub);
    ASSERT_TRUE(service->flush(5s));

    AclCache acl(*edge, {"*"}, 1, {});
    Collector<std::pair<std::string, bool>> answers;
    for (int i = 0; i < 20; ++i) {
        acl.create("r", [&answers](bool ok) { answers.push({"r", ok}); });
    }
    acl.create("s", [&answers](bool ok) { answers.push({"s", ok}); });
    ASSERT_TRUE(answers.wait_for(21, 10s));
    EXPECT_EQ(requests.load(), 2) << "one request per room";
    for (const auto& [room, ok] : answers.items()) {
        EXPECT_TRUE(ok) << room;
    }

    // Once answered, the next call asks again (and a refusal reaches every waiting call).
    refuse = true;
    Collector<bool> again;
    for (int i = 0; i < 3; ++i) {
        acl.create("r", [&again](bool ok) { again.push(ok); });
    }
    ASSERT_TRUE(again.wait_for(3, 10s));
    EXPECT_EQ(requests.load(), 3);
    for (bool ok : again.items()) {
        EXPECT_FALSE(ok);
    }
}

}  // namespace
}  // namespace roomcast::edge
