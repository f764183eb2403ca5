// In-process tests of the Engine.IO server over real loopback sockets: limits and policies that
// the official suites do not cover (slow consumers, oversized payloads, cross-shard sessions,
// malformed HTTP). Clients here are deliberately raw: blocking sockets with receive timeouts,
// the project's own WebSocket codec in client role.

#include "engineio/engine.hpp"
#include "testing/ws_client.hpp"
#include "roomcast/transport/http_server.hpp"
#include "roomcast/transport/shard.hpp"

#include "roomcast/protocol/engineio.hpp"
#include "roomcast/protocol/websocket.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <chrono>
#include <thread>

namespace roomcast::engineio {
namespace {

namespace asio = boost::asio;
namespace ws = protocol::ws;
using asio::ip::tcp;
using namespace std::chrono_literals;

// Echoes messages; "flood" starts sending 64 × 16 KiB per event-loop turn until closed.
class TestHandler final : public SessionHandler {
public:
    explicit TestHandler(Session& s) : session_(s.shared_from_this()) {}
    void on_message(std::string_view text) override {
        if (text == "flood") {
            flood(session_);
            return;
        }
        if (text == "replay") {
            // 4 × the queue cap in one turn, exempt from the caps (a recovery replay), then
            // one capped message: nothing is dropped and the session stays open.
            auto s = session_.lock();
            for (int i = 0; i < 1024; ++i) {
                s->send(std::make_shared<const transport::OutMessage>(
                            transport::OutMessage{"4r" + std::to_string(i), {}}),
                        false, /*capped=*/false);
            }
            send_text("4after");
            return;
        }
        send_text(std::string("4") + std::string(text));
    }
    void on_binary(std::string_view bytes) override {
        session_.lock()->send(std::make_shared<const transport::OutMessage>(
            transport::OutMessage{{}, {std::string(bytes)}}));
    }
    void on_close(CloseReason) override {}

private:
    void send_text(std::string text) {
        if (auto s = session_.lock()) {
            s->send(std::make_shared<const transport::OutMessage>(
                transport::OutMessage{std::move(text), {}}));
        }
    }
    static void flood(std::weak_ptr<Session> weak) {
        auto s = weak.lock();
        if (!s || s->closed()) {
            return;
        }
        static const auto chunk = std::make_shared<const transport::OutMessage>(
            transport::OutMessage{"4" + std::string(16 * 1024, 'x'), {}});
        for (int i = 0; i < 64; ++i) {
            if (!s->send(chunk)) {
                return;
            }
        }
        asio::post(s->shard().ioc(), [weak] { flood(weak); });
    }
    std::weak_ptr<Session> session_;
};

class EngineTest : public ::testing::Test {
protected:
    void start(Options options, unsigned shards = 2) {
        options_ = options;
        pool_ = std::make_unique<transport::ShardPool>(shards);
        engine_ = std::make_unique<EngineServer>(*pool_, options_,
                                                 [](Session& s, const transport::HttpRequest&) {
                                                     return std::make_unique<TestHandler>(s);
                                                 });
        http_ = std::make_unique<transport::HttpServer>(*pool_, transport::HttpLimits{});
        http_->add_route(transport::Route{"/engine.io/", engine_.get(), options_.max_payload});
        port_ = http_->listen("127.0.0.1", 0);
        pool_->start();
    }
    void TearDown() override {
        if (pool_) {
            pool_->stop();
        }
    }

    std::uint64_t closed(CloseReason r) {
        std::uint64_t n = 0;
        for (unsigned i = 0; i < pool_->size(); ++i) {
            n += engine_->stats(i).closed[static_cast<std::size_t>(r)].get();
        }
        return n;
    }

    tcp::socket connect() { return edge::testing::connect_loopback(client_ctx_, port_); }

    struct Reply {
        unsigned status = 0;
        std::string body;
    };
    // One HTTP/1.1 request on a fresh connection (Connection: close), response read to EOF.
    Reply http(const std::string& method, const std::string& target, const std::string& body = {},
               const std::string& extra_headers = {}) {
        auto s = connect();
        std::string req = method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                          extra_headers + "Content-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
        asio::write(s, asio::buffer(req));
        return read_reply(s);
    }
    static Reply read_reply(tcp::socket& s) {
        std::string raw;
        boost::system::error_code ec;
        char buf[4096];
        for (;;) {
            const auto n = s.read_some(asio::buffer(buf), ec);
            if (ec) {
                break;
            }
            raw.append(buf, n);
        }
        Reply r;
        if (raw.size() >= 12) {
            r.status = static_cast<unsigned>(std::stoi(raw.substr(9, 3)));
        }
        const auto split = raw.find("\r\n\r\n");
        if (split != std::string::npos) {
            r.body = raw.substr(split + 4);
        }
        return r;
    }

    std::string open_polling() {
        const auto r = http("GET", "/engine.io/?EIO=4&transport=polling");
        EXPECT_EQ(r.status, 200u);
        auto json = boost::json::parse(r.body.substr(1));
        return std::string(json.at("sid").as_string());
    }

    using WsClient = edge::testing::WsClient;
    WsClient open_ws() { return WsClient::open(client_ctx_, port_, "/engine.io/"); }

    asio::io_context client_ctx_;
    Options options_;
    std::unique_ptr<transport::ShardPool> pool_;
    std::unique_ptr<EngineServer> engine_;
    std::unique_ptr<transport::HttpServer> http_;
    std::uint16_t port_ = 0;
};

TEST_F(EngineTest, SlowConsumerIsDisconnectedAndOthersKeepWorking) {
    Options o;
    o.max_queue_messages = 256;
    o.max_queue_bytes = 2 * 1024 * 1024;
    start(o);
    WsClient healthy = open_ws();
    WsClient slow = open_ws();
    slow.send_text("4flood");  // and never read again
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (closed(CloseReason::kSlowConsumer) == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(closed(CloseReason::kSlowConsumer), 1u);
    healthy.send_text("4still here");
    ASSERT_TRUE(healthy.read_until(2));
    EXPECT_EQ(healthy.texts.back(), "4still here");
}

TEST_F(EngineTest, UncappedSendsExceedTheQueueCapsWithoutClosing) {
    Options o;
    o.max_queue_messages = 256;
    start(o);
    WsClient client = open_ws();
    client.send_text("4replay");
    ASSERT_TRUE(client.read_until(1 + 1025)) << client.texts.size() << " close " << client.close_code;
    EXPECT_EQ(client.texts.at(1), "4r0");
    EXPECT_EQ(client.texts.at(1024), "4r1023");
    EXPECT_EQ(client.texts.at(1025), "4after");
    EXPECT_EQ(closed(CloseReason::kSlowConsumer), 0u);
}

TEST_F(EngineTest, OversizedWebSocketMessageIsClosedWith1009) {
    Options o;
    o.max_payload = 1000;
    start(o);
    WsClient big = open_ws();
    WsClient other = open_ws();
    big.send_text("4" + std::string(2000, 'a'));
    big.read_until(100);
    EXPECT_EQ(big.close_code, ws::close_code::kTooBig);
    other.send_text("4ok");
    ASSERT_TRUE(other.read_until(2));
    EXPECT_EQ(other.texts.back(), "4ok");
}

TEST_F(EngineTest, OversizedPollingBodyGets413) {
    Options o;
    o.max_payload = 1000;
    start(o);
    const auto sid = open_polling();
    const auto r = http("POST", "/engine.io/?EIO=4&transport=polling&sid=" + sid,
                        "4" + std::string(2000, 'a'));
    EXPECT_EQ(r.status, 413u);
    const auto fine = http("POST", "/engine.io/?EIO=4&transport=polling&sid=" + sid, "4small");
    EXPECT_EQ(fine.status, 200u);
    EXPECT_EQ(http("GET", "/engine.io/?EIO=4&transport=polling&sid=" + sid).body, "4small");
}

// Every request opens a new connection, so the kernel spreads them over the four shards'
// listeners: most requests reach a shard that does not own the session and are forwarded.
TEST_F(EngineTest, PollingSessionsWorkFromAnyShard) {
    start(Options{}, 4);
    for (int session = 0; session < 8; ++session) {
        const auto sid = open_polling();
        for (int i = 0; i < 10; ++i) {
            const std::string msg = "4m" + std::to_string(session) + "-" + std::to_string(i);
            ASSERT_EQ(http("POST", "/engine.io/?EIO=4&transport=polling&sid=" + sid, msg).body,
                      "ok");
            ASSERT_EQ(http("GET", "/engine.io/?EIO=4&transport=polling&sid=" + sid).body, msg);
        }
    }
}

TEST_F(EngineTest, MalformedHttpGets400AndTheServerKeepsServing) {
    start(Options{});
    auto s = connect();
    asio::write(s, asio::buffer(std::string("BLAH\r\n\r\n")));
    EXPECT_EQ(read_reply(s).status, 400u);
    EXPECT_EQ(http("GET", "/nowhere").status, 404u);
    EXPECT_EQ(http("GET", "/engine.io/?EIO=3&transport=polling").status, 400u);
    open_polling();
}

TEST_F(EngineTest, DisallowedOriginIsRefused) {
    Options o;
    o.cors_origins = {"https://app.example"};
    o.cors_credentials = true;
    start(o);
    const auto bad =
        http("GET", "/engine.io/?EIO=4&transport=polling", {}, "Origin: https://evil.example\r\n");
    EXPECT_EQ(bad.status, 403u);
    const auto good =
        http("GET", "/engine.io/?EIO=4&transport=polling", {}, "Origin: https://app.example\r\n");
    EXPECT_EQ(good.status, 200u);
}

}  // namespace
}  // namespace roomcast::engineio
