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

#include <array>
#include <chrono>
#include <optional>
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
                        Delivery::kReliable, /*capped=*/false);
            }
            send_text("4after");
            return;
        }
        if (text == "ephemeral") {
            // 4 × the queue cap of droppable messages in one turn (nothing is written before
            // the turn ends), then one reliable message.
            auto s = session_.lock();
            for (int i = 0; i < 1024; ++i) {
                s->send(std::make_shared<const transport::OutMessage>(
                            transport::OutMessage{"4e" + std::to_string(i), {}}),
                        Delivery::kDroppable);
            }
            send_text("4after");
            return;
        }
        if (text == "address") {
            send_text("4" + session_.lock()->client_address());
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

    // A new polling session's address as its handler sees it (the "address" message).
    std::string address_of(const std::string& headers);

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

TEST_F(EngineTest, DroppableMessagesQueueUpToAQuarterOfTheCapsAndNeverCloseTheSession) {
    Options o;
    o.max_queue_messages = 256;
    start(o);
    WsClient client = open_ws();
    client.send_text("4ephemeral");
    ASSERT_TRUE(client.read_until(1 + 64 + 1)) << client.texts.size() << " close " << client.close_code;
    EXPECT_EQ(client.texts.at(1), "4e0");
    EXPECT_EQ(client.texts.at(64), "4e63");
    EXPECT_EQ(client.texts.at(65), "4after") << "the reliable message after them is not dropped";
    EXPECT_EQ(closed(CloseReason::kSlowConsumer), 0u);
    std::uint64_t dropped = 0;
    for (unsigned i = 0; i < pool_->size(); ++i) {
        dropped += engine_->stats(i).droppable_dropped.get();
    }
    EXPECT_EQ(dropped, 1024u - 64u);
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

// Behind a trusted proxy the session's address (what hooks and backends see) is the client's,
// from X-Forwarded-For; from any other peer the header is ignored.
std::string EngineTest::address_of(const std::string& headers) {
    const auto r = http("GET", "/engine.io/?EIO=4&transport=polling", {}, headers);
    EXPECT_EQ(r.status, 200u);
    if (r.body.size() < 2) {
        return {};
    }
    const std::string sid(boost::json::parse(r.body.substr(1)).at("sid").as_string());
    EXPECT_EQ(http("POST", "/engine.io/?EIO=4&transport=polling&sid=" + sid, "4address").status, 200u);
    return http("GET", "/engine.io/?EIO=4&transport=polling&sid=" + sid).body;
}

TEST_F(EngineTest, TheSessionsAddressIsTheClientsBehindATrustedProxy) {
    Options o;
    o.trusted_proxies = {"127.0.0.1"};
    start(o);
    EXPECT_EQ(address_of("X-Forwarded-For: 10.9.8.7, 203.0.113.9\r\n"), "4203.0.113.9");
    EXPECT_EQ(address_of(""), "4127.0.0.1");
}

TEST_F(EngineTest, XForwardedForFromAnUntrustedPeerIsIgnored) {
    start(Options{});
    EXPECT_EQ(address_of("X-Forwarded-For: 203.0.113.9\r\n"), "4127.0.0.1");
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

// A keep-alive HTTP/1.1 connection whose requests are written and answered separately, so
// that two connections can have a request in flight at once.
struct KeepAliveConn {
    tcp::socket sock;
    std::string pending;  // bytes read past the last response

    void send(const std::string& method, const std::string& target, const std::string& body = {}) {
        const std::string req = method + " " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body;
        asio::write(sock, asio::buffer(req));
    }
    // One response, read by its Content-Length (status 0: none within the socket's timeout).
    struct Reply {
        unsigned status = 0;
        std::string body;
    };
    Reply receive() {
        char buf[4096];
        boost::system::error_code ec;
        std::size_t head_end = std::string::npos;
        while ((head_end = pending.find("\r\n\r\n")) == std::string::npos) {
            const auto n = sock.read_some(asio::buffer(buf), ec);
            if (ec) {
                return {};
            }
            pending.append(buf, n);
        }
        const std::string head = pending.substr(0, head_end);
        std::size_t length = 0;
        if (const auto at = head.find("Content-Length: "); at != std::string::npos) {
            length = std::stoul(head.substr(at + 16));
        }
        while (pending.size() < head_end + 4 + length) {
            const auto n = sock.read_some(asio::buffer(buf), ec);
            if (ec) {
                return {};
            }
            pending.append(buf, n);
        }
        Reply r;
        r.status = static_cast<unsigned>(std::stoi(head.substr(9, 3)));
        r.body = pending.substr(head_end + 4, length);
        pending.erase(0, head_end + 4 + length);
        return r;
    }
};

// One keep-alive connection on each of two shards: a handshake on a fresh connection opens a
// session on the connection's shard, which the sid names ('A' + shard). The probing sessions
// stay open (idle) until the test ends.
std::array<std::optional<KeepAliveConn>, 2> keep_alive_on_each_shard(asio::io_context& ctx,
                                                                     std::uint16_t port) {
    std::array<std::optional<KeepAliveConn>, 2> conns;
    for (int tries = 0; tries < 64 && (!conns[0] || !conns[1]); ++tries) {
        KeepAliveConn c{edge::testing::connect_loopback(ctx, port), {}};
        c.send("GET", "/engine.io/?EIO=4&transport=polling");
        const auto hs = c.receive();
        EXPECT_EQ(hs.status, 200u);
        if (hs.status != 200) {
            break;
        }
        const auto sid = std::string(boost::json::parse(hs.body.substr(1)).at("sid").as_string());
        const auto shard = static_cast<std::size_t>(sid[0] - 'A');
        if (shard < conns.size() && !conns[shard]) {
            conns[shard].emplace(std::move(c));
        }
    }
    EXPECT_TRUE(conns[0] && conns[1]) << "no connection landed on one of the shards";
    return conns;
}

// The official suites' "polling GET and close POST at once" (Engine.IO v4 "HTTP long-polling /
// close / forcefully closes the session", Socket.IO v5 likewise): the client sends a long-poll
// GET and a POST carrying the close packet on two connections at the same time. Whichever
// reaches the session first, the GET is answered with a noop and the session is gone after.
//
// Each connection's shard is known (a handshake on it names its shard in the sid), so every
// run puts the two requests on different shards, the case where one is read directly on the
// owner and the other posted to it. The runs cycle through the four combinations of which
// request the owner reads and which is written first: the suite's client writes them in either
// order (its two connects finish in either order), so neither order may be assumed.
TEST_F(EngineTest, PollingGetAndClosePostAtOnceAnswerTheGetWithANoop) {
    start(Options{}, 2);
    auto conns = keep_alive_on_each_shard(client_ctx_, port_);
    ASSERT_TRUE(conns[0] && conns[1]);
    constexpr int kRuns = 200;
    std::vector<std::string> failures;
    for (int run = 0; run < kRuns; ++run) {
        const unsigned owner = static_cast<unsigned>(run % 2);
        const bool owner_reads_get = (run / 2) % 2 == 0;
        const bool post_first = (run / 4) % 2 == 0;
        KeepAliveConn& on_owner = *conns[owner];
        KeepAliveConn& on_other = *conns[1 - owner];
        on_owner.send("GET", "/engine.io/?EIO=4&transport=polling");
        const auto hs = on_owner.receive();
        ASSERT_EQ(hs.status, 200u);
        const auto sid = std::string(boost::json::parse(hs.body.substr(1)).at("sid").as_string());
        ASSERT_EQ(sid[0], static_cast<char>('A' + owner));
        const std::string target = "/engine.io/?EIO=4&transport=polling&sid=" + sid;

        KeepAliveConn& get_conn = owner_reads_get ? on_owner : on_other;
        KeepAliveConn& post_conn = owner_reads_get ? on_other : on_owner;
        if (post_first) {
            post_conn.send("POST", target, "1");
            get_conn.send("GET", target);
        } else {
            get_conn.send("GET", target);
            post_conn.send("POST", target, "1");
        }
        const auto get = get_conn.receive();
        const auto post = post_conn.receive();
        // The next GET goes on the racing GET's connection, not the POST's: a GET that follows
        // the close on the close's own connection is necessarily later, and must get 400
        // whatever happens to the racing one.
        get_conn.send("GET", target);
        const auto after = get_conn.receive();
        if (get.status != 200 || get.body != "6" || post.body != "ok" || after.status != 400) {
            failures.push_back(
                "run " + std::to_string(run) + " (owner shard " + std::to_string(owner) +
                ", owner reads the " + (owner_reads_get ? "GET" : "POST") + ", " +
                (post_first ? "POST" : "GET") + " written first): GET " +
                std::to_string(get.status) + " '" + get.body.substr(0, 40) + "', POST '" +
                post.body.substr(0, 40) + "', next GET " + std::to_string(after.status));
        }
    }
    std::string shown;
    for (std::size_t i = 0; i < failures.size() && i < 8; ++i) {
        shown += "\n  " + failures[i];
    }
    EXPECT_TRUE(failures.empty()) << failures.size() << " of " << kRuns << " runs failed:" << shown;
}

// What the noop after a client's close is and is not. With no GET waiting, the close POST's
// answer is held: a GET sent before it (the one in flight) gets the noop and releases it; a
// GET sent after it finds the session unknown, whichever connection it comes on.
TEST_F(EngineTest, AfterAClientCloseOnlyTheGetInFlightGetsTheNoop) {
    Options o;
    o.closed_poll_linger = 200ms;
    start(o, 2);
    const auto open_on = [&](KeepAliveConn& c) {
        c.send("GET", "/engine.io/?EIO=4&transport=polling");
        const auto hs = c.receive();
        EXPECT_EQ(hs.status, 200u);
        return "/engine.io/?EIO=4&transport=polling&sid=" +
               std::string(boost::json::parse(hs.body.substr(1)).at("sid").as_string());
    };
    KeepAliveConn a{connect(), {}};
    KeepAliveConn b{connect(), {}};
    using Clock = std::chrono::steady_clock;

    // The GET in flight takes the noop, then the close is answered; nothing is owed after.
    auto target = open_on(a);
    a.send("POST", target, "1");
    std::this_thread::sleep_for(20ms);  // the close is handled first
    b.send("GET", target);
    const auto owed = b.receive();
    EXPECT_EQ(owed.status, 200u);
    EXPECT_EQ(owed.body, "6");
    EXPECT_EQ(a.receive().body, "ok");
    b.send("GET", target);
    EXPECT_EQ(b.receive().status, 400u);

    // No GET in flight: the close is answered when the linger ends, and a GET sent after that
    // answer, on any connection, gets 400.
    target = open_on(a);
    const auto sent = Clock::now();
    a.send("POST", target, "1");
    EXPECT_EQ(a.receive().body, "ok");
    const auto waited = Clock::now() - sent;
    EXPECT_GE(waited, 200ms);
    EXPECT_LT(waited, 2000ms);
    b.send("GET", target);
    EXPECT_EQ(b.receive().status, 400u);
    a.send("GET", target);
    EXPECT_EQ(a.receive().status, 400u);

    // A GET waiting when the close arrives takes the noop itself, and the close is answered at
    // once.
    target = open_on(a);
    b.send("GET", target);
    std::this_thread::sleep_for(50ms);  // attached
    const auto closed_at = Clock::now();
    a.send("POST", target, "1");
    EXPECT_EQ(a.receive().body, "ok");
    EXPECT_LT(Clock::now() - closed_at, 150ms);
    const auto waiting = b.receive();
    EXPECT_EQ(waiting.status, 200u);
    EXPECT_EQ(waiting.body, "6");
    b.send("GET", target);
    EXPECT_EQ(b.receive().status, 400u);
}

// Two GETs at once (the Engine.IO suite's "closes the session upon cancelled polling request"
// and its overlap test send a second GET 5 ms after the first, on another connection): the
// one that arrived first gets the close packet and the other 400, even when a busy shard reads
// the first one after the owner has attached the second.
TEST_F(EngineTest, TwoGetsAtOnceAreJudgedInArrivalOrderAcrossShards) {
    start(Options{}, 2);
    auto conns = keep_alive_on_each_shard(client_ctx_, port_);
    ASSERT_TRUE(conns[0] && conns[1]);
    for (int run = 0; run < 4; ++run) {
        const unsigned owner = static_cast<unsigned>(run % 2);
        KeepAliveConn& on_owner = *conns[owner];
        KeepAliveConn& on_other = *conns[1 - owner];
        on_owner.send("GET", "/engine.io/?EIO=4&transport=polling");
        const auto hs = on_owner.receive();
        ASSERT_EQ(hs.status, 200u);
        const auto sid = std::string(boost::json::parse(hs.body.substr(1)).at("sid").as_string());
        ASSERT_EQ(sid[0], static_cast<char>('A' + owner));
        const std::string target = "/engine.io/?EIO=4&transport=polling&sid=" + sid;

        // The other shard is busy: it reads the first GET only after the owner has read and
        // attached the second.
        asio::post(pool_->shard(1 - owner).ioc(), [] { std::this_thread::sleep_for(200ms); });
        std::this_thread::sleep_for(10ms);
        on_other.send("GET", target);
        std::this_thread::sleep_for(20ms);
        on_owner.send("GET", target + "&t=second");
        const auto first = on_other.receive();
        const auto second = on_owner.receive();
        EXPECT_EQ(first.status, 200u) << "run " << run << ": " << first.body;
        EXPECT_EQ(first.body, "1") << "run " << run;
        EXPECT_EQ(second.status, 400u) << "run " << run << ": " << second.body;
    }
}

// The official suite's "closes the session upon ping timeout" over polling: a GET sent
// pingInterval + pingTimeout after the handshake must get 400. A shard busy past the ping's
// time runs the ping timer late; the session still ends on the heartbeat's schedule, not on
// its thread's.
TEST_F(EngineTest, PollingPingTimeoutKeepsToTheScheduleOnABusyShard) {
    Options o;
    o.ping_interval = 100ms;
    o.ping_timeout = 100ms;
    start(o, 2);
    for (int run = 0; run < 4; ++run) {
        const auto sid = open_polling();
        const auto owner = static_cast<unsigned>(sid[0] - 'A');
        // The owner's thread is busy (or not scheduled) until after the ping and pong times.
        asio::post(pool_->shard(owner).ioc(), [] { std::this_thread::sleep_for(300ms); });
        const auto r = http("GET", "/engine.io/?EIO=4&transport=polling&sid=" + sid);
        EXPECT_EQ(r.status, 400u) << "run " << run << ": " << r.body;
    }
}

// The other side of the same lateness: a client holding a long-poll gets the ping only when the
// busy shard sends it, and is owed pingTimeout from then (the official suite's "should send
// ping/pong packets" failed under load when the deadline counted from the schedule).
TEST_F(EngineTest, APingSentLateOnAWaitingGetLeavesTheClientPingTimeoutToAnswer) {
    Options o;
    o.ping_interval = 100ms;
    o.ping_timeout = 400ms;
    start(o, 2);
    for (int run = 0; run < 4; ++run) {
        const auto sid = open_polling();
        const auto owner = static_cast<unsigned>(sid[0] - 'A');
        const std::string target = "/engine.io/?EIO=4&transport=polling&sid=" + sid;
        auto get = connect();
        asio::write(get, asio::buffer("GET " + target +
                                      " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        std::this_thread::sleep_for(30ms);  // the GET is waiting on the owner
        // The owner is busy until about 300 ms after the handshake: the ping, due at 100 ms,
        // goes out then. Its deadline by the schedule is 500 ms; by the send, about 700 ms.
        asio::post(pool_->shard(owner).ioc(), [] { std::this_thread::sleep_for(265ms); });
        const auto ping = read_reply(get);
        ASSERT_EQ(ping.body, "2") << "run " << run;
        // The client answers 300 ms after receiving the ping: at about 600 ms, late by the
        // schedule, in time by the send.
        std::this_thread::sleep_for(300ms);
        const auto pong = http("POST", target, "3");
        ASSERT_EQ(pong.status, 200u) << "run " << run << ": " << pong.body;
        const auto next = http("GET", target);
        EXPECT_EQ(next.body, "2") << "run " << run << ": the session lives on to its next ping";
    }
}

// The official suites' "should ignore HTTP requests with same sid after upgrade": the client
// sends "5" on the probe and then a polling GET on another connection; the GET must get 400
// whichever the owner reads first. The owner is kept busy while both arrive, so both wait
// unread, and the GET goes in turn on each shard's connection.
TEST_F(EngineTest, AGetSentAfterTheUpgradeIsRefusedWhicheverIsReadFirst) {
    start(Options{}, 2);
    auto conns = keep_alive_on_each_shard(client_ctx_, port_);
    ASSERT_TRUE(conns[0] && conns[1]);
    for (int run = 0; run < 20; ++run) {
        // The session opens on the handshake's shard; the GET is read by either shard.
        KeepAliveConn& hs_conn = *conns[static_cast<std::size_t>(run % 2)];
        const auto get_shard = static_cast<std::size_t>((run / 2) % 2);
        KeepAliveConn& get_conn = *conns[get_shard];
        hs_conn.send("GET", "/engine.io/?EIO=4&transport=polling");
        const auto hs = hs_conn.receive();
        ASSERT_EQ(hs.status, 200u);
        const auto sid = std::string(boost::json::parse(hs.body.substr(1)).at("sid").as_string());
        const auto owner = static_cast<unsigned>(sid[0] - 'A');
        auto s = edge::testing::connect_loopback(client_ctx_, port_);
        asio::write(s, asio::buffer("GET /engine.io/?EIO=4&transport=websocket&sid=" + sid +
                                    " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\nSec-WebSocket-Key: "
                                    "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
        std::string head;
        char c = 0;
        while (head.find("\r\n\r\n") == std::string::npos) {
            asio::read(s, asio::buffer(&c, 1));
            head += c;
        }
        ASSERT_EQ(head.substr(0, 12), "HTTP/1.1 101");
        edge::testing::WsClient probe(std::move(s));
        probe.send_text("2probe");
        ASSERT_TRUE(probe.read_until(1));
        ASSERT_EQ(probe.texts.at(0), "3probe");

        asio::post(pool_->shard(owner).ioc(), [] { std::this_thread::sleep_for(50ms); });
        std::this_thread::sleep_for(5ms);
        probe.send_text("5");
        get_conn.send("GET", "/engine.io/?EIO=4&transport=polling&sid=" + sid);
        const auto after = get_conn.receive();
        EXPECT_EQ(after.status, 400u) << "run " << run << " (GET read by shard " << get_shard
                                      << ", owner " << owner << "): " << after.body;
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
