#pragma once
// Socket.IO v5 server on top of the Engine.IO layer: namespaces, connect hooks, events, acks in
// both directions, binary attachments, rooms and broadcasts. This is the C++ API applications
// of the library (the edge service, the conformance server) are written against:
//
//   sio::Server io(shards, options);
//   io.of("/").on_connection([](const sio::SocketPtr& s) {
//       s->on("message", [](const sio::SocketPtr& s, sio::Args&& args, sio::Ack&& ack) {
//           s->to("room").except(s->id()).emit("message", args);
//           if (ack) ack(sio::Args().add(true));
//       });
//   });
//
// Threading: a Socket lives on one shard; its methods are called on that shard (handlers run
// there). Broadcasts (Server/Namespace/BroadcastOperator emit) are thread-safe: the packet is
// encoded once and the shared buffer posted to every shard, which fans it out to its local
// members without locks. Handlers and hooks are registered before the shards start.

#include "engineio/engine.hpp"
#include "socketio/adapter.hpp"
#include "roomcast/transport/http_types.hpp"
#include "roomcast/transport/shard.hpp"

#include "roomcast/protocol/socketio.hpp"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <any>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace roomcast::sio {

// Event arguments: JSON values in which binary buffers appear as placeholders
// {"_placeholder":true,"num":i}, plus the buffers themselves (index i).
class Args {
public:
    Args() = default;
    explicit Args(boost::json::array values, std::vector<std::string> attachments = {})
        : values_(std::move(values)), attachments_(std::move(attachments)) {}

    Args& add(boost::json::value value) {
        values_.push_back(std::move(value));
        return *this;
    }
    // Appends a binary argument.
    Args& add_binary(std::string bytes) {
        values_.push_back(binary(std::move(bytes)));
        return *this;
    }
    // Registers a buffer and returns the placeholder to put anywhere inside a value.
    boost::json::value binary(std::string bytes);

    const boost::json::array& values() const noexcept { return values_; }
    boost::json::array& values() noexcept { return values_; }
    std::size_t size() const noexcept { return values_.size(); }
    const boost::json::value& operator[](std::size_t i) const { return values_.at(i); }
    const std::vector<std::string>& attachments() const noexcept { return attachments_; }
    std::vector<std::string>& attachments() noexcept { return attachments_; }
    // The bytes a placeholder value stands for; nullptr when `v` is not a valid placeholder.
    const std::string* binary_of(const boost::json::value& v) const noexcept;

private:
    boost::json::array values_;
    std::vector<std::string> attachments_;
};

// Why a socket left its namespace: a closed set, named as the reference server names them.
enum class DisconnectReason : std::uint8_t {
    kTransportError,
    kTransportClose,
    kForcedClose,
    kPingTimeout,
    kParseError,
    kServerShutdown,
    kSlowConsumer,
    kClientNamespaceDisconnect,  // "client namespace disconnect"
    kServerNamespaceDisconnect,  // "server namespace disconnect"
    kForcedServerClose,          // "forced server close"
};
std::string_view to_string(DisconnectReason reason) noexcept;

struct ConnectError {
    std::string message;
    std::optional<boost::json::value> data;
};

// The connect hook's verdict.
struct ConnectDecision {
    std::optional<ConnectError> error;  // set: refuse with CONNECT_ERROR {message, data}
    std::string socket_id;              // empty: a fresh random id
    std::string pid;                    // non-empty: sent as "pid" (connection state recovery)
    std::any data;                      // moved into Socket::data()
    bool recovered = false;
};

struct Handshake {
    boost::json::value auth;  // the CONNECT payload, {} when absent
    std::string remote_address;
    std::string engine_id;
    // The headers of the request that opened the Engine.IO session that ServerOptions::
    // handshake_headers names (lower-case name, value), each value cut at
    // handshake_header_bytes. Empty unless the application asked for some.
    std::vector<std::pair<std::string, std::string>> headers;
};

class Socket;
class Namespace;
class Server;
class Client;
using SocketPtr = std::shared_ptr<Socket>;

// Answers one event the client sent with an ack id. Move-only; calling it more than once, or
// after the socket left, does nothing. `explicit operator bool` tells whether an ack was asked.
class Ack {
public:
    Ack() = default;
    Ack(std::weak_ptr<Socket> socket, std::uint64_t id) : socket_(std::move(socket)), id_(id) {}
    Ack(Ack&&) noexcept = default;
    Ack& operator=(Ack&&) noexcept = default;
    Ack(const Ack&) = delete;
    Ack& operator=(const Ack&) = delete;

    explicit operator bool() const noexcept { return id_.has_value(); }
    void operator()(const Args& reply = {});

private:
    std::weak_ptr<Socket> socket_;
    std::optional<std::uint64_t> id_;
};

using ConnectCallback = std::function<void(ConnectDecision)>;
// Decides whether a CONNECT is accepted. May answer later and from any thread (the answer is
// posted to the socket's shard); packets for the namespace that arrive meanwhile close the
// connection, as the reference server does.
using ConnectHook = std::function<void(const Handshake&, ConnectCallback)>;
using ConnectionHandler = std::function<void(const SocketPtr&)>;
using EventHandler = std::function<void(const SocketPtr&, Args&&, Ack&&)>;
// Every event without a handler of its own (socket.io's `onAny` on the server side, for events
// only known at run time).
using AnyEventHandler = std::function<void(const SocketPtr&, std::string_view event, Args&&, Ack&&)>;
using DisconnectHandler = std::function<void(const SocketPtr&, DisconnectReason)>;
// An event refused by the rate limit (`ack` set when the client asked for one).
using RateLimitedHandler = std::function<void(const SocketPtr&, std::string_view event, Ack&&)>;
// Receives the client's ack reply, or nullopt on timeout or disconnect.
using AckCallback = std::function<void(std::optional<Args> reply)>;

// Selects recipients of a broadcast (BroadcastTarget) and hands the event to the namespace's
// adapter: sockets in any of `to` rooms (every socket of the namespace when none), minus
// sockets in any `except` room. Socket ids count as rooms.
class BroadcastOperator {
public:
    explicit BroadcastOperator(Namespace& nsp) : nsp_(&nsp) {}
    BroadcastOperator& to(std::string room) {
        target_.rooms.push_back(std::move(room));
        return *this;
    }
    BroadcastOperator& except(std::string room) {
        target_.except.push_back(std::move(room));
        return *this;
    }
    // Volatile: dropped for recipients that cannot take it right now.
    BroadcastOperator& volatile_() {
        target_.is_volatile = true;
        return *this;
    }
    // Thread-safe.
    void emit(std::string_view event, const Args& args = {});

private:
    Namespace* nsp_;
    BroadcastTarget target_;
};

// Encodes an EVENT (BINARY_EVENT when `args` has attachments) for namespace `nsp` as an
// Engine.IO message ready to send to any number of sockets.
transport::OutMessagePtr encode_event(std::string_view nsp, std::string_view event,
                                      const Args& args,
                                      std::optional<std::uint64_t> ack_id = std::nullopt);

class Socket : public std::enable_shared_from_this<Socket> {
public:
    Socket(Namespace& nsp, Client& client, std::string id, Handshake handshake);
    ~Socket();
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    const std::string& id() const noexcept { return id_; }
    Namespace& nsp() const noexcept { return *nsp_; }
    const Handshake& handshake() const noexcept { return handshake_; }
    // Frees the CONNECT payload (it carries the client's token) once the application has what
    // it needs from it: a few hundred bytes per idle connection.
    void release_handshake_auth() noexcept { handshake_.auth = nullptr; }
    bool connected() const noexcept { return connected_; }
    bool recovered() const noexcept { return recovered_; }
    transport::Shard& shard() const noexcept;
    std::any& data() noexcept { return data_; }

    // Per-socket handlers run before the namespace's handlers for the same event.
    void on(std::string event, EventHandler handler);
    void on_disconnect(DisconnectHandler handler);

    // Returns false when the socket is gone or the message was dropped.
    bool emit(std::string_view event, const Args& args = {});
    bool emit_volatile(std::string_view event, const Args& args = {});
    void emit_with_ack(std::string_view event, const Args& args, std::chrono::milliseconds timeout,
                       AckCallback callback);
    // Sends a pre-encoded message (broadcast fan-out uses this).
    bool send(const transport::OutMessagePtr& message,
              engineio::Delivery delivery = engineio::Delivery::kReliable);

    // Sends exempt from the outbound queue caps: the caller bounds what it sends this way (a
    // connection state recovery replay of stored events).
    bool send_now(const transport::OutMessagePtr& message);

    // Rooms, through the namespace's adapter.
    void join(std::string_view room);
    void leave(std::string_view room);
    std::vector<std::string> rooms() const;

    // Broadcast from this socket: everyone in `room` (or the namespace) except this socket.
    BroadcastOperator to(std::string room);
    BroadcastOperator broadcast();

    // Leaves the namespace (the client gets DISCONNECT, reason "io server disconnect"); with
    // `close_connection` the whole Engine.IO connection closes too.
    void disconnect(bool close_connection = false);
    // Closes the underlying transport abruptly, as a network failure would (tests, drains).
    void close_transport();

    // The adapter's per-socket state (see adapter.hpp); only the namespace's adapter uses it.
    std::unique_ptr<AdapterSocket>& adapter_slot() noexcept { return adapter_slot_; }
    const AdapterSocket* adapter_slot() const noexcept { return adapter_slot_.get(); }

    // --- internal (Client, Namespace) ---
    void dispatch_event(Args&& args, std::string_view event, std::optional<std::uint64_t> ack_id);
    void dispatch_ack(std::uint64_t id, Args&& args);
    void on_closed(DisconnectReason reason);
    void set_recovered(bool recovered) noexcept { recovered_ = recovered; }

private:
    struct PendingAck;

    Namespace* nsp_;
    Client* client_;  // null once the socket left
    transport::Shard* shard_;
    std::string id_;
    Handshake handshake_;
    std::any data_;
    bool connected_ = true;
    bool recovered_ = false;
    std::unique_ptr<AdapterSocket> adapter_slot_;
    std::vector<std::pair<std::string, EventHandler>> handlers_;
    std::vector<DisconnectHandler> disconnect_handlers_;
    std::vector<std::unique_ptr<PendingAck>> acks_;
    std::uint64_t next_ack_id_ = 0;
    // Event rate limit (token bucket); `strikes_` counts refused events since the last one let
    // through.
    double tokens_ = -1;  // < 0: not initialised (the first event fills the bucket)
    std::chrono::steady_clock::time_point refilled_{};
    std::uint32_t strikes_ = 0;
    bool admit_event();
};

class Namespace {
public:
    Namespace(Server& server, std::string name);
    ~Namespace();

    const std::string& name() const noexcept { return name_; }
    Server& server() noexcept { return *server_; }

    void use(ConnectHook hook) { hook_ = std::move(hook); }
    void on_connection(ConnectionHandler handler) { on_connection_ = std::move(handler); }
    // A handler for every socket of the namespace (no per-socket cost).
    void on(std::string event, EventHandler handler) {
        handlers_[std::move(event)] = std::move(handler);
    }
    // Events that neither the socket nor the namespace has a handler for (after the rate limit).
    void on_any(AnyEventHandler handler) { on_any_ = std::move(handler); }
    void on_disconnect(DisconnectHandler handler) { on_disconnect_ = std::move(handler); }
    void on_rate_limited(RateLimitedHandler handler) { on_rate_limited_ = std::move(handler); }

    // The adapter that holds the namespace's rooms (a LocalAdapter unless replaced). Replace it
    // before the shards start.
    Adapter& adapter() noexcept { return *adapter_; }
    void set_adapter(std::unique_ptr<Adapter> adapter) { adapter_ = std::move(adapter); }

    BroadcastOperator to(std::string room) { return BroadcastOperator(*this).to(std::move(room)); }
    BroadcastOperator except(std::string room) {
        return BroadcastOperator(*this).except(std::move(room));
    }
    void emit(std::string_view event, const Args& args = {}) {
        BroadcastOperator(*this).emit(event, args);
    }

    // Sockets connected on `shard` (call on that shard).
    std::size_t local_sockets(unsigned shard) const noexcept;
    Socket* find_local(unsigned shard, std::string_view id) const noexcept;

    // --- internal ---
    struct ShardState {
        std::unordered_map<std::string_view, Socket*> sockets;  // key views the socket's id
        transport::LocalCounter deliveries;  // messages queued to sockets by broadcasts
    };
    ShardState& shard_state(unsigned shard) noexcept { return *shards_[shard]; }
    const ConnectHook& hook() const noexcept { return hook_; }
    const ConnectionHandler& connection_handler() const noexcept { return on_connection_; }
    const EventHandler* handler(std::string_view event) const noexcept;
    const AnyEventHandler& any_handler() const noexcept { return on_any_; }
    const DisconnectHandler& disconnect_handler() const noexcept { return on_disconnect_; }
    const RateLimitedHandler& rate_limited_handler() const noexcept { return on_rate_limited_; }
    std::uint64_t deliveries(unsigned shard) const noexcept { return shards_[shard]->deliveries.get(); }

private:
    Server* server_;
    std::string name_;
    ConnectHook hook_;
    ConnectionHandler on_connection_;
    std::unordered_map<std::string, EventHandler> handlers_;
    AnyEventHandler on_any_;
    DisconnectHandler on_disconnect_;
    RateLimitedHandler on_rate_limited_;
    std::vector<std::unique_ptr<ShardState>> shards_;
    std::unique_ptr<Adapter> adapter_;
};

struct ServerOptions {
    engineio::Options engine;
    std::string path = "/socket.io/";
    // Time to connect a first namespace after the Engine.IO handshake.
    std::chrono::milliseconds connect_timeout{45000};
    protocol::sio::DecoderLimits decoder;
    // Per-socket event rate limit (token bucket): `events_per_second` sustained, `event_burst`
    // at once. An event over the limit goes to the namespace's rate-limit handler instead of its
    // event handler (the edge answers `rate_limited`); a socket that keeps flooding —
    // `event_burst` events over the limit without a pause — is disconnected, with its
    // connection. 0 disables the limit.
    double events_per_second = 100;
    double event_burst = 200;
    // Refused CONNECTs (an invalid namespace, a connect hook's refusal) after which the
    // connection is closed; 0: no limit. Each refusal may have cost a token check.
    std::uint32_t max_connect_failures = 5;
    // Request headers (lower-case names) kept in every Handshake, each value cut at
    // handshake_header_bytes: a connect hook that authenticates by cookie needs them, nothing
    // else does, so none are kept by default (each costs memory until the CONNECT).
    std::vector<std::string> handshake_headers;
    std::size_t handshake_header_bytes = 4096;
    // Namespaces created on demand by of_prefix(): at most this many, so clients naming new
    // ones cannot grow the server without bound.
    std::size_t max_dynamic_namespaces = 1024;
};

class Server {
public:
    Server(transport::ShardPool& shards, ServerOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // The namespace `name`, created on first use ("/" always exists). Before start only.
    Namespace& of(const std::string& name);
    // Namespaces named `prefix` + anything (the whole name a valid namespace per `valid`),
    // created when a client first connects to one and set up by `setup` (its handlers, hook,
    // adapter) before any socket uses it; they are never removed. Before start only.
    void of_prefix(std::string prefix, std::function<bool(std::string_view name)> valid,
                   std::function<void(Namespace&)> setup);
    // The namespace `name` (thread-safe); with `create`, one of_prefix() serves is created.
    Namespace* find(std::string_view name, bool create = false);

    BroadcastOperator to(std::string room) { return of("/").to(std::move(room)); }
    engineio::EngineServer& engine() noexcept { return *engine_; }
    transport::ShardPool& shards() noexcept { return shards_; }
    const ServerOptions& options() const noexcept { return options_; }

private:
    transport::ShardPool& shards_;
    ServerOptions options_;
    // Guards namespaces_ once dynamic namespaces may be added by shards.
    mutable std::shared_mutex namespaces_mu_;
    std::unordered_map<std::string, std::unique_ptr<Namespace>> namespaces_;
    std::size_t dynamic_namespaces_ = 0;
    struct PrefixNamespaces {
        std::string prefix;
        std::function<bool(std::string_view)> valid;
        std::function<void(Namespace&)> setup;
    };
    std::vector<PrefixNamespaces> prefixes_;
    std::unique_ptr<engineio::EngineServer> engine_;
};

}  // namespace roomcast::sio
