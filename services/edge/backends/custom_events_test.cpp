// Custom events without NATS: a fake BackendPort records what the edge sends and answers as a
// backend (or NATS) would; continuations "posted to the shard" wait in a queue the test runs.
#include "backends/custom_events.hpp"
#include "backends/fake_backend.hpp"

#include "roomcast/core/clock.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

namespace roomcast::edge::backends {
namespace {

namespace json = boost::json;
using testing::FakeBackend;

class CustomEventsTest : public ::testing::Test {
protected:
    CustomEventsTest() : events_(port_, options(), metrics_) {}

    static RpcOptions options() {
        RpcOptions o;
        o.timeout = std::chrono::milliseconds(500);
        o.max_in_flight = 2;
        o.max_bytes = 1000;
        o.max_attachments = 2;
        return o;
    }
    static v1::Client client(std::string nsp = "/") {
        v1::Client c;
        c.set_user_id("alice");
        c.set_user_name("Alice");
        c.set_claims_json(R"({"sub":"alice","role":"admin"})");
        c.set_socket_id("sock1");
        c.set_edge_id("edge-1");
        c.set_namespace_(std::move(nsp));
        c.add_rooms("lobby");
        c.set_remote_address("10.0.0.1");
        return c;
    }

    // Sends `event` with an ack; the answers land in answers_.
    void send(std::string_view event, sio::Args args, v1::Client c = client()) {
        events_.call(std::move(c), event, args, [this](const sio::Args& a) { answers_.push_back(a); }, in_flight_,
                     [this](std::function<void()> fn) { shard_.push_back(std::move(fn)); });
    }
    void run_shard() {
        auto tasks = std::move(shard_);
        shard_.clear();
        for (auto& t : tasks) {
            t();
        }
    }
    static std::string reply(bool ok, std::string result_json, std::vector<std::string> attachments = {},
                             std::string code = {}, std::string message = {}) {
        v1::CustomEventReply r;
        r.set_ok(ok);
        r.set_result_json(std::move(result_json));
        for (auto& a : attachments) {
            r.add_attachments(std::move(a));
        }
        if (!ok) {
            r.mutable_error()->set_code(std::move(code));
            r.mutable_error()->set_message(std::move(message));
        }
        return r.SerializeAsString();
    }
    json::object ack(std::size_t i) const { return answers_.at(i).values().at(0).as_object(); }
    std::string error_code(std::size_t i) const {
        return std::string(ack(i).at("error").at("code").as_string());
    }

    FakeBackend port_;
    RpcMetrics metrics_;
    CustomEvents events_;
    std::shared_ptr<std::uint32_t> in_flight_ = std::make_shared<std::uint32_t>(0);
    std::vector<std::function<void()>> shard_;
    std::vector<sio::Args> answers_;
};

TEST_F(CustomEventsTest, AnAckedEventIsARequestWhoseReplyBecomesTheAck) {
    sio::Args args;
    args.add(json::object{{"title", "hi"}});
    args.add_binary("\x01\x02");
    const auto before = core::unix_ms();
    send("createPost", std::move(args));
    ASSERT_EQ(port_.requests.size(), 1u);
    auto& req = port_.requests[0];
    EXPECT_EQ(req.kind, Kind::kRpc);
    EXPECT_EQ(req.subject, "roomcast.rpc.createPost");
    EXPECT_EQ(req.timeout, std::chrono::milliseconds(500));
    v1::CustomEvent sent;
    ASSERT_TRUE(sent.ParseFromString(req.payload));
    EXPECT_EQ(sent.event(), "createPost");
    EXPECT_EQ(sent.client().user_id(), "alice");
    EXPECT_EQ(sent.client().claims_json(), R"({"sub":"alice","role":"admin"})");
    EXPECT_EQ(sent.client().rooms_size(), 1);
    EXPECT_EQ(json::parse(sent.args_json()), json::parse(R"([{"title":"hi"},{"_placeholder":true,"num":0}])"));
    ASSERT_EQ(sent.attachments_size(), 1);
    EXPECT_EQ(sent.attachments(0), "\x01\x02");
    EXPECT_GE(sent.deadline_ms(), before + 500);
    EXPECT_EQ(*in_flight_, 1u);

    req.done(reply(true, R"({"id":7,"file":{"_placeholder":true,"num":0}})", {"\x03"}));
    EXPECT_TRUE(answers_.empty()) << "answered off the socket's shard";
    run_shard();
    ASSERT_EQ(answers_.size(), 1u);
    EXPECT_EQ(json::value(ack(0)), json::parse(R"({"ok":true,"result":{"id":7,"file":{"_placeholder":true,"num":0}}})"));
    ASSERT_EQ(answers_[0].attachments().size(), 1u);
    EXPECT_EQ(answers_[0].attachments()[0], "\x03");
    EXPECT_EQ(*in_flight_, 0u);
    EXPECT_EQ(port_.answered_results, std::vector<Result>{Result::kOk});
    EXPECT_EQ(metrics_.value("createPost", RpcOutcome::kOk), 1u);
}

TEST_F(CustomEventsTest, ABackendsRefusalPassesThroughAndAnEmptyCodeIsInternal) {
    send("a", {});
    send("b", {});
    port_.requests[0].done(reply(false, "", {}, "not_found", "no such post"));
    port_.requests[1].done(reply(false, "", {}, "", "boom"));
    run_shard();
    EXPECT_EQ(json::value(ack(0)),
              json::parse(R"({"ok":false,"error":{"code":"not_found","message":"no such post"}})"));
    EXPECT_EQ(error_code(1), "internal");
    EXPECT_EQ(port_.answered_results, (std::vector<Result>{Result::kError, Result::kError}));
}

TEST_F(CustomEventsTest, NoBackendATimeoutAndBadRepliesAreUnavailable) {
    for (int i = 0; i < 6; ++i) {
        *in_flight_ = 0;
        send("e", {});
    }
    port_.requests[0].done(natsbus::Errc::kTimeout);
    port_.requests[1].done(natsbus::Errc::kNoResponders);
    port_.requests[2].done(std::string("\xff\xff garbage"));
    port_.requests[3].done(reply(true, "{not json"));
    port_.requests[4].done(reply(true, R"({"_placeholder":true,"num":1})", {"x"}));  // dangling
    port_.requests[5].done(reply(true, "\"ok\"", {"1", "2", "3"}));                 // > max_attachments
    run_shard();
    ASSERT_EQ(answers_.size(), 6u);
    for (std::size_t i = 0; i < answers_.size(); ++i) {
        EXPECT_EQ(error_code(i), "unavailable") << i;
    }
    // Only replies are reported to the port (it counted timeouts itself).
    EXPECT_EQ(port_.answered_results, std::vector<Result>(4, Result::kBadReply));
    EXPECT_EQ(metrics_.value("e", RpcOutcome::kUnavailable), 6u);
}

TEST_F(CustomEventsTest, TheInFlightCapRefusesWithoutSendingUntilAReplyFreesASlot) {
    send("e", {});
    send("e", {});
    send("e", {});
    EXPECT_EQ(port_.requests.size(), 2u);
    ASSERT_EQ(answers_.size(), 1u);
    EXPECT_EQ(error_code(0), "rate_limited");
    port_.requests[0].done(reply(true, "1"));
    send("e", {});  // the reply has not reached the shard yet: still full
    EXPECT_EQ(port_.requests.size(), 2u);
    run_shard();
    send("e", {});
    EXPECT_EQ(port_.requests.size(), 3u);
    EXPECT_EQ(metrics_.value("e", RpcOutcome::kRateLimited), 2u);
}

TEST_F(CustomEventsTest, WithoutAnAckTheEventIsPublishedAndNothingWaits) {
    sio::Args args;
    args.add(1);
    events_.call(client("/admin"), "ban user", args, {}, in_flight_, [](std::function<void()>) { FAIL(); });
    ASSERT_EQ(port_.publishes.size(), 1u);
    EXPECT_EQ(port_.publishes[0].subject, "roomcast.ns.admin.rpc.ban%20user");
    v1::CustomEvent sent;
    ASSERT_TRUE(sent.ParseFromString(port_.publishes[0].payload));
    EXPECT_EQ(sent.deadline_ms(), 0);
    EXPECT_EQ(sent.args_json(), "[1]");
    EXPECT_EQ(*in_flight_, 0u);
    EXPECT_TRUE(port_.requests.empty());
    EXPECT_EQ(metrics_.value("ban user", RpcOutcome::kPublished), 1u);
}

TEST_F(CustomEventsTest, ArgumentsOverTheCapAreRefusedUnsent) {
    send("e", sio::Args().add(json::string(std::string(2000, 'x'))));
    EXPECT_TRUE(port_.requests.empty());
    ASSERT_EQ(answers_.size(), 1u);
    EXPECT_EQ(error_code(0), "payload_too_large");
    EXPECT_EQ(*in_flight_, 0u);
}

TEST(RpcMetricsTest, EventNamesBeyondTheCapCountAsOther) {
    RpcMetrics m;
    for (std::size_t i = 0; i < RpcMetrics::kMaxEvents + 5; ++i) {
        m.record("e" + std::to_string(i), RpcOutcome::kOk);
    }
    m.record("e0", RpcOutcome::kOk);
    EXPECT_EQ(m.value("e0", RpcOutcome::kOk), 2u);
    EXPECT_EQ(m.value("e99", RpcOutcome::kOk), 1u);
    EXPECT_EQ(m.value("e100", RpcOutcome::kOk), 0u);
    EXPECT_EQ(m.value("other", RpcOutcome::kOk), 5u);
}

}  // namespace
}  // namespace roomcast::edge::backends
