// Decoding the edges' requests, dispatching them to handlers, encoding the answers and emits.
// The threading and lifetime contract is in backend.hpp.
#include "roomcast/backend/backend.hpp"

#include "work_pool.hpp"

#include "roomcast/backend/v1/backend.pb.h"
#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/clock.hpp"
#include "roomcast/core/log.hpp"
#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/socketio.hpp"

#include <boost/throw_exception.hpp>

#include <array>
#include <exception>
#include <mutex>
#include <stdexcept>

namespace roomcast::backend {

namespace pb = roomcast::backend::v1;
namespace log = roomcast::core::log;
using Clock = std::chrono::system_clock;

void throw_exception_from_error(const Error& error, const boost::source_location& loc) {
    boost::throw_exception(std::runtime_error(error.code + ": " + error.message), loc);
}

std::string_view ConnectRequest::header(std::string_view name) const noexcept {
    for (const auto& [key, value] : headers) {
        if (key == name) {
            return value;
        }
    }
    return {};
}

ConnectDecision ConnectDecision::accept(std::string user_id, std::string user_name,
                                        boost::json::object claims) {
    ConnectDecision d;
    d.user_id = std::move(user_id);
    d.user_name = std::move(user_name);
    d.claims = std::move(claims);
    return d;
}

ConnectDecision ConnectDecision::deny(std::string code, std::string message) {
    ConnectDecision d;
    d.allow = false;
    d.error = Error{std::move(code), std::move(message)};
    return d;
}

JoinDecision JoinDecision::deny(std::string code, std::string message) {
    return JoinDecision{false, Error{std::move(code), std::move(message)}};
}

PublishDecision PublishDecision::deny(std::string code, std::string message) {
    PublishDecision d;
    d.kind = Kind::kDeny;
    d.error = Error{std::move(code), std::move(message)};
    return d;
}

PublishDecision PublishDecision::replace(boost::json::value data,
                                         std::vector<std::string> attachments) {
    PublishDecision d;
    d.kind = Kind::kReplace;
    d.data = std::move(data);
    d.attachments = std::move(attachments);
    return d;
}

std::string_view to_string(LifecycleKind kind) noexcept {
    switch (kind) {
        case LifecycleKind::kConnect:
            return "connect";
        case LifecycleKind::kDisconnect:
            return "disconnect";
        case LifecycleKind::kJoin:
            return "join";
        case LifecycleKind::kLeave:
            return "leave";
        case LifecycleKind::kKicked:
            return "kicked";
    }
    return "unknown";
}

std::optional<LifecycleKind> parse_lifecycle_kind(std::string_view text) noexcept {
    for (auto kind : {LifecycleKind::kConnect, LifecycleKind::kDisconnect, LifecycleKind::kJoin,
                      LifecycleKind::kLeave, LifecycleKind::kKicked}) {
        if (to_string(kind) == text) {
            return kind;
        }
    }
    return std::nullopt;
}

namespace {

constexpr std::size_t kLifecycleKinds = 5;

std::optional<LifecycleKind> from_proto(pb::LifecycleEvent::Kind kind) {
    switch (kind) {
        case pb::LifecycleEvent::KIND_CONNECT:
            return LifecycleKind::kConnect;
        case pb::LifecycleEvent::KIND_DISCONNECT:
            return LifecycleKind::kDisconnect;
        case pb::LifecycleEvent::KIND_JOIN:
            return LifecycleKind::kJoin;
        case pb::LifecycleEvent::KIND_LEAVE:
            return LifecycleKind::kLeave;
        case pb::LifecycleEvent::KIND_KICKED:
            return LifecycleKind::kKicked;
        default:
            return std::nullopt;
    }
}

Clock::time_point from_unix_ms(std::int64_t ms) {
    return ms > 0 ? Clock::time_point(std::chrono::milliseconds(ms)) : Clock::time_point{};
}

bool expired(std::int64_t deadline_ms) {
    return deadline_ms > 0 && core::unix_ms() >= deadline_ms;
}

Context context_of(const pb::Client& c, std::int64_t deadline_ms) {
    Context ctx;
    ctx.user_id = c.user_id();
    ctx.user_name = c.user_name();
    if (!c.claims_json().empty()) {
        if (auto parsed = protocol::parse_json(c.claims_json()); parsed && parsed->is_object()) {
            ctx.claims = std::move(parsed->as_object());
        }
    }
    ctx.socket_id = c.socket_id();
    ctx.edge = c.edge_id();
    ctx.nsp = c.namespace_().empty() ? "/" : c.namespace_();
    ctx.rooms.assign(c.rooms().begin(), c.rooms().end());
    ctx.address = c.remote_address();
    ctx.deadline = from_unix_ms(deadline_ms);
    return ctx;
}

void set_error(pb::Error* out, const Error& e) {
    out->set_code(e.code.empty() ? "internal" : e.code);
    out->set_message(e.message);
}

// JSON text ("" is null) as a value.
std::optional<boost::json::value> parse_or_null(const std::string& text) {
    if (text.empty()) {
        return boost::json::value();
    }
    auto parsed = protocol::parse_json(text);
    if (!parsed) {
        return std::nullopt;
    }
    return std::move(*parsed);
}

std::string what_of(std::exception_ptr e) {
    try {
        std::rethrow_exception(std::move(e));
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "non-standard exception";
    }
}

template <class Map>
const typename Map::mapped_type* longest_prefix(const Map& handlers, std::string_view room) {
    const typename Map::mapped_type* best = nullptr;
    std::size_t best_len = 0;
    for (const auto& [prefix, handler] : handlers) {
        if (room.starts_with(prefix) && (best == nullptr || prefix.size() > best_len)) {
            best = &handler;
            best_len = prefix.size();
        }
    }
    return best;
}

}  // namespace

struct Backend::Impl {
    Impl(const Options& o)
        : requests(o.workers, o.max_in_flight), lifecycle(1, o.max_lifecycle_batches) {}

    // Filled before start(), read-only afterwards.
    std::map<std::string, EventHandler> events;  // by rpc subject
    ConnectHandler connect;
    std::map<std::string, JoinHandler> joins;
    std::map<std::string, PublishHandler> publishes;
    std::array<std::vector<LifecycleHandler>, kLifecycleKinds> lifecycle_handlers;

    std::atomic<bool> started{false};
    std::mutex stop_mu;  // stop() from two threads at once
    std::vector<natsbus::Subscription> subscriptions;
    // The dispatcher that subscription callbacks and queued work point to; kept until the pools
    // below have stopped (they are destroyed first and stop() stops them before this goes).
    std::shared_ptr<const void> dispatcher;

    std::atomic<std::uint64_t> n_requests{0}, n_overloaded{0}, n_expired{0}, n_handler_errors{0},
        n_malformed{0}, n_lifecycle_events{0}, n_lifecycle_dropped{0};

    // Declared last: destroyed (stopped) first, so running work still sees everything above.
    detail::WorkPool requests;
    detail::WorkPool lifecycle;
};

Backend::Backend(natsbus::Connection& connection, Options options)
    : conn_(connection), options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}

Backend::Backend(std::unique_ptr<natsbus::Connection> owned, Options options)
    : owned_(std::move(owned)),
      conn_(*owned_),
      options_(std::move(options)),
      impl_(std::make_unique<Impl>(options_)) {}

Expected<std::unique_ptr<Backend>> Backend::connect(const natsbus::Options& nats, Options options) {
    auto conn = natsbus::Connection::connect(nats);
    if (!conn) {
        return Error{"unavailable", "connecting to NATS: " + conn.error().message()};
    }
    return std::unique_ptr<Backend>(new Backend(std::move(*conn), std::move(options)));
}

Backend::~Backend() {
    stop();
}

void Backend::stop() {
    std::lock_guard lock(impl_->stop_mu);
    // Subscriptions first: once they are gone nothing posts new work.
    impl_->subscriptions.clear();
    impl_->requests.stop();
    impl_->lifecycle.stop();
}

void Backend::add_event(const std::string& nsp, std::string_view event, EventHandler handler) {
    if (impl_->started) {
        throw std::logic_error("roomcast::backend: handle() after start()");
    }
    if (!contract::valid_namespace(nsp)) {
        throw std::invalid_argument("roomcast::backend: invalid namespace '" + nsp + "'");
    }
    // On "/" Roomcast's own events never reach a backend; on other namespaces only Socket.IO's
    // reserved names are taken.
    const bool valid = nsp == "/"
                           ? contract::valid_event_name(event)
                           : !event.empty() && event.size() <= contract::kMaxEventNameBytes &&
                                 !protocol::sio::is_reserved_event(event);
    if (!valid) {
        throw std::invalid_argument("roomcast::backend: invalid custom event name '" +
                                    std::string(event) + "'");
    }
    if (!handler) {
        throw std::invalid_argument("roomcast::backend: empty handler");
    }
    auto [it, inserted] =
        impl_->events.emplace(contract::rpc_subject(nsp, event), std::move(handler));
    if (!inserted) {
        throw std::logic_error("roomcast::backend: '" + std::string(event) +
                               "' is already handled on " + nsp);
    }
}

Backend& Backend::handle(std::string_view event, EventHandler handler) {
    add_event("/", event, std::move(handler));
    return *this;
}

NamespaceScope Backend::of(std::string nsp) {
    return NamespaceScope(*this, std::move(nsp));
}

NamespaceScope& NamespaceScope::handle(std::string_view event, EventHandler handler) {
    backend_.add_event(nsp_, event, std::move(handler));
    return *this;
}

Backend& Backend::on_connect(ConnectHandler handler) {
    if (impl_->started) {
        throw std::logic_error("roomcast::backend: on_connect() after start()");
    }
    if (impl_->connect) {
        throw std::logic_error("roomcast::backend: on_connect() twice");
    }
    impl_->connect = std::move(handler);
    return *this;
}

Backend& Backend::on_join(std::string prefix, JoinHandler handler) {
    if (impl_->started) {
        throw std::logic_error("roomcast::backend: on_join() after start()");
    }
    if (!impl_->joins.emplace(std::move(prefix), std::move(handler)).second) {
        throw std::logic_error("roomcast::backend: on_join() twice for one prefix");
    }
    return *this;
}

Backend& Backend::on_publish(std::string prefix, PublishHandler handler) {
    if (impl_->started) {
        throw std::logic_error("roomcast::backend: on_publish() after start()");
    }
    if (!impl_->publishes.emplace(std::move(prefix), std::move(handler)).second) {
        throw std::logic_error("roomcast::backend: on_publish() twice for one prefix");
    }
    return *this;
}

Backend& Backend::on(LifecycleKind kind, LifecycleHandler handler) {
    if (impl_->started) {
        throw std::logic_error("roomcast::backend: on() after start()");
    }
    impl_->lifecycle_handlers.at(static_cast<std::size_t>(kind)).push_back(std::move(handler));
    return *this;
}

Stats Backend::stats() const {
    return Stats{impl_->n_requests.load(),         impl_->n_overloaded.load(),
                 impl_->n_expired.load(),          impl_->n_handler_errors.load(),
                 impl_->n_malformed.load(),        impl_->n_lifecycle_events.load(),
                 impl_->n_lifecycle_dropped.load()};
}

namespace {

// Everything a subscription callback needs, without the Backend's private parts.
struct Dispatch {
    natsbus::Connection& conn;
    const Options& options;
    Backend::Impl& impl;

    void reply(const std::string& subject, const google::protobuf::MessageLite& message) const {
        if (subject.empty()) {
            return;
        }
        if (auto r = conn.publish(subject, message.SerializeAsString()); !r) {
            log::warn("backend reply not sent", {{"error", r.error().message()}});
        }
    }

    void rpc_reply(const std::string& subject, const Error& e) const {
        pb::CustomEventReply out;
        out.set_ok(false);
        set_error(out.mutable_error(), e);
        reply(subject, out);
    }

    // Runs `work` on the request pool, unless it is full (then `overloaded` answers at once,
    // on this thread).
    void post(std::int64_t deadline_ms, std::function<void()> work,
              const std::function<void()>& overloaded) const {
        ++impl.n_requests;
        auto task = [this, deadline_ms, work = std::move(work)] {
            if (expired(deadline_ms)) {
                ++impl.n_expired;
                return;
            }
            work();
        };
        if (!impl.requests.try_post(std::move(task))) {
            ++impl.n_overloaded;
            if (overloaded) {
                overloaded();
            }
        }
    }

    void on_event(natsbus::Message&& msg, const EventHandler& handler) const {
        auto request = std::make_shared<pb::CustomEvent>();
        if (!request->ParseFromString(msg.data)) {
            ++impl.n_malformed;
            rpc_reply(msg.reply, Error{"bad_request", "not a CustomEvent"});
            return;
        }
        const std::int64_t deadline = request->deadline_ms();
        post(
            deadline,
            [this, request, reply = msg.reply, &handler] { run_event(*request, reply, handler); },
            [this, reply = msg.reply] {
                rpc_reply(reply, Error{"unavailable", "the backend is overloaded"});
            });
    }

    void run_event(const pb::CustomEvent& request, const std::string& reply_to,
                   const EventHandler& handler) const {
        Context ctx = context_of(request.client(), request.deadline_ms());
        ctx.event = request.event();
        auto args = parse_or_null(request.args_json());
        if (!args || !(args->is_array() || args->is_null())) {
            rpc_reply(reply_to, Error{"bad_request", "args_json is not a JSON array"});
            return;
        }
        const boost::json::array arguments =
            args->is_array() ? std::move(args->as_array()) : boost::json::array();
        const std::vector<std::string> attachments(request.attachments().begin(),
                                                   request.attachments().end());
        std::optional<Result> result;
        try {
            result.emplace(handler(ctx, arguments, attachments));
        } catch (...) {
            ++impl.n_handler_errors;
            log::error("custom event handler threw",
                       {{"event", request.event()}, {"error", what_of(std::current_exception())}});
            result.emplace(Error{"internal", "the backend failed"});
        }
        if (reply_to.empty()) {
            return;  // fire-and-forget: nobody waits
        }
        pb::CustomEventReply out;
        if (result->ok()) {
            out.set_ok(true);
            if (!result->value().is_null()) {
                out.set_result_json(protocol::to_json(result->value()));
            }
            for (const auto& a : result->attachments()) {
                out.add_attachments(a);
            }
        } else {
            out.set_ok(false);
            set_error(out.mutable_error(), result->error());
        }
        if (out.ByteSizeLong() > options.max_payload_bytes) {
            rpc_reply(reply_to, Error{"payload_too_large", "the result is too large"});
            return;
        }
        reply(reply_to, out);
    }

    void on_join(natsbus::Message&& msg) const {
        auto request = std::make_shared<pb::JoinHook>();
        if (!request->ParseFromString(msg.data)) {
            ++impl.n_malformed;
            return;  // the edge applies its failure mode
        }
        const JoinHandler* handler = longest_prefix(impl.joins, request->room());
        if (handler == nullptr) {
            ++impl.n_requests;
            pb::JoinHookReply out;
            out.set_allow(true);
            reply(msg.reply, out);
            return;
        }
        post(
            request->deadline_ms(),
            [this, request, reply_to = msg.reply, handler] {
                pb::JoinHookReply out;
                try {
                    const JoinDecision d = (*handler)(
                        context_of(request->client(), request->deadline_ms()), request->room());
                    out.set_allow(d.allow);
                    if (!d.allow) {
                        set_error(out.mutable_error(), d.error);
                        if (d.error.code.empty()) {
                            out.mutable_error()->set_code("forbidden");
                        }
                    }
                } catch (...) {
                    ++impl.n_handler_errors;
                    log::error("join hook threw", {{"room", request->room()},
                                                   {"error", what_of(std::current_exception())}});
                    out.set_allow(false);
                    set_error(out.mutable_error(), Error{"internal", "the backend failed"});
                }
                reply(reply_to, out);
            },
            nullptr);
    }

    void on_publish(natsbus::Message&& msg) const {
        auto request = std::make_shared<pb::PublishHook>();
        if (!request->ParseFromString(msg.data)) {
            ++impl.n_malformed;
            return;
        }
        const PublishHandler* handler = longest_prefix(impl.publishes, request->room());
        if (handler == nullptr) {
            ++impl.n_requests;
            pb::PublishHookReply out;
            out.set_allow(true);
            reply(msg.reply, out);
            return;
        }
        post(
            request->deadline_ms(),
            [this, request, reply_to = msg.reply, handler] {
                run_publish(*request, reply_to, *handler);
            },
            nullptr);
    }

    void run_publish(const pb::PublishHook& request, const std::string& reply_to,
                     const PublishHandler& handler) const {
        pb::PublishHookReply out;
        auto data = parse_or_null(request.data_json());
        if (!data) {
            out.set_allow(false);
            set_error(out.mutable_error(), Error{"bad_request", "data_json is not JSON"});
            reply(reply_to, out);
            return;
        }
        PublishRequest publish{request.room(),
                               request.event(),
                               std::move(*data),
                               {request.attachments().begin(), request.attachments().end()}};
        try {
            const PublishDecision d =
                handler(context_of(request.client(), request.deadline_ms()), publish);
            switch (d.kind) {
                case PublishDecision::Kind::kAllow:
                    out.set_allow(true);
                    break;
                case PublishDecision::Kind::kDeny:
                    out.set_allow(false);
                    set_error(out.mutable_error(), d.error);
                    if (d.error.code.empty()) {
                        out.mutable_error()->set_code("forbidden");
                    }
                    break;
                case PublishDecision::Kind::kReplace:
                    out.set_allow(true);
                    out.set_replace(true);
                    out.set_data_json(protocol::to_json(d.data));
                    for (const auto& a : d.attachments) {
                        out.add_attachments(a);
                    }
                    break;
            }
        } catch (...) {
            ++impl.n_handler_errors;
            log::error("publish hook threw",
                       {{"room", request.room()}, {"error", what_of(std::current_exception())}});
            out.Clear();
            out.set_allow(false);
            set_error(out.mutable_error(), Error{"internal", "the backend failed"});
        }
        if (out.ByteSizeLong() > options.max_payload_bytes) {
            out.Clear();
            out.set_allow(false);
            set_error(out.mutable_error(),
                      Error{"payload_too_large", "the replacement data is too large"});
        }
        reply(reply_to, out);
    }

    void on_connect(natsbus::Message&& msg) const {
        auto request = std::make_shared<pb::ConnectHook>();
        if (!request->ParseFromString(msg.data)) {
            ++impl.n_malformed;
            return;
        }
        post(
            request->deadline_ms(),
            [this, request, reply_to = msg.reply] { run_connect(*request, reply_to); }, nullptr);
    }

    void run_connect(const pb::ConnectHook& request, const std::string& reply_to) const {
        ConnectRequest in;
        in.nsp = request.namespace_().empty() ? "/" : request.namespace_();
        if (auto auth = parse_or_null(request.auth_json()); auth && auth->is_object()) {
            in.auth = std::move(auth->as_object());
        }
        for (const auto& h : request.headers()) {
            in.headers.emplace_back(h.name(), h.value());
        }
        in.address = request.remote_address();
        in.client = context_of(request.client(), request.deadline_ms());
        in.deadline = from_unix_ms(request.deadline_ms());
        pb::ConnectHookReply out;
        try {
            const ConnectDecision d = impl.connect(in);
            out.set_allow(d.allow);
            if (d.allow) {
                out.set_user_id(d.user_id);
                out.set_user_name(d.user_name);
                if (!d.claims.empty()) {
                    out.set_claims_json(protocol::to_json(d.claims));
                }
            } else {
                set_error(out.mutable_error(), d.error);
            }
        } catch (...) {
            ++impl.n_handler_errors;
            log::error("connect hook threw", {{"error", what_of(std::current_exception())}});
            out.Clear();
            out.set_allow(false);
            set_error(out.mutable_error(), Error{"internal", "the backend failed"});
        }
        reply(reply_to, out);
    }

    void on_lifecycle(natsbus::Message&& msg) const {
        auto batch = std::make_shared<pb::LifecycleBatch>();
        if (!batch->ParseFromString(msg.data)) {
            ++impl.n_malformed;
            return;
        }
        if (!impl.lifecycle.try_post([this, batch] { run_lifecycle(*batch); })) {
            ++impl.n_lifecycle_dropped;
        }
    }

    void run_lifecycle(const pb::LifecycleBatch& batch) const {
        for (const auto& e : batch.events()) {
            const auto kind = from_proto(e.kind());
            if (!kind) {
                continue;  // a kind newer than this library
            }
            ++impl.n_lifecycle_events;
            const auto& handlers = impl.lifecycle_handlers[static_cast<std::size_t>(*kind)];
            if (handlers.empty()) {
                continue;
            }
            const LifecycleEvent event{*kind,
                                       batch.edge_id(),
                                       e.at_ms(),
                                       e.user_id(),
                                       e.user_name(),
                                       e.socket_id(),
                                       e.namespace_().empty() ? "/" : e.namespace_(),
                                       e.room(),
                                       e.reason(),
                                       e.recovered()};
            for (const auto& handler : handlers) {
                try {
                    handler(event);
                } catch (...) {
                    ++impl.n_handler_errors;
                    log::error(
                        "lifecycle handler threw",
                        {{"kind", to_string(*kind)}, {"error", what_of(std::current_exception())}});
                }
            }
        }
    }
};

}  // namespace

Expected<void> Backend::start() {
    if (impl_->started.exchange(true)) {
        throw std::logic_error("roomcast::backend: start() twice");
    }
    auto dispatch = std::make_shared<const Dispatch>(Dispatch{conn_, options_, *impl_});
    impl_->dispatcher = dispatch;
    const std::string& queue = options_.queue_group;
    auto add = [&](std::string_view subject, natsbus::MessageCallback cb,
                   std::string_view group) -> Expected<void> {
        auto sub = conn_.subscribe(subject, std::move(cb), group);
        if (!sub) {
            return Error{"unavailable",
                         "subscribing to " + std::string(subject) + ": " + sub.error().message()};
        }
        impl_->subscriptions.push_back(std::move(*sub));
        return {};
    };
    for (const auto& [subject, handler] : impl_->events) {
        const EventHandler* h = &handler;
        if (auto r = add(
                subject,
                [dispatch, h](natsbus::Message&& m) { dispatch->on_event(std::move(m), *h); },
                queue);
            !r) {
            return r;
        }
    }
    if (impl_->connect) {
        if (auto r = add(
                contract::kHookConnectSubject,
                [dispatch](natsbus::Message&& m) { dispatch->on_connect(std::move(m)); }, queue);
            !r) {
            return r;
        }
    }
    if (!impl_->joins.empty()) {
        if (auto r = add(
                contract::kHookJoinSubject,
                [dispatch](natsbus::Message&& m) { dispatch->on_join(std::move(m)); }, queue);
            !r) {
            return r;
        }
    }
    if (!impl_->publishes.empty()) {
        if (auto r = add(
                contract::kHookPublishSubject,
                [dispatch](natsbus::Message&& m) { dispatch->on_publish(std::move(m)); }, queue);
            !r) {
            return r;
        }
    }
    bool any_lifecycle = false;
    for (const auto& handlers : impl_->lifecycle_handlers) {
        any_lifecycle = any_lifecycle || !handlers.empty();
    }
    if (any_lifecycle) {
        const std::string subject = std::string(contract::kLifecycleSubjectPrefix) + ">";
        if (auto r = add(
                subject, [dispatch](natsbus::Message&& m) { dispatch->on_lifecycle(std::move(m)); },
                options_.share_lifecycle ? std::string_view(queue) : std::string_view());
            !r) {
            return r;
        }
    }
    // Once the server has processed the SUBs (flush round-trips a PING), requests reach us.
    if (auto r = conn_.flush(options_.publish_timeout); !r) {
        return Error{"unavailable", "flushing the subscriptions: " + r.error().message()};
    }
    return {};
}

// --- emits -----------------------------------------------------------------------------------

namespace {

Error from_bus_error(const boost::system::error_code& ec, std::string_view what) {
    using natsbus::Errc;
    if (ec == natsbus::make_error_code(Errc::kNotPermitted)) {
        return Error{"forbidden", std::string(what) + ": not permitted by the NATS role"};
    }
    if (ec == natsbus::make_error_code(Errc::kNoResponders)) {
        return Error{"unavailable", std::string(what) + ": no room stream (is an edge running?)"};
    }
    return Error{"unavailable", std::string(what) + ": " + ec.message()};
}

}  // namespace

namespace {

// The RoomEvent of both kinds of room events, serialized, after the checks they share.
Expected<std::string> room_event(const Backend& backend, const std::string& room,
                                 std::string_view event, const boost::json::value& data,
                                 const std::vector<std::string>& attachments) {
    if (!contract::valid_room_id(room)) {
        return Error{"bad_request",
                     "invalid room id (" + std::string(contract::kRoomIdPattern) + ")"};
    }
    if (!contract::valid_event_name(event)) {
        return Error{"bad_request", "invalid or reserved event name"};
    }
    bus::v1::RoomEvent out;
    out.set_room(room);
    out.set_event(std::string(event));
    out.set_data_json(protocol::to_json(data));
    for (const auto& a : attachments) {
        out.add_attachments(a);
    }
    out.set_from("server");
    out.set_published_at_ms(core::unix_ms());
    if (out.ByteSizeLong() > backend.options().max_payload_bytes) {
        return Error{"payload_too_large", "the event is larger than max_payload_bytes"};
    }
    return {boost::system::in_place_value, out.SerializeAsString()};
}

}  // namespace

Expected<std::uint64_t> RoomTarget::emit(std::string_view event, const boost::json::value& data,
                                         const std::vector<std::string>& attachments) const {
    auto bytes = room_event(backend_, room_, event, data, attachments);
    if (!bytes) {
        return bytes.error();
    }
    auto ack = backend_.connection().jetstream().publish(contract::room_subject(room_), *bytes, {},
                                                         backend_.options().publish_timeout);
    if (!ack) {
        return from_bus_error(ack.error(), "publishing to the room");
    }
    return ack->sequence;
}

Expected<void> RoomTarget::emit_ephemeral(std::string_view event, const boost::json::value& data,
                                          const std::vector<std::string>& attachments) const {
    auto bytes = room_event(backend_, room_, event, data, attachments);
    if (!bytes) {
        return bytes.error();
    }
    if (auto r = backend_.connection().publish(contract::ephemeral_subject(room_), *bytes); !r) {
        return from_bus_error(r.error(), "publishing the ephemeral event");
    }
    return {};
}

DirectTarget DirectTarget::in(std::string nsp) const {
    return DirectTarget(backend_, user_, id_, std::move(nsp));
}

Expected<void> DirectTarget::emit(std::string_view event, const boost::json::value& data,
                                  const std::vector<std::string>& attachments) const {
    pb::Emit out;
    if (user_) {
        if (!contract::valid_user_id(id_)) {
            return Error{"bad_request", "invalid user id (1 to 256 bytes of UTF-8)"};
        }
        out.set_user_id(id_);
    } else {
        if (!contract::valid_socket_id(id_)) {
            return Error{"bad_request", "invalid socket id"};
        }
        out.set_socket_id(id_);
    }
    if (!contract::valid_event_name(event)) {
        return Error{"bad_request", "invalid or reserved event name"};
    }
    if (!contract::valid_namespace(nsp_)) {
        return Error{"bad_request", "invalid namespace"};
    }
    out.set_namespace_(nsp_);
    out.set_event(std::string(event));
    std::string args = "[";
    protocol::write_json(args, data);
    args += ']';
    out.set_args_json(std::move(args));
    for (const auto& a : attachments) {
        out.add_attachments(a);
    }
    if (out.ByteSizeLong() > backend_.options().max_payload_bytes) {
        return Error{"payload_too_large", "the emit is larger than max_payload_bytes"};
    }
    if (auto r = backend_.connection().publish(contract::kEmitSubject, out.SerializeAsString());
        !r) {
        return from_bus_error(r.error(), "publishing the emit");
    }
    return {};
}

}  // namespace roomcast::backend
