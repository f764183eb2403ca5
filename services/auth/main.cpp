// roomcast_auth: issues client tokens and publishes the keys that verify them. Composition
// only: configuration, keys, NATS, the JWKS synchronizer, the gRPC and admin servers, signals.

#include "service/auth_service.hpp"
#include "service/grpc_service.hpp"
#include "service/key_sync.hpp"

#include "roomcast/contract/storage.hpp"
#include "roomcast/core/config.hpp"
#include "roomcast/core/log.hpp"
#include "roomcast/grpcutil/grpcutil.hpp"
#include "roomcast/grpcutil/service_flags.hpp"
#include "roomcast/natsbus/client_settings.hpp"
#include "roomcast/natsbus/natsbus.hpp"
#include "roomcast/observability/admin_server.hpp"
#include "roomcast/observability/jetstream_health.hpp"

#include <pthread.h>

#include <atomic>
#include <csignal>
#include <iostream>

namespace {

using namespace roomcast;
namespace log = core::log;
using std::chrono::milliseconds;

// How long calls in flight may finish after SIGTERM; Kubernetes' default termination grace
// (30 s) leaves room for it and for the NATS drain.
constexpr milliseconds kShutdownGrace{5000};
constexpr milliseconds kDay{24LL * 3600 * 1000};

}  // namespace

int main(int argc, char** argv) {
    std::string grpc_address = "127.0.0.1:50053";
    std::string admin_host = "127.0.0.1";
    std::int64_t admin_port = 9153;
    natsbus::ClientSettings nats_settings;
    std::string admin_token;
    std::int64_t nats_replicas = 1;
    std::string log_level = "info";
    std::string jwt_secret;
    std::string key_dir;
    std::string active_kid;
    std::string jwt_issuer;
    std::string jwt_audience;
    milliseconds key_reload_interval{10000};
    milliseconds default_ttl{3600 * 1000};
    milliseconds max_ttl{30 * kDay};

    core::Config config("roomcast_auth",
                        "Roomcast auth: issues client tokens (JWT) and publishes the public keys "
                        "(JWKS) that edges verify them with.");
    config.add_string("grpc-address", &grpc_address, "gRPC address (roomcast.auth.v1.Auth)")
        .add_string("admin-host", &admin_host, "admin HTTP address (/livez, /readyz)")
        .add_int("admin-port", &admin_port, "admin HTTP port", 0, 65535)
        .add_string("admin-token", &admin_token, "bearer token of the admin APIs (required)")
        .add_int("nats-replicas", &nats_replicas,
                 "JetStream replicas of the roomcast_config bucket", 1, 5)
        .add_string("log-level", &log_level, "debug | info | warn | error")
        .add_string("jwt-secret", &jwt_secret,
                    "HS256 key (raw bytes) shared with the edges; never published")
        .add_string("key-dir", &key_dir,
                    "directory of <kid>.pem private keys (RSA: RS256, EC P-256: ES256), published "
                    "as the JWKS")
        .add_string("jwt-issuer", &jwt_issuer,
                    "\"iss\" of issued tokens, required by VerifyToken (edges: --jwt-issuer); empty: none")
        .add_string("jwt-audience", &jwt_audience,
                    "\"aud\" of issued tokens, required by VerifyToken (edges: --jwt-audience); empty: none")
        .add_string("active-kid", &active_kid,
                    "the key that signs (default: the greatest kid of --key-dir, else the HS256 "
                    "secret)")
        .add_duration("key-reload-interval", &key_reload_interval,
                      "how often --key-dir is read again (SIGHUP reads it at once)",
                      milliseconds(1000), milliseconds(3600 * 1000))
        .add_duration("default-ttl", &default_ttl, "lifetime of a token issued with ttl 0",
                      milliseconds(1000), 365 * kDay)
        .add_duration("max-ttl", &max_ttl, "longest lifetime a token may be issued with",
                      milliseconds(1000), 365 * kDay);
    natsbus::bind_client_settings(config, nats_settings);
    contract::StorageBudgets storage;
    contract::bind_storage_budgets(config, storage);
    grpcutil::ServerTls grpc_tls;
    grpcutil::bind_server_tls(config, grpc_tls);
    config.parse_or_exit(argc, argv);

    const auto level = grpcutil::check_service_flags(log_level, admin_token);
    if (!level) {
        std::cerr << "roomcast_auth: " << level.error() << "\n";
        return 2;
    }
    if (!jwt_secret.empty()) {
        if (auto weak = core::weak_secret("jwt-secret", jwt_secret); !weak.empty()) {
            std::cerr << "roomcast_auth: " << weak << "\n";
            return 2;
        }
    }
    if (auto error = natsbus::resolve_client_settings(nats_settings); !error.empty()) {
        std::cerr << "roomcast_auth: " << error << "\n";
        return 2;
    }
    if (auto error = grpcutil::check_server_tls(grpc_tls); !error.empty()) {
        std::cerr << "roomcast_auth: " << error << "\n";
        return 2;
    }
    log::init("auth", *level);

    // Blocked before any thread starts, so only the sigwait below sees them (SIGHUP: reload).
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    auth::AuthOptions options;
    options.jwt_secret = jwt_secret;
    options.key_dir = key_dir;
    options.active_kid = active_kid;
    options.issuer = jwt_issuer;
    options.audience = jwt_audience;
    options.default_ttl = std::chrono::duration_cast<std::chrono::seconds>(default_ttl);
    options.max_ttl = std::chrono::duration_cast<std::chrono::seconds>(max_ttl);
    auto service = auth::AuthService::create(std::move(options));
    if (!service) {
        std::cerr << "roomcast_auth: " << service.error().message << "\n";
        return 2;
    }

    observability::Metrics metrics("auth");
    grpcutil::Server server(grpc_address, &metrics.registry(), "auth");
    server.set_tls(grpc_tls);
    // Declared before the gRPC service: RotateKey asks the synchronizer (once running) to load
    // and publish the key it wrote.
    std::atomic<auth::KeySync*> key_sync{nullptr};
    auth::AuthGrpcService grpc_service(**service, admin_token, [&key_sync] {
        if (auto* sync = key_sync.load()) {
            sync->request_reload();
        }
    });
    server.add_service(&grpc_service);
    auth::Readiness readiness([&server](bool ready) {
        server.set_serving(ready);
        log::info("readiness", {{"ready", ready}});
    });
    observability::AdminServer admin([&readiness] { return readiness.ready(); }, &metrics);
    int grpc_port = 0;
    std::uint16_t admin_bound = 0;
    try {
        grpc_port = server.start();
        // The default health service starts SERVING; not until NATS holds the JWKS.
        server.set_serving(false);
        admin_bound = admin.start(admin_host, static_cast<std::uint16_t>(admin_port));
    } catch (const std::exception& e) {
        log::error("cannot listen", {{"error", e.what()}});
        return 1;
    }

    std::atomic<bool> stopping{false};
    natsbus::Options nats_options = natsbus::client_options(nats_settings);
    nats_options.name = "roomcast-auth";
    auto connected = natsbus::Connection::connect(nats_options, [&](natsbus::ConnectionState st) {
        switch (st) {
            case natsbus::ConnectionState::kConnected:
                readiness.set_nats_connected(true);
                break;
            case natsbus::ConnectionState::kReconnected:
                log::info("nats reconnected");
                readiness.set_nats_connected(true);
                // The server may have lost the value (or been given another) meanwhile.
                if (auto* sync = key_sync.load()) {
                    sync->request_republish();
                }
                break;
            case natsbus::ConnectionState::kDisconnected:
                // Our own drain at shutdown disconnects too; that one is expected.
                if (!stopping.load()) {
                    log::warn("nats disconnected, reconnecting");
                }
                readiness.set_nats_connected(false);
                break;
            case natsbus::ConnectionState::kClosed:
                log::info("nats connection closed");
                readiness.set_nats_connected(false);
                break;
        }
    });
    if (!connected) {
        log::error("cannot connect to NATS", {{"url", natsbus::loggable_servers(nats_settings)},
                                              {"error", connected.error().message()}});
        return 1;
    }
    std::unique_ptr<natsbus::Connection> nats = std::move(*connected);
    auto nats_metrics = observability::nats_collector([&] { return nats->connected(); },
                                                      [&] { return nats->reconnects(); },
                                                      [&] { return nats->storage_full(); });
    metrics.add(nats_metrics);
    // The fill and leader of the bucket it owns (stopped when destroyed, before NATS closes).
    auto jetstream_health = std::make_shared<observability::JetStreamHealth>(
        *nats, std::vector{observability::JetStreamHealth::bucket(contract::kConfigBucket)});
    metrics.add(jetstream_health);
    jetstream_health->start();
    readiness.set_nats_connected(nats->connected());

    auto kv = natsbus::again_on_timeout("config bucket", [&] {
        return nats->jetstream().key_value(contract::config_bucket(static_cast<int>(nats_replicas), storage));
    });
    if (!kv) {
        log::error("cannot open the config bucket",
                   {{"bucket", contract::kConfigBucket}, {"error", kv.error().message()}});
        return 1;
    }
    auth::KeySyncOptions sync_options;
    sync_options.reload_interval = key_reload_interval;
    auth::KeySync sync(**service, **kv, sync_options, [&readiness] { readiness.set_published(); });
    // A failed first publication is logged and retried by the thread; readiness waits for it.
    (void)sync.sync_now();
    sync.start();
    key_sync = &sync;

    log::info("listening", {{"grpc_address", grpc_address},
                            {"grpc_port", grpc_port},
                            {"grpc_tls", grpcutil::tls_mode(grpc_tls)},
                            {"admin_port", admin_bound},
                            {"nats", nats->connected_url()}});

    while (true) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            log::info("key reload requested", {{"signal", "SIGHUP"}});
            sync.request_reload();
            continue;
        }
        log::info("stopping", {{"signal", sig}});
        break;
    }

    stopping = true;
    readiness.set_stopping();
    server.shutdown(kShutdownGrace);
    key_sync = nullptr;
    sync.stop();
    // After the connection is gone none of its callbacks runs (they reference `sync`).
    nats.reset();
    admin.stop();
    log::info("stopped");
    return 0;
}
