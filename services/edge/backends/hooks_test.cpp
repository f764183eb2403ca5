// The join and publish hooks' decisions with a fake port: allow, deny (code, message, caps),
// replace (and each way a replacement is refused), and the fail modes for a timeout, no
// responders and a reply that does not parse.
#include "backends/hooks.hpp"
#include "backends/testing_port.hpp"

#include <gtest/gtest.h>

namespace roomcast::edge::backends {
namespace {

using testing::FakePort;

std::string join_reply(bool allow, std::string code = {}, std::string message = {}) {
    pb::JoinHookReply r;
    r.set_allow(allow);
    r.mutable_error()->set_code(std::move(code));
    r.mutable_error()->set_message(std::move(message));
    return r.SerializeAsString();
}

std::string publish_reply(bool allow, bool replace = false, std::string data = {},
                          std::vector<std::string> attachments = {}) {
    pb::PublishHookReply r;
    r.set_allow(allow);
    r.set_replace(replace);
    r.set_data_json(std::move(data));
    for (auto& a : attachments) {
        r.add_attachments(std::move(a));
    }
    return r.SerializeAsString();
}

const natsbus::Result<std::string> kTimedOut = make_error_code(natsbus::Errc::kTimeout);
const natsbus::Result<std::string> kNobody = make_error_code(natsbus::Errc::kNoResponders);

TEST(Hooks, PrefixesMatchByStartAndStarMatchesAll) {
    EXPECT_TRUE(matches_prefix({"team:", "doc:"}, "doc:1"));
    EXPECT_FALSE(matches_prefix({"team:", "doc:"}, "lobby"));
    EXPECT_FALSE(matches_prefix({}, "lobby"));
    EXPECT_TRUE(matches_prefix({"*"}, "anything"));
    EXPECT_EQ(parse_fail_mode("open"), FailMode::kOpen);
    EXPECT_EQ(parse_fail_mode("closed"), FailMode::kClosed);
    EXPECT_EQ(parse_fail_mode("Closed"), std::nullopt);
}

TEST(Hooks, JoinAllowDenyAndTheDefaultCode) {
    auto allow = decide_join(join_reply(true), FailMode::kClosed);
    EXPECT_FALSE(allow.refusal);
    EXPECT_EQ(allow.outcome, Result::kOk);

    auto deny = decide_join(join_reply(false, "not_member", "ask the owner"), FailMode::kOpen);
    ASSERT_TRUE(deny.refusal);
    EXPECT_EQ(deny.refusal->code, "not_member");
    EXPECT_EQ(deny.refusal->message, "ask the owner");
    EXPECT_EQ(deny.outcome, Result::kError);

    auto bare = decide_join(join_reply(false), FailMode::kOpen);
    ASSERT_TRUE(bare.refusal);
    EXPECT_EQ(bare.refusal->code, "forbidden") << "an empty code is forbidden";
}

TEST(Hooks, RefusalsAreCappedAtACharacterBoundary) {
    // "é" is two bytes: 600 of them cross the 512-byte cap in the middle of none.
    std::string message;
    for (int i = 0; i < 600; ++i) {
        message += "\xC3\xA9";
    }
    auto v = decide_join(join_reply(false, std::string(100, 'c'), message), FailMode::kClosed);
    ASSERT_TRUE(v.refusal);
    EXPECT_EQ(v.refusal->code.size(), kMaxRefusalCodeBytes);
    EXPECT_EQ(v.refusal->message.size(), kMaxRefusalMessageBytes);
    // Odd cap position: cut before the split character.
    message = "a" + message;
    v = decide_join(join_reply(false, "x", message), FailMode::kClosed);
    EXPECT_EQ(v.refusal->message.size(), kMaxRefusalMessageBytes - 1);
}

TEST(Hooks, JoinFailModesForTimeoutNoRespondersAndBadReplies) {
    for (const auto* reply : {&kTimedOut, &kNobody}) {
        auto closed = decide_join(*reply, FailMode::kClosed);
        ASSERT_TRUE(closed.refusal);
        EXPECT_EQ(closed.refusal->code, "unavailable");
        EXPECT_FALSE(decide_join(*reply, FailMode::kOpen).refusal);
    }
    EXPECT_EQ(decide_join(kTimedOut, FailMode::kOpen).outcome, Result::kTimeout);
    EXPECT_EQ(decide_join(kNobody, FailMode::kOpen).outcome, Result::kNoResponders);
    const natsbus::Result<std::string> garbage = std::string("\xff\xff\xff");
    auto bad = decide_join(garbage, FailMode::kClosed);
    ASSERT_TRUE(bad.refusal);
    EXPECT_EQ(bad.refusal->code, "unavailable");
    EXPECT_EQ(bad.outcome, Result::kBadReply);
    EXPECT_FALSE(decide_join(garbage, FailMode::kOpen).refusal);
}

TEST(Hooks, PublishAllowDenyAndReplace) {
    HookOptions limits;
    auto allow = decide_publish(publish_reply(true), FailMode::kClosed, limits);
    EXPECT_FALSE(allow.refusal);
    EXPECT_FALSE(allow.replacement) << "allow without replace keeps the client's data";

    pb::PublishHookReply deny;
    deny.mutable_error()->set_code("moderated");
    deny.mutable_error()->set_message("watch your language");
    auto d = decide_publish(deny.SerializeAsString(), FailMode::kOpen, limits);
    ASSERT_TRUE(d.refusal);
    EXPECT_EQ(d.refusal->code, "moderated");
    EXPECT_EQ(d.refusal->message, "watch your language");

    auto r = decide_publish(publish_reply(true, true, R"({"t":"***","img":{"_placeholder":true,"num":0}})", {"PNG"}),
                            FailMode::kClosed, limits);
    EXPECT_FALSE(r.refusal);
    ASSERT_TRUE(r.replacement);
    EXPECT_EQ(r.replacement->data_json, R"({"t":"***","img":{"_placeholder":true,"num":0}})");
    EXPECT_EQ(r.replacement->attachments, std::vector<std::string>{"PNG"});

    auto empty = decide_publish(publish_reply(true, true, ""), FailMode::kClosed, limits);
    ASSERT_TRUE(empty.replacement);
    EXPECT_EQ(empty.replacement->data_json, "null") << "empty data_json is null, as in RoomEvent";
}

TEST(Hooks, ABadReplacementIsABadReplyUnderTheFailMode) {
    HookOptions limits;
    limits.max_publish_bytes = 32;
    limits.max_attachments = 2;
    const std::vector<std::string> bad = {
        publish_reply(true, true, "{"),                      // not JSON
        publish_reply(true, true, "1 2"),                    // not one value
        publish_reply(true, true, R"({"_placeholder":true,"num":1})", {"a"}),  // names no attachment
        publish_reply(true, true, "1", {"a", "b", "c"}),     // too many attachments
        publish_reply(true, true, "1", {std::string(40, 'x')}),                 // too large
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
        auto closed = decide_publish(bad[i], FailMode::kClosed, limits);
        ASSERT_TRUE(closed.refusal) << i;
        EXPECT_EQ(closed.refusal->code, "unavailable") << i;
        EXPECT_EQ(closed.outcome, Result::kBadReply) << i;
        auto open = decide_publish(bad[i], FailMode::kOpen, limits);
        EXPECT_FALSE(open.refusal) << i;
        EXPECT_FALSE(open.replacement) << i << ": open keeps the client's data";
    }
    EXPECT_TRUE(decide_publish(publish_reply(true, true, "[1,2]", {"a", "b"}), FailMode::kClosed, limits).replacement);
}

TEST(Hooks, PublishFailModes) {
    HookOptions limits;
    auto closed = decide_publish(kTimedOut, FailMode::kClosed, limits);
    ASSERT_TRUE(closed.refusal);
    EXPECT_EQ(closed.refusal->code, "unavailable");
    EXPECT_FALSE(decide_publish(kNobody, FailMode::kOpen, limits).refusal);
}

TEST(Hooks, RequestsCarryTheClientRoomDeadlineAndAreCounted) {
    FakePort port;
    HookOptions o;
    o.join_prefixes = {"team:"};
    o.publish_prefixes = {"*"};
    o.timeout = std::chrono::milliseconds(300);
    Hooks hooks(port, o, "edge-1");
    EXPECT_TRUE(hooks.asks_join("team:a"));
    EXPECT_FALSE(hooks.asks_join("lobby"));
    EXPECT_TRUE(hooks.asks_publish("lobby"));

    pb::Client c;
    c.set_user_id("alice");
    std::optional<JoinVerdict> got;
    hooks.join(c, "team:a", [&](JoinVerdict v) { got = std::move(v); });
    ASSERT_EQ(port.pending.size(), 1u);
    EXPECT_EQ(port.pending[0].subject, "roomcast.hook.join");
    EXPECT_EQ(port.pending[0].kind, Kind::kJoin);
    EXPECT_EQ(port.pending[0].timeout, std::chrono::milliseconds(300));
    pb::JoinHook req;
    ASSERT_TRUE(req.ParseFromString(port.pending[0].payload));
    EXPECT_EQ(req.room(), "team:a");
    EXPECT_EQ(req.client().user_id(), "alice");
    EXPECT_EQ(req.client().edge_id(), "edge-1");
    EXPECT_GT(req.deadline_ms(), 0);
    port.answer(join_reply(false, "nope"));
    ASSERT_TRUE(got && got->refusal);
    EXPECT_EQ((port.outcomes[{Kind::kJoin, Result::kError}]), 1);

    std::optional<PublishVerdict> pv;
    hooks.publish(c, "lobby", "msg", R"({"x":{"_placeholder":true,"num":0}})", {"BIN"},
                  [&](PublishVerdict v) { pv = std::move(v); });
    pb::PublishHook preq;
    ASSERT_TRUE(preq.ParseFromString(port.pending[0].payload));
    EXPECT_EQ(port.pending[0].subject, "roomcast.hook.publish");
    EXPECT_EQ(preq.event(), "msg");
    EXPECT_EQ(preq.data_json(), R"({"x":{"_placeholder":true,"num":0}})");
    ASSERT_EQ(preq.attachments_size(), 1);
    EXPECT_EQ(preq.attachments(0), "BIN");
    port.answer(kTimedOut);
    ASSERT_TRUE(pv && pv->refusal);
    EXPECT_EQ(port.outcomes.size(), 1u) << "transport outcomes are the port's to count, not answered()";
}

}  // namespace
}  // namespace roomcast::edge::backends
