#include "app/options.hpp"

#include "app/backend_routes.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/timing.hpp"
#include "roomcast/core/config.hpp"
#include "roomcast/transport/shard.hpp"

#include <sys/random.h>

#include <algorithm>
#include <stdexcept>

namespace roomcast::edge {

using std::chrono::milliseconds;

namespace {

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

contract::RoomStreamLimits room_stream_limits(const EdgeOptions& o) {
    return {.history_max = o.history_max,
            .history_max_age = o.history_max_age,
            .max_publish_bytes = o.max_publish_bytes};
}

void bind(core::Config& config, EdgeOptions& o) {
    config.add_string("host", &o.host, "client address to listen on")
        .add_int("port", &o.port, "client port (Socket.IO at /socket.io/)", 0, 65535)
        .add_string("admin-host", &o.admin_host, "admin address (/livez, /readyz)")
        .add_int("admin-port", &o.admin_port, "admin port", 0, 65535)
        .add_string("jwt-secret", &o.jwt_secret,
                    "HS256 key (raw bytes) client tokens may be signed with (besides the auth service's JWKS)")
        .add_string("edge-id", &o.edge_id, "this edge's id in session ids and NATS subjects (default: random)")
        .add_bool("dev-tokens", &o.dev_tokens, "serve POST /roomcast/dev/token (development only)")
        .add_list("cors-origins", &o.cors_origins, "allowed browser origins ('*' for any; empty: no CORS)")
        .add_bool("cors-credentials", &o.cors_credentials, "allow credentials in CORS requests")
        .add_duration("ping-interval", &o.ping_interval, "Engine.IO pingInterval", milliseconds(100),
                      milliseconds(3600000))
        .add_duration("ping-timeout", &o.ping_timeout, "Engine.IO pingTimeout", milliseconds(100),
                      milliseconds(3600000))
        .add_bytes("max-payload", &o.max_payload, "largest HTTP body / WebSocket message", 1024,
                   64 * 1024 * 1024)
        .add_bool("recovery", &o.recovery, "connection state recovery")
        .add_duration("recovery-window", &o.recovery_window, "how long a lost session can be recovered",
                      milliseconds(1000), contract::kMaxRecoveryWindow)
        .add_int("history-max", &o.history_max, "events kept per room (and most a history request returns)", 1,
                 100000)
        .add_duration("history-max-age", &o.history_max_age, "age after which room events are dropped",
                      milliseconds(60000), milliseconds(365LL * 24 * 3600 * 1000))
        .add_bytes("max-publish-bytes", &o.max_publish_bytes, "largest publish (data + binaries)", 16,
                   64 * 1024 * 1024)
        .add_bytes("history-max-bytes", &o.history_max_bytes,
                   "most event bytes in one history answer (a page; `more: true` when cut)", 1024,
                   256 * 1024 * 1024)
        .add_bytes("recovery-max-bytes", &o.recovery_max_bytes,
                   "most event bytes a recovery replays; a session that missed more starts anew", 1024,
                   1024ULL * 1024 * 1024)
        .add_int("max-rooms-per-socket", &o.max_rooms_per_socket, "rooms one socket may be in", 1, 100000)
        .add_int("events-per-second", &o.events_per_second,
                 "client events one socket may send per second, sustained (0: no limit)", 0, 1000000)
        .add_int("event-burst", &o.event_burst, "client events one socket may send at once", 1, 1000000)
        .add_int("max-attachments", &o.max_attachments, "binary attachments per Socket.IO packet", 0, 1000)
        .add_int("max-connect-failures", &o.max_connect_failures,
                 "refused Socket.IO CONNECTs after which a connection is closed (0: no limit)", 0, 1000)
        .add_int("max-queue-messages", &o.max_queue_messages,
                 "unsent messages per connection before it is dropped as a slow consumer", 16, 10000000)
        .add_bytes("max-queue-bytes", &o.max_queue_bytes,
                   "unsent bytes per connection before it is dropped as a slow consumer", 65536,
                   1024ULL * 1024 * 1024)
        .add_int("max-connections", &o.max_connections,
                 "open connections on this edge (0: the open-file limit minus 256)", 0, 100000000)
        .add_int("max-connections-per-ip", &o.max_connections_per_ip,
                 "open connections from one client address (0: no limit)", 0, 100000000)
        .add_list("trusted-proxies", &o.trusted_proxies,
                  "peer addresses (the ingress) whose X-Forwarded-For names the client address")
        .add_duration("drain-timeout", &o.drain_timeout,
                      "on SIGTERM: most time to let clients move to other edges before exiting",
                      milliseconds(0), milliseconds(3600000))
        .add_duration("drain-spread", &o.drain_spread,
                      "on SIGTERM: clients are told to reconnect elsewhere over this period",
                      milliseconds(0), milliseconds(3600000))
        .add_string("jwt-issuer", &o.jwt_issuer, "required \"iss\" of client tokens (empty: not checked)")
        .add_string("jwt-audience", &o.jwt_audience,
                    "\"aud\" client tokens must name (empty: not checked)")
        .add_duration("jwt-leeway", &o.jwt_leeway,
                      "clock leeway for a token's exp, nbf and iat (a socket lives until exp + this)",
                      milliseconds(0), milliseconds(300000))
        .add_int("user-publish-rate", &o.user_publish_rate,
                 "publishes per second one user may make across their sockets on this edge (0: no limit)",
                 0, 1000000)
        .add_int("user-publish-burst", &o.user_publish_burst, "publishes one user may make at once", 1, 1000000)
        .add_bytes("user-publish-bytes-rate", &o.user_publish_bytes_rate,
                   "bytes per second one user may publish across their sockets on this edge (0: no limit)", 0,
                   1024ULL * 1024 * 1024)
        .add_bytes("user-publish-bytes-burst", &o.user_publish_bytes_burst,
                   "bytes one user may publish at once (at least --max-publish-bytes)", 16, 1024ULL * 1024 * 1024)
        .add_int("user-auto-create-per-minute", &o.user_auto_create_per_minute,
                 "rooms one user may auto-create per minute on this edge (0: no limit)", 0, 1000000)
        .add_int("user-auto-create-burst", &o.user_auto_create_burst, "rooms one user may auto-create at once", 1,
                 1000000)
        .add_list("auto-create-prefixes", &o.auto_create_prefixes,
                  "room id prefixes created as PUBLIC on first join ('*' for every id; empty: none)")
        .add_list("hook-join-prefixes", &o.hook_join_prefixes,
                  "room id prefixes whose joins an application backend's join hook decides ('*' for "
                  "every room; empty: none)")
        .add_list("hook-publish-prefixes", &o.hook_publish_prefixes,
                  "room id prefixes whose client publishes the publish hook decides before they are "
                  "stored ('*' for every room; empty: none)")
        .add_duration("hook-timeout", &o.hook_timeout, "how long the edge waits for a hook's answer",
                      milliseconds(10), milliseconds(60000))
        .add_string("hook-join-fail", &o.hook_join_fail,
                    "join hook without an answer: open (join) or closed (refuse: unavailable)")
        .add_string("hook-publish-fail", &o.hook_publish_fail,
                    "publish hook without an answer: open (store the client's data) or closed (refuse: "
                    "unavailable)")
        .add_bool("lifecycle", &o.lifecycle,
                  "publish lifecycle events (connect, disconnect, join, leave, kicked) on "
                  "roomcast.lifecycle.<edge>")
        .add_int("lifecycle-queue", &o.lifecycle_queue,
                 "lifecycle events waiting at most; more are dropped and counted", 1, 10000000)
        .add_int("lifecycle-batch", &o.lifecycle_batch,
                 "lifecycle events per batch at most; this many waiting are sent at once", 1, 100000)
        .add_duration("lifecycle-interval", &o.lifecycle_interval, "how often waiting lifecycle events are sent",
                      milliseconds(1), milliseconds(60000))
        .add_int("nats-replicas", &o.nats_replicas, "JetStream replicas of the room stream and KV buckets", 1, 5)
        .add_duration("rpc-timeout", &o.rpc_timeout,
                      "how long a custom event with an ack waits for its backend's reply",
                      milliseconds(10), milliseconds(300000))
        .add_int("rpc-max-in-flight", &o.rpc_max_in_flight,
                 "custom events one socket may have waiting for a backend (more: rate_limited)", 1, 100000)
        .add_list("namespaces", &o.namespaces,
                  "Socket.IO namespaces served besides \"/\" for custom events (\"/admin\", or a prefix \"/team-*\")")
        .add_string("hook-connect", &o.hook_connect,
                    "ask backends before a socket connects: off | tokenless | all")
        .add_string("hook-connect-fail", &o.hook_connect_fail,
                    "when no backend answers the connect hook: closed (refuse) | open (allow token holders)")
        .add_int("threads", &o.threads, "I/O threads (shards; 0: one per core)", 0, 64)
        .add_string("log-level", &o.log_level, "debug | info | warn | error");
    natsbus::bind_client_settings(config, o.nats);
    contract::bind_storage_budgets(config, o.storage);
}

std::string validate(EdgeOptions& o) {
    if (o.edge_id.empty()) {
        o.edge_id = random_edge_id();
    }
    if (!contract::valid_edge_id(o.edge_id)) {
        return "--edge-id must match " + std::string(contract::kEdgeIdPattern);
    }
    if (o.dev_tokens && o.jwt_secret.empty()) {
        return "--dev-tokens needs --jwt-secret to sign with";
    }
    if (!o.jwt_secret.empty()) {
        if (auto weak = core::weak_secret("jwt-secret", o.jwt_secret); !weak.empty()) {
            return weak;
        }
    }
    if (o.jwt_leeway.count() % 1000 != 0) {
        return "--jwt-leeway must be whole seconds";
    }
    if (o.user_publish_bytes_rate > 0 && o.user_publish_bytes_burst < o.max_publish_bytes) {
        return "--user-publish-bytes-burst must be at least --max-publish-bytes (or a publish could never pass)";
    }
    if (!backends::parse_fail_mode(o.hook_join_fail) || !backends::parse_fail_mode(o.hook_publish_fail)) {
        return "--hook-join-fail and --hook-publish-fail must be open or closed";
    }
    if (auto error = contract::check_room_stream_budget(room_stream_limits(o), o.storage);
        !error.empty()) {
        return error;
    }
    if (auto error = natsbus::resolve_client_settings(o.nats); !error.empty()) {
        return error;
    }
    if (o.hook_connect != "off" && o.hook_connect != "tokenless" && o.hook_connect != "all") {
        return "--hook-connect must be off, tokenless or all";
    }
    if (!backends::parse_fail_mode(o.hook_connect_fail)) {
        return "--hook-connect-fail must be open or closed";
    }
    if (auto error = ExtraNamespaces::check(o.namespaces); !error.empty()) {
        return error;
    }
    if (o.threads == 0) {
        o.threads = static_cast<std::int64_t>(transport::default_shard_count());
    }
    return {};
}

natsbus::Options nats_options(const EdgeOptions& o) {
    natsbus::Options n = natsbus::client_options(o.nats);
    n.name = "roomcast-edge/" + o.edge_id;
    return n;
}

natsbus::StreamConfig room_stream(const EdgeOptions& o) {
    return contract::room_stream(room_stream_limits(o), static_cast<int>(o.nats_replicas),
                                 o.storage);
}

SessionStoreOptions session_options(const EdgeOptions& o) {
    SessionStoreOptions s;
    s.recovery_window = o.recovery_window;
    s.replicas = static_cast<int>(o.nats_replicas);
    s.budgets = o.storage;
    return s;
}

sio::ServerOptions server_options(const EdgeOptions& o) {
    sio::ServerOptions s;
    s.engine.ping_interval = o.ping_interval;
    s.engine.ping_timeout = o.ping_timeout;
    s.engine.max_payload = o.max_payload;
    s.engine.cors_origins = o.cors_origins;
    s.engine.cors_credentials = o.cors_credentials;
    s.engine.node_id = o.edge_id;
    s.engine.max_queue_messages = static_cast<std::size_t>(o.max_queue_messages);
    s.engine.max_queue_bytes = static_cast<std::size_t>(o.max_queue_bytes);
    s.engine.max_sessions = static_cast<std::size_t>(o.max_connections);
    s.engine.max_sessions_per_ip = static_cast<std::size_t>(o.max_connections_per_ip);
    s.engine.trusted_proxies = o.trusted_proxies;
    s.events_per_second = static_cast<double>(o.events_per_second);
    s.event_burst = static_cast<double>(o.event_burst);
    s.decoder.max_attachments = static_cast<std::uint32_t>(o.max_attachments);
    s.max_connect_failures = static_cast<std::uint32_t>(o.max_connect_failures);
    if (o.hook_connect != "off") {
        s.handshake_headers.assign(std::begin(backends::kConnectHookHeaders), std::end(backends::kConnectHookHeaders));
    }
    return s;
}

rooms::FabricOptions fabric_options(const EdgeOptions& o) {
    rooms::FabricOptions f;
    f.read_max = static_cast<std::size_t>(o.history_max);
    f.held_cap = static_cast<std::size_t>(o.max_queue_messages);
    f.recovery_max_bytes = o.recovery_max_bytes;
    return f;
}

HandlerOptions handler_options(const EdgeOptions& o) {
    HandlerOptions h;
    h.limits.history_max = static_cast<std::size_t>(o.history_max);
    h.limits.history_default = std::min<std::size_t>(50, h.limits.history_max);
    h.limits.max_publish_bytes = o.max_publish_bytes;
    h.max_rooms_per_socket = static_cast<std::size_t>(o.max_rooms_per_socket);
    h.history_max_bytes = o.history_max_bytes;
    return h;
}

ConnectOptions connect_options(const EdgeOptions& o) {
    ConnectOptions c;
    c.recovery = o.recovery;
    c.verify.leeway = std::chrono::duration_cast<std::chrono::seconds>(o.jwt_leeway);
    c.verify.issuer = o.jwt_issuer;
    c.verify.audience = o.jwt_audience;
    return c;
}

QuotaOptions quota_options(const EdgeOptions& o) {
    QuotaOptions q;
    q.publish_rate = static_cast<double>(o.user_publish_rate);
    q.publish_burst = static_cast<double>(o.user_publish_burst);
    q.publish_bytes_rate = static_cast<double>(o.user_publish_bytes_rate);
    q.publish_bytes_burst = static_cast<double>(o.user_publish_bytes_burst);
    q.auto_create_per_minute = static_cast<double>(o.user_auto_create_per_minute);
    q.auto_create_burst = static_cast<double>(o.user_auto_create_burst);
    return q;
}

backends::HookOptions hook_options(const EdgeOptions& o) {
    backends::HookOptions h;
    h.join_prefixes = o.hook_join_prefixes;
    h.publish_prefixes = o.hook_publish_prefixes;
    h.timeout = o.hook_timeout;
    h.join_fail = backends::parse_fail_mode(o.hook_join_fail).value_or(backends::FailMode::kClosed);
    h.publish_fail = backends::parse_fail_mode(o.hook_publish_fail).value_or(backends::FailMode::kClosed);
    h.max_publish_bytes = o.max_publish_bytes;
    h.max_attachments = static_cast<std::size_t>(o.max_attachments);
    return h;
}

backends::LifecycleOptions lifecycle_options(const EdgeOptions& o) {
    backends::LifecycleOptions l;
    l.enabled = o.lifecycle;
    l.queue = static_cast<std::size_t>(o.lifecycle_queue);
    l.batch = static_cast<std::size_t>(o.lifecycle_batch);
    l.interval = o.lifecycle_interval;
    return l;
}

backends::RpcOptions rpc_options(const EdgeOptions& o) {
    backends::RpcOptions r;
    r.timeout = o.rpc_timeout;
    r.max_in_flight = static_cast<std::uint32_t>(o.rpc_max_in_flight);
    r.max_bytes = o.max_payload;
    r.max_attachments = static_cast<std::size_t>(o.max_attachments);
    return r;
}

backends::EmitLimits emit_limits(const EdgeOptions& o) {
    return backends::EmitLimits{.max_bytes = o.max_payload,
                                .max_attachments = static_cast<std::size_t>(o.max_attachments)};
}

backends::ConnectHookOptions connect_hook_options(const EdgeOptions& o) {
    backends::ConnectHookOptions h;
    h.mode = o.hook_connect == "all"         ? backends::ConnectHookMode::kAll
             : o.hook_connect == "tokenless" ? backends::ConnectHookMode::kTokenless
                                             : backends::ConnectHookMode::kOff;
    h.timeout = o.hook_timeout;
    h.fail_open = backends::parse_fail_mode(o.hook_connect_fail) == backends::FailMode::kOpen;
    return h;
}

}  // namespace roomcast::edge
