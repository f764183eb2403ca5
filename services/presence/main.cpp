// roomcast_presence: who is online in which room, across all edges. Composition only:
// configuration, NATS, the presence logic, its gRPC service, health.

#include "presence_grpc.hpp"
#include "presence_service.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/timing.hpp"
#include "roomcast/core/config.hpp"
#include "roomcast/core/log.hpp"
#include "roomcast/grpcutil/grpcutil.hpp"
#include "roomcast/grpcutil/service_flags.hpp"
#include "roomcast/natsbus/client_settings.hpp"
#include "roomcast/natsbus/natsbus.hpp"
#include "roomcast/observability/admin_server.hpp"
#include "roomcast/observability/jetstream_health.hpp"

#include <sys/random.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>

namespace {

using namespace roomcast;
namespace log = core::log;
using std::chrono::milliseconds;

// Calls in flight get this long to finish on SIGTERM before they are cancelled.
constexpr milliseconds kShutdownGrace{5000};

std::string random_replica_id() {
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char bytes[8];
    if (::getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
        throw std::runtime_error("getrandom failed");
    }
    std::string id = "presence-";
    for (unsigned char b : bytes) {
        id += kAlphabet[b % 36];
    }
    return id;
}

}  // namespace

int main(int argc, char** argv) {
    std::string grpc_address = "127.0.0.1:50052";
    std::string admin_host = "127.0.0.1";
    std::int64_t admin_port = 9152;
    natsbus::ClientSettings nats_settings;
    std::string admin_token;
    std::int64_t nats_replicas = 1;
    std::string log_level = "info";
    milliseconds grace = contract::kPresenceGrace;
    milliseconds edge_dead_after = contract::kEdgeDeadAfter;
    milliseconds batch_interval{250};
    std::string replica_id;

    core::Config config("roomcast_presence",
                        "Roomcast presence: who is online in which room across all edges "
                        "(roomcast.presence.v1.Presence over gRPC, presence queries and changes "
                        "over NATS).");
    config.add_string("grpc-address", &grpc_address, "gRPC listen address")
        .add_string("admin-host", &admin_host, "admin address (/livez, /readyz)")
        .add_int("admin-port", &admin_port, "admin port", 0, 65535)
        .add_string("admin-token", &admin_token, "bearer token of the admin APIs (required)")
        .add_int("nats-replicas", &nats_replicas, "JetStream replicas of the KV buckets", 1, 5)
        .add_string("log-level", &log_level, "debug | info | warn | error")
        .add_duration("grace", &grace,
                      "how long a user whose last connection was lost (or whose edge died) stays "
                      "present",
                      milliseconds(0), milliseconds(3600000))
        .add_duration("edge-dead-after", &edge_dead_after,
                      "an edge whose heartbeat is older than this is dead", milliseconds(1000),
                      milliseconds(600000))
        .add_duration("batch-interval", &batch_interval, "how often join/leave changes are flushed",
                      milliseconds(10), milliseconds(10000))
        .add_string("replica-id", &replica_id,
                    "this replica's id in leader election (default: random)");
    natsbus::bind_client_settings(config, nats_settings);
    contract::StorageBudgets storage;
    contract::bind_storage_budgets(config, storage);
    grpcutil::ServerTls grpc_tls;
    grpcutil::bind_server_tls(config, grpc_tls);
    config.parse_or_exit(argc, argv);

    const auto level = grpcutil::check_service_flags(log_level, admin_token);
    if (!level) {
        std::cerr << "roomcast_presence: " << level.error() << "\n";
        return 2;
    }
    if (replica_id.empty()) {
        replica_id = random_replica_id();
    }
    if (!contract::valid_edge_id(replica_id)) {
        std::cerr << "roomcast_presence: --replica-id must match " << contract::kEdgeIdPattern
                  << "\n";
        return 2;
    }
    if (auto error = natsbus::resolve_client_settings(nats_settings); !error.empty()) {
        std::cerr << "roomcast_presence: " << error << "\n";
        return 2;
    }
    if (auto error = grpcutil::check_server_tls(grpc_tls); !error.empty()) {
        std::cerr << "roomcast_presence: " << error << "\n";
        return 2;
    }
    log::init("presence", *level);

    // Signals are blocked before any thread starts, so only sigwait below sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::atomic<bool> nats_up{false};
    std::atomic<bool> stopping{false};
    std::atomic<presence::PresenceService*> service_ptr{nullptr};

    natsbus::Options nats_options = natsbus::client_options(nats_settings);
    nats_options.name = "roomcast-presence/" + replica_id;
    auto nats = natsbus::Connection::connect(nats_options, [&](natsbus::ConnectionState st) {
        nats_up = st == natsbus::ConnectionState::kConnected ||
                  st == natsbus::ConnectionState::kReconnected;
        log::warn("nats connection", {{"state", nats_up.load() ? "up" : "down"}});
        if (auto* s = service_ptr.load()) {
            s->on_connection_state(st);
        }
    });
    if (!nats) {
        log::error("cannot connect to NATS", {{"url", natsbus::loggable_servers(nats_settings)},
                                              {"error", nats.error().message()}});
        return 1;
    }
    nats_up = (*nats)->connected();

    observability::Metrics metrics("presence");
    auto nats_metrics = observability::nats_collector([&] { return (*nats)->connected(); },
                                                      [&] { return (*nats)->reconnects(); },
                                                      [&] { return (*nats)->storage_full(); });
    metrics.add(nats_metrics);
    // The fill and leader of the bucket it owns (stopped when destroyed, before NATS closes).
    auto jetstream_health = std::make_shared<observability::JetStreamHealth>(
        **nats, std::vector{observability::JetStreamHealth::bucket(contract::kPresenceLeaderBucket)});
    metrics.add(jetstream_health);
    jetstream_health->start();
    grpcutil::Server server(grpc_address, &metrics.registry(), "presence");
    server.set_tls(grpc_tls);
    // Guards the server against a health update racing its shutdown.
    std::mutex server_mu;
    bool server_running = false;

    presence::ServiceOptions options;
    options.replica_id = replica_id;
    options.replicas = static_cast<int>(nats_replicas);
    options.budgets = storage;
    options.grace = grace;
    options.edge_dead_after = edge_dead_after;
    options.batch_interval = batch_interval;
    options.on_loaded = [&] {
        std::lock_guard lock(server_mu);
        if (server_running && !stopping.load()) {
            server.set_serving(true);
        }
    };
    presence::PresenceService service(**nats, options);
    presence::PresenceGrpc grpc_service(service, admin_token);
    server.add_service(&grpc_service);

    observability::AdminServer admin(
        [&] { return !stopping.load() && nats_up.load() && service.loaded(); }, &metrics);
    // Presence gauges: one snapshot of the state's counters per scrape (taken on its strand).
    class PresenceCollector final : public prometheus::Collectable {
    public:
        explicit PresenceCollector(presence::PresenceService& s) : service_(s) {}
        std::vector<prometheus::MetricFamily> Collect() const override {
            std::vector<prometheus::MetricFamily> out;
            auto leader = observability::gauge_family("roomcast_presence_leader",
                                                      "1 while this replica publishes presence changes");
            observability::add_sample(leader, service_.is_leader() ? 1 : 0);
            out.push_back(std::move(leader));
            auto watchers = observability::gauge_family("roomcast_presence_watchers",
                                                        "Open WatchPresence streams");
            observability::add_sample(watchers, static_cast<double>(service_.watcher_count()));
            out.push_back(std::move(watchers));
            const auto c = service_.counters(std::chrono::milliseconds(200));
            if (!c) {
                return out;
            }
            auto gauge = [&out](const char* name, const char* help, double v) {
                auto f = observability::gauge_family(name, help);
                observability::add_sample(f, v);
                out.push_back(std::move(f));
            };
            auto counter = [&out](const char* name, const char* help, double v) {
                auto f = observability::counter_family(name, help);
                observability::add_sample(f, v);
                out.push_back(std::move(f));
            };
            gauge("roomcast_presence_rooms", "Rooms with someone present", static_cast<double>(c->state.rooms));
            gauge("roomcast_presence_entries", "Presence entries (user, room, edge)",
                  static_cast<double>(c->state.slots));
            gauge("roomcast_presence_edges_alive", "Edges whose heartbeat is fresh",
                  static_cast<double>(c->state.edges_alive));
            counter("roomcast_presence_joins_total", "Users that joined a room",
                    static_cast<double>(c->state.joins));
            counter("roomcast_presence_leaves_total", "Users that left a room",
                    static_cast<double>(c->state.leaves));
            counter("roomcast_presence_queries_total", "Presence queries answered over NATS",
                    static_cast<double>(c->queries));
            counter("roomcast_presence_changes_published_total",
                    "PresenceChange messages published (as leader)", static_cast<double>(c->published));
            return out;
        }

    private:
        presence::PresenceService& service_;
    };
    auto presence_metrics = std::make_shared<PresenceCollector>(service);
    metrics.add(presence_metrics);

    int grpc_port = 0;
    std::uint16_t admin_bound = 0;
    try {
        std::lock_guard lock(server_mu);
        grpc_port = server.start();
        server.set_serving(false);  // until the initial state is loaded
        server_running = true;
        admin_bound = admin.start(admin_host, static_cast<std::uint16_t>(admin_port));
    } catch (const std::exception& e) {
        log::error("cannot listen", {{"error", e.what()}});
        return 1;
    }
    service_ptr = &service;
    if (auto r = service.start(); !r) {
        log::error("cannot start the presence service", {{"error", r.error().message()}});
        service_ptr = nullptr;
        return 1;
    }
    log::info("listening", {{"replica", replica_id},
                            {"grpc", grpc_address},
                            {"grpc_port", grpc_port},
                            {"grpc_tls", grpcutil::tls_mode(grpc_tls)},
                            {"admin_port", admin_bound},
                            {"nats", (*nats)->connected_url()},
                            {"grace_ms", grace.count()},
                            {"edge_dead_after_ms", edge_dead_after.count()},
                            {"batch_interval_ms", batch_interval.count()}});

    int sig = 0;
    sigwait(&signals, &sig);
    log::info("stopping", {{"signal", sig}});
    stopping = true;  // /readyz 503 at once
    {
        std::lock_guard lock(server_mu);
        server.set_serving(false);
    }
    service.resign();          // a successor leads within a second
    service.close_watchers();  // WatchPresence streams end with UNAVAILABLE
    {
        std::lock_guard lock(server_mu);
        server_running = false;
    }
    server.shutdown(kShutdownGrace);
    service_ptr = nullptr;
    service.stop();
    admin.stop();
    (*nats)->drain(milliseconds(2000));
    (*nats)->close();  // every NATS completion has run before the objects it calls are destroyed
    log::info("stopped");
    return 0;
}
