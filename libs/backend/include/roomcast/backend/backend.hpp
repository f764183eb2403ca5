#pragma once
// roomcast::backend: application backends in C++ (PRODUCT.md §6, docs/backends.md), the same
// shape as sdk/node's @roomcast/backend. A Backend answers the edges' requests on NATS (custom
// events, connect/join/publish hooks), receives their lifecycle events, and emits to rooms,
// users and sockets. The wire format is proto/roomcast/backend/v1/backend.proto; this library
// only decodes it into plain C++ values and encodes the answers.
//
//   roomcast::backend::Backend rc(conn);
//   rc.handle("add", [](const Context& ctx, const boost::json::array& args) -> Result {...});
//   rc.on_join("team:", [](const Context& ctx, const std::string& room) {...});
//   rc.start();
//   rc.to("post:42").emit("comment", {{"text", "hi"}});   // → offset
//   rc.to("doc:7").emit_ephemeral("cursor", {{"x", 1}});  // not stored, no offset
//
// Threading. NATS delivers every message of the process on one shared thread (natsbus.hpp),
// which must never block, so handlers do not run there: each message is decoded on that thread
// and posted to the Backend's own pool. Requests (custom events and hooks) run on
// Options::workers threads, in any order; lifecycle batches run on one further thread, in the
// order they arrived, so a handler sees a socket's connect before its disconnect. Handlers may
// block (a database call, an emit waiting for its JetStream ack) but every blocked worker is
// one fewer for everything else. The work waiting or running is bounded (max_in_flight
// requests, max_lifecycle_batches batches); beyond it a custom event is answered `unavailable`
// at once, a hook gets no answer (the edge applies its fail-open/fail-closed rule after its
// hook timeout) and a lifecycle batch is dropped, each counted in stats(). A request whose
// deadline passed while it waited is dropped unanswered: the edge has stopped waiting.
//
// Errors are values: a handler returns Result (a value or an Error{code, message}) or a
// decision; an exception escaping a handler is caught, logged and answered as `internal`
// (custom events) or a deny with code `internal` (hooks). Emits return Expected<T>.
//
// Lifetimes. Register every handler, then start() once; registering after start() is a
// programming error (std::logic_error), so the handler tables are immutable while messages
// arrive and dispatch takes no lock. A Backend built over a Connection borrows it: the
// Connection must outlive the Backend. Backend::connect owns its Connection. ~Backend (or
// stop()) unsubscribes, waits for running handlers and drops queued ones; after it returns no
// handler runs. Do not destroy a Backend from inside one of its handlers. emit calls are
// thread-safe and may be made from handlers or any other thread, before or after start().

#include "roomcast/natsbus/natsbus.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace roomcast::backend {

// An error as clients receive it: one of PRODUCT.md §2's codes (bad_request, unauthorized,
// forbidden, not_found, rate_limited, payload_too_large, unavailable, internal) or the app's.
struct Error {
    std::string code;
    std::string message;
};

// Lets boost::system::result<T, Error>::value() throw (it is not needed for operator*).
[[noreturn]] void throw_exception_from_error(const Error& error, const boost::source_location&);

template <class T>
using Expected = boost::system::result<T, Error>;

// A custom event's answer: a JSON value (the ack's `result`) with optional binary attachments
// (the value holds {"_placeholder":true,"num":i} for attachments[i]), or an Error.
class Result {
public:
    // Anything a boost::json::value is built from: `return args;`, `return 42;`,
    // `return boost::json::object{{"id", 1}};`.
    template <class T>
    requires(std::constructible_from<boost::json::value, T&&> &&
             !std::same_as<std::remove_cvref_t<T>, Error> &&
             !std::same_as<std::remove_cvref_t<T>, Result>) Result(T&& value)
        : value_(std::forward<T>(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Error error) : ok_(false), error_(std::move(error)) {}  // NOLINT
    Result(boost::json::value value, std::vector<std::string> attachments)
        : value_(std::move(value)), attachments_(std::move(attachments)) {}

    static Result error(std::string code, std::string message = {}) {
        return Result(Error{std::move(code), std::move(message)});
    }

    bool ok() const noexcept { return ok_; }
    const boost::json::value& value() const noexcept { return value_; }
    const std::vector<std::string>& attachments() const noexcept { return attachments_; }
    const Error& error() const noexcept { return error_; }

private:
    bool ok_ = true;
    boost::json::value value_;
    std::vector<std::string> attachments_;
    Error error_;
};

// The socket a request is about, as the edge described it (backend.proto Client).
struct Context {
    std::string user_id;
    std::string user_name;
    boost::json::object claims;
    std::string socket_id;
    std::string edge;
    std::string nsp;  // "/" or the namespace
    std::vector<std::string> rooms;
    std::string address;
    // When the edge stops waiting for the answer; time_point{} when it expects none (a custom
    // event sent without an ack callback).
    std::chrono::system_clock::time_point deadline{};
    // The custom event's name (empty for hooks).
    std::string event;

    bool expects_reply() const noexcept {
        return deadline != std::chrono::system_clock::time_point{};
    }
};

// --- hooks ---------------------------------------------------------------------------------

struct ConnectRequest {
    std::string nsp;
    // socket.io-client's `auth` (an empty object when absent).
    boost::json::object auth;
    // Lower-case header names: cookie, authorization, origin, user-agent, accept-language.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string address;
    // Set when a token already named the user (the edge's --hook-connect all); user_id empty
    // otherwise.
    Context client;
    std::chrono::system_clock::time_point deadline{};

    // The first header called `name` (lower case), empty when absent.
    std::string_view header(std::string_view name) const noexcept;
};

struct ConnectDecision {
    bool allow = true;
    Error error;
    std::string user_id;  // required when the request had no user
    std::string user_name;
    boost::json::object claims;

    static ConnectDecision accept(std::string user_id = {}, std::string user_name = {},
                                  boost::json::object claims = {});
    static ConnectDecision deny(std::string code = "unauthorized", std::string message = {});
};

struct JoinDecision {
    bool allow = true;
    Error error;

    static JoinDecision accept() { return {}; }
    // The join ack's error (the edge sends `forbidden` for an empty code).
    static JoinDecision deny(std::string code = "forbidden", std::string message = {});
};

struct PublishRequest {
    std::string room;
    std::string event;
    boost::json::value data;
    std::vector<std::string> attachments;
};

struct PublishDecision {
    enum class Kind : std::uint8_t { kAllow, kDeny, kReplace };
    Kind kind = Kind::kAllow;
    Error error;
    boost::json::value data;
    std::vector<std::string> attachments;

    static PublishDecision accept() { return {}; }
    static PublishDecision deny(std::string code = "forbidden", std::string message = {});
    // Store and deliver `data` instead of the client's (the edge's publish caps apply).
    static PublishDecision replace(boost::json::value data,
                                   std::vector<std::string> attachments = {});
};

// --- lifecycle -----------------------------------------------------------------------------

enum class LifecycleKind : std::uint8_t { kConnect, kDisconnect, kJoin, kLeave, kKicked };
// "connect", "disconnect", "join", "leave", "kicked".
std::string_view to_string(LifecycleKind kind) noexcept;
// nullopt for any other text.
std::optional<LifecycleKind> parse_lifecycle_kind(std::string_view text) noexcept;

struct LifecycleEvent {
    LifecycleKind kind = LifecycleKind::kConnect;
    std::string edge;
    std::int64_t at_ms = 0;  // the edge's clock
    std::string user_id;
    std::string user_name;
    std::string socket_id;
    std::string nsp;
    std::string room;    // join, leave, kicked
    std::string reason;  // disconnect, kicked
    bool recovered = false;
};

// --- handlers ------------------------------------------------------------------------------

using EventHandler = std::function<Result(const Context&, const boost::json::array& args,
                                          const std::vector<std::string>& attachments)>;
using ConnectHandler = std::function<ConnectDecision(const ConnectRequest&)>;
using JoinHandler = std::function<JoinDecision(const Context&, const std::string& room)>;
using PublishHandler = std::function<PublishDecision(const Context&, const PublishRequest&)>;
using LifecycleHandler = std::function<void(const LifecycleEvent&)>;

struct Options {
    // Every replica of one backend service uses the same group: NATS gives each request to one
    // member. Two services handling the same subject need different groups (the first reply
    // wins, so they should not both answer).
    std::string queue_group = "roomcast-backend";
    // Lifecycle events: shared among the replicas (in the queue group, each event seen by one
    // replica) or, when false, every replica sees every event.
    bool share_lifecycle = true;
    // Threads running request handlers (custom events, hooks).
    unsigned workers = 4;
    // Requests waiting or running at once; protects memory and bounds the queueing delay.
    std::size_t max_in_flight = 256;
    // Lifecycle batches waiting or running at once.
    std::size_t max_lifecycle_batches = 1024;
    // Largest answer or emit this backend sends (NATS' own max_payload, 1 MiB by default,
    // applies anyway); an answer over it becomes a `payload_too_large` error.
    std::size_t max_payload_bytes = 1024 * 1024;
    // How long to(room).emit waits for the JetStream ack.
    std::chrono::milliseconds publish_timeout{5000};
};

// Counters since construction; thread-safe snapshots.
struct Stats {
    std::uint64_t requests = 0;           // custom events and hooks received
    std::uint64_t overloaded = 0;         // refused: max_in_flight reached
    std::uint64_t expired = 0;            // dropped: deadline passed before a worker took them
    std::uint64_t handler_errors = 0;     // exceptions caught around handlers
    std::uint64_t malformed = 0;          // messages that did not decode
    std::uint64_t lifecycle_events = 0;   // dispatched to a handler or not
    std::uint64_t lifecycle_dropped = 0;  // batches dropped: max_lifecycle_batches reached
};

class Backend;

// Targets are small values that refer to their Backend: use them at once
// (rc.to(room).emit(...)); one must not outlive the Backend that made it.

// to(room): a room event with "server" as sender: stored in the room stream (history,
// recovery), or ephemeral.
class RoomTarget {
public:
    // The event's offset (the stream sequence). Blocks up to Options::publish_timeout.
    Expected<std::uint64_t> emit(std::string_view event, const boost::json::value& data,
                                 const std::vector<std::string>& attachments = {}) const;
    // An ephemeral room event (cursors, typing; PRODUCT.md §2 "ephemeral publish"): the same
    // RoomEvent as a core NATS publish on roomcast.ephemeral.<room>, so no offset, no history,
    // no recovery; only members connected now receive it. Same checks and errors as emit();
    // returns once the NATS client has it (not flushed, as DirectTarget::emit), never blocks on
    // the server. A publish the NATS role does not allow is dropped by the server later.
    Expected<void> emit_ephemeral(std::string_view event, const boost::json::value& data,
                                  const std::vector<std::string>& attachments = {}) const;

private:
    friend class Backend;
    RoomTarget(const Backend& b, std::string room) : backend_(b), room_(std::move(room)) {}
    const Backend& backend_;
    std::string room_;
};

// to_user(id) / to_socket(id): every socket of a user on every edge, or one socket; not stored.
class DirectTarget {
public:
    // The sockets receive `event` with one argument, `data`.
    Expected<void> emit(std::string_view event, const boost::json::value& data,
                        const std::vector<std::string>& attachments = {}) const;
    // The namespace the sockets are in ("/" by default).
    DirectTarget in(std::string nsp) const;

private:
    friend class Backend;
    DirectTarget(const Backend& b, bool user, std::string id, std::string nsp)
        : backend_(b), user_(user), id_(std::move(id)), nsp_(std::move(nsp)) {}
    const Backend& backend_;
    bool user_;
    std::string id_;
    std::string nsp_;
};

// of(nsp): registration for a namespace other than "/" (custom events on
// roomcast.ns.<nsp>.rpc.<event>).
class NamespaceScope {
public:
    NamespaceScope& handle(std::string_view event, EventHandler handler);
    template <class F>
    requires std::invocable<F, const Context&, const boost::json::array&> NamespaceScope& handle(
        std::string_view event, F fn) {
        return handle(
            event, EventHandler([fn = std::move(fn)](const Context& c, const boost::json::array& a,
                                                     const std::vector<std::string>&) {
                return Result(fn(c, a));
            }));
    }

private:
    friend class Backend;
    NamespaceScope(Backend& b, std::string nsp) : backend_(b), nsp_(std::move(nsp)) {}
    Backend& backend_;
    std::string nsp_;
};

class Backend {
public:
    // Borrows `connection`, which must outlive the Backend.
    explicit Backend(natsbus::Connection& connection, Options options = {});
    // Connects (natsbus::Options: servers with credentials, TLS) and owns the connection.
    static Expected<std::unique_ptr<Backend>> connect(const natsbus::Options& nats,
                                                      Options options = {});
    ~Backend();
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    // A custom event on "/". Names are validated (1..128 bytes, not reserved): a bad one throws
    // std::invalid_argument, as registering twice does.
    Backend& handle(std::string_view event, EventHandler handler);
    template <class F>
    requires std::invocable<F, const Context&, const boost::json::array&> Backend& handle(
        std::string_view event, F fn) {
        of("/").handle(event, std::move(fn));
        return *this;
    }
    NamespaceScope of(std::string nsp);

    Backend& on_connect(ConnectHandler handler);
    // Hooks by room-id prefix: the longest matching prefix decides; "" matches every room; a
    // room no prefix matches is allowed.
    Backend& on_join(std::string prefix, JoinHandler handler);
    Backend& on_publish(std::string prefix, PublishHandler handler);
    // Lifecycle events of one kind, from every edge.
    Backend& on(LifecycleKind kind, LifecycleHandler handler);

    // Subscribes everything registered (once all subscriptions are acknowledged by the server,
    // when it returns successfully, requests reach this backend).
    Expected<void> start();
    // Unsubscribes and stops the workers (idempotent; the destructor calls it).
    void stop();

    RoomTarget to(std::string room) const { return RoomTarget(*this, std::move(room)); }
    DirectTarget to_user(std::string user_id) const {
        return DirectTarget(*this, true, std::move(user_id), "/");
    }
    DirectTarget to_socket(std::string socket_id) const {
        return DirectTarget(*this, false, std::move(socket_id), "/");
    }

    Stats stats() const;
    const Options& options() const noexcept { return options_; }
    natsbus::Connection& connection() const noexcept { return conn_; }

    struct Impl;

private:
    friend class NamespaceScope;
    friend class RoomTarget;
    friend class DirectTarget;
    Backend(std::unique_ptr<natsbus::Connection> owned, Options options);
    void add_event(const std::string& nsp, std::string_view event, EventHandler handler);

    std::unique_ptr<natsbus::Connection> owned_;  // declared first: destroyed last
    natsbus::Connection& conn_;
    Options options_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace roomcast::backend
