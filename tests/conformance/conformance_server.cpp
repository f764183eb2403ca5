// The server the official Socket.IO / Engine.IO test suites and our e2e tests run against,
// built on the same library as the edge (roomcast::edge_core) and configured exactly as
// docs/socket.io-protocol/v5-current.md §"Test suite" asks:
//   port 3000, pingInterval 300, pingTimeout 200, maxPayload 1000000, connectTimeout 1000,
//   CORS "*", connection state recovery off;
//   "/" and "/custom": emit "auth" with the handshake auth on connection;
//   "/": "message" → "message-back" with the same args, "message-with-ack" → ack(args);
//   an Engine.IO echo server at /engine.io/.
// Extra events for our e2e tests (docs/conformance.md lists them) do not change anything the
// suites check.

#include "engineio/engine.hpp"
#include "socketio/server.hpp"
#include "roomcast/transport/http_server.hpp"
#include "roomcast/transport/shard.hpp"

#include "roomcast/core/config.hpp"
#include "roomcast/core/log.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>

namespace {

using namespace roomcast;
namespace json = boost::json;

// Engine.IO-level echo: every message comes back as it came (text as text, binary as binary).
class EchoHandler final : public engineio::SessionHandler {
public:
    explicit EchoHandler(engineio::Session& s) : session_(s) {}
    void on_message(std::string_view text) override {
        std::string out = "4";
        out += text;
        session_.send(std::make_shared<const transport::OutMessage>(
            transport::OutMessage{std::move(out), {}}));
    }
    void on_binary(std::string_view bytes) override {
        session_.send(std::make_shared<const transport::OutMessage>(
            transport::OutMessage{{}, {std::string(bytes)}}));
    }
    void on_close(engineio::CloseReason) override {}

private:
    engineio::Session& session_;
};

void install_handlers(sio::Server& io) {
    auto emit_auth = [](const sio::SocketPtr& s) {
        s->emit("auth", sio::Args().add(s->handshake().auth));
    };

    auto& root = io.of("/");
    root.on_connection(emit_auth);
    root.on("message", [](const sio::SocketPtr& s, sio::Args&& args, sio::Ack&&) {
        s->emit("message-back", args);
    });
    root.on("message-with-ack", [](const sio::SocketPtr&, sio::Args&& args, sio::Ack&& ack) {
        if (ack) {
            ack(args);
        }
    });

    // e2e additions: rooms, server→client acks, transport drops, server disconnects.
    root.on("room:join", [](const sio::SocketPtr& s, sio::Args&& args, sio::Ack&& ack) {
        if (args.size() >= 1 && args[0].is_string()) {
            s->join(args[0].get_string());
        }
        if (ack) {
            ack(sio::Args().add(true));
        }
    });
    root.on("room:leave", [](const sio::SocketPtr& s, sio::Args&& args, sio::Ack&& ack) {
        if (args.size() >= 1 && args[0].is_string()) {
            s->leave(args[0].get_string());
        }
        if (ack) {
            ack(sio::Args().add(true));
        }
    });
    root.on("room:emit", [](const sio::SocketPtr& s, sio::Args&& args, sio::Ack&& ack) {
        if (args.size() >= 1 && args[0].is_string()) {
            const std::string room(args[0].get_string());
            s->to(room).emit("room:message", args);
        }
        if (ack) {
            ack(sio::Args().add(true));
        }
    });
    root.on("server-ack", [](const sio::SocketPtr& s, sio::Args&& args, sio::Ack&&) {
        std::weak_ptr<sio::Socket> weak = s;
        s->emit_with_ack("ack-request", args, std::chrono::milliseconds(2000),
                         [weak](std::optional<sio::Args> reply) {
                             auto socket = weak.lock();
                             if (!socket) {
                                 return;
                             }
                             json::object result;
                             sio::Args out;
                             if (reply) {
                                 result["ok"] = true;
                                 // The reply's placeholders keep their numbers when its buffers
                                 // become ours, wherever they are nested.
                                 result["reply"] = std::move(reply->values());
                                 out = sio::Args(json::array{}, std::move(reply->attachments()));
                             } else {
                                 result["ok"] = false;
                                 result["error"] = "timeout";
                             }
                             out.add(std::move(result));
                             socket->emit("ack-result", out);
                         });
    });
    root.on("drop-transport",
            [](const sio::SocketPtr& s, sio::Args&&, sio::Ack&&) { s->close_transport(); });
    root.on("disconnect-me",
            [](const sio::SocketPtr& s, sio::Args&&, sio::Ack&&) { s->disconnect(); });

    io.of("/custom").on_connection(emit_auth);

    // A connect hook that refuses, with the message and data shape the edge uses for JWTs.
    io.of("/private").use([](const sio::Handshake& hs, sio::ConnectCallback done) {
        const auto* token =
            hs.auth.is_object() ? hs.auth.as_object().if_contains("token") : nullptr;
        if (token != nullptr && token->is_string() && token->get_string() == "let-me-in") {
            done(sio::ConnectDecision{});
            return;
        }
        sio::ConnectDecision refuse;
        refuse.error = sio::ConnectError{"unauthorized", json::value{{"code", "token_invalid"}}};
        done(std::move(refuse));
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "localhost";
    std::int64_t port = 3000;
    std::int64_t threads = static_cast<std::int64_t>(transport::default_shard_count());
    std::chrono::milliseconds ping_interval{300};
    std::chrono::milliseconds ping_timeout{200};
    std::chrono::milliseconds connect_timeout{1000};
    std::string log_level = "info";

    core::Config config("roomcast_conformance_server",
                        "Socket.IO v5 / Engine.IO v4 server configured for the official test "
                        "suites (Socket.IO at /socket.io/, Engine.IO echo at /engine.io/).");
    config
        .add_string("host", &host,
                    "address or host name to listen on (every address it resolves to)")
        .add_int("port", &port, "TCP port (0: any free port, logged at start)", 0, 65535)
        .add_int("threads", &threads, "I/O threads (shards)", 1, 64)
        .add_duration("ping-interval", &ping_interval, "Engine.IO pingInterval",
                      std::chrono::milliseconds(10), std::chrono::hours(1))
        .add_duration("ping-timeout", &ping_timeout, "Engine.IO pingTimeout",
                      std::chrono::milliseconds(10), std::chrono::hours(1))
        .add_duration("connect-timeout", &connect_timeout,
                      "time allowed between the Engine.IO handshake and a namespace CONNECT",
                      std::chrono::milliseconds(10), std::chrono::hours(1))
        .add_string("log-level", &log_level, "debug | info | warn | error");
    config.parse_or_exit(argc, argv);
    core::log::Level level = core::log::Level::kInfo;
    if (!core::log::parse_level(log_level, level)) {
        std::cerr
            << "roomcast_conformance_server: --log-level must be debug, info, warn or error\n";
        return 2;
    }
    core::log::init("conformance", level);

    transport::ShardPool shards(static_cast<unsigned>(threads));

    engineio::Options engine;
    engine.ping_interval = ping_interval;
    engine.ping_timeout = ping_timeout;
    engine.max_payload = 1000000;
    engine.cors_origins = {"*"};

    sio::ServerOptions sio_options;
    sio_options.engine = engine;
    sio_options.path = "/socket.io/";
    sio_options.connect_timeout = connect_timeout;
    sio::Server io(shards, sio_options);
    install_handlers(io);

    engineio::EngineServer echo(shards, engine,
                                [](engineio::Session& s, const transport::HttpRequest&) {
                                    return std::make_unique<EchoHandler>(s);
                                });

    transport::HttpServer http(shards, transport::HttpLimits{});
    // Socket.IO at its path: the Engine.IO server is the HTTP handler underneath.
    http.add_route(transport::Route{io.options().path, &io.engine(), io.options().engine.max_payload});
    http.add_route(transport::Route{"/engine.io/", &echo, engine.max_payload});

    std::uint16_t bound = 0;
    try {
        bound = http.listen(host, static_cast<std::uint16_t>(port));
    } catch (const std::exception& e) {
        core::log::error("cannot listen", {{"error", e.what()}});
        return 1;
    }
    // SIGINT/SIGTERM are blocked before the shard threads start (they inherit the mask), so
    // only sigwait below receives them; then the shards stop and the process exits 0.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    shards.start();
    core::log::info("listening", {{"host", host}, {"port", bound}, {"threads", threads}});
    int sig = 0;
    sigwait(&set, &sig);
    core::log::info("stopping", {{"signal", sig}});
    http.stop_accepting();
    shards.stop();
    return 0;
}
