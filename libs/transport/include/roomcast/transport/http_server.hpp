#pragma once
// The edge's HTTP front: listeners (one acceptor per shard with SO_REUSEPORT, so the kernel
// spreads connections and no thread hands sockets to another), HTTP/1.1 keep-alive connections
// parsed with Beast, routing by path prefix, and the WebSocket upgrade hand-off.
//
// A handler answers through a Responder, possibly later and from another shard (an Engine.IO
// long-poll is answered when data arrives on the shard owning the session). While an answer is
// pending the connection watches for the client going away and reports it (the Engine.IO v4
// suite requires a cancelled long-poll to close the session).

#include "roomcast/transport/http_types.hpp"
#include "roomcast/transport/shard.hpp"
#include "roomcast/transport/ws_connection.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace roomcast::transport {

class HttpConnection;

struct HttpLimits {
    // Time to receive a whole request once its first byte arrived (slow-loris protection).
    std::chrono::milliseconds request_timeout{15000};
    // Time an idle keep-alive connection stays open between requests.
    std::chrono::milliseconds idle_timeout{30000};
    std::uint32_t max_header_bytes = 16 * 1024;
    WsLimits websocket;
};

// Where a response goes: an HTTP connection, or (for requests forwarded from another edge)
// a NATS reply. deliver() and set_abort_callback() are called on shard().
class ResponseSink {
public:
    virtual ~ResponseSink() = default;
    virtual Shard& shard() noexcept = 0;
    virtual void deliver(std::uint64_t seq, HttpResponse&& response) = 0;
    // `callback` runs (on shard()) if the client goes away before the answer; at once if it
    // already has.
    virtual void set_abort_callback(std::uint64_t seq, std::function<void()> callback) = 0;
};

// Answers one request. Movable, thread-safe to use from any shard; exactly one respond() is
// expected. A Responder destroyed without answering sends 500 so no client hangs.
class Responder {
public:
    Responder() = default;
    Responder(std::shared_ptr<ResponseSink> sink, std::uint64_t seq) noexcept
        : sink_(std::move(sink)), seq_(seq) {}
    Responder(Responder&&) noexcept = default;
    Responder& operator=(Responder&& other) noexcept;
    Responder(const Responder&) = delete;
    Responder& operator=(const Responder&) = delete;
    ~Responder();

    explicit operator bool() const noexcept { return sink_ != nullptr; }
    void respond(HttpResponse&& response);
    // Gives up without answering (the client is known to be gone).
    void dismiss() noexcept { sink_.reset(); }
    // `on_abort` runs (posted to `shard`) if the client disconnects before respond().
    void on_abort(Shard& shard, std::function<void()> on_abort);

private:
    std::shared_ptr<ResponseSink> sink_;
    std::uint64_t seq_ = 0;
};

// Hands a WebSocket upgrade request to a handler, which accepts it on a shard of its choice
// (the shard owning the session) or rejects it with an HTTP response.
class WsUpgrade {
public:
    WsUpgrade() = default;
    WsUpgrade(std::shared_ptr<HttpConnection> conn, std::string key) noexcept
        : conn_(std::move(conn)), key_(std::move(key)) {}
    WsUpgrade(WsUpgrade&&) noexcept = default;
    WsUpgrade& operator=(WsUpgrade&&) noexcept = default;
    ~WsUpgrade();

    using ReadyCallback = std::function<void(std::shared_ptr<WsConnection>)>;
    // Moves the socket to `shard` and calls `ready` there with the new connection, which the
    // callback must start(handler) (the 101 response goes out first) or close().
    // `max_message` caps every message of the connection (the protocol's maxPayload).
    void accept(Shard& shard, std::size_t max_message, ReadyCallback ready);
    void reject(HttpResponse&& response);

private:
    std::shared_ptr<HttpConnection> conn_;
    std::string key_;
};

class HttpHandler {
public:
    virtual ~HttpHandler() = default;
    // Called on the shard of the connection that read the request.
    virtual void on_request(HttpRequest&& request, Responder&& responder) = 0;
    virtual void on_upgrade(HttpRequest&& request, WsUpgrade&& upgrade) = 0;
};

struct Route {
    std::string path_prefix;
    HttpHandler* handler = nullptr;
    std::uint64_t max_body = 1000000;
};

class HttpServer {
public:
    HttpServer(ShardPool& shards, HttpLimits limits);
    ~HttpServer();

    // Routes are fixed before listen().
    void add_route(Route route);
    // Binds every address `host` resolves to (one acceptor per shard each) and starts
    // accepting. Returns the bound port (the chosen one when `port` is 0). Throws
    // std::runtime_error when nothing could be bound.
    std::uint16_t listen(const std::string& host, std::uint16_t port);
    // Stops accepting new connections (existing ones continue). Thread-safe.
    void stop_accepting();

    std::uint64_t open_connections() const noexcept { return open_connections_->load(); }

private:
    friend class HttpConnection;
    struct Acceptor;
    void accept_next(const std::shared_ptr<Acceptor>& acceptor);
    const Route* find_route(std::string_view path) const noexcept;

    ShardPool& shards_;
    HttpLimits limits_;
    std::vector<Route> routes_;
    std::uint64_t max_body_ = 0;
    std::vector<std::shared_ptr<Acceptor>> acceptors_;
    // Shared with the connections: they may outlive the server at shutdown, when a stopped
    // io_context destroys their pending handlers.
    std::shared_ptr<std::atomic<std::uint64_t>> open_connections_ =
        std::make_shared<std::atomic<std::uint64_t>>(0);
};

}  // namespace roomcast::transport
