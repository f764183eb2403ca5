// roomcast_rooms: the rooms service (roomcast.rooms.v1.RoomAdmin). Composition only:
// configuration, logging, NATS and the rooms bucket, the gRPC server with health and
// reflection, the admin HTTP port, and shutdown on SIGTERM/SIGINT.

#include "auto_create.hpp"
#include "grpc_service.hpp"
#include "idle_sweep.hpp"
#include "rooms_service.hpp"

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

#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>

namespace {

using namespace roomcast;
namespace log = core::log;
using std::chrono::milliseconds;

// Health of the gRPC server follows the NATS connection. State changes arrive on a NATS
// library thread while main may be shutting the server down: the mutex orders the two, and
// once stopping nothing turns health back on.
class Health {
public:
    void attach(grpcutil::Server* server) {
        std::lock_guard lock(mu_);
        server_ = server;
        apply();
    }
    void set_nats_up(bool up) {
        std::lock_guard lock(mu_);
        nats_up_ = up;
        apply();
    }
    void stop() {
        std::lock_guard lock(mu_);
        stopping_ = true;
        apply();
    }
    // For /readyz: an atomic load, cheap on the admin I/O thread.
    bool ready() const { return ready_.load(std::memory_order_relaxed); }

private:
    void apply() {
        const bool serving = server_ != nullptr && nats_up_ && !stopping_;
        ready_.store(serving, std::memory_order_relaxed);
        if (server_ != nullptr) {
            server_->set_serving(serving);
        }
        if (stopping_) {
            server_ = nullptr;
        }
    }

    std::mutex mu_;
    grpcutil::Server* server_ = nullptr;
    bool nats_up_ = false;
    bool stopping_ = false;
    std::atomic<bool> ready_{false};
};

}  // namespace

int main(int argc, char** argv) {
    std::string grpc_address = "127.0.0.1:50051";
    std::string admin_host = "127.0.0.1";
    std::int64_t admin_port = 9151;
    natsbus::ClientSettings nats_settings;
    std::string admin_token;
    std::int64_t nats_replicas = 1;
    std::string log_level = "info";
    milliseconds publish_timeout{5000};
    milliseconds shutdown_grace{5000};
    rooms::SweepOptions sweep_options;
    observability::JetStreamHealthOptions jetstream_options;

    core::Config config("roomcast_rooms",
                        "Roomcast rooms service: room registry, membership and server-side room "
                        "actions (gRPC roomcast.rooms.v1.RoomAdmin), state in NATS JetStream KV.");
    config.add_string("grpc-address", &grpc_address, "gRPC listen address (host:port)")
        .add_string("admin-host", &admin_host, "admin HTTP address (/livez, /readyz)")
        .add_int("admin-port", &admin_port, "admin HTTP port", 0, 65535)
        .add_string("admin-token", &admin_token,
                    "bearer token every RoomAdmin call requires (required)")
        .add_int("nats-replicas", &nats_replicas, "JetStream replicas of the roomcast_rooms bucket",
                 1, 5)
        .add_string("log-level", &log_level, "debug | info | warn | error")
        .add_duration("publish-timeout", &publish_timeout,
                      "longest wait for the JetStream acknowledgement of a Publish",
                      milliseconds(100), milliseconds(60000))
        .add_duration("shutdown-grace", &shutdown_grace,
                      "how long calls in flight may finish after SIGTERM", milliseconds(0),
                      milliseconds(60000))
        .add_duration("auto-room-idle-ttl", &sweep_options.idle_ttl,
                      "delete an auto-created room after this long with no event and nobody "
                      "present (0: never)",
                      milliseconds(0), std::chrono::hours(24 * 365))
        .add_duration("auto-room-sweep-interval", &sweep_options.interval,
                      "how often to look for idle auto-created rooms", milliseconds(100),
                      std::chrono::hours(24))
        .add_int("auto-room-sweep-batch", &sweep_options.batch,
                 "most rooms one look for idle auto-created rooms examines", 1, 1000000)
        .add_duration("jetstream-health-interval", &jetstream_options.interval,
                      "how often to read the stream's and buckets' fill and leader for /metrics",
                      milliseconds(100), std::chrono::hours(1))
        .add_duration("jetstream-health-timeout", &jetstream_options.timeout,
                      "deadline of each of those stream info requests", milliseconds(100),
                      milliseconds(60000));
    natsbus::bind_client_settings(config, nats_settings);
    contract::StorageBudgets storage;
    contract::bind_storage_budgets(config, storage);
    grpcutil::ServerTls grpc_tls;
    grpcutil::bind_server_tls(config, grpc_tls);
    config.parse_or_exit(argc, argv);

    const auto level = grpcutil::check_service_flags(log_level, admin_token);
    if (!level) {
        std::cerr << "roomcast_rooms: " << level.error() << "\n";
        return 2;
    }
    if (grpc_address.empty()) {
        std::cerr << "roomcast_rooms: --grpc-address must be host:port\n";
        return 2;
    }
    if (auto error = natsbus::resolve_client_settings(nats_settings); !error.empty()) {
        std::cerr << "roomcast_rooms: " << error << "\n";
        return 2;
    }
    if (auto error = grpcutil::check_server_tls(grpc_tls); !error.empty()) {
        std::cerr << "roomcast_rooms: " << error << "\n";
        return 2;
    }
    log::init("rooms", *level);

    // Signals are blocked before any thread starts, so only sigwait below sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    Health health;
    natsbus::Options nats_options = natsbus::client_options(nats_settings);
    nats_options.name = "roomcast-rooms";
    // Calls block a worker for their NATS round trips (AdminOptions::max_in_flight queue behind
    // them): enough threads for a few concurrent admin calls.
    nats_options.workers = 8;
    auto nats = natsbus::Connection::connect(nats_options, [&health](natsbus::ConnectionState st) {
        const bool up = st == natsbus::ConnectionState::kConnected ||
                        st == natsbus::ConnectionState::kReconnected;
        log::warn("nats connection", {{"state", up ? "up" : "down"}});
        health.set_nats_up(up);
    });
    if (!nats) {
        log::error("cannot connect to NATS", {{"url", natsbus::loggable_servers(nats_settings)},
                                              {"error", nats.error().message()}});
        return 1;
    }

    rooms::RoomsOptions rooms_options;
    rooms_options.publish_timeout = publish_timeout;
    auto bucket = natsbus::again_on_timeout("rooms bucket", [&] {
        return (*nats)->jetstream().key_value(contract::rooms_bucket(static_cast<int>(nats_replicas), storage));
    });
    if (!bucket) {
        log::error("cannot create or bind the rooms bucket",
                   {{"bucket", contract::kRoomsBucket}, {"error", bucket.error().message()}});
        return 1;
    }

    auto revocations = natsbus::again_on_timeout("revocations bucket", [&] {
        return (*nats)->jetstream().key_value(
            contract::revocations_bucket(static_cast<int>(nats_replicas), storage));
    });
    if (!revocations) {
        log::error("cannot create or bind the revocations bucket", {{"error", revocations.error().message()}});
        return 1;
    }
    rooms::RoomsService service(**nats, **bucket, **revocations, rooms_options);
    rooms::AutoCreateResponder auto_create(**nats, service);
    if (auto r = auto_create.start(); !r) {
        log::error("cannot answer auto-create requests", {{"error", r.error().message()}});
        return 1;
    }
    // Every replica sweeps: its deletes are compare-and-delete, so two replicas never remove
    // more than one would (idle_sweep.hpp).
    rooms::IdleRoomSweeper sweeper(**nats, **bucket, service, sweep_options);
    rooms::AdminOptions admin_options;
    admin_options.admin_token = admin_token;
    rooms::RoomAdminService grpc_service(service, **nats, admin_options);

    observability::Metrics metrics("rooms");
    auto nats_metrics = observability::nats_collector([&] { return (*nats)->connected(); },
                                                      [&] { return (*nats)->reconnects(); },
                                                      [&] { return (*nats)->storage_full(); });
    metrics.add(nats_metrics);
    auto sweep_metrics = std::make_shared<observability::CallbackCollector>();
    sweep_metrics->counter("roomcast_rooms_auto_rooms_swept_total",
                           "idle auto-created rooms deleted by this replica",
                           [&sweeper] { return static_cast<double>(sweeper.swept()); });
    sweep_metrics->counter("roomcast_rooms_auto_room_sweep_errors_total",
                           "failures while looking for or deleting idle auto-created rooms",
                           [&sweeper] { return static_cast<double>(sweeper.errors()); });
    metrics.add(sweep_metrics);
    // The fill of its buckets and of the room stream (whose history it reads) against their
    // budgets, and their leaders.
    using Js = observability::JetStreamHealth;
    auto jetstream_health = std::make_shared<Js>(
        **nats, std::vector{Js::stream(contract::kRoomStream), Js::bucket(contract::kRoomsBucket),
                                Js::bucket(contract::kRevocationsBucket)},
        jetstream_options);
    metrics.add(jetstream_health);
    grpcutil::Server server(grpc_address, &metrics.registry(), "rooms");
    server.set_tls(grpc_tls);
    server.add_service(&grpc_service);
    observability::AdminServer admin([&health] { return health.ready(); }, &metrics);
    int grpc_port = 0;
    std::uint16_t admin_bound = 0;
    try {
        grpc_port = server.start();
        admin_bound = admin.start(admin_host, static_cast<std::uint16_t>(admin_port));
    } catch (const std::exception& e) {
        log::error("cannot listen", {{"error", e.what()}});
        return 1;
    }
    health.set_nats_up((*nats)->connected());
    health.attach(&server);
    sweeper.start();
    jetstream_health->start();
    log::info("listening", {{"grpc", grpc_address},
                            {"grpc_port", grpc_port},
                            {"grpc_tls", grpcutil::tls_mode(grpc_tls)},
                            {"admin_port", admin_bound},
                            {"nats", (*nats)->connected_url()},
                            {"bucket", contract::kRoomsBucket},
                            {"auto_room_idle_ttl_ms", sweep_options.idle_ttl.count()}});

    int sig = 0;
    sigwait(&signals, &sig);
    log::info("stopping", {{"signal", sig}});
    // Readiness off first, so probes and load balancers stop sending calls; then let the calls
    // in flight finish. The gRPC server goes before NATS: its calls run on the NATS workers.
    health.stop();
    auto_create.stop();
    sweeper.stop();
    jetstream_health->stop();
    server.shutdown(shutdown_grace);
    admin.stop();
    (*nats)->drain(milliseconds(2000));
    (*nats)->close();  // every NATS completion has run before the objects it calls are destroyed
    log::info("stopped");
    return 0;
}
