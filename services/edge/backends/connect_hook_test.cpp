// The connect hook's request and how its replies are judged, with a fake BackendPort.
#include "backends/connect_hook.hpp"
#include "backends/fake_backend.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

namespace roomcast::edge::backends {
namespace {

namespace json = boost::json;
using K = ConnectVerdict::Kind;

std::string reply(bool allow, std::string user = {}, std::string claims = {}, std::string code = {}) {
    v1::ConnectHookReply r;
    r.set_allow(allow);
    r.set_user_id(std::move(user));
    r.set_claims_json(std::move(claims));
    if (!allow) {
        r.mutable_error()->set_code(std::move(code));
    }
    return r.SerializeAsString();
}

TEST(ConnectHookTest, ModesDecideWhichConnectsAreAsked) {
    testing::FakeBackend port;
    EXPECT_FALSE(ConnectHook(port, {.mode = ConnectHookMode::kOff}).asks(false));
    EXPECT_TRUE(ConnectHook(port, {.mode = ConnectHookMode::kTokenless}).asks(false));
    EXPECT_FALSE(ConnectHook(port, {.mode = ConnectHookMode::kTokenless}).asks(true));
    EXPECT_TRUE(ConnectHook(port, {.mode = ConnectHookMode::kAll}).asks(true));
    EXPECT_TRUE(ConnectHook(port, {.mode = ConnectHookMode::kAll}).asks(false));
}

TEST(ConnectHookTest, TheRequestCarriesAuthHeadersAddressAndTheTokensUser) {
    testing::FakeBackend port;
    ConnectHook hook(port, {.mode = ConnectHookMode::kAll, .timeout = std::chrono::milliseconds(300)});
    sio::Handshake hs;
    hs.auth = json::parse(R"({"session":"s1"})");
    hs.remote_address = "10.1.2.3";
    hs.headers = {{"cookie", "sid=abc"}, {"origin", "https://app"}};
    v1::Client client;
    client.set_user_id("alice");
    std::vector<ConnectVerdict> verdicts;
    hook.ask("/admin", hs, &client, [&](ConnectVerdict v) { verdicts.push_back(std::move(v)); });
    ASSERT_EQ(port.requests.size(), 1u);
    EXPECT_EQ(port.requests[0].kind, Kind::kConnect);
    EXPECT_EQ(port.requests[0].subject, "roomcast.hook.connect");
    EXPECT_EQ(port.requests[0].timeout, std::chrono::milliseconds(300));
    v1::ConnectHook sent;
    ASSERT_TRUE(sent.ParseFromString(port.requests[0].payload));
    EXPECT_EQ(sent.namespace_(), "/admin");
    EXPECT_EQ(json::parse(sent.auth_json()), hs.auth);
    ASSERT_EQ(sent.headers_size(), 2);
    EXPECT_EQ(sent.headers(0).name(), "cookie");
    EXPECT_EQ(sent.headers(0).value(), "sid=abc");
    EXPECT_EQ(sent.remote_address(), "10.1.2.3");
    EXPECT_EQ(sent.client().user_id(), "alice");
    EXPECT_GT(sent.deadline_ms(), 0);

    // A token named the user: an allow without user_id keeps it.
    port.requests[0].done(reply(true));
    ASSERT_EQ(verdicts.size(), 1u);
    EXPECT_EQ(verdicts[0].kind, K::kAllow);
    EXPECT_TRUE(verdicts[0].user_id.empty());
    EXPECT_EQ(port.answered_results, std::vector<Result>{Result::kOk});
}

TEST(ConnectHookTest, RepliesAreJudged) {
    Result r = Result::kOk;
    auto v = decode_connect_reply(reply(true, "bob", R"({"plan":"pro"})"), true, r);
    EXPECT_EQ(v.kind, K::kAllow);
    EXPECT_EQ(v.user_id, "bob");
    EXPECT_EQ(v.claims_json, R"({"plan":"pro"})");
    EXPECT_EQ(r, Result::kOk);

    v = decode_connect_reply(reply(false, {}, {}, ""), true, r);
    EXPECT_EQ(v.kind, K::kDeny);
    EXPECT_EQ(v.code, "forbidden");
    EXPECT_EQ(r, Result::kError);
    v = decode_connect_reply(reply(false, {}, {}, "banned"), true, r);
    EXPECT_EQ(v.code, "banned");

    // Invalid replies and NATS failures are "unavailable" (the fail mode decides).
    for (const auto& bad : {reply(true), reply(true, std::string(300, 'u')), reply(true, "bob", "[1]"),
                            reply(true, "bob", "{nope"), std::string("\xff\xff\xff")}) {
        r = Result::kOk;
        v = decode_connect_reply(bad, true, r);
        EXPECT_EQ(v.kind, K::kUnavailable);
        EXPECT_EQ(v.code, "unavailable");
        EXPECT_EQ(r, Result::kBadReply);
    }
    v = decode_connect_reply(natsbus::Errc::kTimeout, true, r);
    EXPECT_EQ(v.kind, K::kUnavailable);
    v = decode_connect_reply(natsbus::Errc::kNoResponders, false, r);
    EXPECT_EQ(v.kind, K::kUnavailable);
}

}  // namespace
}  // namespace roomcast::edge::backends
