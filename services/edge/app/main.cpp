// roomcast_edge: the Socket.IO edge. Composition only: the options, NATS, the room fabric (the
// adapter of namespace "/"), the stores and caches the collaboration protocol reads, the
// protocol itself (EdgeApp), control actions, forwarding, health, then the drain on SIGTERM.

#include "app/acl.hpp"
#include "app/backend_routes.hpp"
#include "app/connect.hpp"
#include "app/control.hpp"
#include "app/edge_app.hpp"
#include "app/endpoints.hpp"
#include "cluster/forwarder.hpp"
#include "app/jwks.hpp"
#include "app/metrics.hpp"
#include "app/options.hpp"
#include "app/presence.hpp"
#include "app/records.hpp"
#include "app/revocations.hpp"
#include "app/sessions.hpp"
#include "app/tokens.hpp"
#include "backends/backend_port.hpp"
#include "backends/hooks.hpp"
#include "backends/lifecycle.hpp"
#include "rooms/fabric.hpp"
#include "socketio/server.hpp"
#include "roomcast/transport/http_server.hpp"
#include "roomcast/transport/shard.hpp"
#include "roomcast/observability/admin_server.hpp"
#include "roomcast/observability/jetstream_health.hpp"

#include "roomcast/contract/storage.hpp"
#include "roomcast/core/clock.hpp"
#include "roomcast/core/config.hpp"
#include "roomcast/core/log.hpp"
#include "roomcast/jwt/jwt.hpp"
#include "roomcast/natsbus/natsbus.hpp"

#include <boost/asio/steady_timer.hpp>

#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

namespace {

using namespace roomcast;
namespace log = core::log;
using std::chrono::milliseconds;

// Every connection is a descriptor: raise the soft limit to the hard one, and keep the session
// cap below it so accept() never runs out (0 means "derive it from the limit").
void raise_file_limit(edge::EdgeOptions& o) {
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
        files.rlim_cur = files.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &files);
        ::getrlimit(RLIMIT_NOFILE, &files);
        if (o.max_connections == 0 && files.rlim_cur != RLIM_INFINITY) {
            o.max_connections = std::max<std::int64_t>(64, static_cast<std::int64_t>(files.rlim_cur) - 256);
        }
    }
}

// Every few seconds on `executor`: prunes the revocations and sweeps the quotas' full buckets
// (both stores stay bounded by what is recent).
class Housekeeping {
public:
    Housekeeping(boost::asio::io_context& executor, edge::Revocations& revocations, edge::Quotas& quotas)
        : timer_(executor), revocations_(revocations), quotas_(quotas) {}
    void start() {
        timer_.expires_after(std::chrono::seconds(5));
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) {
                revocations_.prune(core::unix_ms());
                quotas_.sweep();
                start();
            }
        });
    }
    void stop() { timer_.cancel(); }

private:
    boost::asio::steady_timer timer_;
    edge::Revocations& revocations_;
    edge::Quotas& quotas_;
};

}  // namespace

int main(int argc, char** argv) {
    edge::EdgeOptions o;
    core::Config config("roomcast_edge",
                        "Roomcast edge: Socket.IO server for stock socket.io-client apps, rooms "
                        "across edges over NATS JetStream.");
    edge::bind(config, o);
    config.parse_or_exit(argc, argv);
    log::Level level = log::Level::kInfo;
    if (!log::parse_level(o.log_level, level)) {
        std::cerr << "roomcast_edge: --log-level must be debug, info, warn or error\n";
        return 2;
    }
    if (auto error = edge::validate(o); !error.empty()) {
        std::cerr << "roomcast_edge: " << error << "\n";
        return 2;
    }
    log::init("edge", level);
    raise_file_limit(o);

    // Signals are blocked before any thread starts, so only sigwait below sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::atomic<bool> nats_up{false};
    std::atomic<bool> serving{false};
    std::atomic<edge::rooms::Fabric*> fabric_ptr{nullptr};
    auto nats = natsbus::Connection::connect(edge::nats_options(o), [&](natsbus::ConnectionState st) {
        nats_up = st == natsbus::ConnectionState::kConnected || st == natsbus::ConnectionState::kReconnected;
        // A warning both ways (every service): the loss of NATS and its return belong in a log
        // kept at --log-level warn, as the benchmark's is.
        log::warn("nats connection", {{"state", nats_up.load() ? "up" : "down"}});
        if (auto* f = fabric_ptr.load(); st == natsbus::ConnectionState::kReconnected && f != nullptr) {
            f->reconnected();
        }
    });
    if (!nats) {
        log::error("cannot connect to NATS",
                   {{"url", natsbus::loggable_servers(o.nats)}, {"error", nats.error().message()}});
        return 1;
    }
    nats_up = (*nats)->connected();
    const int replicas = static_cast<int>(o.nats_replicas);

    edge::rooms::RoomStream stream(**nats, edge::rooms::RoomStreamOptions{});
    if (auto r = natsbus::again_on_timeout("room stream", [&] { return (*nats)->jetstream().ensure_stream(edge::room_stream(o)); });
        !r) {
        log::error("cannot create the room stream", {{"stream", stream.options().stream}, {"error", r.error().message()}});
        return 1;
    }
    edge::SessionStore sessions(**nats, o.edge_id, edge::session_options(o));
    if (o.recovery) {
        if (auto r = natsbus::again_on_timeout("session buckets", [&] { return sessions.open(); }); !r) {
            log::error("cannot open the session buckets", {{"error", r.error().message()}});
            return 1;
        }
    }
    edge::KeyRing keyring(**nats, o.jwt_secret, replicas, o.storage);
    if (auto r = keyring.start(); !r) {
        log::error("cannot watch the token keys", {{"error", r.error().message()}});
        return 1;
    }
    if (o.jwt_secret.empty()) {
        log::warn("no --jwt-secret: only tokens signed with the auth service's published keys are accepted");
    }
    edge::AclCache acl(**nats, o.auto_create_prefixes, replicas, o.storage);
    if (auto r = acl.start(); !r) {
        log::error("cannot watch the room registry", {{"error", r.error().message()}});
        return 1;
    }
    edge::PresenceTracker presence(**nats, o.edge_id, replicas, o.storage);
    if (auto r = presence.start(); !r) {
        log::error("cannot open the presence bucket", {{"error", r.error().message()}});
        return 1;
    }
    // Revocations matter for as long as a session can be recovered (plus clock skew).
    edge::Revocations revocations(o.recovery_window + milliseconds(60000), 100000);
    edge::RevocationFeed revocation_feed(**nats, revocations, replicas, o.storage);
    if (auto r = revocation_feed.start(); !r) {
        log::error("cannot watch the revocations", {{"error", r.error().message()}});
        return 1;
    }

    transport::ShardPool shards(static_cast<unsigned>(o.threads));
    sio::Server io(shards, edge::server_options(o));
    observability::Metrics metrics("edge");
    edge::EdgeCounters counters;
    edge::rooms::FabricHooks hooks;
    hooks.user_changed = [&presence](const std::string& room, const edge::rooms::UserChange& c,
                                     std::function<void()> written) {
        presence.set(room, c.user, c.name, c.sockets, c.lost, std::move(written));
    };
    hooks.encode_presence = edge::encode_presence_event;
    hooks.delivered = [&counters](std::size_t, std::chrono::steady_clock::time_point received) {
        if (counters.fanout_latency != nullptr) {
            const std::chrono::duration<double> took = std::chrono::steady_clock::now() - received;
            counters.fanout_latency->Observe(took.count());
        }
    };
    // The namespace owns the fabric (its adapter); everything below borrows it.
    auto fabric_owner = std::make_unique<edge::rooms::Fabric>(io.of("/"), stream, edge::fabric_options(o),
                                                              std::move(hooks));
    edge::rooms::Fabric& fabric = *fabric_owner;
    io.of("/").set_adapter(std::move(fabric_owner));
    fabric_ptr = &fabric;

    std::atomic<bool> draining{false};
    edge::Quotas quotas(edge::quota_options(o));
    auto edge_metrics = edge::register_edge_metrics(metrics, io, fabric, quotas, **nats, counters, draining);
    // Application backends (docs/backends.md): every request and publish to them goes through
    // this port, counted and timed per kind.
    edge::backends::BackendMetrics backend_metrics;
    auto backend_collector = backend_metrics.attach(metrics);
    metrics.add(backend_collector);
    edge::backends::NatsBackend backend(**nats, backend_metrics);
    edge::backends::Hooks backend_hooks(backend, edge::hook_options(o), o.edge_id);
    edge::backends::Lifecycle lifecycle(backend, o.edge_id, edge::lifecycle_options(o));
    auto lifecycle_collector = lifecycle.attach(metrics);
    metrics.add(lifecycle_collector);
    edge::SessionRecorder records(sessions, fabric);
    const auto connect_options = edge::connect_options(o);
    edge::TokenLifetime tokens(
        shards,
        [&keyring, verify = connect_options.verify](std::string_view token) {
            return jwt::verify(token, *keyring.current(), verify);
        },
        connect_options.verify.leeway);
    edge::Connections connections(keyring, sessions, fabric, acl, revocations, records, tokens, counters,
                                  connect_options);
    edge::backends::ConnectHook connect_hook(backend, edge::connect_hook_options(o));
    if (connect_hook.options().mode != edge::backends::ConnectHookMode::kOff) {
        connections.set_connect_hook(&connect_hook);
    }
    edge::EdgeApp app(io, fabric, acl, presence, records, connections, tokens, quotas,
                      edge::handler_options(o), edge::HandlerBackends{&backend_hooks, &lifecycle, o.edge_id});
    auto request_metrics = std::make_shared<edge::RequestMetrics>(shards.size());
    metrics.add(request_metrics);
    app.count_requests(*request_metrics);
    // The fill and leader of the buckets edges own (stopped when destroyed, before NATS closes).
    using Js = observability::JetStreamHealth;
    auto jetstream_health = std::make_shared<Js>(
        **nats, std::vector{Js::bucket(contract::kSessionsBucket), Js::bucket(contract::kEdgesBucket),
                            Js::bucket(contract::kPresenceBucket)});
    metrics.add(jetstream_health);
    jetstream_health->start();
    app.install();
    // Custom events on "/" and on --namespaces, and emits to users and sockets
    // (docs/backends.md).
    edge::backends::RpcMetrics rpc_metrics;
    rpc_metrics.attach(metrics);
    edge::backends::CustomEvents custom_events(backend, edge::rpc_options(o), rpc_metrics);
    edge::route_custom_events(io.of("/"), custom_events, o.edge_id);
    edge::backends::UserIndex namespace_users(shards.size());
    edge::ExtraNamespaces extra_namespaces(io, connections, custom_events, namespace_users, o.edge_id);
    extra_namespaces.install(o.namespaces);
    edge::backends::EmitDelivery emits(
        **nats, io, edge::emit_limits(o), [&](std::string_view nsp) { return extra_namespaces.serves(nsp); },
        [&](unsigned shard, sio::Namespace& nsp, const std::string& user) {
            return nsp.name() == "/" ? fabric.sockets_of(shard, user) : namespace_users.sockets(shard, nsp, user);
        });
    auto emit_collector = emits.attach(metrics);
    if (auto r = emits.start(); !r) {
        log::error("cannot subscribe to emits", {{"error", r.error().message()}});
        return 1;
    }
    edge::ControlHandler control(**nats, io, fabric, acl, revocations, records, counters);
    control.report_to(lifecycle);
    if (auto r = control.start(); !r) {
        log::error("cannot subscribe to control actions", {{"error", r.error().message()}});
        return 1;
    }

    edge::Forwarder forwarder(**nats, io.engine(), shards, o.edge_id,
                              o.ping_interval + o.ping_timeout + milliseconds(5000));
    if (auto r = forwarder.start(); !r) {
        log::error("cannot subscribe for forwarded requests", {{"error", r.error().message()}});
        return 1;
    }

    transport::HttpServer http(shards, transport::HttpLimits{});
    // Socket.IO at its path: the Engine.IO server is the HTTP handler underneath.
    http.add_route(transport::Route{io.options().path, &io.engine(), io.options().engine.max_payload});
    std::unique_ptr<edge::DevTokenEndpoint> dev;
    if (o.dev_tokens) {
        dev = std::make_unique<edge::DevTokenEndpoint>(jwt::Key::hs256(o.jwt_secret), std::chrono::hours(12),
                                                       o.jwt_issuer, o.jwt_audience);
        http.add_route(transport::Route{"/roomcast/dev/token", dev.get(), 4096});
    }
    observability::AdminServer admin(
        shards, [&] { return serving.load() && nats_up.load() && acl.loaded() && keyring.ready(); }, &metrics);

    std::uint16_t bound = 0;
    std::uint16_t admin_bound = 0;
    try {
        bound = http.listen(o.host, static_cast<std::uint16_t>(o.port));
        admin_bound = admin.start(o.admin_host, static_cast<std::uint16_t>(o.admin_port));
    } catch (const std::exception& e) {
        log::error("cannot listen", {{"error", e.what()}});
        return 1;
    }
    fabric.start();
    Housekeeping housekeeping(fabric.executor(), revocations, quotas);
    housekeeping.start();
    lifecycle.start(fabric.executor());
    if (o.recovery) {
        // What `roomcastctl edges list` shows (through the presence service).
        sessions.start_heartbeat(fabric.executor(), [&](bus::v1::EdgeHeartbeat& hb) {
            std::uint64_t n = 0;
            for (unsigned i = 0; i < shards.size(); ++i) {
                auto& st = io.engine().stats(i);
                n += st.open_polling.get() + st.open_websocket.get();
            }
            hb.set_connections(static_cast<std::uint32_t>(n));
            hb.set_rooms(static_cast<std::uint32_t>(fabric.room_count()));  // fabric thread: ours
            hb.set_version(core::version_string());
            hb.set_draining(draining.load());
        });
    }
    shards.start();
    serving = true;
    log::info("listening", {{"edge", o.edge_id}, {"host", o.host}, {"port", bound}, {"admin_port", admin_bound},
                            {"threads", o.threads}, {"nats", (*nats)->connected_url()}});

    int sig = 0;
    sigwait(&signals, &sig);
    // Drain: readiness fails at once (the ingress stops sending new clients), no new
    // connections, then every session is closed with "server shutting down" spread over
    // --drain-spread: clients reconnect through the ingress to another edge and recover there
    // (their recovery records say they were lost, not that they left).
    const auto drain_start = std::chrono::steady_clock::now();
    log::info("draining", {{"signal", sig}, {"sessions", io.engine().open_sessions()},
                           {"spread_ms", o.drain_spread.count()}, {"timeout_ms", o.drain_timeout.count()}});
    draining = true;
    serving = false;
    // The heartbeat says so now (roomcastctl edges list), not a second later: a short drain
    // could otherwise end before the next beat.
    boost::asio::post(fabric.executor(), [&] { sessions.beat_now(); });
    io.engine().set_draining(true);
    http.stop_accepting();
    io.engine().close_all(engineio::CloseReason::kServerShutdown, std::min(o.drain_spread, o.drain_timeout));
    const auto deadline = drain_start + o.drain_timeout;
    while (io.engine().open_sessions() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(50));
    }
    std::this_thread::sleep_for(milliseconds(200));  // let close frames and final packets go out
    log::info("drained", {{"sessions_left", io.engine().open_sessions()},
                          {"ms", std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() -
                                                                          drain_start)
                                     .count()}});
    forwarder.stop();
    emits.stop();
    control.stop();
    revocation_feed.stop();
    acl.stop();
    keyring.stop();
    fabric_ptr = nullptr;
    boost::asio::post(fabric.executor(), [&] {
        housekeeping.stop();
        sessions.stop_heartbeat();
        lifecycle.stop();  // sends what waits (the drain's disconnects)
    });
    fabric.stop();
    stream.stop();
    admin.stop();
    shards.stop();
    (*nats)->drain(milliseconds(2000));
    // Every NATS completion has run before the objects they call into (declared after the
    // connection) are destroyed: a presence write finishing during the destructors crashed.
    (*nats)->close();
    log::info("stopped");
    return 0;
}
