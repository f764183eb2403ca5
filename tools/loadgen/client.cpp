#include "client.hpp"

#include "http.hpp"
#include "message.hpp"

#include "roomcast/protocol/base64.hpp"
#include "roomcast/protocol/engineio.hpp"
#include "roomcast/protocol/json.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/object.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace roomcast::loadgen {
namespace {

namespace asio = boost::asio;
namespace ws = protocol::ws;
using boost::asio::ip::tcp;
using boost::system::error_code;

// Write buffers bigger than this are released when they drain, so that an idle client keeps
// no heap for them (a pong fits in std::string's inline storage).
constexpr std::size_t kKeepBufferBytes = 256;
// Unsent bytes one client may hold; beyond it the server is not reading and the connection is
// dropped (a load generator must not grow without bound behind a stalled server).
constexpr std::size_t kMaxOutBytes = 8 * 1024 * 1024;
// Largest polling response body accepted (the server's default maxPayload is 1 MB, but one
// GET may carry many queued packets).
constexpr std::size_t kMaxPollBody = 64 * 1024 * 1024;
constexpr std::size_t kMaxPollPackets = 1'000'000;
// A keep-alive connection idle for longer than this is not reused: the edge closes idle HTTP
// connections after 30 s, and a request written into a half-closed socket would be lost.
constexpr auto kMaxKeepAliveIdle = std::chrono::seconds(20);

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

std::int64_t realtime_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void release(std::string& s) {
    if (s.capacity() > kKeepBufferBytes) {
        std::string().swap(s);
    } else {
        s.clear();
    }
}

// Opens `socket` towards client `index`'s URL, bound to its source address when there are
// any. IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(), so ports are per
// (source, destination) pair and not limited to one range per source address.
error_code open_socket(tcp::socket& socket, const Plan& plan, std::uint64_t index,
                       const tcp::endpoint& to) {
    error_code ec;
    socket.open(to.protocol(), ec);
    if (ec) {
        return ec;
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (!plan.sources.empty()) {
        const auto& source = plan.sources[index % plan.sources.size()];
        const int one = 1;
        ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        socket.bind(tcp::endpoint(source, 0), ec);
    }
    return ec;
}

Delivery delivery_of(const Plan& plan) noexcept {
    return plan.options.ephemeral ? Delivery::kEphemeral : Delivery::kStored;
}

}  // namespace

// --- Client: Socket.IO and the collaboration protocol -------------------------------------------

Client::Client(Worker& worker, std::uint64_t index)
    : worker_(worker),
      index_(index),
      phase_timer_(&Client::on_phase_timeout, this),
      ping_timer_(&Client::on_ping_timeout, this) {}

Client::~Client() = default;

std::int64_t Client::elapsed_us() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count();
}

void Client::arm_phase_timer() {
    phase_timer_.arm(worker_.shard().timers(worker_.plan().options.connect_timeout));
}

void Client::start() {
    ++epoch_;
    state_ = State::kConnecting;
    started_ = Clock::now();
    in_room_ = false;
    next_ack_ = 0;
    join_ack_ = 0;
    churn_ack_ = 0;
    ping_deadline_ = std::chrono::milliseconds(0);
    worker_.counters.live.add();
    arm_phase_timer();
    transport_open();  // last: it may fail (and reset this client) synchronously
}

void Client::churn(std::uint64_t cycle) {
    churn_pending_ = true;
    churn_number_ = cycle;
    close();
}

void Client::close() {
    if (state_ == State::kIdle || state_ == State::kClosing) {
        return;
    }
    const bool sio_open = state_ == State::kJoining || state_ == State::kReady;
    if (state_ == State::kJoining && !settled_) {
        worker_.counters.join_failed.add();
        settle(false);
    }
    state_ = State::kClosing;
    in_room_ = false;
    ping_timer_.cancel();
    if (sio_open) {
        transport_send("41");  // Socket.IO DISCONNECT, as socket.disconnect() sends it
    }
    phase_timer_.arm(worker_.shard().timers(worker_.plan().close_linger));
    transport_close();
}

void Client::transport_closed() {
    if (state_ != State::kClosing) {
        return;
    }
    phase_timer_.cancel();
    transport_abort();
    worker_.counters.live.sub();
    state_ = State::kIdle;
    if (churn_pending_) {
        churn_pending_ = false;
        if (worker_.closing()) {
            worker_.on_churn_done(*this, false);
            return;
        }
        churn_cycle_ = true;
        start();
    }
}

void Client::fail(Why why) {
    transport_abort();
    phase_timer_.cancel();
    ping_timer_.cancel();
    if (state_ != State::kIdle) {
        worker_.counters.live.sub();
    }
    state_ = State::kIdle;
    worker_.counters.fail_reasons[static_cast<std::size_t>(why)].add();
    if (churn_cycle_) {
        churn_cycle_ = false;
        worker_.on_churn_done(*this, false);
    } else if (!settled_) {
        worker_.counters.failed.add();
        settle(false);
    }
}

void Client::settle(bool ok) {
    if (settled_) {
        return;
    }
    settled_ = true;
    worker_.counters.settled.add();
    worker_.on_settled(ok);
}

void Client::on_transport_lost(Why why) {
    if (state_ == State::kIdle) {
        return;
    }
    if (state_ == State::kClosing) {
        transport_closed();  // the server finished (or broke) the close we started
        return;
    }
    if (state_ == State::kConnecting || state_ == State::kSioConnecting) {
        fail(why);
        return;
    }
    // An established connection ended without our asking.
    const State was = state_;
    transport_abort();
    phase_timer_.cancel();
    ping_timer_.cancel();
    worker_.counters.live.sub();
    state_ = State::kIdle;
    in_room_ = false;
    worker_.counters.disconnected.add();
    worker_.counters.disconnect_reasons[static_cast<std::size_t>(why)].add();
    if (was == State::kJoining) {
        worker_.counters.join_failed.add();
        settle(false);
    }
    if (churn_cycle_) {
        churn_cycle_ = false;
        worker_.on_churn_done(*this, false);
    }
}

void Client::on_phase_timeout(void* self) {
    auto* c = static_cast<Client*>(self);
    switch (c->state_) {
        case State::kClosing:
            c->transport_closed();  // the server did not finish the close in time
            return;
        case State::kConnecting:
        case State::kSioConnecting:
            c->fail(Why::kTimeout);
            return;
        case State::kJoining:
            // Connected but the join was not answered: a connected client without a room.
            c->state_ = State::kReady;
            c->worker_.counters.join_failed.add();
            c->worker_.counters.fail_reasons[static_cast<std::size_t>(Why::kTimeout)].add();
            if (c->churn_cycle_) {
                c->churn_cycle_ = false;
                c->worker_.on_churn_done(*c, false);
            }
            c->settle(false);
            return;
        case State::kReady:
            if (c->churn_cycle_) {
                // The churn cycle's publish was not acked in time.
                c->churn_cycle_ = false;
                c->worker_.counters.pub_errors.add();
                c->worker_.on_churn_done(*c, false);
            }
            return;
        case State::kIdle:
            return;
    }
}

void Client::on_ping_timeout(void* self) {
    auto* c = static_cast<Client*>(self);
    if (c->state_ != State::kIdle && c->state_ != State::kClosing) {
        c->on_transport_lost(Why::kPingTimeout);
    }
}

bool Client::on_open(std::string_view handshake_json) {
    auto parsed = protocol::parse_json(handshake_json);
    if (!parsed || !parsed->is_object()) {
        return false;
    }
    const auto& o = parsed->get_object();
    const auto* interval = o.if_contains("pingInterval");
    const auto* timeout = o.if_contains("pingTimeout");
    if (interval == nullptr || timeout == nullptr || !interval->is_number() ||
        !timeout->is_number()) {
        return false;
    }
    boost::system::error_code ec;
    const auto i = interval->to_number<std::int64_t>(ec);
    const auto t = timeout->to_number<std::int64_t>(ec);
    if (ec || i <= 0 || t <= 0) {
        return false;
    }
    ping_deadline_ = std::chrono::milliseconds(i + t) + worker_.plan().options.ping_timeout_grace;
    ping_timer_.arm(worker_.shard().timers(ping_deadline_));
    send_connect();
    return true;
}

void Client::send_connect() {
    const Plan& plan = worker_.plan();
    std::string& p = worker_.packet_buffer();
    p.assign("40");
    if (plan.key && !plan.options.no_auth) {
        const auto now = static_cast<std::int64_t>(std::time(nullptr));
        boost::json::object claims;
        claims["sub"] = plan.user_id(index_);
        claims["iat"] = now;
        claims["exp"] = now + 3600;
        auto token = jwt::sign(claims, *plan.key);
        p += "{\"token\":";
        protocol::write_json_string(p, token ? *token : std::string());
        p += '}';
    } else {
        p += "{}";
    }
    state_ = State::kSioConnecting;
    transport_send(p);
}

void Client::on_eio(char type, std::string_view data) {
    switch (type) {
        case '0':
            if (state_ == State::kConnecting && !on_open(data)) {
                on_transport_lost(Why::kHandshake);
            }
            return;
        case '1':
            on_transport_lost(Why::kTransportClose);
            return;
        case '2':
            transport_send("3");
            if (ping_deadline_.count() > 0 && state_ != State::kClosing) {
                ping_timer_.arm(worker_.shard().timers(ping_deadline_));
            }
            return;
        case '4':
            on_sio(data);
            return;
        default:
            return;  // pong, noop, upgrade: nothing to do
    }
}

void Client::on_sio(std::string_view text) {
    if (text.empty()) {
        return;
    }
    const char type = text.front();
    text.remove_prefix(1);
    if (!text.empty() && text.front() == '/') {
        return;  // another namespace: not ours
    }
    switch (type) {
        case '0':
            if (state_ == State::kSioConnecting && text.find("\"sid\"") != std::string_view::npos) {
                on_connected();
            }
            return;
        case '4':
            if (state_ == State::kSioConnecting) {
                fail(text.find("unauthorized") != std::string_view::npos ? Why::kUnauthorized
                                                                         : Why::kConnectError);
            }
            return;
        case '1':
            on_transport_lost(Why::kServerDisconnect);
            return;
        case '3': {
            std::uint64_t id = 0;
            const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
            if (ec != std::errc() || ptr == text.data()) {
                return;
            }
            on_ack(id, text.substr(static_cast<std::size_t>(ptr - text.data())));
            return;
        }
        case '2': {
            // A server event asking for an ack would carry an id; the edge sends none.
            std::size_t i = 0;
            while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
                ++i;
            }
            on_event(text.substr(i));
            return;
        }
        default:
            return;  // binary packets: not used by the load generator
    }
}

void Client::on_connected() {
    worker_.connect_hist().record(
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed_us())));
    if (!ever_established_) {
        ever_established_ = true;
        worker_.counters.established.add();
    }
    if (worker_.plan().options.rooms > 0) {
        send_join();
        return;
    }
    phase_timer_.cancel();
    state_ = State::kReady;
    worker_.connect_join_hist().record(
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed_us())));
    settle(true);
}

void Client::send_join() {
    std::string& p = worker_.packet_buffer();
    p.assign("42");
    join_ack_ = next_ack_++;
    append_uint(p, join_ack_);
    p += "[\"join\",{\"room\":\"";
    p += worker_.plan().room(index_);
    p += "\"}]";
    state_ = State::kJoining;
    transport_send(p);
}

void Client::on_ack(std::uint64_t id, std::string_view payload) {
    const bool ok = is_ok_ack(payload);
    if (state_ == State::kJoining && id == join_ack_) {
        phase_timer_.cancel();
        state_ = State::kReady;
        if (!ok) {
            worker_.counters.join_failed.add();
            if (churn_cycle_) {
                churn_cycle_ = false;
                worker_.on_churn_done(*this, false);
            }
            settle(false);
            return;
        }
        in_room_ = true;
        ever_joined_ = true;
        worker_.counters.joined.add();
        worker_.connect_join_hist().record(
            static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed_us())));
        if (churn_cycle_) {
            publish_churn();
            phase_timer_.arm(worker_.shard().timers(worker_.plan().options.ack_timeout));
        }
        settle(true);
        return;
    }
    if (churn_cycle_ && id == churn_ack_ && churn_ack_ != 0) {
        phase_timer_.cancel();
        churn_cycle_ = false;
        if (ok) {
            worker_.counters.acked.add();
        } else {
            worker_.counters.pub_errors.add();
        }
        worker_.on_churn_done(*this, ok);
        return;
    }
    if (publisher_ != nullptr) {
        if (publisher_->end_ack_id && *publisher_->end_ack_id == id) {
            return;
        }
        worker_.on_publish_ack(*publisher_, id, ok);
    }
}

Client::Received& Client::received_for(std::uint32_t publisher) {
    auto it = std::lower_bound(received_.begin(), received_.end(), publisher,
                               [](const Received& r, std::uint32_t p) { return r.publisher < p; });
    if (it == received_.end() || it->publisher != publisher) {
        it = received_.insert(it, Received{publisher, {}});
    }
    return *it;
}

void Client::on_event(std::string_view payload) {
    thread_local std::string storage;
    LgMessage m;
    switch (decode_event(payload, worker_.plan().event_json, m, storage)) {
        case EventMatch::kOther:
            return;
        case EventMatch::kForeign:
            worker_.counters.foreign.add();
            return;
        case EventMatch::kMessage:
            break;
    }
    if (m.kind == LgMessage::Kind::kChurn) {
        worker_.on_delivery(m.sent_ns, m.offset);
        return;
    }
    const std::uint32_t id = worker_.intern(m.publisher);
    if (id == own_id_) {
        return;  // our own message (echo): never counted
    }
    Received& r = received_for(id);
    if (m.kind == LgMessage::Kind::kEnd) {
        r.tracker.on_end({m.end, m.refused});
        return;
    }
    r.tracker.on_message(m.seq);
    worker_.on_delivery(m.sent_ns, m.offset);
}

std::uint64_t Client::missing_ends(const std::vector<std::uint32_t>& local) const {
    std::uint64_t missing = 0;
    for (const auto& r : received_) {
        if (r.publisher != own_id_ && !r.tracker.end()) {
            ++missing;
        }
    }
    for (const std::uint32_t p : local) {
        if (p == own_id_) {
            continue;
        }
        const auto it =
            std::lower_bound(received_.begin(), received_.end(), p,
                             [](const Received& r, std::uint32_t x) { return r.publisher < x; });
        if (it == received_.end() || it->publisher != p) {
            ++missing;
        }
    }
    return missing;
}

void Client::set_publisher(Publisher* p) {
    publisher_ = p;
    own_id_ = p != nullptr ? worker_.intern(p->id) : ~0U;
}

void Client::publish_data() {
    Publisher& pub = *publisher_;
    if (state_ != State::kReady || !in_room_) {
        return;
    }
    const Plan& plan = worker_.plan();
    std::string& p = worker_.packet_buffer();
    p.assign("42");
    const std::uint64_t ack = next_ack_++;
    append_uint(p, ack);
    append_publish_open(p, pub.room, plan.event_json);
    append_data(p, pub.id, pub.sent, realtime_ns(), plan.options.payload_bytes);
    append_publish_close(p, delivery_of(plan));
    transport_send(p);
    ++pub.sent;
    worker_.counters.sent.add();
    worker_.counters.pending_acks.add();
    pub.pending.emplace_back(ack, Clock::now() + plan.options.ack_timeout);
}

void Client::publish_end() {
    Publisher& pub = *publisher_;
    if (state_ != State::kReady || !in_room_ || pub.end_sent) {
        return;
    }
    const Plan& plan = worker_.plan();
    std::string& p = worker_.packet_buffer();
    p.assign("42");
    const std::uint64_t ack = next_ack_++;
    append_uint(p, ack);
    append_publish_open(p, pub.room, plan.event_json);
    append_end(p, pub.id, pub.sent, pub.refused);
    // Always stored, also with --ephemeral: the count must reach every receiver (an ephemeral
    // marker could be dropped under backpressure), and it follows the data (the publisher has
    // every data ack before it sends it), so a receiver has its data before the count.
    append_publish_close(p, Delivery::kStored);
    pub.end_ack_id = ack;
    pub.end_sent = true;
    transport_send(p);
}

void Client::publish_churn() {
    const Plan& plan = worker_.plan();
    std::string& p = worker_.packet_buffer();
    p.assign("42");
    churn_ack_ = next_ack_++;
    append_uint(p, churn_ack_);
    append_publish_open(p, plan.room(index_), plan.event_json);
    append_churn(p, plan.user_id(index_), churn_number_, realtime_ns());
    append_publish_close(p, delivery_of(plan));
    transport_send(p);
    worker_.counters.sent.add();
}

// --- WsClient ---------------------------------------------------------------------------------

WsClient::WsClient(Worker& worker, std::uint64_t index)
    : Client(worker, index), socket_(worker.shard().ioc()), reader_(ws::Role::kClient) {}

WsClient::~WsClient() {
    error_code ec;
    socket_.close(ec);
}

void WsClient::transport_open() {
    phase_ = Phase::kTcp;
    reading_ = false;
    writing_ = false;
    shutdown_after_write_ = false;
    const Plan& plan = worker_.plan();
    const auto& to = plan.endpoints[index() % plan.endpoints.size()];
    if (open_socket(socket_, plan, index(), to)) {
        lost(Why::kConnect);
        return;
    }
    socket_.async_connect(to, [this, e = epoch_](const error_code& ec) {
        if (e == epoch_) {
            on_connect(ec);
        }
    });
}

void WsClient::on_connect(const error_code& ec) {
    if (phase_ != Phase::kTcp) {
        return;
    }
    if (ec) {
        lost(Why::kConnect);
        return;
    }
    error_code nb;
    socket_.non_blocking(true, nb);
    std::uint8_t raw[16];
    worker_.random_bytes(raw, sizeof raw);
    const std::string key =
        protocol::base64_encode(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
    // The expected Sec-WebSocket-Accept waits at the front of in_, before the response bytes.
    in_ = ws::accept_key(key);
    phase_ = Phase::kUpgrade;
    const Target& target =
        worker_.plan().options.urls[index() % worker_.plan().options.urls.size()];
    http::append_upgrade_request(out_, target.path + "?EIO=4&transport=websocket",
                                 target.host_header, key);
    flush();
    wait_readable();
}

void WsClient::wait_readable() {
    if (reading_ || phase_ == Phase::kClosed) {
        return;
    }
    reading_ = true;
    socket_.async_wait(tcp::socket::wait_read, [this, e = epoch_](const error_code& ec) {
        if (e != epoch_) {
            return;
        }
        reading_ = false;
        on_readable(ec);
    });
}

void WsClient::on_readable(const error_code& ec) {
    if (phase_ == Phase::kClosed) {
        return;
    }
    if (ec) {
        lost(Why::kTransportClose);
        return;
    }
    const auto scratch = worker_.shard().scratch();
    const std::uint32_t e = epoch_;
    // Bounded: a server that keeps the socket full cannot starve this thread's other clients.
    for (int round = 0; round < 4; ++round) {
        error_code rec;
        const std::size_t n = socket_.read_some(asio::buffer(scratch.data(), scratch.size()), rec);
        if (rec == asio::error::would_block || rec == asio::error::try_again) {
            wait_readable();
            return;
        }
        if (rec) {
            if (phase_ == Phase::kClosing) {
                finish();  // EOF after our close frame: the close handshake is complete
            } else {
                lost(Why::kTransportClose);
            }
            return;
        }
        if (phase_ == Phase::kClosing) {
            continue;  // draining until the server's EOF
        }
        if (!consume(scratch.first(n)) || e != epoch_) {
            return;
        }
        if (n < scratch.size()) {
            break;
        }
    }
    if (phase_ != Phase::kClosed && e == epoch_) {
        wait_readable();
    }
}

bool WsClient::consume(std::span<char> data) {
    const std::uint32_t e = epoch_;
    if (phase_ == Phase::kUpgrade) {
        constexpr std::size_t kAcceptSize = 28;
        in_.append(data.data(), data.size());
        const std::size_t blank = in_.find("\r\n\r\n", kAcceptSize);
        if (blank == std::string::npos) {
            if (in_.size() > kAcceptSize + http::kMaxHead) {
                lost(Why::kHandshake);
                return false;
            }
            return true;
        }
        const std::string_view all(in_);
        const std::string_view head = all.substr(kAcceptSize, blank + 4 - kAcceptSize);
        if (!http::upgrade_accepted(head, all.substr(0, kAcceptSize))) {
            // Another status than 101 is the server's refusal (kept by status: 503 while it is
            // not ready, 429 or 503 at a limit, ...); a 101 without the right accept is ours.
            const unsigned status = http::status_of(head).value_or(0);
            if (status != 101) {
                worker_.upgrade_refused(status);
                lost(Why::kUpgradeRefused);
            } else {
                lost(Why::kHandshake);
            }
            return false;
        }
        std::string rest = in_.substr(blank + 4);
        std::string().swap(in_);
        phase_ = Phase::kOpen;
        if (rest.empty()) {
            return true;
        }
        return consume(std::span<char>(rest.data(), rest.size()));
    }
    if (phase_ != Phase::kOpen) {
        return false;
    }
    auto result = reader_.feed(data, *this);
    if (e != epoch_) {
        return false;
    }
    if (!result) {
        lost(Why::kProtocolError);
        return false;
    }
    if (reader_.buffered() == 0) {
        reader_.shrink();
    }
    return phase_ == Phase::kOpen || phase_ == Phase::kClosing;
}

bool WsClient::on_message(ws::Opcode opcode, std::string_view payload) {
    if (phase_ != Phase::kOpen) {
        return false;
    }
    const std::uint32_t e = epoch_;
    if (opcode == ws::Opcode::kText && !payload.empty()) {
        on_eio(payload.front(), payload.substr(1));
    }
    return e == epoch_ && phase_ == Phase::kOpen;
}

bool WsClient::on_ping(std::string_view payload) {
    if (phase_ == Phase::kOpen) {
        write_frame(ws::Opcode::kPong, payload);
    }
    return phase_ == Phase::kOpen;
}

bool WsClient::on_pong(std::string_view /*payload*/) {
    return phase_ == Phase::kOpen;
}

bool WsClient::on_close(std::uint16_t /*code*/, std::string_view /*reason*/) {
    if (phase_ == Phase::kOpen) {
        lost(Why::kTransportClose);
    }
    return false;
}

void WsClient::write_frame(ws::Opcode opcode, std::string_view payload) {
    std::uint8_t mask[4];
    worker_.random_bytes(mask, sizeof mask);
    ws::append_frame(out_, opcode, payload, mask);
    flush();
}

void WsClient::transport_send(std::string_view packet) {
    if (phase_ != Phase::kOpen) {
        return;
    }
    if (out_.size() + writing_buf_.size() > kMaxOutBytes) {
        // The server stopped reading: drop the connection rather than buffer without bound.
        asio::post(worker_.shard().ioc(), [this, e = epoch_] {
            if (e == epoch_) {
                lost(Why::kTransportClose);
            }
        });
        return;
    }
    write_frame(ws::Opcode::kText, packet);
}

void WsClient::flush() {
    if (writing_ || phase_ == Phase::kClosed) {
        return;
    }
    if (out_.empty()) {
        if (shutdown_after_write_) {
            shutdown_after_write_ = false;
            error_code ec;
            socket_.shutdown(tcp::socket::shutdown_send, ec);
        }
        return;
    }
    // Most writes complete at once: try before involving the reactor.
    error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(out_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
        ec = {};
    } else if (ec) {
        // Reported from the event loop, not from inside whatever handler is sending.
        asio::post(worker_.shard().ioc(), [this, e = epoch_] {
            if (e == epoch_) {
                lost(Why::kTransportClose);
            }
        });
        return;
    } else {
        out_.erase(0, n);
    }
    if (out_.empty()) {
        release(out_);
        flush();  // performs a pending shutdown
        return;
    }
    writing_ = true;
    writing_buf_.swap(out_);
    out_.clear();
    asio::async_write(socket_, asio::buffer(writing_buf_),
                      [this, e = epoch_](const error_code& wec, std::size_t /*n*/) {
                          if (e == epoch_) {
                              on_written(wec);
                          }
                      });
}

void WsClient::on_written(const error_code& ec) {
    writing_ = false;
    release(writing_buf_);
    if (phase_ == Phase::kClosed) {
        return;
    }
    if (ec) {
        lost(Why::kTransportClose);
        return;
    }
    flush();
}

void WsClient::transport_close() {
    if (phase_ != Phase::kOpen) {
        finish();
        return;
    }
    std::uint8_t mask[4];
    worker_.random_bytes(mask, sizeof mask);
    ws::append_close(out_, ws::close_code::kNormal, {}, mask);
    phase_ = Phase::kClosing;
    shutdown_after_write_ = true;
    flush();
    wait_readable();
}

void WsClient::transport_abort() {
    phase_ = Phase::kClosed;
    ++epoch_;
    reading_ = false;
    writing_ = false;
    shutdown_after_write_ = false;
    error_code ec;
    socket_.close(ec);
    std::string().swap(in_);
    std::string().swap(out_);
    std::string().swap(writing_buf_);
    if (reader_.buffered() != 0) {
        reader_ = ws::Reader(ws::Role::kClient);
    }
}

void WsClient::lost(Why why) {
    transport_abort();
    on_transport_lost(why);
}

void WsClient::finish() {
    transport_abort();
    transport_closed();
}

// --- PollingClient ----------------------------------------------------------------------------

PollingClient::PollingClient(Worker& worker, std::uint64_t index)
    : Client(worker, index), get_(worker.shard().ioc()), post_(worker.shard().ioc()) {}

PollingClient::~PollingClient() {
    close_legs();
}

std::string PollingClient::target() const {
    const Plan& plan = worker_.plan();
    std::string t = plan.options.urls[index() % plan.options.urls.size()].path;
    t += "?EIO=4&transport=polling";
    if (!sid_.empty()) {
        t += "&sid=";
        t += sid_;  // URL-safe base64 alphabet: no escaping needed
    }
    return t;
}

void PollingClient::close_legs() {
    for (Leg* leg : {&get_, &post_}) {
        error_code ec;
        leg->socket.close(ec);
        leg->open = false;
        leg->busy = false;
        leg->reused = false;
        std::string().swap(leg->request);
        std::string().swap(leg->in);
    }
}

void PollingClient::transport_open() {
    close_legs();
    sid_.clear();
    queued_ = {};
    handshaken_ = false;
    closing_ = false;
    open_ = true;
    get_.request.clear();
    http::append_get(
        get_.request, target(),
        worker_.plan().options.urls[index() % worker_.plan().options.urls.size()].host_header);
    send_request(get_, true);
}

void PollingClient::send_request(Leg& leg, bool is_get) {
    leg.busy = true;
    leg.in.clear();
    if (!leg.open || Clock::now() - leg.idle_since > kMaxKeepAliveIdle) {
        connect_leg(leg, is_get);
        return;
    }
    write_request(leg, is_get);
}

void PollingClient::connect_leg(Leg& leg, bool is_get) {
    error_code ec;
    leg.socket.close(ec);
    leg.open = false;
    leg.reused = false;
    const Plan& plan = worker_.plan();
    const auto& to = plan.endpoints[index() % plan.endpoints.size()];
    if (open_socket(leg.socket, plan, index(), to)) {
        lost(Why::kConnect);
        return;
    }
    leg.socket.async_connect(to, [this, e = epoch_, &leg, is_get](const error_code& cec) {
        if (e != epoch_) {
            return;
        }
        if (cec) {
            lost(Why::kConnect);
            return;
        }
        error_code nb;
        leg.socket.non_blocking(true, nb);
        leg.open = true;
        write_request(leg, is_get);
    });
}

void PollingClient::write_request(Leg& leg, bool is_get) {
    asio::async_write(leg.socket, asio::buffer(leg.request),
                      [this, e = epoch_, &leg, is_get](const error_code& ec, std::size_t /*n*/) {
                          if (e != epoch_) {
                              return;
                          }
                          if (ec) {
                              lost(Why::kTransportClose);
                              return;
                          }
                          read_response(leg, is_get);
                      });
}

void PollingClient::read_response(Leg& leg, bool is_get) {
    leg.socket.async_wait(
        tcp::socket::wait_read, [this, e = epoch_, &leg, is_get](const error_code& ec) {
            if (e != epoch_) {
                return;
            }
            if (ec) {
                lost(Why::kTransportClose);
                return;
            }
            const auto scratch = worker_.shard().scratch();
            error_code rec;
            const std::size_t n =
                leg.socket.read_some(asio::buffer(scratch.data(), scratch.size()), rec);
            if (rec == asio::error::would_block || rec == asio::error::try_again) {
                read_response(leg, is_get);
                return;
            }
            if (rec) {
                if (leg.reused && leg.in.empty()) {
                    // The server closed the idle keep-alive connection as we reused it: the request
                    // was not read, so it is safe to send it again on a new connection.
                    connect_leg(leg, is_get);
                } else {
                    lost(Why::kTransportClose);
                }
                return;
            }
            leg.in.append(scratch.data(), n);
            const auto r = http::parse_response(leg.in, kMaxPollBody);
            // Anything after the response is a protocol error: requests are not pipelined.
            const bool trailing =
                r.state == http::Response::State::kComplete && leg.in.size() > r.total();
            if (r.state == http::Response::State::kError || trailing) {
                lost(Why::kProtocolError);
                return;
            }
            if (r.state == http::Response::State::kIncomplete) {
                read_response(leg, is_get);
                return;
            }
            std::string response = std::move(leg.in);
            leg.in.clear();
            release(leg.request);
            leg.busy = false;
            leg.reused = true;
            leg.idle_since = Clock::now();
            if (r.close) {
                error_code cec;
                leg.socket.close(cec);
                leg.open = false;
            }
            on_response(is_get, r.status, r.body(response));
        });
}

void PollingClient::on_response(bool is_get, unsigned status, std::string_view body) {
    const std::uint32_t e = epoch_;
    if (!is_get) {
        if (status != 200) {
            lost(Why::kTransportClose);
            return;
        }
        if (closing_ && queued_.empty()) {
            transport_abort();
            transport_closed();
            return;
        }
        flush_post();
        return;
    }
    if (status != 200) {
        lost(handshaken_ ? Why::kTransportClose : Why::kHandshake);
        return;
    }
    auto packets = protocol::eio::decode_payload(body, kMaxPollPackets);
    if (!packets) {
        lost(Why::kProtocolError);
        return;
    }
    for (const auto& packet : *packets) {
        if (packet.binary) {
            continue;
        }
        if (packet.type == protocol::eio::PacketType::kOpen && !handshaken_) {
            auto parsed = protocol::parse_json(packet.data);
            const auto* sid =
                parsed && parsed->is_object() ? parsed->get_object().if_contains("sid") : nullptr;
            if (sid == nullptr || !sid->is_string()) {
                lost(Why::kHandshake);
                return;
            }
            sid_.assign(sid->get_string().data(), sid->get_string().size());
            handshaken_ = true;
        }
        on_eio(static_cast<char>('0' + static_cast<int>(packet.type)), packet.data);
        if (e != epoch_ || !open_) {
            return;
        }
    }
    if (!handshaken_) {
        lost(Why::kHandshake);
        return;
    }
    poll();
}

void PollingClient::poll() {
    if (!open_ || get_.busy || closing_) {
        return;
    }
    get_.request.clear();
    http::append_get(
        get_.request, target(),
        worker_.plan().options.urls[index() % worker_.plan().options.urls.size()].host_header);
    send_request(get_, true);
}

void PollingClient::transport_send(std::string_view packet) {
    if (!open_) {
        return;
    }
    if (queued_.size() > kMaxOutBytes) {
        asio::post(worker_.shard().ioc(), [this, e = epoch_] {
            if (e == epoch_) {
                lost(Why::kTransportClose);
            }
        });
        return;
    }
    queued_.add_text(packet);
    flush_post();
}

void PollingClient::flush_post() {
    if (!open_ || !handshaken_ || post_.busy || queued_.empty()) {
        return;
    }
    post_.request.clear();
    const std::string body = queued_.take();
    queued_ = {};
    http::append_post(
        post_.request, target(),
        worker_.plan().options.urls[index() % worker_.plan().options.urls.size()].host_header,
        body);
    send_request(post_, false);
}

void PollingClient::transport_close() {
    if (!open_ || !handshaken_) {
        transport_abort();
        transport_closed();
        return;
    }
    closing_ = true;
    transport_send("1");  // Engine.IO close: the server ends the session and releases the GET
}

void PollingClient::transport_abort() {
    open_ = false;
    closing_ = false;
    ++epoch_;
    close_legs();
    queued_ = {};
    std::string().swap(sid_);
}

void PollingClient::lost(Why why) {
    transport_abort();
    on_transport_lost(why);
}

}  // namespace roomcast::loadgen
