// `refresh` with a fake verifier: the answers and refusals of PRODUCT.md §2 ("Token lifetime"),
// and what a successful refresh changes in the session (the expiry and its generation, which
// makes the expiry armed for the old token stale).
#include "app/tokens.hpp"

#include "roomcast/protocol/json.hpp"

#include <gtest/gtest.h>

namespace roomcast::edge {
namespace {

namespace json = boost::json;

class Refresh : public ::testing::Test {
protected:
    Refresh()
        : pool_(1),
          tokens_(pool_,
                  [this](std::string_view token) -> jwt::Result<jwt::Claims> {
                      if (token == "expired") {
                          return make_error_code(jwt::Errc::kExpired);
                      }
                      if (!token.starts_with("valid:")) {
                          return make_error_code(jwt::Errc::kBadSignature);
                      }
                      jwt::Claims c;
                      c.sub = std::string(token.substr(6));
                      c.name = c.sub;
                      c.exp = next_exp_;
                      return c;
                  },
                  std::chrono::seconds(30)) {
        auto s = std::make_shared<SocketSession>();
        s->identity = std::make_shared<const rooms::Identity>(rooms::Identity{"alice", "Alice"});
        s->exp = 1000;
        caller_.session = s;
    }

    json::value refresh(std::string_view body) {
        sio::Args args;
        args.add(*protocol::parse_json(body));
        std::optional<sio::Args> answer;
        tokens_.refresh(caller_, std::move(args),
                        Reply(std::function<void(const sio::Args&)>([&](const sio::Args& a) { answer = a; })));
        EXPECT_TRUE(answer);
        return answer ? (*answer)[0] : json::value(nullptr);
    }
    static std::string code(const json::value& v) {
        return v.as_object().contains("error") ? std::string(v.at("error").at("code").as_string()) : "ok";
    }

    transport::ShardPool pool_;
    std::int64_t next_exp_ = 5000;
    TokenLifetime tokens_;
    Caller caller_;
};

TEST_F(Refresh, ASameUserTokenExtendsTheSocketsLife) {
    auto a = refresh(R"({"token":"valid:alice"})");
    EXPECT_EQ(a.at("ok"), true);
    EXPECT_EQ(a.at("exp"), 5000);
    EXPECT_EQ(caller_.session->exp, 5000);
    EXPECT_EQ(caller_.session->exp_generation, 1u) << "the expiry armed for the old token is stale";
}

TEST_F(Refresh, RefusalsKeepTheOldExpiry) {
    EXPECT_EQ(code(refresh(R"({"token":"valid:bob"})")), "forbidden");
    EXPECT_EQ(code(refresh(R"({"token":"garbage"})")), "unauthorized");
    EXPECT_EQ(code(refresh(R"({"token":"expired"})")), "unauthorized");
    EXPECT_EQ(code(refresh(R"({"token":""})")), "bad_request");
    EXPECT_EQ(code(refresh(R"({"token":42})")), "bad_request");
    EXPECT_EQ(code(refresh(R"({})")), "bad_request");
    EXPECT_EQ(code(refresh(R"("valid:alice")")), "bad_request");
    EXPECT_EQ(caller_.session->exp, 1000);
    EXPECT_EQ(caller_.session->exp_generation, 0u);
}

}  // namespace
}  // namespace roomcast::edge
