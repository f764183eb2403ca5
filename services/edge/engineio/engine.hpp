#pragma once
// Engine.IO v4 server: HTTP long-polling, WebSocket, the upgrade between them, heartbeats and
// bounded outbound queues. The Socket.IO layer (or any other protocol, like the conformance
// echo server) sits on top through SessionHandler.
//
// Sessions live on one shard. A session id names the shard that owns it (and, with
// node_id, the edge), so a polling request that arrives on another shard's connection is
// posted to the owner and the answer posted back; a WebSocket that upgrades a session moves its
// socket to the owner's shard.

#include "engineio/closed_polls.hpp"
#include "roomcast/transport/http_server.hpp"
#include "roomcast/transport/shard.hpp"
#include "roomcast/transport/timer_list.hpp"

#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace roomcast::engineio {

// Why a session ended: a closed set, named as the reference server names them.
enum class CloseReason : std::uint8_t {
    kTransportError = 0,  // "transport error": reset, failed write, protocol violation
    kTransportClose,      // "transport close": the client closed (close packet, WS close, EOF)
    kForcedClose,         // "forced close": the server closed it (application request)
    kPingTimeout,         // "ping timeout": no pong within pingTimeout
    kParseError,          // "parse error": an undecodable packet
    kServerShutdown,      // "server shutting down"
    kSlowConsumer,        // "slow consumer": outbound queue over its cap (Roomcast)
    kCount
};
std::string_view to_string(CloseReason reason) noexcept;

enum class TransportKind : std::uint8_t { kPolling, kWebSocket };

struct Options {
    std::chrono::milliseconds ping_interval{25000};
    std::chrono::milliseconds ping_timeout{20000};
    std::chrono::milliseconds upgrade_timeout{10000};
    // How long a gracefully closing polling session waits for the GET that carries its last
    // packets before it is dropped.
    std::chrono::milliseconds close_timeout{10000};
    // When a polling client closes (a close packet in a POST) while no GET is waiting, the GET
    // it may have sent at the same time (on another connection, maybe read by another shard)
    // is answered with a noop, as if it had been waiting, and the POST's "ok" is held until
    // then, for at most this long (closed_polls.hpp says why). It bounds how late such a GET
    // may come (a busy or unscheduled shard thread) and how long a close POST with no GET in
    // flight waits for its answer.
    std::chrono::milliseconds closed_poll_linger{500};
    // Close POSTs held that way per shard: what a flood of handshakes and closes can hold. Over
    // it a close is answered at once (a racing GET then gets 400). 0 holds none.
    std::size_t max_closed_polls = 1024;
    // Largest HTTP body (polling POST) and WebSocket message, in bytes (maxHttpBufferSize).
    std::uint64_t max_payload = 1000000;
    // Packets in one polling POST body; more is a parse error.
    std::size_t max_packets_per_payload = 4096;
    bool allow_polling = true;
    bool allow_websocket = true;
    bool allow_upgrades = true;
    // Allowed CORS origins: empty means no CORS headers (same-origin only); "*" any origin.
    // A request with a disallowed Origin gets 403 (HTTP and WebSocket alike).
    std::vector<std::string> cors_origins;
    bool cors_credentials = false;
    // Slow-consumer policy: a session whose unsent messages exceed either cap is closed with
    // kSlowConsumer; volatile messages are dropped instead whenever they cannot be written now.
    std::size_t max_queue_messages = 4096;
    std::size_t max_queue_bytes = 4 * 1024 * 1024;
    // Open sessions allowed on this server, and per client address (0: no limit). Handshakes
    // over a limit get 503 / 429. The client address is the TCP peer, or — when the peer is one
    // of `trusted_proxies` — the last address of X-Forwarded-For (the one that proxy added).
    std::size_t max_sessions = 0;
    std::size_t max_sessions_per_ip = 0;
    std::vector<std::string> trusted_proxies;
    // The edge's id, prefixed to every session id as "<node_id>." so that any edge can tell
    // which edge owns a session (empty: ids carry no node). [A-Za-z0-9_-]{1,64}.
    std::string node_id;
};

class Session;

class SessionHandler {
public:
    virtual ~SessionHandler() = default;
    virtual void on_message(std::string_view text) = 0;
    virtual void on_binary(std::string_view bytes) = 0;
    // Called once when the session ends; the session sends nothing afterwards.
    virtual void on_close(CloseReason reason) = 0;
};

// Called on the owning shard when a session opens. The returned handler is owned by the
// session. `request` is the handshake request (headers, query, remote address).
using OpenHandler =
    std::function<std::unique_ptr<SessionHandler>(Session&, const transport::HttpRequest& request)>;

// Receives a long-polling request for a session owned by another node (`node_id`), e.g. to
// forward it there. Called on the shard that read the request; `cors` are the headers to add.
using ForeignHandler = std::function<void(std::string node_id, transport::HttpRequest&& request,
                                          transport::HeaderList cors,
                                          transport::Responder&& responder)>;

// What a message may give way to instead of waiting in a session's outbound queue.
enum class Delivery : std::uint8_t {
    // Queued up to the caps; past them the session is a slow consumer (closed).
    kReliable,
    // Socket.IO's `volatile`: sent only if the transport can take it now, else dropped.
    kVolatile,
    // Ephemeral room events (PRODUCT.md §2: "dropped first under backpressure"): queued while
    // the queue is under a quarter of both caps, dropped beyond that, so the rest of the caps
    // stays for reliable messages and an ephemeral flood never makes a slow consumer. Gentler
    // than kVolatile: a typing indicator sent in the same tick as a chat message waits for the
    // same flush instead of being lost to it.
    kDroppable,
};

// Per-shard counters (one writer, any reader).
struct Stats {
    transport::LocalCounter opened;
    transport::LocalCounter upgrades;
    std::array<transport::LocalCounter, static_cast<std::size_t>(CloseReason::kCount)> closed;
    transport::LocalCounter open_polling;
    transport::LocalCounter open_websocket;
    transport::LocalCounter volatile_dropped;
    transport::LocalCounter droppable_dropped;
    transport::LocalCounter messages_out;
    transport::LocalCounter bytes_out;
    transport::LocalCounter messages_in;
    transport::LocalCounter bytes_in;
    // Requests refused with an Engine.IO error, by its code (0 transport unknown, 1 session id
    // unknown, 2 bad handshake method, 3 bad request, 4 forbidden, 5 unsupported version).
    std::array<transport::LocalCounter, 6> refused;
};

class EngineServer final : public transport::HttpHandler {
public:
    EngineServer(transport::ShardPool& shards, Options options, OpenHandler on_open);
    ~EngineServer() override;

    void on_request(transport::HttpRequest&& request, transport::Responder&& responder) override;
    void on_upgrade(transport::HttpRequest&& request, transport::WsUpgrade&& upgrade) override;

    const Options& options() const noexcept { return options_; }
    transport::ShardPool& shards() noexcept { return shards_; }
    Stats& stats(unsigned shard) noexcept { return *shard_states_[shard]->stats; }
    // Runs session.flush() on its shard after the current handler returns. One posted handler
    // per shard flushes every session queued meanwhile: a fan-out to thousands of local sockets
    // costs one post, not one per socket (each post allocates once the handler cache is spent).
    void schedule_flush(std::shared_ptr<Session> session);

    // Closes every session with `reason`, spread evenly over `spread` (posted to each shard).
    // Thread-safe.
    void close_all(CloseReason reason, std::chrono::milliseconds spread = std::chrono::milliseconds(0));
    // Sessions open on every shard (a recent value; thread-safe).
    std::uint64_t open_sessions() const noexcept;
    // Draining: new sessions (handshakes, WebSocket connections without a session) are refused
    // with 503 and Connection: close, so a proxy retries them on another edge (and drops its
    // keep-alive connections to this one); existing sessions keep working until closed.
    void set_draining(bool draining) noexcept { draining_.store(draining, std::memory_order_relaxed); }

    // Requests for sessions of other nodes go to `handler` (set before start); without one
    // they get "Session ID unknown".
    void set_foreign_handler(ForeignHandler handler) { foreign_ = std::move(handler); }
    // A polling request forwarded from another node for one of our sessions. Thread-safe.
    void handle_forwarded(transport::HttpRequest&& request, transport::Responder&& responder);
    // The client of a forwarded long-poll went away: end that session's pending GET as if its
    // own connection had closed. Thread-safe.
    void abort_pending_poll(const std::string& sid);
    // The node id in a session id ("" when it has none).
    static std::string_view node_of(std::string_view sid) noexcept;

    // --- used by Session, on its shard ---
    void remove(Session& session);
    // `session`'s client is closing it by a POST while no GET is waiting: whether that POST's
    // answer can be held for the GET it may have in flight (Options::closed_poll_linger), and
    // holding it (answered "ok" by the GET, or when the linger ends).
    bool can_hold_close(Session& session) const;
    void hold_close(Session& session, transport::Responder post, transport::HeaderList cors);
    // Answers ("ok") every close POST held that way on the calling shard, without waiting for
    // its GET or the linger: for a harness that checks every request was answered (fuzz).
    void release_held_closes();
    // error_response(), counted in the calling shard's stats.
    transport::HttpResponse refuse(int code, unsigned status = 400) const;

private:
    // A close POST whose answer waits for the client's GET in flight (see ClosedPolls).
    struct HeldClose {
        transport::Responder post;
        transport::HeaderList cors;
    };
    struct ShardState {
        ShardState(const Options& o, boost::asio::io_context& ioc)
            : closed_polls(o.max_closed_polls, o.closed_poll_linger), closed_timer(ioc) {}
        // The key views the session's own id (one copy of it per session, not two).
        std::unordered_map<std::string_view, std::shared_ptr<Session>> sessions;
        ClosedPolls<HeldClose> closed_polls;
        // Answers held closes whose linger ended; armed while closed_polls has any.
        boost::asio::steady_timer closed_timer;
        bool closed_timer_armed = false;
        std::unique_ptr<Stats> stats = std::make_unique<Stats>();
        std::vector<std::shared_ptr<Session>> to_flush;  // schedule_flush(), in call order
        std::vector<std::shared_ptr<Session>> flushing;  // the batch being flushed (capacity kept)
        bool flush_posted = false;
    };
    void arm_closed_timer(unsigned shard);

    struct Cors {
        bool allowed = true;
        transport::HeaderList headers;
    };
    Cors cors_for(const transport::HttpRequest& request) const;
    // Validates EIO and transport; on failure fills `error` and returns false.
    bool check_query(const transport::HttpRequest& request, std::string_view& transport_name,
                     transport::HttpResponse& error) const;
    // Shard index encoded in `sid`, or -1 when the id is not one of ours.
    int owner_of(std::string_view sid) const noexcept;
    std::string prefix() const { return options_.node_id.empty() ? "" : options_.node_id + "."; }
    std::shared_ptr<Session> find(unsigned shard, const std::string& sid);
    std::shared_ptr<Session> create(transport::Shard& shard, TransportKind kind,
                                    const transport::HttpRequest& request);
    void handle_owned_request(unsigned shard, std::string sid, transport::HttpRequest request,
                              transport::HeaderList cors, transport::Responder responder);
    void handle_owned_upgrade(unsigned shard, std::string sid, transport::HttpRequest request,
                              transport::WsUpgrade upgrade);

    transport::ShardPool& shards_;
    Options options_;
    OpenHandler on_open_;
    ForeignHandler foreign_;
    std::atomic<bool> draining_{false};
    // Session limits: the total, and per client address (a mutex: handshakes and closes only).
    std::atomic<std::uint64_t> sessions_{0};
    std::mutex per_ip_mu_;
    std::unordered_map<std::string, std::size_t> per_ip_;

public:
    // The client address of a request (see Options::trusted_proxies).
    std::string client_address(const transport::HttpRequest& request) const;
    // Reserves a session slot for `address`; false (nothing reserved) when a limit is reached,
    // with the status to answer (503 server full, 429 too many from one address).
    bool reserve(const std::string& address, unsigned& status);
    void release(const std::string& address);
    std::vector<std::unique_ptr<ShardState>> shard_states_;
};

// JSON error body of the reference server: {"code":N,"message":"..."} with HTTP 400/403.
transport::HttpResponse error_response(int code, unsigned status = 400);

class Session final : public std::enable_shared_from_this<Session>, private transport::WsHandler {
public:
    Session(EngineServer& engine, transport::Shard& shard, std::string id, TransportKind kind);
    ~Session() override;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    const std::string& id() const noexcept { return id_; }
    transport::Shard& shard() noexcept { return shard_; }
    TransportKind transport() const noexcept { return kind_; }
    bool closed() const noexcept { return state_ != State::kOpen; }
    // The client's address: the TCP peer's, or behind a peer listed in --trusted-proxies the
    // last X-Forwarded-For entry (what hooks and backends see, and what the per-address
    // connection limit counts).
    const std::string& client_address() const noexcept { return client_address_; }

    // Queues a message. kVolatile messages are dropped (returning false) when they cannot be
    // written at once, kDroppable ones when the queue is a quarter full (Delivery). A reliable
    // message over the queue caps closes the session (kSlowConsumer) and returns false. Messages after close are ignored. `capped` false
    // exempts the message from the caps: the caller bounds what it sends that way (a recovery
    // replay, at most history-max events per room, already in memory). Exempt messages do not
    // count against the caps while they wait; everything else is capped as usual.
    bool send(transport::OutMessagePtr message, Delivery delivery = Delivery::kReliable,
              bool capped = true);
    // Graceful close: queued messages are still delivered, then the transport closes.
    void close(CloseReason reason);
    // Immediate close (no flush). The handler's on_close runs before this returns.
    void abort(CloseReason reason);

    std::size_t queued_messages() const noexcept { return queue_.size(); }

    // --- used by EngineServer, on this shard ---
    // Arms the heartbeat; with `ws`, starts the WebSocket and queues the open packet.
    // `client_address` is the slot reserved for it (released when the session ends).
    void start(std::shared_ptr<transport::WsConnection> ws, std::string client_address);
    void set_handler(std::unique_ptr<SessionHandler> handler) noexcept {
        handler_ = std::move(handler);
    }
    void on_poll_request(transport::HttpRequest&& request, transport::HeaderList cors,
                         transport::Responder&& responder);
    // Whether a WebSocket may upgrade this session now.
    bool can_upgrade() const noexcept;
    // Ends a pending long-poll whose client went away (forwarded requests).
    void abort_pending_get() { on_get_aborted(get_generation_); }
    void begin_upgrade(std::shared_ptr<transport::WsConnection> ws);

private:
    friend class EngineServer;  // schedule_flush(Session&) runs flush() for its shard
    enum class State : std::uint8_t { kOpen, kClosing, kClosed };

    // The probe WebSocket's events, told apart from the session's own WebSocket.
    class ProbeHandler final : public transport::WsHandler {
    public:
        explicit ProbeHandler(Session& s) : session_(s) {}
        void on_ws_message(bool binary, std::string_view payload) override;
        void on_ws_closed(transport::WsCloseCause cause) override;
        void on_ws_drained() override {}

    private:
        Session& session_;
    };

    void on_ws_message(bool binary, std::string_view payload) override;
    void on_ws_closed(transport::WsCloseCause cause) override;
    void on_ws_drained() override;
    // Arms the close timer for the short quiet before a WebSocket's close frame.
    void close_after_quiet();

    void on_get(std::int64_t arrived_ns, transport::HeaderList&& cors,
                transport::Responder&& responder);
    void on_post(transport::HttpRequest&& request, transport::HeaderList&& cors,
                 transport::Responder&& responder);
    void on_get_aborted(std::uint64_t generation);
    // Handles one decoded packet from the client; false when the session ended.
    bool on_packet(char type, std::string_view data, bool binary);
    void on_pong();
    bool ping_overdue() const noexcept;

    void schedule_flush();
    void flush();
    void respond_to_get(std::string body);
    std::string take_payload();
    void finish_upgrade();
    void cancel_upgrade();
    void finish(CloseReason reason, bool notify);

    static void on_ping_timer(void* self);
    static void on_pong_timer(void* self);
    static void on_upgrade_timer(void* self);
    static void on_close_timer(void* self);

    EngineServer& engine_;
    transport::Shard& shard_;
    std::string id_;
    std::string client_address_;  // holds a session slot in the engine's per-address count
    TransportKind kind_;
    State state_ = State::kOpen;
    std::unique_ptr<SessionHandler> handler_;

    // Unsent messages. A vector: empty sessions hold no allocation (a deque always holds one),
    // and a WebSocket flush hands the whole vector over without copying.
    std::vector<transport::OutMessagePtr> queue_;
    std::size_t queue_bytes_ = 0;
    // Of those, sent exempt from the caps (send(..., capped = false)): not counted against them.
    std::size_t exempt_messages_ = 0;
    std::size_t exempt_bytes_ = 0;
    bool flush_scheduled_ = false;
    bool doomed_ = false;  // over the queue caps: an abort is posted, nothing more is queued

    // Long-polling: the GET waiting for data (at most one).
    transport::Responder pending_get_;
    transport::HeaderList pending_get_cors_;
    std::int64_t pending_get_arrived_ns_ = 0;  // HttpRequest::arrived_ns
    std::uint64_t get_generation_ = 0;

    std::shared_ptr<transport::WsConnection> ws_;
    std::shared_ptr<transport::WsConnection> probe_;
    ProbeHandler probe_handler_{*this};
    bool upgrading_ = false;  // the probe answered; polling GETs get noop until "5"
    bool close_queued_ = false;  // polling: the close packet is in the queue
    CloseReason closing_reason_ = CloseReason::kForcedClose;

    bool awaiting_pong_ = false;
    transport::Timer::Clock::time_point pong_deadline_{};
    transport::Timer ping_timer_;
    transport::Timer pong_timer_;
    transport::LazyTimer<&Session::on_upgrade_timer> upgrade_timer_;
    transport::LazyTimer<&Session::on_close_timer> close_timer_;
};

}  // namespace roomcast::engineio
