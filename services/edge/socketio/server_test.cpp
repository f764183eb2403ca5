// sio::Server features applications build on, in process over loopback: the fallback handler
// for events without a handler of their own (on_any), namespaces created on demand by prefix
// (of_prefix), and the handshake headers an application asks to keep.
#include "socketio/server.hpp"
#include "testing/ws_client.hpp"

#include "roomcast/transport/http_server.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

namespace roomcast::sio {
namespace {

namespace json = boost::json;
using edge::testing::WsClient;

class ServerTest : public ::testing::Test {
protected:
    void start(ServerOptions options) {
        pool_ = std::make_unique<transport::ShardPool>(2);
        io_ = std::make_unique<Server>(*pool_, std::move(options));
        auto& root = io_->of("/");
        root.on("known", [](const SocketPtr&, Args&&, Ack&& ack) { ack(Args().add("known")); });
        // Acks with [event, ...args] so the client sees what the fallback got.
        root.on_any([](const SocketPtr&, std::string_view event, Args&& args, Ack&& ack) {
            Args reply;
            reply.add(json::string(event));
            for (auto& v : args.values()) {
                reply.add(v);
            }
            ack(reply);
        });
        root.on_connection([this](const SocketPtr& s) {
            std::string cookie;
            for (const auto& [name, value] : s->handshake().headers) {
                if (name == "cookie") {
                    cookie = value;
                }
            }
            s->emit("hello", Args().add(json::string(cookie)).add(s->handshake().headers.size()));
        });
        io_->of_prefix(
            "/team-", [](std::string_view name) { return name.find('!') == std::string_view::npos; },
            [this](Namespace& nsp) {
                setups_.fetch_add(1);
                nsp.on_any([](const SocketPtr& s, std::string_view event, Args&&, Ack&& ack) {
                    ack(Args().add(json::string(s->nsp().name())).add(json::string(event)));
                });
            });
        http_ = std::make_unique<transport::HttpServer>(*pool_, transport::HttpLimits{});
        http_->add_route(transport::Route{"/socket.io/", &io_->engine(), 1000000});
        port_ = http_->listen("127.0.0.1", 0);
        pool_->start();
    }
    void TearDown() override {
        if (pool_) {
            pool_->stop();
        }
    }

    // The next text message not yet returned (a read may bring several at once).
    static std::string next(WsClient& c) {
        c.texts.erase(c.texts.begin());  // the one returned last time (first: the open packet)
        EXPECT_TRUE(c.read_until(1));
        return c.texts.empty() ? std::string() : c.texts.front();
    }

    boost::asio::io_context client_ctx_;
    std::unique_ptr<transport::ShardPool> pool_;
    std::unique_ptr<Server> io_;
    std::unique_ptr<transport::HttpServer> http_;
    std::uint16_t port_ = 0;
    std::atomic<int> setups_{0};
};

TEST_F(ServerTest, EventsWithoutAHandlerReachTheFallbackWithTheirNameArgsAndAck) {
    start(ServerOptions{});
    auto c = WsClient::open(client_ctx_, port_, "/socket.io/");
    c.send_text("40");
    EXPECT_EQ(next(c).substr(0, 2), "40");
    EXPECT_EQ(next(c).substr(0, 9), "42[\"hello");
    c.send_text("421[\"createPost\",{\"title\":\"t\"},2]");
    EXPECT_EQ(next(c), "431[\"createPost\",{\"title\":\"t\"},2]");
    // A registered handler wins; the fallback never sees its events.
    c.send_text("422[\"known\"]");
    EXPECT_EQ(next(c), "432[\"known\"]");
}

TEST_F(ServerTest, PrefixNamespacesAreCreatedOnFirstConnectOnceAndCapped) {
    ServerOptions options;
    options.max_dynamic_namespaces = 2;
    start(options);
    auto c = WsClient::open(client_ctx_, port_, "/socket.io/");
    c.send_text("40/team-a,");
    EXPECT_EQ(next(c).substr(0, 10), "40/team-a,");
    c.send_text("42/team-a,7[\"ping\"]");
    EXPECT_EQ(next(c), "43/team-a,7[\"/team-a\",\"ping\"]");

    auto d = WsClient::open(client_ctx_, port_, "/socket.io/");
    d.send_text("40/team-a,");  // exists now: not set up again
    EXPECT_EQ(next(d).substr(0, 10), "40/team-a,");
    d.send_text("40/team-b,");
    EXPECT_EQ(next(d).substr(0, 10), "40/team-b,");
    EXPECT_EQ(setups_.load(), 2);
    // Over the cap, refused by `valid`, the bare prefix, another prefix: unknown namespaces.
    for (const char* name : {"/team-c", "/team-!", "/team-", "/other"}) {
        d.send_text(std::string("40") + name + ",");
        EXPECT_EQ(next(d), std::string("44") + name + ",{\"message\":\"Invalid namespace\"}") << name;
    }
    EXPECT_EQ(setups_.load(), 2);
}

TEST_F(ServerTest, OnlyTheHeadersAskedForAreKeptEachCut) {
    ServerOptions options;
    options.handshake_headers = {"cookie", "origin"};
    options.handshake_header_bytes = 8;
    start(options);
    auto c = WsClient::open(client_ctx_, port_, "/socket.io/",
                            "Cookie: sid=0123456789\r\nUser-Agent: test\r\n");
    c.send_text("40");
    EXPECT_EQ(next(c).substr(0, 2), "40");
    EXPECT_EQ(next(c), "42[\"hello\",\"sid=0123\",1]");
}

}  // namespace
}  // namespace roomcast::sio
