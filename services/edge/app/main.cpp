// roomcast_edge: the Socket.IO edge. Composition only: configuration, NATS, the room bus,
// recovery records, the Socket.IO server with the collaboration protocol, forwarding, health.

#include "app/acl.hpp"
#include "app/collab.hpp"
#include "app/endpoints.hpp"
#include "app/forwarder.hpp"
#include "app/jwks.hpp"
#include "app/metrics.hpp"
#include "app/presence.hpp"
#include "app/sessions.hpp"
#include "bus/room_bus.hpp"
#include "socketio/server.hpp"
#include "roomcast/transport/http_server.hpp"
#include "roomcast/transport/shard.hpp"
#include "roomcast/observability/admin_server.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/timing.hpp"
#include "roomcast/core/config.hpp"
#include "roomcast/core/log.hpp"
#include "roomcast/jwt/jwt.hpp"
#include "roomcast/natsbus/natsbus.hpp"

#include <sys/random.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

namespace {

using namespace roomcast;
namespace log = core::log;
using std::chrono::milliseconds;

std::string random_edge_id() {
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char bytes[8];
    if (::getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
        throw std::runtime_error("getrandom failed");
    }
    std::string id = "edge-";
    for (unsigned char b : bytes) {
        id += kAlphabet[b % 36];
    }
    return id;
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    std::int64_t port = 8081;
    std::string admin_host = "127.0.0.1";
    std::int64_t admin_port = 9181;
    std::string nats_url = "nats://127.0.0.1:4222";
    std::string jwt_secret;
    std::string admin_token;
    std::string edge_id;
    bool dev_tokens = false;
    std::vector<std::string> cors_origins;
    bool cors_credentials = false;
    milliseconds ping_interval{25000};
    milliseconds ping_timeout{20000};
    std::uint64_t max_payload = 1000000;
    bool recovery = true;
    milliseconds recovery_window{120000};
    const contract::RoomStreamLimits stream_defaults;
    std::int64_t history_max = stream_defaults.history_max;
    milliseconds history_max_age = stream_defaults.history_max_age;
    std::uint64_t max_publish_bytes = stream_defaults.max_publish_bytes;
    std::int64_t max_rooms_per_socket = 100;
    std::int64_t nats_replicas = 1;
    std::vector<std::string> auto_create_prefixes;
    double events_per_second = 100;
    std::int64_t event_burst = 200;
    std::int64_t max_attachments = 10;
    std::int64_t max_queue_messages = 4096;
    std::uint64_t max_queue_bytes = 4 * 1024 * 1024;
    std::int64_t max_connections = 0;
    std::int64_t max_connections_per_ip = 0;
    std::vector<std::string> trusted_proxies;
    std::int64_t events_per_second_int = 100;
    milliseconds drain_timeout{25000};
    milliseconds drain_spread{5000};
    std::int64_t threads = static_cast<std::int64_t>(transport::default_shard_count());
    std::string log_level = "info";

    core::Config config("roomcast_edge",
                        "Roomcast edge: Socket.IO server for stock socket.io-client apps, rooms "
                        "across edges over NATS JetStream.");
    config.add_string("host", &host, "client address to listen on")
        .add_int("port", &port, "client port (Socket.IO at /socket.io/)", 0, 65535)
        .add_string("admin-host", &admin_host, "admin address (/livez, /readyz)")
        .add_int("admin-port", &admin_port, "admin port", 0, 65535)
        .add_string("nats-url", &nats_url, "NATS server URL(s), comma-separated")
        .add_string("jwt-secret", &jwt_secret,
                    "HS256 key (raw bytes) client tokens may be signed with (besides the auth service's JWKS)")
        .add_string("admin-token", &admin_token, "bearer token of the admin APIs")
        .add_string("edge-id", &edge_id, "this edge's id in session ids and NATS subjects (default: random)")
        .add_bool("dev-tokens", &dev_tokens, "serve POST /roomcast/dev/token (development only)")
        .add_list("cors-origins", &cors_origins, "allowed browser origins ('*' for any; empty: no CORS)")
        .add_bool("cors-credentials", &cors_credentials, "allow credentials in CORS requests")
        .add_duration("ping-interval", &ping_interval, "Engine.IO pingInterval", milliseconds(100),
                      milliseconds(3600000))
        .add_duration("ping-timeout", &ping_timeout, "Engine.IO pingTimeout", milliseconds(100),
                      milliseconds(3600000))
        .add_bytes("max-payload", &max_payload, "largest HTTP body / WebSocket message", 1024,
                   64 * 1024 * 1024)
        .add_bool("recovery", &recovery, "connection state recovery")
        .add_duration("recovery-window", &recovery_window, "how long a lost session can be recovered",
                      milliseconds(1000), contract::kMaxRecoveryWindow)
        .add_int("history-max", &history_max, "events kept per room (and most a history request returns)", 1,
                 100000)
        .add_duration("history-max-age", &history_max_age, "age after which room events are dropped",
                      milliseconds(60000), milliseconds(365LL * 24 * 3600 * 1000))
        .add_bytes("max-publish-bytes", &max_publish_bytes, "largest publish (data + binaries)", 16,
                   64 * 1024 * 1024)
        .add_int("max-rooms-per-socket", &max_rooms_per_socket, "rooms one socket may be in", 1, 100000)
        .add_int("events-per-second", &events_per_second_int,
                 "client events one socket may send per second, sustained (0: no limit)", 0, 1000000)
        .add_int("event-burst", &event_burst, "client events one socket may send at once", 1, 1000000)
        .add_int("max-attachments", &max_attachments, "binary attachments per Socket.IO packet", 0, 1000)
        .add_int("max-queue-messages", &max_queue_messages,
                 "unsent messages per connection before it is dropped as a slow consumer", 16, 10000000)
        .add_bytes("max-queue-bytes", &max_queue_bytes,
                   "unsent bytes per connection before it is dropped as a slow consumer", 65536,
                   1024ULL * 1024 * 1024)
        .add_int("max-connections", &max_connections, "open connections on this edge (0: the open-file limit minus 256)", 0,
                 100000000)
        .add_int("max-connections-per-ip", &max_connections_per_ip,
                 "open connections from one client address (0: no limit)", 0, 100000000)
        .add_list("trusted-proxies", &trusted_proxies,
                  "peer addresses (the ingress) whose X-Forwarded-For names the client address")
        .add_duration("drain-timeout", &drain_timeout,
                      "on SIGTERM: most time to let clients move to other edges before exiting",
                      milliseconds(0), milliseconds(3600000))
        .add_duration("drain-spread", &drain_spread,
                      "on SIGTERM: clients are told to reconnect elsewhere over this period",
                      milliseconds(0), milliseconds(3600000))
        .add_list("auto-create-prefixes", &auto_create_prefixes,
                  "room id prefixes created as PUBLIC on first join ('*' for every id; empty: none)")
        .add_int("nats-replicas", &nats_replicas, "JetStream replicas of the room stream and KV buckets", 1, 5)
        .add_int("threads", &threads, "I/O threads (shards)", 1, 64)
        .add_string("log-level", &log_level, "debug | info | warn | error");
    config.parse_or_exit(argc, argv);

    log::Level level = log::Level::kInfo;
    if (!log::parse_level(log_level, level)) {
        std::cerr << "roomcast_edge: --log-level must be debug, info, warn or error\n";
        return 2;
    }
    if (edge_id.empty()) {
        edge_id = random_edge_id();
    }
    if (!contract::valid_edge_id(edge_id)) {
        std::cerr << "roomcast_edge: --edge-id must match " << contract::kEdgeIdPattern << "\n";
        return 2;
    }
    log::init("edge", level);

    // Every connection is a descriptor: raise the soft limit to the hard one, and keep the
    // session cap below it so accept() never runs out (0 means "derive it from the limit").
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
        files.rlim_cur = files.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &files);
        ::getrlimit(RLIMIT_NOFILE, &files);
        if (max_connections == 0 && files.rlim_cur != RLIM_INFINITY) {
            max_connections = std::max<std::int64_t>(64, static_cast<std::int64_t>(files.rlim_cur) - 256);
        }
    }

    // Signals are blocked before any thread starts, so only sigwait below sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::atomic<bool> nats_up{false};
    std::atomic<bool> serving{false};
    edge::RoomBus* bus_ptr = nullptr;

    natsbus::Options nats_options;
    nats_options.servers.clear();
    {
        std::string s = nats_url;
        std::size_t pos = 0;
        while (pos <= s.size()) {
            const auto comma = s.find(',', pos);
            auto part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
            if (!part.empty()) {
                nats_options.servers.push_back(part);
            }
            if (comma == std::string::npos) {
                break;
            }
            pos = comma + 1;
        }
    }
    nats_options.name = "roomcast-edge/" + edge_id;
    auto nats = natsbus::Connection::connect(nats_options, [&](natsbus::ConnectionState st) {
        nats_up = st == natsbus::ConnectionState::kConnected || st == natsbus::ConnectionState::kReconnected;
        log::info("nats connection", {{"state", nats_up.load() ? "up" : "down"}});
        if (st == natsbus::ConnectionState::kReconnected && bus_ptr != nullptr) {
            bus_ptr->on_reconnected();
        }
    });
    if (!nats) {
        log::error("cannot connect to NATS", {{"url", nats_url}, {"error", nats.error().message()}});
        return 1;
    }
    nats_up = (*nats)->connected();

    edge::RoomBusOptions bus_options;
    bus_options.repair_max = static_cast<std::size_t>(history_max);
    const natsbus::StreamConfig stream =
        contract::room_stream({.history_max = history_max,
                               .history_max_age = history_max_age,
                               .max_publish_bytes = max_publish_bytes},
                              static_cast<int>(nats_replicas));
    if (auto r = (*nats)->jetstream().ensure_stream(stream); !r) {
        log::error("cannot create the room stream", {{"stream", stream.name}, {"error", r.error().message()}});
        return 1;
    }

    edge::SessionStoreOptions store_options;
    store_options.recovery_window = recovery_window;
    store_options.replicas = static_cast<int>(nats_replicas);
    edge::SessionStore sessions(**nats, edge_id, store_options);
    if (recovery) {
        if (auto r = sessions.open(); !r) {
            log::error("cannot open the session buckets", {{"error", r.error().message()}});
            return 1;
        }
    }

    edge::KeyRing keyring(**nats, jwt_secret, static_cast<int>(nats_replicas));
    if (auto r = keyring.start(); !r) {
        log::error("cannot watch the token keys", {{"error", r.error().message()}});
        return 1;
    }
    if (jwt_secret.empty()) {
        log::warn("no --jwt-secret: only tokens signed with the auth service's published keys are accepted");
    }
    edge::AclCache acl(**nats, auto_create_prefixes, static_cast<int>(nats_replicas));
    if (auto r = acl.start(); !r) {
        log::error("cannot watch the room registry", {{"error", r.error().message()}});
        return 1;
    }
    edge::PresenceTracker presence(**nats, edge_id, static_cast<int>(nats_replicas));
    if (auto r = presence.start(); !r) {
        log::error("cannot open the presence bucket", {{"error", r.error().message()}});
        return 1;
    }

    transport::ShardPool shards(static_cast<unsigned>(threads));

    sio::ServerOptions sio_options;
    sio_options.engine.ping_interval = ping_interval;
    sio_options.engine.ping_timeout = ping_timeout;
    sio_options.engine.max_payload = max_payload;
    sio_options.engine.cors_origins = cors_origins;
    sio_options.engine.cors_credentials = cors_credentials;
    sio_options.engine.node_id = edge_id;
    sio_options.engine.max_queue_messages = static_cast<std::size_t>(max_queue_messages);
    sio_options.engine.max_queue_bytes = static_cast<std::size_t>(max_queue_bytes);
    sio_options.engine.max_sessions = static_cast<std::size_t>(max_connections);
    sio_options.engine.max_sessions_per_ip = static_cast<std::size_t>(max_connections_per_ip);
    sio_options.engine.trusted_proxies = trusted_proxies;
    events_per_second = static_cast<double>(events_per_second_int);
    sio_options.events_per_second = events_per_second;
    sio_options.event_burst = static_cast<double>(event_burst);
    sio_options.decoder.max_attachments = static_cast<std::uint32_t>(max_attachments);
    sio::Server io(shards, sio_options);

    edge::CollabOptions collab_options;
    collab_options.edge_id = edge_id;
    collab_options.recovery = recovery;
    collab_options.history_max = static_cast<std::size_t>(history_max);
    collab_options.max_publish_bytes = max_publish_bytes;
    collab_options.max_rooms_per_socket = static_cast<std::size_t>(max_rooms_per_socket);

    std::unique_ptr<edge::Collab> collab;
    edge::RoomBus bus(
        **nats, bus_options,
        [&collab](const std::string& room, std::uint64_t offset, bus::v1::RoomEvent&& event,
                  std::chrono::steady_clock::time_point received) {
            collab->deliver(room, offset, std::move(event), received);
        },
        [&collab](const std::string& room, std::string&& change) {
            collab->deliver_presence(room, std::move(change));
        });
    bus_ptr = &bus;
    observability::Metrics metrics;
    edge::EdgeCounters counters;
    std::atomic<bool> draining{false};
    auto edge_metrics = edge::register_edge_metrics(metrics, io, bus, **nats, counters, draining);
    collab = std::make_unique<edge::Collab>(io, **nats, bus, sessions, keyring, acl, presence, counters,
                                            collab_options);
    collab->install();
    if (auto r = collab->start_control(); !r) {
        log::error("cannot subscribe to control actions", {{"error", r.error().message()}});
        return 1;
    }

    edge::Forwarder forwarder(**nats, io.engine(), shards, edge_id,
                              ping_interval + ping_timeout + milliseconds(5000));
    if (auto r = forwarder.start(); !r) {
        log::error("cannot subscribe for forwarded requests", {{"error", r.error().message()}});
        return 1;
    }

    transport::HttpServer http(shards, transport::HttpLimits{});
    http.add_route(io.route());
    std::unique_ptr<edge::DevTokenEndpoint> dev;
    if (dev_tokens && jwt_secret.empty()) {
        std::cerr << "roomcast_edge: --dev-tokens needs --jwt-secret to sign with\n";
        return 2;
    }
    if (dev_tokens) {
        dev = std::make_unique<edge::DevTokenEndpoint>(jwt::Key::hs256(jwt_secret), std::chrono::hours(12));
        http.add_route(transport::Route{"/roomcast/dev/token", dev.get(), 4096});
    }
    observability::AdminServer admin(
        shards, [&] { return serving.load() && nats_up.load() && acl.loaded(); }, &metrics);

    std::uint16_t bound = 0;
    std::uint16_t admin_bound = 0;
    try {
        bound = http.listen(host, static_cast<std::uint16_t>(port));
        admin_bound = admin.start(admin_host, static_cast<std::uint16_t>(admin_port));
    } catch (const std::exception& e) {
        log::error("cannot listen", {{"error", e.what()}});
        return 1;
    }
    bus.start();
    if (recovery) {
        sessions.start_heartbeat(bus.executor(), [&] {
            std::uint64_t n = 0;
            for (unsigned i = 0; i < shards.size(); ++i) {
                auto& st = io.engine().stats(i);
                n += st.open_polling.get() + st.open_websocket.get();
            }
            return static_cast<std::uint32_t>(n);
        });
    }
    shards.start();
    serving = true;
    log::info("listening", {{"edge", edge_id}, {"host", host}, {"port", bound}, {"admin_port", admin_bound},
                            {"threads", threads}, {"nats", (*nats)->connected_url()}});

    int sig = 0;
    sigwait(&signals, &sig);
    // Drain: readiness fails at once (the ingress stops sending new clients), no new
    // connections, then every session is closed with "server shutting down" spread over
    // --drain-spread: clients reconnect through the ingress to another edge and recover there
    // (their recovery records say they were lost, not that they left).
    const auto drain_start = std::chrono::steady_clock::now();
    log::info("draining", {{"signal", sig}, {"sessions", io.engine().open_sessions()},
                           {"spread_ms", drain_spread.count()}, {"timeout_ms", drain_timeout.count()}});
    draining = true;
    serving = false;
    io.engine().set_draining(true);
    http.stop_accepting();
    io.engine().close_all(engineio::CloseReason::kServerShutdown, std::min(drain_spread, drain_timeout));
    const auto deadline = drain_start + drain_timeout;
    while (io.engine().open_sessions() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(50));
    }
    std::this_thread::sleep_for(milliseconds(200));  // let close frames and final packets go out
    log::info("drained", {{"sessions_left", io.engine().open_sessions()},
                          {"ms", std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() -
                                                                          drain_start)
                                     .count()}});
    forwarder.stop();
    collab->stop_control();
    acl.stop();
    keyring.stop();
    sessions.stop_heartbeat();
    bus.stop();
    admin.stop();
    shards.stop();
    (*nats)->drain(milliseconds(2000));
    // Every NATS completion has run before the objects they call into (declared after the
    // connection) are destroyed: a presence write finishing during the destructors crashed.
    (*nats)->close();
    log::info("stopped");
    return 0;
}
