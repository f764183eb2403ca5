#include "socketio/server.hpp"

#include "roomcast/core/log.hpp"
#include "roomcast/protocol/json.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <algorithm>

namespace roomcast::sio {

namespace psio = protocol::sio;
namespace asio = boost::asio;
namespace json = boost::json;
using transport::OutMessage;
using transport::OutMessagePtr;

namespace {

constexpr std::size_t kSocketIdChars = 20;

DisconnectReason from_engine(engineio::CloseReason r) noexcept {
    switch (r) {
        case engineio::CloseReason::kTransportError:
            return DisconnectReason::kTransportError;
        case engineio::CloseReason::kTransportClose:
            return DisconnectReason::kTransportClose;
        case engineio::CloseReason::kForcedClose:
            return DisconnectReason::kForcedClose;
        case engineio::CloseReason::kPingTimeout:
            return DisconnectReason::kPingTimeout;
        case engineio::CloseReason::kParseError:
            return DisconnectReason::kParseError;
        case engineio::CloseReason::kServerShutdown:
            return DisconnectReason::kServerShutdown;
        case engineio::CloseReason::kSlowConsumer:
            return DisconnectReason::kSlowConsumer;
        case engineio::CloseReason::kCount:
            break;
    }
    return DisconnectReason::kTransportError;
}

// "[v0,v1,...]" of `args` (with `event` first when given).
void write_args(std::string& out, std::optional<std::string_view> event, const Args& args) {
    out += '[';
    bool first = true;
    if (event) {
        protocol::write_json_string(out, *event);
        first = false;
    }
    for (const auto& v : args.values()) {
        if (!first) {
            out += ',';
        }
        first = false;
        protocol::write_json(out, v);
    }
    out += ']';
}

std::string connect_error_payload(const ConnectError& e) {
    std::string out = "{\"message\":";
    protocol::write_json_string(out, e.message);
    if (e.data) {
        out += ",\"data\":";
        protocol::write_json(out, *e.data);
    }
    out += '}';
    return out;
}

OutMessagePtr make_message(std::string text, std::vector<std::string> binaries = {}) {
    return std::make_shared<const OutMessage>(OutMessage{std::move(text), std::move(binaries)});
}

}  // namespace

std::string_view to_string(DisconnectReason reason) noexcept {
    switch (reason) {
        case DisconnectReason::kTransportError:
            return "transport error";
        case DisconnectReason::kTransportClose:
            return "transport close";
        case DisconnectReason::kForcedClose:
            return "forced close";
        case DisconnectReason::kPingTimeout:
            return "ping timeout";
        case DisconnectReason::kParseError:
            return "parse error";
        case DisconnectReason::kServerShutdown:
            return "server shutting down";
        case DisconnectReason::kSlowConsumer:
            return "slow consumer";
        case DisconnectReason::kClientNamespaceDisconnect:
            return "client namespace disconnect";
        case DisconnectReason::kServerNamespaceDisconnect:
            return "server namespace disconnect";
        case DisconnectReason::kForcedServerClose:
            return "forced server close";
    }
    return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Args

json::value Args::binary(std::string bytes) {
    const auto num = static_cast<std::uint32_t>(attachments_.size());
    attachments_.push_back(std::move(bytes));
    return psio::make_placeholder(num);
}

const std::string* Args::binary_of(const json::value& v) const noexcept {
    std::uint32_t num = 0;
    if (!psio::is_placeholder(v, num) || num >= attachments_.size()) {
        return nullptr;
    }
    return &attachments_[num];
}

OutMessagePtr encode_event(std::string_view nsp, std::string_view event, const Args& args,
                           std::optional<std::uint64_t> ack_id) {
    const auto attachments = static_cast<std::uint32_t>(args.attachments().size());
    std::string text = "4";
    psio::encode(text, attachments > 0 ? psio::PacketType::kBinaryEvent : psio::PacketType::kEvent,
                 nsp, ack_id, {}, attachments);
    write_args(text, event, args);
    return make_message(std::move(text), args.attachments());
}

// ---------------------------------------------------------------------------------------------
// Client: the Socket.IO connection over one Engine.IO session. Owns the connected sockets.
// Thread-safety: lives on the session's shard.

class Client : public std::enable_shared_from_this<Client> {
public:
    Client(Server& server, engineio::Session& session,
           std::vector<std::pair<std::string, std::string>> headers = {})
        : server_(server),
          headers_(std::move(headers)),
          session_(&session),
          shard_(session.shard()),
          decoder_(server.options().decoder),
          connect_timer_(&Client::on_connect_timeout, this) {
        connect_timer_.arm(shard_.timers(server.options().connect_timeout));
    }

    transport::Shard& shard() noexcept { return shard_; }

    void on_message(std::string_view text) {
        auto self = shared_from_this();
        auto result = decoder_.on_text(text);
        if (!result) {
            fail(result.error());
            return;
        }
        if (*result) {
            on_packet(std::move(**result));
            return;
        }
        // Attachments announced for a namespace this connection has not joined would be held
        // for nothing (the packet is refused when complete): refused now, before any is held.
        if (const std::string* nsp = decoder_.pending_namespace(); nsp != nullptr && find(*nsp) == nullptr) {
            decoder_.reset();
            invalid_state();
        }
    }

    void on_binary(std::string_view bytes) {
        auto self = shared_from_this();
        auto result = decoder_.on_binary(bytes);
        if (!result) {
            fail(result.error());
            return;
        }
        if (*result) {
            on_packet(std::move(**result));
        }
    }

    void on_close(engineio::CloseReason reason) {
        auto self = shared_from_this();
        closed_ = true;
        session_ = nullptr;
        connect_timer_.cancel();
        auto sockets = std::move(sockets_);
        sockets_.clear();
        for (auto& s : sockets) {
            s->on_closed(from_engine(reason));
        }
    }

    bool send(const OutMessagePtr& message, engineio::Delivery delivery, bool capped = true) {
        return session_ != nullptr && session_->send(message, delivery, capped);
    }

    void remove_socket(Socket& socket) {
        auto it = std::find_if(sockets_.begin(), sockets_.end(),
                               [&](const SocketPtr& s) { return s.get() == &socket; });
        if (it != sockets_.end()) {
            sockets_.erase(it);
        }
    }

    // Closes the Engine.IO connection; the remaining sockets leave with "forced server close".
    void close_connection() {
        if (session_ == nullptr) {
            return;
        }
        auto self = shared_from_this();
        auto sockets = std::move(sockets_);
        sockets_.clear();
        for (auto& s : sockets) {
            s->on_closed(DisconnectReason::kForcedServerClose);
        }
        session_->close(engineio::CloseReason::kForcedClose);
    }

    void drop_transport() {
        if (session_ != nullptr) {
            session_->abort(engineio::CloseReason::kTransportError);
        }
    }

private:
    Socket* find(std::string_view nsp) const noexcept {
        for (const auto& s : sockets_) {
            if (s->nsp().name() == nsp) {
                return s.get();
            }
        }
        return nullptr;
    }

    void fail(const boost::system::error_code& ec) {
        core::log::debug("socket.io decode error",
                         {{"sid", session_ ? session_->id() : ""}, {"error", ec.message()}});
        if (session_ != nullptr) {
            session_->abort(engineio::CloseReason::kParseError);
        }
    }

    // A packet that makes no sense in the connection's state (an event for a namespace it did
    // not join, a CONNECT_ERROR from a client): the reference server closes the connection.
    void invalid_state() {
        if (session_ != nullptr) {
            session_->close(engineio::CloseReason::kForcedClose);
        }
    }

    void on_packet(psio::Packet&& p) {
        using PT = psio::PacketType;
        switch (p.type) {
            case PT::kConnect:
                connect(std::move(p.nsp), std::move(p.data));
                return;
            case PT::kDisconnect:
                if (Socket* s = find(p.nsp)) {
                    s->shared_from_this()->on_closed(DisconnectReason::kClientNamespaceDisconnect);
                }
                return;
            case PT::kEvent:
            case PT::kBinaryEvent: {
                Socket* s = find(p.nsp);
                if (s == nullptr) {
                    invalid_state();
                    return;
                }
                auto& values = p.data->as_array();
                std::string event = values[0].is_string() ? std::string(values[0].get_string())
                                                          : protocol::to_json(values[0]);
                values.erase(values.begin());
                s->dispatch_event(Args(std::move(values), std::move(p.attachments)), event, p.id);
                return;
            }
            case PT::kAck:
            case PT::kBinaryAck: {
                Socket* s = find(p.nsp);
                if (s == nullptr) {
                    invalid_state();
                    return;
                }
                if (p.id) {
                    s->dispatch_ack(*p.id,
                                    Args(std::move(p.data->as_array()), std::move(p.attachments)));
                }
                return;
            }
            case PT::kConnectError:
                invalid_state();
                return;
        }
    }

    void send_connect_error(std::string_view nsp, const ConnectError& error) {
        std::string text = "4";
        psio::encode(text, psio::PacketType::kConnectError, nsp, std::nullopt,
                     connect_error_payload(error));
        send(make_message(std::move(text)), engineio::Delivery::kReliable);
        // Each refused CONNECT may have cost a token check: a connection that keeps trying is
        // closed (the client reconnects with backoff, a flood does not get a free loop).
        const auto cap = server_.options().max_connect_failures;
        if (cap > 0 && ++connect_failures_ >= cap && session_ != nullptr) {
            session_->close(engineio::CloseReason::kForcedClose);
        }
    }

    void connect(std::string name, std::optional<json::value> auth) {
        if (closed_) {
            return;
        }
        Namespace* nsp = server_.find(name, /*create=*/true);
        if (nsp == nullptr) {
            send_connect_error(name, ConnectError{"Invalid namespace", std::nullopt});
            return;
        }
        if (find(name) != nullptr ||
            std::find(connecting_.begin(), connecting_.end(), name) != connecting_.end()) {
            return;  // a duplicate CONNECT
        }
        Handshake hs;
        hs.auth = auth ? std::move(*auth) : json::value(json::object());
        hs.remote_address = session_->client_address();
        hs.engine_id = session_->id();
        hs.headers = headers_;
        if (!nsp->hook()) {
            accept(*nsp, std::move(hs), ConnectDecision{});
            return;
        }
        connecting_.push_back(name);
        std::weak_ptr<Client> weak = weak_from_this();
        transport::Shard* shard = &shard_;
        auto shared_hs = std::make_shared<Handshake>(std::move(hs));
        ConnectCallback done = [weak, shard, nsp, shared_hs](ConnectDecision decision) {
            auto run = [weak, nsp, shared_hs, decision = std::move(decision)]() mutable {
                if (auto c = weak.lock()) {
                    c->on_decision(*nsp, std::move(*shared_hs), std::move(decision));
                }
            };
            if (transport::Shard::current() == shard) {
                run();
            } else {
                asio::post(shard->ioc(), std::move(run));
            }
        };
        nsp->hook()(*shared_hs, std::move(done));
    }

    void on_decision(Namespace& nsp, Handshake hs, ConnectDecision decision) {
        auto it = std::find(connecting_.begin(), connecting_.end(), nsp.name());
        if (closed_ || it == connecting_.end()) {
            return;  // closed meanwhile, or the hook answered twice
        }
        connecting_.erase(it);
        if (decision.error) {
            send_connect_error(nsp.name(), *decision.error);
            return;
        }
        accept(nsp, std::move(hs), std::move(decision));
    }

    void accept(Namespace& nsp, Handshake hs, ConnectDecision decision) {
        auto self = shared_from_this();
        std::string id = decision.socket_id.empty() ? shard_.random_id(kSocketIdChars)
                                                    : std::move(decision.socket_id);
        auto socket = std::make_shared<Socket>(nsp, *this, std::move(id), std::move(hs));
        socket->data() = std::move(decision.data);
        socket->set_recovered(decision.recovered);
        sockets_.push_back(socket);
        nsp.shard_state(shard_.index()).sockets[socket->id()] = socket.get();
        connect_timer_.cancel();

        std::string payload = "{\"sid\":";
        protocol::write_json_string(payload, socket->id());
        if (!decision.pid.empty()) {
            payload += ",\"pid\":";
            protocol::write_json_string(payload, decision.pid);
        }
        payload += '}';
        std::string text = "4";
        psio::encode(text, psio::PacketType::kConnect, nsp.name(), std::nullopt, payload);
        send(make_message(std::move(text)), engineio::Delivery::kReliable);
        if (nsp.connection_handler()) {
            nsp.connection_handler()(socket);
        }
    }

    static void on_connect_timeout(void* self) {
        auto* c = static_cast<Client*>(self);
        auto keep = c->shared_from_this();
        if (c->sockets_.empty() && c->session_ != nullptr) {
            c->session_->close(engineio::CloseReason::kForcedClose);
        }
    }

    Server& server_;
    std::vector<std::pair<std::string, std::string>> headers_;  // ServerOptions::handshake_headers
    engineio::Session* session_;  // null once the session closed
    transport::Shard& shard_;
    psio::Decoder decoder_;
    std::vector<SocketPtr> sockets_;
    std::vector<std::string> connecting_;
    transport::Timer connect_timer_;
    std::uint32_t connect_failures_ = 0;
    bool closed_ = false;
};

namespace {
// The session owns its handler; the Client itself is shared so callbacks can hold weak refs.
class ClientHandler final : public engineio::SessionHandler {
public:
    explicit ClientHandler(std::shared_ptr<Client> client) : client_(std::move(client)) {}
    void on_message(std::string_view text) override { client_->on_message(text); }
    void on_binary(std::string_view bytes) override { client_->on_binary(bytes); }
    void on_close(engineio::CloseReason reason) override { client_->on_close(reason); }

private:
    std::shared_ptr<Client> client_;
};
}  // namespace

// ---------------------------------------------------------------------------------------------
// Ack

void Ack::operator()(const Args& reply) {
    if (!id_) {
        return;
    }
    const std::uint64_t id = *id_;
    id_.reset();
    auto socket = socket_.lock();
    if (!socket || !socket->connected()) {
        return;
    }
    const auto attachments = static_cast<std::uint32_t>(reply.attachments().size());
    std::string text = "4";
    psio::encode(text, attachments > 0 ? psio::PacketType::kBinaryAck : psio::PacketType::kAck,
                 socket->nsp().name(), id, {}, attachments);
    write_args(text, std::nullopt, reply);
    socket->send(make_message(std::move(text), reply.attachments()));
}

// ---------------------------------------------------------------------------------------------
// Socket

struct Socket::PendingAck {
    PendingAck(asio::io_context& ioc, std::uint64_t i, AckCallback cb)
        : id(i), callback(std::move(cb)), timer(ioc) {}
    std::uint64_t id;
    AckCallback callback;
    asio::steady_timer timer;
};

Socket::Socket(Namespace& nsp, Client& client, std::string id, Handshake handshake)
    : nsp_(&nsp),
      client_(&client),
      shard_(&client.shard()),
      id_(std::move(id)),
      handshake_(std::move(handshake)) {}

Socket::~Socket() = default;

transport::Shard& Socket::shard() const noexcept {
    return *shard_;
}

void Socket::on(std::string event, EventHandler handler) {
    handlers_.emplace_back(std::move(event), std::move(handler));
}

void Socket::on_disconnect(DisconnectHandler handler) {
    disconnect_handlers_.push_back(std::move(handler));
}

bool Socket::send(const OutMessagePtr& message, engineio::Delivery delivery) {
    return connected_ && client_ != nullptr && client_->send(message, delivery);
}

bool Socket::send_now(const OutMessagePtr& message) {
    return connected_ && client_ != nullptr &&
           client_->send(message, engineio::Delivery::kReliable, /*capped=*/false);
}

bool Socket::emit(std::string_view event, const Args& args) {
    if (!connected_) {
        return false;
    }
    return send(encode_event(nsp_->name(), event, args));
}

bool Socket::emit_volatile(std::string_view event, const Args& args) {
    if (!connected_) {
        return false;
    }
    return send(encode_event(nsp_->name(), event, args), engineio::Delivery::kVolatile);
}

void Socket::emit_with_ack(std::string_view event, const Args& args,
                           std::chrono::milliseconds timeout, AckCallback callback) {
    if (!connected_) {
        callback(std::nullopt);
        return;
    }
    const std::uint64_t id = next_ack_id_++;
    auto pending = std::make_unique<PendingAck>(shard_->ioc(), id, std::move(callback));
    pending->timer.expires_after(timeout);
    pending->timer.async_wait([weak = weak_from_this(), id](const boost::system::error_code& ec) {
        if (ec) {
            return;
        }
        auto self = weak.lock();
        if (!self) {
            return;
        }
        auto& acks = self->acks_;
        auto it =
            std::find_if(acks.begin(), acks.end(), [id](const auto& a) { return a->id == id; });
        if (it == acks.end()) {
            return;
        }
        auto expired = std::move(*it);
        acks.erase(it);
        expired->callback(std::nullopt);
    });
    acks_.push_back(std::move(pending));
    send(encode_event(nsp_->name(), event, args, id));
}

void Socket::dispatch_ack(std::uint64_t id, Args&& args) {
    auto it = std::find_if(acks_.begin(), acks_.end(), [id](const auto& a) { return a->id == id; });
    if (it == acks_.end()) {
        return;  // late (timed out) or unknown: ignored, as the reference does
    }
    auto pending = std::move(*it);
    acks_.erase(it);
    pending->timer.cancel();
    auto self = shared_from_this();
    pending->callback(std::move(args));
}

bool Socket::admit_event() {
    const auto& o = nsp_->server().options();
    if (o.events_per_second <= 0) {
        return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (tokens_ < 0) {
        tokens_ = o.event_burst;
    } else {
        const std::chrono::duration<double> elapsed = now - refilled_;
        tokens_ = std::min(o.event_burst, tokens_ + elapsed.count() * o.events_per_second);
    }
    refilled_ = now;
    if (tokens_ >= 1) {
        tokens_ -= 1;
        strikes_ = 0;
        return true;
    }
    ++strikes_;
    return false;
}

void Socket::dispatch_event(Args&& args, std::string_view event,
                            std::optional<std::uint64_t> ack_id) {
    auto self = shared_from_this();
    Ack ack = ack_id ? Ack(weak_from_this(), *ack_id) : Ack();
    if (!admit_event()) {
        const auto burst = static_cast<std::uint32_t>(std::max(1.0, nsp_->server().options().event_burst));
        if (strikes_ >= burst) {
            // Flooding well past the limit: answering each event would only feed it.
            core::log::warn("socket disconnected for flooding", {{"socket", id_}, {"refused", strikes_}});
            disconnect(true);
            return;
        }
        if (const auto& h = nsp_->rate_limited_handler()) {
            h(self, event, std::move(ack));
        }
        return;
    }
    for (const auto& [name, handler] : handlers_) {
        if (name == event) {
            // A copy: the handler may register more handlers and reallocate the list.
            EventHandler h = handler;
            h(self, std::move(args), std::move(ack));
            return;
        }
    }
    if (const EventHandler* h = nsp_->handler(event)) {
        (*h)(self, std::move(args), std::move(ack));
        return;
    }
    if (const auto& any = nsp_->any_handler()) {
        any(self, event, std::move(args), std::move(ack));
    }
}

void Socket::join(std::string_view room) {
    if (connected_) {
        nsp_->adapter().join(*this, room);
    }
}

void Socket::leave(std::string_view room) {
    if (connected_) {
        nsp_->adapter().leave(*this, room);
    }
}

std::vector<std::string> Socket::rooms() const {
    return nsp_->adapter().rooms(*this);
}

BroadcastOperator Socket::to(std::string room) {
    return BroadcastOperator(*nsp_).to(std::move(room)).except(id_);
}

BroadcastOperator Socket::broadcast() {
    return BroadcastOperator(*nsp_).except(id_);
}

void Socket::disconnect(bool close_connection) {
    if (!connected_) {
        return;
    }
    auto self = shared_from_this();
    Client* client = client_;
    std::string text = "4";
    psio::encode(text, psio::PacketType::kDisconnect, nsp_->name(), std::nullopt, {});
    send(make_message(std::move(text)), engineio::Delivery::kReliable);
    on_closed(DisconnectReason::kServerNamespaceDisconnect);
    if (close_connection) {
        client->close_connection();
    }
}

void Socket::close_transport() {
    if (connected_ && client_ != nullptr) {
        client_->drop_transport();
    }
}

void Socket::on_closed(DisconnectReason reason) {
    if (!connected_) {
        return;
    }
    auto self = shared_from_this();
    connected_ = false;
    auto& state = nsp_->shard_state(shard_->index());
    if (auto it = state.sockets.find(id_); it != state.sockets.end() && it->second == this) {
        state.sockets.erase(it);
    }
    client_->remove_socket(*this);
    client_ = nullptr;
    auto acks = std::move(acks_);
    acks_.clear();
    for (auto& a : acks) {
        a->timer.cancel();
        a->callback(std::nullopt);
    }
    auto handlers = std::move(disconnect_handlers_);
    disconnect_handlers_.clear();
    for (auto& h : handlers) {
        h(self, reason);
    }
    if (nsp_->disconnect_handler()) {
        nsp_->disconnect_handler()(self, reason);
    }
    // After the handlers, which may still read the socket's rooms. The socket is no longer
    // connected, so nothing is sent to it meanwhile.
    nsp_->adapter().leave_all(*this, reason);
}

// ---------------------------------------------------------------------------------------------
// Namespace

Namespace::Namespace(Server& server, std::string name) : server_(&server), name_(std::move(name)) {
    for (unsigned i = 0; i < server.shards().size(); ++i) {
        shards_.push_back(std::make_unique<ShardState>());
    }
    adapter_ = std::make_unique<LocalAdapter>(*this);
}

Namespace::~Namespace() = default;

const EventHandler* Namespace::handler(std::string_view event) const noexcept {
    const auto it = handlers_.find(std::string(event));
    return it == handlers_.end() ? nullptr : &it->second;
}

std::size_t Namespace::local_sockets(unsigned shard) const noexcept {
    return shards_[shard]->sockets.size();
}

Socket* Namespace::find_local(unsigned shard, std::string_view id) const noexcept {
    const auto& sockets = shards_[shard]->sockets;
    const auto it = sockets.find(id);
    return it == sockets.end() ? nullptr : it->second;
}

// ---------------------------------------------------------------------------------------------
// BroadcastOperator

void BroadcastOperator::emit(std::string_view event, const Args& args) {
    nsp_->adapter().broadcast(target_, event, args);
    target_ = {};
}

// ---------------------------------------------------------------------------------------------
// Server

Server::Server(transport::ShardPool& shards, ServerOptions options)
    : shards_(shards), options_(std::move(options)) {
    // A packet's attachments together fit in what one HTTP body or WebSocket message may hold.
    options_.decoder.max_attachment_bytes = options_.engine.max_payload;
    of("/");
    engine_ = std::make_unique<engineio::EngineServer>(
        shards_, options_.engine,
        [this](engineio::Session& session, const transport::HttpRequest& request)
            -> std::unique_ptr<engineio::SessionHandler> {
            std::vector<std::pair<std::string, std::string>> headers;
            for (const auto& name : options_.handshake_headers) {
                if (auto value = request.header(name)) {
                    headers.emplace_back(name, std::string(value->substr(
                                                   0, options_.handshake_header_bytes)));
                }
            }
            return std::make_unique<ClientHandler>(
                std::make_shared<Client>(*this, session, std::move(headers)));
        });
}

Server::~Server() = default;

Namespace& Server::of(const std::string& name) {
    auto it = namespaces_.find(name);
    if (it == namespaces_.end()) {
        it = namespaces_.emplace(name, std::make_unique<Namespace>(*this, name)).first;
    }
    return *it->second;
}

void Server::of_prefix(std::string prefix, std::function<bool(std::string_view)> valid,
                       std::function<void(Namespace&)> setup) {
    prefixes_.push_back(PrefixNamespaces{std::move(prefix), std::move(valid), std::move(setup)});
}

Namespace* Server::find(std::string_view name, bool create) {
    const std::string key(name);
    {
        std::shared_lock lock(namespaces_mu_);
        if (const auto it = namespaces_.find(key); it != namespaces_.end()) {
            return it->second.get();
        }
    }
    if (!create) {
        return nullptr;
    }
    // prefixes_ is fixed before start; only the map changes at run time.
    for (const auto& p : prefixes_) {
        if (name.size() <= p.prefix.size() || name.substr(0, p.prefix.size()) != p.prefix ||
            (p.valid && !p.valid(name))) {
            continue;
        }
        std::unique_lock lock(namespaces_mu_);
        if (const auto it = namespaces_.find(key); it != namespaces_.end()) {
            return it->second.get();  // created meanwhile by another shard
        }
        if (dynamic_namespaces_ >= options_.max_dynamic_namespaces) {
            core::log::warn("dynamic namespace refused: too many", {{"namespace", key}});
            return nullptr;
        }
        // Set up before it is visible: no shard sees it without its handlers.
        auto nsp = std::make_unique<Namespace>(*this, key);
        p.setup(*nsp);
        ++dynamic_namespaces_;
        return namespaces_.emplace(key, std::move(nsp)).first->second.get();
    }
    return nullptr;
}

}  // namespace roomcast::sio
