#include "engineio/engine.hpp"

#include "roomcast/core/log.hpp"
#include "roomcast/protocol/engineio.hpp"
#include "roomcast/protocol/json.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>

namespace roomcast::engineio {

namespace eio = protocol::eio;
namespace asio = boost::asio;
using transport::HeaderList;
using transport::HttpRequest;
using transport::HttpResponse;
using transport::OutMessage;
using transport::OutMessagePtr;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t kRandomIdChars = 19;  // 114 bits
// Between a WebSocket's last message and its close frame (Session::close_after_quiet).
constexpr std::chrono::milliseconds kCloseQuiet{50};

// Engine.IO packets that carry no data are shared immutable messages: no allocation per ping.
const OutMessagePtr& ping_message() {
    static const OutMessagePtr m = std::make_shared<const OutMessage>(OutMessage{"2", {}});
    return m;
}
const OutMessagePtr& probe_pong_message() {
    static const OutMessagePtr m = std::make_shared<const OutMessage>(OutMessage{"3probe", {}});
    return m;
}
const OutMessagePtr& close_message() {
    static const OutMessagePtr m = std::make_shared<const OutMessage>(OutMessage{"1", {}});
    return m;
}

int alphabet_index(char c) noexcept {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return 26 + (c - 'a');
    }
    if (c >= '0' && c <= '9') {
        return 52 + (c - '0');
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

HttpResponse text_response(std::string body, const HeaderList& cors) {
    HttpResponse r;
    r.status = 200;
    r.content_type = "text/plain; charset=UTF-8";
    r.headers = cors;
    r.headers.emplace_back("Cache-Control", "no-store");
    r.body = std::move(body);
    return r;
}

// A draining edge's answer to a new session: 503 (proxies retry it on another upstream) and
// no keep-alive (they stop reusing connections to this edge).
HttpResponse draining_response() {
    HttpResponse r;
    r.status = 503;
    r.content_type = "application/json";
    r.body = R"({"code":3,"message":"Server draining"})";
    r.headers.emplace_back("Retry-After", "1");
    r.close = true;
    return r;
}

// Over a session limit: 503 when the server is full (proxies retry another edge), 429 when one
// client address holds too many.
HttpResponse limit_response(unsigned status) {
    HttpResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = status == 429 ? R"({"code":3,"message":"Too many connections from this address"})"
                           : R"({"code":3,"message":"Server full"})";
    r.headers.emplace_back("Retry-After", "1");
    r.close = true;
    return r;
}

// A polling POST's answer.
HttpResponse ok_response(HeaderList cors) {
    HttpResponse ok;
    ok.status = 200;
    ok.content_type = "text/html";
    ok.headers = std::move(cors);
    ok.body = "ok";
    return ok;
}

HttpResponse with_cors(HttpResponse r, const HeaderList& cors) {
    r.headers.insert(r.headers.end(), cors.begin(), cors.end());
    return r;
}

std::uint16_t close_code_for(CloseReason reason) noexcept {
    switch (reason) {
        case CloseReason::kParseError:
            return 1002;
        case CloseReason::kServerShutdown:
            return 1001;
        case CloseReason::kSlowConsumer:
            return 1008;
        default:
            return 1000;
    }
}

}  // namespace

std::string_view to_string(CloseReason reason) noexcept {
    switch (reason) {
        case CloseReason::kTransportError:
            return "transport error";
        case CloseReason::kTransportClose:
            return "transport close";
        case CloseReason::kForcedClose:
            return "forced close";
        case CloseReason::kPingTimeout:
            return "ping timeout";
        case CloseReason::kParseError:
            return "parse error";
        case CloseReason::kServerShutdown:
            return "server shutting down";
        case CloseReason::kSlowConsumer:
            return "slow consumer";
        case CloseReason::kCount:
            break;
    }
    return "unknown";
}

HttpResponse error_response(int code, unsigned status) {
    static constexpr std::string_view kMessages[] = {
        "Transport unknown", "Session ID unknown", "Bad handshake method",
        "Bad request",       "Forbidden",          "Unsupported protocol version"};
    HttpResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = "{\"code\":" + std::to_string(code) + ",\"message\":";
    protocol::write_json_string(r.body, kMessages[std::clamp(code, 0, 5)]);
    r.body += '}';
    return r;
}

// ---------------------------------------------------------------------------------------------
// EngineServer

EngineServer::EngineServer(transport::ShardPool& shards, Options options, OpenHandler on_open)
    : shards_(shards), options_(std::move(options)), on_open_(std::move(on_open)) {
    for (unsigned i = 0; i < shards_.size(); ++i) {
        shard_states_.push_back(std::make_unique<ShardState>(options_, shards_.shard(i).ioc()));
    }
}

EngineServer::~EngineServer() {
    // Sessions update their shard's stats as they go: destroy them while the stats exist.
    for (auto& state : shard_states_) {
        state->sessions.clear();
    }
}

EngineServer::Cors EngineServer::cors_for(const HttpRequest& request) const {
    Cors cors;
    if (options_.cors_origins.empty()) {
        return cors;
    }
    const auto origin = request.header("origin");
    if (!origin) {
        return cors;  // not a cross-origin browser request
    }
    const bool any = std::find(options_.cors_origins.begin(), options_.cors_origins.end(), "*") !=
                     options_.cors_origins.end();
    const bool listed = any || std::find(options_.cors_origins.begin(), options_.cors_origins.end(),
                                         *origin) != options_.cors_origins.end();
    if (!listed) {
        cors.allowed = false;
        return cors;
    }
    if (any && !options_.cors_credentials) {
        cors.headers.emplace_back("Access-Control-Allow-Origin", "*");
    } else {
        cors.headers.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
        cors.headers.emplace_back("Vary", "Origin");
    }
    if (options_.cors_credentials) {
        cors.headers.emplace_back("Access-Control-Allow-Credentials", "true");
    }
    return cors;
}

bool EngineServer::check_query(const HttpRequest& request, std::string_view& transport_name,
                               HttpResponse& error) const {
    const auto eio_version = request.query_param("EIO");
    if (!eio_version || *eio_version != "4") {
        // EIO=3 (socket.io 2.x clients) is not supported: a clear refusal, code 5.
        error = refuse(5);
        return false;
    }
    const auto transport = request.query_param("transport");
    if (transport && *transport == "polling" && options_.allow_polling) {
        transport_name = "polling";
    } else if (transport && *transport == "websocket" && options_.allow_websocket) {
        transport_name = "websocket";
    } else {
        error = refuse(0);
        return false;
    }
    return true;
}

std::string_view EngineServer::node_of(std::string_view sid) noexcept {
    const auto dot = sid.rfind('.');
    return dot == std::string_view::npos ? std::string_view{} : sid.substr(0, dot);
}

int EngineServer::owner_of(std::string_view sid) const noexcept {
    const std::string prefix = this->prefix();
    if (sid.size() != prefix.size() + 1 + kRandomIdChars ||
        sid.substr(0, prefix.size()) != prefix) {
        return -1;
    }
    const int shard = alphabet_index(sid[prefix.size()]);
    if (shard < 0 || static_cast<unsigned>(shard) >= shards_.size()) {
        return -1;
    }
    return shard;
}

std::shared_ptr<Session> EngineServer::find(unsigned shard, const std::string& sid) {
    auto& sessions = shard_states_[shard]->sessions;
    const auto it = sessions.find(sid);
    return it == sessions.end() ? nullptr : it->second;
}

std::shared_ptr<Session> EngineServer::create(transport::Shard& shard, TransportKind kind,
                                              const HttpRequest& /*request*/) {
    auto& state = *shard_states_[shard.index()];
    std::string id;
    do {
        id = prefix();
        id += kAlphabet[shard.index()];
        id += shard.random_id(kRandomIdChars);
    } while (state.sessions.contains(id));
    auto session = std::make_shared<Session>(*this, shard, std::move(id), kind);
    state.sessions.emplace(session->id(), session);
    state.stats->opened.add();
    return session;
}

HttpResponse EngineServer::refuse(int code, unsigned status) const {
    if (auto* shard = transport::Shard::current(); shard != nullptr && code >= 0 && code < 6) {
        shard_states_[shard->index()]->stats->refused[static_cast<std::size_t>(code)].add();
    }
    return error_response(code, status);
}

void EngineServer::remove(Session& session) {
    // Erased by iterator: the key views the session's id, which the erase may destroy.
    auto& sessions = shard_states_[session.shard().index()]->sessions;
    if (const auto it = sessions.find(session.id()); it != sessions.end() && it->second.get() == &session) {
        sessions.erase(it);
    }
}

bool EngineServer::can_hold_close(Session& session) const {
    return !shard_states_[session.shard().index()]->closed_polls.full();
}

void EngineServer::hold_close(Session& session, transport::Responder post, HeaderList cors) {
    const unsigned shard = session.shard().index();
    shard_states_[shard]->closed_polls.add(session.id(),
                                           HeldClose{std::move(post), std::move(cors)},
                                           std::chrono::steady_clock::now());
    arm_closed_timer(shard);
}

void EngineServer::release_held_closes() {
    const transport::Shard* shard = transport::Shard::current();
    if (shard == nullptr) {
        return;
    }
    for (auto& held : shard_states_[shard->index()]->closed_polls.take_all()) {
        held.post.respond(ok_response(std::move(held.cors)));
    }
}

void EngineServer::arm_closed_timer(unsigned shard) {
    ShardState& state = *shard_states_[shard];
    const auto next = state.closed_polls.next_expiry();
    if (state.closed_timer_armed || !next) {
        return;  // one linger for all: an armed timer is due no later than any newer entry
    }
    state.closed_timer_armed = true;
    state.closed_timer.expires_at(*next);
    // Aborted only when the ShardState (and this server) is being destroyed: touch nothing then.
    state.closed_timer.async_wait([this, shard](const boost::system::error_code& ec) {
        if (ec) {
            return;
        }
        ShardState& st = *shard_states_[shard];
        st.closed_timer_armed = false;
        // No GET came within the linger: the client had none in flight.
        for (auto& held : st.closed_polls.take_expired(std::chrono::steady_clock::now())) {
            held.post.respond(ok_response(std::move(held.cors)));
        }
        arm_closed_timer(shard);
    });
}

void EngineServer::on_request(HttpRequest&& request, transport::Responder&& responder) {
    Cors cors = cors_for(request);
    if (!cors.allowed) {
        responder.respond(refuse(4, 403));
        return;
    }
    if (request.method == "OPTIONS") {
        HttpResponse r;
        r.status = 204;
        r.headers = std::move(cors.headers);
        r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        if (const auto h = request.header("access-control-request-headers")) {
            r.headers.emplace_back("Access-Control-Allow-Headers", std::string(*h));
        }
        responder.respond(std::move(r));
        return;
    }
    std::string_view transport_name;
    HttpResponse error;
    if (!check_query(request, transport_name, error)) {
        responder.respond(with_cors(std::move(error), cors.headers));
        return;
    }
    if (transport_name != "polling") {
        // transport=websocket without an Upgrade header.
        responder.respond(with_cors(refuse(3), cors.headers));
        return;
    }
    auto sid = request.query_param("sid");
    if (!sid) {
        if (request.method != "GET") {
            responder.respond(with_cors(refuse(2), cors.headers));
            return;
        }
        if (draining_.load(std::memory_order_relaxed)) {
            responder.respond(with_cors(draining_response(), cors.headers));
            return;
        }
        std::string address = client_address(request);
        unsigned status = 0;
        if (!reserve(address, status)) {
            responder.respond(with_cors(limit_response(status), cors.headers));
            return;
        }
        transport::Shard& shard = *transport::Shard::current();
        auto session = create(shard, TransportKind::kPolling, request);
        session->start(nullptr, std::move(address));
        if (on_open_) {
            session->set_handler(on_open_(*session, request));
        }
        eio::Handshake hs;
        hs.sid = session->id();
        hs.upgrade_to_websocket = options_.allow_upgrades && options_.allow_websocket;
        hs.ping_interval_ms = static_cast<std::uint64_t>(options_.ping_interval.count());
        hs.ping_timeout_ms = static_cast<std::uint64_t>(options_.ping_timeout.count());
        hs.max_payload = options_.max_payload;
        responder.respond(text_response(eio::encode_open(hs), cors.headers));
        return;
    }
    const int owner = owner_of(*sid);
    if (owner < 0) {
        const auto node = node_of(*sid);
        if (foreign_ && !node.empty() && node != options_.node_id) {
            foreign_(std::string(node), std::move(request), std::move(cors.headers),
                     std::move(responder));
            return;
        }
        responder.respond(with_cors(refuse(1), cors.headers));
        return;
    }
    const auto shard = static_cast<unsigned>(owner);
    if (transport::Shard::current() == &shards_.shard(shard)) {
        handle_owned_request(shard, std::move(*sid), std::move(request), std::move(cors.headers),
                             std::move(responder));
        return;
    }
    asio::post(shards_.shard(shard).ioc(),
               [this, shard, sid = std::move(*sid), request = std::move(request),
                cors = std::move(cors.headers), responder = std::move(responder)]() mutable {
                   handle_owned_request(shard, std::move(sid), std::move(request), std::move(cors),
                                        std::move(responder));
               });
}

void EngineServer::handle_forwarded(HttpRequest&& request, transport::Responder&& responder) {
    Cors cors = cors_for(request);
    auto sid = request.query_param("sid");
    const int owner = sid ? owner_of(*sid) : -1;
    if (owner < 0) {
        responder.respond(with_cors(refuse(1), cors.headers));
        return;
    }
    const auto shard = static_cast<unsigned>(owner);
    asio::post(shards_.shard(shard).ioc(),
               [this, shard, sid = std::move(*sid), request = std::move(request),
                cors = std::move(cors.headers), responder = std::move(responder)]() mutable {
                   handle_owned_request(shard, std::move(sid), std::move(request), std::move(cors),
                                        std::move(responder));
               });
}

void EngineServer::abort_pending_poll(const std::string& sid) {
    const int owner = owner_of(sid);
    if (owner < 0) {
        return;
    }
    const auto shard = static_cast<unsigned>(owner);
    asio::post(shards_.shard(shard).ioc(), [this, shard, sid] {
        if (auto session = find(shard, sid)) {
            session->abort_pending_get();
        }
    });
}

void EngineServer::handle_owned_request(unsigned shard, std::string sid, HttpRequest request,
                                        HeaderList cors, transport::Responder responder) {
    auto session = find(shard, sid);
    if (!session) {
        if (request.method != "GET") {
            responder.respond(with_cors(refuse(1), cors));
            return;
        }
        if (auto held = shard_states_[shard]->closed_polls.take(sid)) {
            // The long-poll the client had in flight when it closed the session, read after
            // the close: the noop it would have got had it been read first. Then the close.
            responder.respond(text_response("6", cors));
            held->post.respond(ok_response(std::move(held->cors)));
            return;
        }
        responder.respond(with_cors(refuse(1), cors));
        return;
    }
    session->on_poll_request(std::move(request), std::move(cors), std::move(responder));
}

void EngineServer::on_upgrade(HttpRequest&& request, transport::WsUpgrade&& upgrade) {
    Cors cors = cors_for(request);
    if (!cors.allowed) {
        upgrade.reject(refuse(4, 403));
        return;
    }
    std::string_view transport_name;
    HttpResponse error;
    if (!check_query(request, transport_name, error)) {
        upgrade.reject(std::move(error));
        return;
    }
    if (transport_name != "websocket") {
        upgrade.reject(refuse(3));
        return;
    }
    auto sid = request.query_param("sid");
    if (!sid) {
        if (draining_.load(std::memory_order_relaxed)) {
            upgrade.reject(draining_response());
            return;
        }
        std::string address = client_address(request);
        unsigned status = 0;
        if (!reserve(address, status)) {
            upgrade.reject(limit_response(status));
            return;
        }
        transport::Shard& shard = *transport::Shard::current();
        // The slot is released by the session, or here when the upgrade never completes.
        auto slot = std::shared_ptr<std::string>(new std::string(address), [this](std::string* a) {
            if (!a->empty()) {
                release(*a);
            }
            delete a;
        });
        upgrade.accept(shard, options_.max_payload,
                       [this, &shard, slot,
                        request = std::move(request)](std::shared_ptr<transport::WsConnection> ws) {
                           auto session = create(shard, TransportKind::kWebSocket, request);
                           std::string address = std::move(*slot);
                           slot->clear();  // the session owns the slot now
                           session->start(std::move(ws), std::move(address));
                           // The handler comes after the open packet is queued, so whatever it
                           // sends follows.
                           if (on_open_) {
                               session->set_handler(on_open_(*session, request));
                           }
                       });
        return;
    }
    const int owner = owner_of(*sid);
    if (owner < 0) {
        upgrade.reject(refuse(1));
        return;
    }
    const auto shard = static_cast<unsigned>(owner);
    asio::post(shards_.shard(shard).ioc(), [this, shard, sid = std::move(*sid),
                                            request = std::move(request),
                                            upgrade = std::move(upgrade)]() mutable {
        handle_owned_upgrade(shard, std::move(sid), std::move(request), std::move(upgrade));
    });
}

void EngineServer::handle_owned_upgrade(unsigned shard, std::string sid, HttpRequest /*request*/,
                                        transport::WsUpgrade upgrade) {
    auto session = find(shard, sid);
    if (!session) {
        upgrade.reject(refuse(1));
        return;
    }
    if (!options_.allow_upgrades) {
        upgrade.reject(refuse(3));
        return;
    }
    // A known session that cannot upgrade (already upgraded, or upgrading) gets a completed
    // handshake followed by a close, as the reference server does: clients see a close, not an
    // HTTP error.

    std::weak_ptr<Session> weak = session;
    upgrade.accept(shards_.shard(shard), options_.max_payload,
                   [weak](std::shared_ptr<transport::WsConnection> ws) {
                       auto s = weak.lock();
                       if (!s || !s->can_upgrade()) {
                           ws->start(nullptr);
                           ws->close(1008, "upgrade not possible");
                           return;
                       }
                       s->begin_upgrade(std::move(ws));
                   });
}

void EngineServer::close_all(CloseReason reason, std::chrono::milliseconds spread) {
    // Closing in slices spreads the reconnects of a draining edge's clients over `spread`
    // instead of sending them all to the other edges in the same instant.
    constexpr auto kTick = std::chrono::milliseconds(50);
    const auto slices = std::max<std::int64_t>(1, spread / kTick);
    for (unsigned i = 0; i < shards_.size(); ++i) {
        asio::post(shards_.shard(i).ioc(), [this, i, reason, slices, kTick] {
            struct Drain {
                std::vector<std::weak_ptr<Session>> sessions;
                std::size_t next = 0;
                std::size_t per_slice = 1;
                std::unique_ptr<asio::steady_timer> timer;
            };
            auto drain = std::make_shared<Drain>();
            for (auto& [id, s] : shard_states_[i]->sessions) {
                drain->sessions.push_back(s);
            }
            drain->per_slice = std::max<std::size_t>(
                1, (drain->sessions.size() + static_cast<std::size_t>(slices) - 1) /
                       static_cast<std::size_t>(slices));
            drain->timer = std::make_unique<asio::steady_timer>(shards_.shard(i).ioc());
            auto step = std::make_shared<std::function<void()>>();
            *step = [drain, reason, step, kTick] {
                const auto end = std::min(drain->sessions.size(), drain->next + drain->per_slice);
                for (; drain->next < end; ++drain->next) {
                    if (auto s = drain->sessions[drain->next].lock()) {
                        s->close(reason);
                    }
                }
                if (drain->next >= drain->sessions.size()) {
                    *step = nullptr;  // breaks the self-reference
                    return;
                }
                drain->timer->expires_after(kTick);
                drain->timer->async_wait([step](const boost::system::error_code& ec) {
                    if (!ec && *step) {
                        (*step)();
                    }
                });
            };
            (*step)();
        });
    }
}

std::string EngineServer::client_address(const HttpRequest& request) const {
    const auto& trusted = options_.trusted_proxies;
    if (std::find(trusted.begin(), trusted.end(), request.remote_address) == trusted.end()) {
        return request.remote_address;
    }
    const auto xff = request.header("x-forwarded-for");
    if (!xff || xff->empty()) {
        return request.remote_address;
    }
    // The last entry is the one our trusted proxy appended: the address it saw. Earlier
    // entries are whatever the client sent.
    std::string_view list = *xff;
    const auto comma = list.rfind(',');
    std::string_view last = comma == std::string_view::npos ? list : list.substr(comma + 1);
    while (!last.empty() && last.front() == ' ') {
        last.remove_prefix(1);
    }
    while (!last.empty() && last.back() == ' ') {
        last.remove_suffix(1);
    }
    return last.empty() || last.size() > 64 ? request.remote_address : std::string(last);
}

bool EngineServer::reserve(const std::string& address, unsigned& status) {
    if (options_.max_sessions != 0 && sessions_.load(std::memory_order_relaxed) >= options_.max_sessions) {
        status = 503;
        return false;
    }
    if (options_.max_sessions_per_ip != 0) {
        std::lock_guard lock(per_ip_mu_);
        auto& n = per_ip_[address];
        if (n >= options_.max_sessions_per_ip) {
            status = 429;
            return false;
        }
        ++n;
    }
    sessions_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void EngineServer::release(const std::string& address) {
    sessions_.fetch_sub(1, std::memory_order_relaxed);
    if (options_.max_sessions_per_ip != 0) {
        std::lock_guard lock(per_ip_mu_);
        if (auto it = per_ip_.find(address); it != per_ip_.end() && --it->second == 0) {
            per_ip_.erase(it);
        }
    }
}

std::uint64_t EngineServer::open_sessions() const noexcept {
    std::uint64_t n = 0;
    for (const auto& state : shard_states_) {
        n += state->stats->open_polling.get() + state->stats->open_websocket.get();
    }
    return n;
}

// ---------------------------------------------------------------------------------------------
// Session

Session::Session(EngineServer& engine, transport::Shard& shard, std::string id, TransportKind kind)
    : engine_(engine),
      shard_(shard),
      id_(std::move(id)),
      kind_(kind),
      ping_timer_(&Session::on_ping_timer, this),
      pong_timer_(&Session::on_pong_timer, this) {
    auto& stats = engine_.stats(shard_.index());
    (kind_ == TransportKind::kPolling ? stats.open_polling : stats.open_websocket).add();
}

Session::~Session() {
    engine_.release(client_address_);
    auto& stats = engine_.stats(shard_.index());
    (kind_ == TransportKind::kPolling ? stats.open_polling : stats.open_websocket).sub();
}

void Session::start(std::shared_ptr<transport::WsConnection> ws, std::string client_address) {
    client_address_ = std::move(client_address);
    ping_timer_.arm(shard_.timers(engine_.options().ping_interval));
    if (ws) {
        ws_ = std::move(ws);
        ws_->start(this);
        const auto& o = engine_.options();
        eio::Handshake hs;
        hs.sid = id_;
        hs.upgrade_to_websocket = false;
        hs.ping_interval_ms = static_cast<std::uint64_t>(o.ping_interval.count());
        hs.ping_timeout_ms = static_cast<std::uint64_t>(o.ping_timeout.count());
        hs.max_payload = o.max_payload;
        send(std::make_shared<const OutMessage>(OutMessage{eio::encode_open(hs), {}}));
    }
}

bool Session::send(OutMessagePtr message, Delivery delivery, bool capped) {
    if (state_ != State::kOpen || doomed_) {
        return false;
    }
    const auto& o = engine_.options();
    const std::size_t size = message->bytes();
    // What counts against the caps (messages sent exempt do not).
    const std::size_t capped_messages = queue_.size() - exempt_messages_;
    const std::size_t capped_bytes = queue_bytes_ - exempt_bytes_;
    if (delivery == Delivery::kDroppable) {
        if (capped_messages >= o.max_queue_messages / 4 || capped_bytes + size > o.max_queue_bytes / 4) {
            engine_.stats(shard_.index()).droppable_dropped.add();
            return false;
        }
    }
    if (delivery == Delivery::kVolatile) {
        const bool writable =
            kind_ == TransportKind::kWebSocket
                ? (ws_ && !ws_->writing() && queue_.empty())
                : (static_cast<bool>(pending_get_) && !upgrading_ && queue_.empty());
        if (!writable) {
            engine_.stats(shard_.index()).volatile_dropped.add();
            return false;
        }
    }
    if (capped && (capped_messages >= o.max_queue_messages || capped_bytes + size > o.max_queue_bytes)) {
        // Closing now could re-enter the caller (a broadcast walking a room): defer it.
        doomed_ = true;
        asio::post(shard_.ioc(),
                   [self = shared_from_this()] { self->abort(CloseReason::kSlowConsumer); });
        return false;
    }
    queue_bytes_ += size;
    if (!capped) {
        exempt_messages_ += 1;
        exempt_bytes_ += size;
    }
    queue_.push_back(std::move(message));
    schedule_flush();
    return true;
}

void Session::schedule_flush() {
    if (flush_scheduled_) {
        return;
    }
    flush_scheduled_ = true;
    // Flushing after the current handler returns batches everything it sent into one write or
    // one polling response.
    engine_.schedule_flush(shared_from_this());
}

void EngineServer::schedule_flush(std::shared_ptr<Session> session) {
    const unsigned shard = session->shard().index();
    auto& st = *shard_states_[shard];
    st.to_flush.push_back(std::move(session));
    if (st.flush_posted) {
        return;
    }
    st.flush_posted = true;
    asio::post(shards_.shard(shard).ioc(), [this, shard] {
        auto& s = *shard_states_[shard];
        s.flush_posted = false;
        // Flushes may schedule more (a write completing at once lets a session flush again):
        // those go to the emptied to_flush and the next post.
        s.flushing.swap(s.to_flush);
        for (auto& session : s.flushing) {
            session->flush_scheduled_ = false;
            session->flush();
        }
        s.flushing.clear();
    });
}

void Session::flush() {
    if (state_ == State::kClosed || queue_.empty()) {
        return;
    }
    auto& stats = engine_.stats(shard_.index());
    if (kind_ == TransportKind::kPolling) {
        if (!pending_get_ || upgrading_) {
            return;
        }
        const bool with_close = close_queued_;
        respond_to_get(take_payload());
        if (state_ == State::kClosing && with_close) {
            finish(CloseReason::kForcedClose, false);
        }
        return;
    }
    if (!ws_ || ws_->writing()) {
        return;  // on_ws_drained() continues
    }
    stats.messages_out.add(queue_.size());
    stats.bytes_out.add(queue_bytes_);
    queue_bytes_ = 0;
    exempt_messages_ = 0;
    exempt_bytes_ = 0;
    // Takes the messages and hands back the connection's spent vector: no allocation per write.
    ws_->write(queue_);
}

std::string Session::take_payload() {
    eio::PayloadWriter writer;
    auto& stats = engine_.stats(shard_.index());
    stats.messages_out.add(queue_.size());
    stats.bytes_out.add(queue_bytes_);
    for (const auto& m : queue_) {
        if (!m->text.empty()) {
            writer.add_text(m->text);
        }
        for (const auto& b : m->binaries) {
            writer.add_binary(b);
        }
    }
    std::vector<OutMessagePtr>().swap(queue_);  // polling sessions are mostly idle: free it
    queue_bytes_ = 0;
    exempt_messages_ = 0;
    exempt_bytes_ = 0;
    return writer.take();
}

void Session::respond_to_get(std::string body) {
    if (!pending_get_) {
        return;
    }
    auto responder = std::move(pending_get_);
    pending_get_ = transport::Responder();
    responder.respond(text_response(std::move(body), pending_get_cors_));
    pending_get_cors_.clear();
}

bool Session::ping_overdue() const noexcept {
    // Judged by the heartbeat's schedule, not by when this shard ran its timers: a busy shard
    // runs them late, and a request that comes after pingInterval + pingTimeout must find the
    // session gone all the same (unless the ping reached the client late: on_ping_timer).
    const auto now = transport::Timer::Clock::now();
    if (awaiting_pong_) {
        return now >= pong_deadline_;
    }
    // The ping is due but its timer has not run yet, so no pong can have answered it.
    return ping_timer_.armed() && now >= ping_timer_.deadline() + engine_.options().ping_timeout;
}

void Session::on_poll_request(HttpRequest&& request, HeaderList cors,
                              transport::Responder&& responder) {
    auto self = shared_from_this();
    if (state_ == State::kClosed) {
        responder.respond(with_cors(engine_.refuse(1), cors));
        return;
    }
    if (ping_overdue()) {
        // Checked on arrival rather than trusting timer precision: a client that answers
        // after pingInterval + pingTimeout finds its session gone, as the reference does.
        abort(CloseReason::kPingTimeout);
        responder.respond(with_cors(engine_.refuse(1), cors));
        return;
    }
    if (kind_ != TransportKind::kPolling) {
        responder.respond(with_cors(engine_.refuse(3), cors));
        return;
    }
    if (request.method == "GET") {
        on_get(request.arrived_ns, std::move(cors), std::move(responder));
    } else if (request.method == "POST") {
        on_post(std::move(request), std::move(cors), std::move(responder));
    } else {
        responder.respond(with_cors(engine_.refuse(3), cors));
    }
}

void Session::on_get(std::int64_t arrived_ns, HeaderList&& cors, transport::Responder&& responder) {
    if (pending_get_) {
        // Two GETs at once: the client is broken, replaying, or gave up on the first. The one
        // that arrived first gets a close packet, the other an error, and the session ends.
        // That is the waiting one unless the new one arrived earlier: two shards may read two
        // connections in either order (a busy thread reads late), so arrival decides.
        if (arrived_ns != 0 && pending_get_arrived_ns_ != 0 &&
            arrived_ns < pending_get_arrived_ns_) {
            auto later = std::move(pending_get_);
            pending_get_ = transport::Responder();
            later.respond(with_cors(engine_.refuse(3), pending_get_cors_));
            pending_get_cors_.clear();
            responder.respond(text_response("1", cors));
        } else {
            respond_to_get("1");
            responder.respond(with_cors(engine_.refuse(3), cors));
        }
        abort(CloseReason::kTransportError);
        return;
    }
    if (upgrading_) {
        // The client may have sent the upgrade ("5") on the probe before this GET, its frame still
        // unread on the probe's socket (the two connections are read in either order): then the
        // GET comes after the upgrade and gets what any polling request after it gets.
        if (const std::int64_t first = probe_ ? probe_->unread_arrival_ns() : 0;
            first != 0 && arrived_ns != 0 && first < arrived_ns) {
            responder.respond(with_cors(engine_.refuse(3), cors));
            return;
        }
        responder.respond(text_response("6", cors));
        return;
    }
    if (!queue_.empty()) {
        pending_get_ = std::move(responder);
        pending_get_cors_ = std::move(cors);
        pending_get_arrived_ns_ = arrived_ns;
        flush();
        return;
    }
    if (state_ == State::kClosing) {
        responder.respond(text_response("1", cors));
        finish(CloseReason::kForcedClose, false);
        return;
    }
    pending_get_ = std::move(responder);
    pending_get_cors_ = std::move(cors);
    pending_get_arrived_ns_ = arrived_ns;
    const std::uint64_t generation = ++get_generation_;
    std::weak_ptr<Session> weak = weak_from_this();
    pending_get_.on_abort(shard_, [weak, generation] {
        if (auto s = weak.lock()) {
            s->on_get_aborted(generation);
        }
    });
}

void Session::on_get_aborted(std::uint64_t generation) {
    if (generation != get_generation_ || !pending_get_) {
        return;
    }
    pending_get_.dismiss();
    pending_get_cors_.clear();
    // The client gave up on its long-poll: without a GET it cannot receive anything.
    finish(CloseReason::kTransportClose, true);
}

void Session::on_post(HttpRequest&& request, HeaderList&& cors, transport::Responder&& responder) {
    if (state_ != State::kOpen) {
        responder.respond(with_cors(engine_.refuse(1), cors));
        return;
    }
    if (const auto ct = request.header("content-type");
        ct && ct->substr(0, 24) == "application/octet-stream") {
        // Binary POST bodies are Engine.IO v3 framing; v4 sends base64 in text.
        responder.respond(with_cors(engine_.refuse(3), cors));
        abort(CloseReason::kTransportError);
        return;
    }
    auto packets = eio::decode_payload(request.body, engine_.options().max_packets_per_payload);
    if (!packets) {
        responder.respond(with_cors(engine_.refuse(3), cors));
        abort(CloseReason::kParseError);
        return;
    }
    const bool closes = std::any_of(packets->begin(), packets->end(), [](const eio::Packet& p) {
        return p.type == eio::PacketType::kClose;
    });
    if (closes && !pending_get_ && engine_.can_hold_close(*this)) {
        // No GET is waiting to take the noop: the client's may be on its way, sent with this
        // POST. The close happens now; its answer waits for that GET (see ClosedPolls).
        engine_.hold_close(*this, std::move(responder), std::move(cors));
    } else {
        responder.respond(ok_response(std::move(cors)));
    }
    auto& stats = engine_.stats(shard_.index());
    stats.bytes_in.add(request.body.size());
    for (const auto& p : *packets) {
        if (!on_packet(static_cast<char>('0' + static_cast<int>(p.type)), p.data, p.binary)) {
            break;
        }
    }
}

bool Session::on_packet(char type, std::string_view data, bool binary) {
    switch (type) {
        case '3':
            on_pong();
            break;
        case '4':
            engine_.stats(shard_.index()).messages_in.add();
            if (handler_) {
                if (binary) {
                    handler_->on_binary(data);
                } else {
                    handler_->on_message(data);
                }
            }
            break;
        case '1':
            // The client closes: a waiting long-poll is released with a noop.
            respond_to_get("6");
            finish(CloseReason::kTransportClose, true);
            return false;
        default:
            // ping (v3 style), noop, open, upgrade outside an upgrade: nothing to do.
            break;
    }
    return state_ == State::kOpen;
}

void Session::on_pong() {
    if (!awaiting_pong_) {
        return;
    }
    awaiting_pong_ = false;
    pong_timer_.cancel();
    ping_timer_.arm(shard_.timers(engine_.options().ping_interval));
}

void Session::on_ping_timer(void* self) {
    auto* s = static_cast<Session*>(self);
    if (s->state_ != State::kOpen) {
        return;
    }
    s->awaiting_pong_ = true;
    const auto timeout = s->engine_.options().ping_timeout;
    // A ping that reaches the client now (a WebSocket, or a long-poll waiting for it) is owed
    // pingTimeout from now, as the reference server gives it, however late this shard ran the
    // timer: the client cannot answer a ping before it has it. A ping that waits in the queue
    // for the client's next GET is judged by the schedule (see ping_overdue()): whether the
    // shard ran late changes nothing for that client.
    const bool reaches_client_now = s->kind_ == TransportKind::kWebSocket || s->pending_get_;
    s->pong_deadline_ =
        (reaches_client_now ? transport::Timer::Clock::now() : s->ping_timer_.deadline()) + timeout;
    s->pong_timer_.arm(s->shard_.timers(timeout));
    s->send(ping_message());
}

void Session::on_pong_timer(void* self) {
    auto* s = static_cast<Session*>(self);
    auto keep = s->shared_from_this();
    s->abort(CloseReason::kPingTimeout);
}

// --- WebSocket transport ---

void Session::on_ws_message(bool binary, std::string_view payload) {
    auto self = shared_from_this();
    auto& stats = engine_.stats(shard_.index());
    stats.bytes_in.add(payload.size());
    if (binary) {
        on_packet('4', payload, true);
        return;
    }
    auto packet = eio::decode_text_view(payload);
    if (!packet) {
        abort(CloseReason::kParseError);
        return;
    }
    on_packet(static_cast<char>('0' + static_cast<int>(packet->type)), packet->data, false);
}

void Session::on_ws_closed(transport::WsCloseCause cause) {
    auto self = shared_from_this();
    ws_.reset();
    finish(cause == transport::WsCloseCause::kPeerClosed      ? CloseReason::kTransportClose
           : cause == transport::WsCloseCause::kProtocolError ? CloseReason::kParseError
                                                              : CloseReason::kTransportError,
           state_ == State::kOpen);
}

void Session::on_ws_drained() {
    auto self = shared_from_this();
    flush();
    if (state_ == State::kClosing && queue_.empty() && ws_ && !ws_->writing()) {
        close_after_quiet();
    }
}

void Session::close_after_quiet() {
    // A short pause between the last message and the close frame: socket.io-client handles a
    // decoded packet a tick later, so messages that reach it in the same read as the close are
    // handled after its disconnect — outside the offset it recovers from, and so twice.
    close_timer_.arm(shard_.timers(kCloseQuiet), this);
}

// --- upgrade ---

bool Session::can_upgrade() const noexcept {
    return state_ == State::kOpen && kind_ == TransportKind::kPolling && !probe_;
}

void Session::begin_upgrade(std::shared_ptr<transport::WsConnection> ws) {
    probe_ = std::move(ws);
    probe_->start(&probe_handler_);
    upgrade_timer_.arm(shard_.timers(engine_.options().upgrade_timeout), this);
}

void Session::ProbeHandler::on_ws_message(bool binary, std::string_view payload) {
    Session& s = session_;
    auto self = s.shared_from_this();
    if (!binary && payload == "2probe") {
        s.probe_->write({probe_pong_message()});
        s.upgrading_ = true;
        // Release the waiting long-poll so the client can pause polling and send "5".
        s.respond_to_get("6");
        return;
    }
    if (!binary && payload == "5" && s.upgrading_) {
        s.finish_upgrade();
        return;
    }
    s.cancel_upgrade();
}

void Session::ProbeHandler::on_ws_closed(transport::WsCloseCause /*cause*/) {
    Session& s = session_;
    s.probe_.reset();
    s.upgrading_ = false;
    s.upgrade_timer_.cancel();
    s.flush();
}

void Session::finish_upgrade() {
    upgrade_timer_.cancel();
    respond_to_get("6");
    auto& stats = engine_.stats(shard_.index());
    stats.open_polling.sub();
    stats.open_websocket.add();
    stats.upgrades.add();
    kind_ = TransportKind::kWebSocket;
    ws_ = std::move(probe_);
    probe_.reset();
    upgrading_ = false;
    ws_->set_handler(this);
    flush();
}

void Session::cancel_upgrade() {
    upgrade_timer_.cancel();
    upgrading_ = false;
    if (probe_) {
        auto probe = std::move(probe_);
        probe_.reset();
        probe->close(1002, "upgrade failed");
    }
    flush();
}

void Session::on_upgrade_timer(void* self) {
    auto* s = static_cast<Session*>(self);
    auto keep = s->shared_from_this();
    s->cancel_upgrade();
}

// --- closing ---

void Session::close(CloseReason reason) {
    if (state_ != State::kOpen) {
        return;
    }
    auto self = shared_from_this();
    state_ = State::kClosing;
    closing_reason_ = reason;
    if (handler_) {
        handler_->on_close(reason);
    }
    if (state_ == State::kClosed) {
        return;
    }
    close_timer_.arm(shard_.timers(engine_.options().close_timeout), this);
    if (kind_ == TransportKind::kPolling) {
        if (probe_) {
            cancel_upgrade();
        }
        // Messages still queued go out first, in a response of their own; the close packet
        // follows with the next poll (on_get), as the reference server drains its write buffer
        // before it closes. In one payload with the close, socket.io-client processes those
        // events only after its disconnect (it defers them a tick), so it would not count them
        // in the offset it recovers from, and get them twice.
        if (queue_.empty()) {
            queue_.push_back(close_message());
            queue_bytes_ += 1;
            close_queued_ = true;
        }
        flush();
        return;
    }
    if (ws_ && (ws_->writing() || !queue_.empty())) {
        flush();
        return;
    }
    if (ws_) {
        close_after_quiet();
        return;
    }
    finish(reason, false);
}

void Session::abort(CloseReason reason) {
    finish(reason, true);
}

void Session::on_close_timer(void* self) {
    auto* s = static_cast<Session*>(self);
    auto keep = s->shared_from_this();
    // The quiet after a WebSocket's last message, or the close timeout of a peer that does not
    // finish closing.
    const bool quiet_over = s->kind_ == TransportKind::kWebSocket && s->queue_.empty() && s->ws_ &&
                            !s->ws_->writing();
    s->finish(quiet_over ? s->closing_reason_ : CloseReason::kForcedClose, false);
}

void Session::finish(CloseReason reason, bool notify) {
    if (state_ == State::kClosed) {
        return;
    }
    auto self = shared_from_this();
    const bool was_open = state_ == State::kOpen;
    state_ = State::kClosed;
    ping_timer_.cancel();
    pong_timer_.cancel();
    upgrade_timer_.cancel();
    close_timer_.cancel();
    if (pending_get_) {
        respond_to_get("1");
    }
    if (probe_) {
        probe_->close(1001);
        probe_.reset();
    }
    if (ws_) {
        auto ws = std::move(ws_);
        ws_.reset();
        if (reason == CloseReason::kSlowConsumer || reason == CloseReason::kTransportError) {
            ws->abort();  // the peer is not reading or already broken: no close handshake
        } else {
            ws->close(close_code_for(reason));
        }
    }
    queue_.clear();
    queue_bytes_ = 0;
    exempt_messages_ = 0;
    exempt_bytes_ = 0;
    engine_.stats(shard_.index()).closed[static_cast<std::size_t>(reason)].add();
    if (notify && was_open && handler_) {
        handler_->on_close(reason);
    }
    engine_.remove(*this);
}

}  // namespace roomcast::engineio
