#pragma once
// Every setting of the edge in one struct (flags and ROOMCAST_* variables, docs/operations.md),
// filled once by the configuration parser; each part of the edge gets its own options derived
// from it here, so main() only composes.

#include "app/connect.hpp"
#include "app/handlers.hpp"
#include "app/quotas.hpp"
#include "app/sessions.hpp"
#include "backends/hooks.hpp"
#include "backends/lifecycle.hpp"
#include "backends/custom_events.hpp"
#include "backends/emits.hpp"
#include "rooms/fabric.hpp"
#include "socketio/server.hpp"

#include "roomcast/contract/storage.hpp"
#include "roomcast/core/config.hpp"
#include "roomcast/natsbus/client_settings.hpp"
#include "roomcast/natsbus/natsbus.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace roomcast::edge {

struct EdgeOptions {
    std::string host = "127.0.0.1";
    std::int64_t port = 8081;
    std::string admin_host = "127.0.0.1";
    std::int64_t admin_port = 9181;
    natsbus::ClientSettings nats;  // --nats-url, the edge role's credentials, TLS
    std::string jwt_secret;
    std::string edge_id;
    bool dev_tokens = false;
    std::vector<std::string> cors_origins;
    bool cors_credentials = false;
    std::chrono::milliseconds ping_interval{25000};
    std::chrono::milliseconds ping_timeout{20000};
    std::uint64_t max_payload = 1000000;
    bool recovery = true;
    std::chrono::milliseconds recovery_window{120000};
    std::int64_t history_max = contract::RoomStreamLimits{}.history_max;
    std::chrono::milliseconds history_max_age = contract::RoomStreamLimits{}.history_max_age;
    std::uint64_t max_publish_bytes = contract::RoomStreamLimits{}.max_publish_bytes;
    std::uint64_t history_max_bytes = 1024 * 1024;
    std::uint64_t recovery_max_bytes = 4 * 1024 * 1024;
    std::int64_t max_rooms_per_socket = 100;
    std::int64_t nats_replicas = 1;
    // Byte budgets of the stream and buckets (--storage-*-max-bytes, the same in every process).
    contract::StorageBudgets storage;
    std::vector<std::string> auto_create_prefixes;
    std::int64_t events_per_second = 100;
    std::int64_t event_burst = 200;
    std::int64_t max_attachments = 10;
    std::int64_t max_connect_failures = 5;
    std::int64_t max_queue_messages = 4096;
    std::uint64_t max_queue_bytes = 4 * 1024 * 1024;
    std::int64_t max_connections = 0;
    std::int64_t max_connections_per_ip = 0;
    std::vector<std::string> trusted_proxies;
    std::chrono::milliseconds drain_timeout{25000};
    std::chrono::milliseconds drain_spread{5000};
    std::chrono::milliseconds jwt_leeway{30000};
    std::string jwt_issuer;
    std::string jwt_audience;
    // Per user, across their sockets on this edge (quotas.hpp).
    std::int64_t user_publish_rate = 50;
    std::int64_t user_publish_burst = 100;
    std::uint64_t user_publish_bytes_rate = 1024 * 1024;
    std::uint64_t user_publish_bytes_burst = 4 * 1024 * 1024;
    std::int64_t user_auto_create_per_minute = 10;
    std::int64_t user_auto_create_burst = 20;
    // Application backends (docs/backends.md): the join and publish hooks, lifecycle events.
    std::vector<std::string> hook_join_prefixes;
    std::vector<std::string> hook_publish_prefixes;
    std::chrono::milliseconds hook_timeout{2000};
    std::string hook_join_fail = "closed";
    std::string hook_publish_fail = "closed";
    bool lifecycle = true;
    std::int64_t lifecycle_queue = 10000;
    std::int64_t lifecycle_batch = 500;
    std::chrono::milliseconds lifecycle_interval{100};
    // Custom events, extra namespaces, the connect hook (hook_timeout above is every hook's).
    std::chrono::milliseconds rpc_timeout{5000};
    std::int64_t rpc_max_in_flight = 16;
    std::vector<std::string> namespaces;
    std::string hook_connect = "off";  // off | tokenless | all
    std::string hook_connect_fail = "closed";  // open | closed
    std::int64_t threads = 0;  // 0: one per core
    std::string log_level = "info";
};

// Registers every flag with `config`, writing into `options`.
void bind(core::Config& config, EdgeOptions& options);
// Checks what the flags' ranges cannot (an edge id's shape, --dev-tokens without a secret...)
// and fills derived defaults (a random edge id). Returns an error message, empty when valid.
std::string validate(EdgeOptions& options);

// The parts' options.
natsbus::Options nats_options(const EdgeOptions& o);
// The room stream's limits from the flags (checked against the stream budget in validate()).
contract::RoomStreamLimits room_stream_limits(const EdgeOptions& o);
natsbus::StreamConfig room_stream(const EdgeOptions& o);
SessionStoreOptions session_options(const EdgeOptions& o);
sio::ServerOptions server_options(const EdgeOptions& o);
rooms::FabricOptions fabric_options(const EdgeOptions& o);
HandlerOptions handler_options(const EdgeOptions& o);
ConnectOptions connect_options(const EdgeOptions& o);
QuotaOptions quota_options(const EdgeOptions& o);
backends::HookOptions hook_options(const EdgeOptions& o);
backends::LifecycleOptions lifecycle_options(const EdgeOptions& o);
backends::RpcOptions rpc_options(const EdgeOptions& o);
backends::EmitLimits emit_limits(const EdgeOptions& o);
backends::ConnectHookOptions connect_hook_options(const EdgeOptions& o);

}  // namespace roomcast::edge
