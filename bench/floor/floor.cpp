// roomcast_floor: the kernel's floor for a fan-out, as a server the load generator drives
// unchanged. It speaks just enough of Engine.IO v4 / Socket.IO v5 over WebSocket and of the
// collaboration protocol (docs/protocol.md: CONNECT, join, publish with acks) for
// roomcast_loadgen's fanout and latency scenarios, and delivers each published event with the
// bytes the edge sends — one WebSocket text frame `42["<event>",data,{room,from,offset},"<offset>"]`
// — written to each member's socket:
//
//   --batch off   one send() per delivery and nothing else (the floor the issue measures against)
//   --batch on    the frames due for a connection in one event-loop pass go out in one send()
//                 (what any server can do when several deliveries are due at once)
//
// What it leaves out, so that its CPU is the cost of moving the bytes: no JWT verification (the
// token's `sub` is read, not checked), no NATS, no storage, no rights, no recovery, no polling,
// no limits beyond the loadgen's needs. One thread, epoll, non-blocking sockets; bytes a socket
// cannot take at once wait in that connection's buffer (writes then queue behind them, in
// order). Every 25 s it pings every connection as the edge does.
//
//   roomcast_floor --port 0 [--host 127.0.0.1] [--batch off|on]
//
// Prints {"msg":"listening","port":N} on stderr once it accepts; SIGTERM/SIGINT stop it.
#include "roomcast/protocol/base64.hpp"
#include "roomcast/protocol/websocket.hpp"

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

namespace ws = roomcast::protocol::ws;
namespace json = boost::json;

volatile std::sig_atomic_t g_stop = 0;

constexpr std::size_t kMaxRequestHead = 8192;  // an HTTP upgrade request larger than this is refused
constexpr std::size_t kMaxMessage = 1000000;   // maxPayload, as the edge announces it
constexpr auto kPingInterval = std::chrono::seconds(25);

struct Room;

struct Conn {
    int fd = -1;
    bool upgraded = false;
    bool closing = false;
    bool dirty = false;  // --batch on: frames wait in `out` for this pass's flush
    std::string head;    // the HTTP request until its blank line
    ws::Reader reader{ws::Role::kServer, ws::ReaderLimits{kMaxMessage}};
    std::string out;  // bytes the socket has not taken yet
    std::string user;
    std::vector<Room*> rooms;
};

struct Room {
    std::string id;
    std::vector<Conn*> members;
    std::uint64_t offset = 0;
};

class Floor final : public ws::ReaderSink {
public:
    Floor(int listener, bool batch) : listener_(listener), batch_(batch) {}

    int run() {
        ep_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0 || !watch(listener_, EPOLLIN, nullptr)) {
            std::perror("epoll");
            return 1;
        }
        auto next_ping = std::chrono::steady_clock::now() + kPingInterval;
        std::vector<epoll_event> events(1024);
        while (g_stop == 0) {
            const int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 1000);
            if (n < 0 && errno != EINTR) {
                std::perror("epoll_wait");
                return 1;
            }
            for (int i = 0; i < n; ++i) {
                auto* c = static_cast<Conn*>(events[i].data.ptr);
                if (c == nullptr) {
                    accept_all();
                    continue;
                }
                if ((events[i].events & EPOLLOUT) != 0U && !c->closing) {
                    send_buffered(*c);
                }
                if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0U && !c->closing) {
                    read_all(*c);
                }
            }
            send_dirty();
            if (std::chrono::steady_clock::now() >= next_ping) {
                next_ping += kPingInterval;
                std::string ping;
                ws::append_frame(ping, ws::Opcode::kText, "2");
                for (auto& [fd, c] : conns_) {
                    if (c->upgraded && !c->closing) {
                        queue(*c, ping);
                    }
                }
                flush_dirty();
            }
            reap();
        }
        return 0;
    }

    // ws::ReaderSink: the current connection's messages.
    bool on_message(ws::Opcode opcode, std::string_view payload) override {
        if (opcode == ws::Opcode::kText && !payload.empty()) {
            engineio(*current_, payload);
        }
        return !current_->closing;
    }
    bool on_ping(std::string_view payload) override {
        std::string pong;
        ws::append_frame(pong, ws::Opcode::kPong, payload);
        queue(*current_, pong);
        return true;
    }
    bool on_pong(std::string_view) override { return true; }
    bool on_close(std::uint16_t, std::string_view) override {
        close(*current_);
        return false;
    }

private:
    bool watch(int fd, std::uint32_t events, Conn* c, int op = EPOLL_CTL_ADD) {
        epoll_event ev{};
        ev.events = events;
        ev.data.ptr = c;
        return ::epoll_ctl(ep_, op, fd, &ev) == 0;
    }

    void accept_all() {
        for (;;) {
            const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                return;  // EAGAIN, or out of descriptors: the next event retries
            }
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto c = std::make_unique<Conn>();
            c->fd = fd;
            if (!watch(fd, EPOLLIN, c.get())) {
                ::close(fd);
                continue;
            }
            conns_.emplace(fd, std::move(c));
        }
    }

    void read_all(Conn& c) {
        char buf[65536];
        for (;;) {
            const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                close(c);
                return;
            }
            if (n < 0) {
                return;
            }
            std::span<char> data(buf, static_cast<std::size_t>(n));
            if (!c.upgraded) {
                c.head.append(data.data(), data.size());
                if (!upgrade(c)) {
                    return;
                }
                continue;  // an upgrade request carries no frames after it from this client
            }
            current_ = &c;
            if (!c.reader.feed(data, *this)) {
                close(c);
                return;
            }
            if (c.closing) {
                return;
            }
            flush_dirty();
        }
    }

    // The HTTP upgrade; false when the connection is not (yet) a WebSocket.
    bool upgrade(Conn& c) {
        const auto end = c.head.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (c.head.size() > kMaxRequestHead) {
                close(c);
            }
            return false;
        }
        std::string key;
        for (std::size_t at = c.head.find("\r\n"); at < end;) {
            const auto next = c.head.find("\r\n", at + 2);
            std::string line = c.head.substr(at + 2, next - at - 2);
            at = next;
            if (line.size() > 18 && ::strncasecmp(line.c_str(), "sec-websocket-key:", 18) == 0) {
                key = line.substr(18);
                key.erase(0, key.find_first_not_of(' '));
                key.erase(key.find_last_not_of(' ') + 1);
            }
        }
        if (!ws::valid_client_key(key)) {
            static constexpr std::string_view kBad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
            (void)::send(c.fd, kBad.data(), kBad.size(), MSG_NOSIGNAL);
            close(c);
            return false;
        }
        c.head.clear();
        c.head.shrink_to_fit();
        c.upgraded = true;
        std::string out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: " +
                          ws::accept_key(key) + "\r\n\r\n";
        const std::string open = "0{\"sid\":\"floor" + std::to_string(++sids_) +
                                 "\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,"
                                 "\"maxPayload\":1000000}";
        ws::append_frame(out, ws::Opcode::kText, open);
        queue(c, out);
        flush_dirty();
        return true;
    }

    void engineio(Conn& c, std::string_view packet) {
        switch (packet[0]) {
            case '4':
                socketio(c, packet.substr(1));
                return;
            case '1':
                close(c);
                return;
            default:
                return;  // '3' pong, anything else: nothing to do
        }
    }

    void socketio(Conn& c, std::string_view packet) {
        if (packet.starts_with("0")) {  // CONNECT to "/", auth {token}
            c.user = user_of(packet.substr(1));
            send_text(c, "0{\"sid\":\"s" + std::to_string(c.fd) + "\"}");
            return;
        }
        if (!packet.starts_with("2")) {
            return;
        }
        std::size_t i = 1;
        while (i < packet.size() && packet[i] >= '0' && packet[i] <= '9') {
            ++i;
        }
        const std::string_view ack_id = packet.substr(1, i - 1);
        boost::system::error_code ec;
        const json::value v = json::parse(packet.substr(i), ec);
        if (ec || !v.is_array() || v.as_array().size() < 2 || !v.as_array()[0].is_string() ||
            !v.as_array()[1].is_object()) {
            return;
        }
        const auto& name = v.as_array()[0].as_string();
        const auto& req = v.as_array()[1].as_object();
        const auto* room_id = req.if_contains("room");
        if (room_id == nullptr || !room_id->is_string()) {
            return;
        }
        Room& room = rooms_[std::string(room_id->as_string())];
        if (room.id.empty()) {
            room.id = std::string(room_id->as_string());
        }
        if (name == "join") {
            room.members.push_back(&c);
            c.rooms.push_back(&room);
            ack(c, ack_id, "{\"ok\":true,\"room\":" + json::serialize(json::string(room.id)) + ",\"offset\":\"" +
                               std::to_string(room.offset) + "\"}");
        } else if (name == "publish") {
            const auto* event = req.if_contains("event");
            const auto* data = req.if_contains("data");
            if (event == nullptr || !event->is_string()) {
                return;
            }
            const std::string offset = std::to_string(++room.offset);
            ack(c, ack_id, "{\"ok\":true,\"offset\":\"" + offset + "\"}");
            std::string packet_out = "42[" + json::serialize(*event) + "," +
                                     (data != nullptr ? json::serialize(*data) : std::string("null")) +
                                     ",{\"room\":" + json::serialize(json::string(room.id)) + ",\"from\":" +
                                     json::serialize(json::string(c.user)) + ",\"offset\":\"" + offset +
                                     "\"},\"" + offset + "\"]";
            std::string frame;
            ws::append_frame(frame, ws::Opcode::kText, packet_out);
            for (Conn* m : room.members) {
                if (m != &c && !m->closing) {
                    if (batch_) {
                        queue(*m, frame);
                    } else {
                        send_now(*m, frame);
                    }
                }
            }
        }
    }

    static std::string user_of(std::string_view auth) {
        boost::system::error_code ec;
        const json::value v = json::parse(auth, ec);
        const auto* token = (!ec && v.is_object()) ? v.as_object().if_contains("token") : nullptr;
        if (token == nullptr || !token->is_string()) {
            return "anonymous";
        }
        const std::string_view t = token->as_string();
        const auto a = t.find('.');
        const auto b = t.find('.', a + 1);
        if (a == std::string_view::npos || b == std::string_view::npos) {
            return "anonymous";
        }
        const auto claims = roomcast::protocol::base64url_decode(t.substr(a + 1, b - a - 1));
        const json::value c = claims ? json::parse(*claims, ec) : json::value();
        const auto* sub = (!ec && c.is_object()) ? c.as_object().if_contains("sub") : nullptr;
        return sub != nullptr && sub->is_string() ? std::string(sub->as_string()) : "anonymous";
    }

    void ack(Conn& c, std::string_view id, const std::string& body) { send_text(c, "3" + std::string(id) + "[" + body + "]"); }

    void send_text(Conn& c, const std::string& engineio_payload) {
        std::string frame;
        ws::append_frame(frame, ws::Opcode::kText, "4" + engineio_payload);
        queue(c, frame);
    }

    // --batch off: one send() for this delivery, now (behind bytes still waiting, in order).
    void send_now(Conn& c, std::string_view frame) {
        if (!c.out.empty()) {
            c.out.append(frame);
            return;
        }
        const ssize_t n = ::send(c.fd, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == static_cast<ssize_t>(frame.size())) {
            return;
        }
        if (n < 0 && errno != EAGAIN) {
            close(c);
            return;
        }
        c.out.append(frame.substr(n < 0 ? 0 : static_cast<std::size_t>(n)));
        (void)watch(c.fd, EPOLLIN | EPOLLOUT, &c, EPOLL_CTL_MOD);
    }

    // Frames for the end of this pass (replies, and every delivery with --batch on).
    void queue(Conn& c, std::string_view bytes) {
        c.out.append(bytes);
        if (!c.dirty) {
            c.dirty = true;
            dirty_.push_back(&c);
        }
    }

    // --batch off: what is queued goes now; --batch on: once per pass, in run().
    void flush_dirty() {
        if (!batch_) {
            send_dirty();
        }
    }

    void send_dirty() {
        for (Conn* c : dirty_) {
            c->dirty = false;
            if (!c->closing) {
                send_buffered(*c);
            }
        }
        dirty_.clear();
    }

    void send_buffered(Conn& c) {
        if (c.out.empty()) {
            return;
        }
        const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN) {
            close(c);
            return;
        }
        c.out.erase(0, n < 0 ? 0 : static_cast<std::size_t>(n));
        (void)watch(c.fd, c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT, &c, EPOLL_CTL_MOD);
    }

    void close(Conn& c) {
        if (c.closing) {
            return;
        }
        c.closing = true;  // skipped by fan-outs from now on; leaves its rooms in reap()
        (void)::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        closed_.push_back(c.fd);
    }

    // Frees closed connections once no event or fan-out of this pass can name them.
    void reap() {
        for (const int fd : closed_) {
            const auto it = conns_.find(fd);
            for (Room* r : it->second->rooms) {
                std::erase(r->members, it->second.get());
            }
            conns_.erase(it);
        }
        closed_.clear();
    }

    int listener_;
    bool batch_;
    int ep_ = -1;
    std::uint64_t sids_ = 0;
    Conn* current_ = nullptr;
    std::unordered_map<int, std::unique_ptr<Conn>> conns_;
    std::unordered_map<std::string, Room> rooms_;
    std::vector<Conn*> dirty_;
    std::vector<int> closed_;
};

[[noreturn]] void usage(const char* error) {
    if (error != nullptr) {
        std::fprintf(stderr, "roomcast_floor: %s\n", error);
    }
    std::fprintf(stderr, "usage: roomcast_floor --port N [--host 127.0.0.1] [--batch off|on]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    int port = -1;
    bool batch = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc) {
                usage("a flag needs a value");
            }
            return argv[++i];
        };
        if (flag == "--host") {
            host = value();
        } else if (flag == "--port") {
            port = std::atoi(std::string(value()).c_str());
        } else if (flag == "--batch") {
            const auto v = value();
            if (v != "on" && v != "off") {
                usage("--batch is on or off");
            }
            batch = v == "on";
        } else if (flag == "-h" || flag == "--help") {
            usage(nullptr);
        } else {
            usage("unknown flag");
        }
    }
    if (port < 0 || port > 65535) {
        usage("--port must be 0..65535");
    }
    struct sigaction sa{};
    sa.sa_handler = [](int) { g_stop = 1; };
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
        usage("--host must be an IPv4 address");
    }
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4096) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        std::perror("roomcast_floor: listen");
        return 1;
    }
    std::fprintf(stderr, "{\"msg\":\"listening\",\"port\":%d,\"batch\":%s}\n", ntohs(addr.sin_port),
                 batch ? "true" : "false");
    return Floor(fd, batch).run();
}
