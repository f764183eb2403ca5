#pragma once
// A raw, blocking WebSocket client for the edge's in-process tests (engineio, rooms): connects
// over loopback, upgrades an Engine.IO session at `path`, then sends and reads text frames
// through the project's own codec in client role. Every blocking read is bounded (5 s).

#include "roomcast/protocol/websocket.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::edge::testing {

// A TCP connection to 127.0.0.1:`port` whose reads time out after 5 s.
inline boost::asio::ip::tcp::socket connect_loopback(boost::asio::io_context& ioc, std::uint16_t port) {
    boost::asio::ip::tcp::socket s(ioc);
    s.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    const timeval tv{5, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return s;
}

struct WsClient : protocol::ws::ReaderSink {
    boost::asio::ip::tcp::socket sock;
    protocol::ws::Reader reader{protocol::ws::Role::kClient, protocol::ws::ReaderLimits{64 * 1024 * 1024}};
    std::vector<std::string> texts;
    std::uint16_t close_code = 0;

    explicit WsClient(boost::asio::ip::tcp::socket s) : sock(std::move(s)) {}

    // Connects, upgrades `path` (e.g. "/engine.io/") and reads the Engine.IO open packet.
    // `extra_headers`: more header lines, each ending in "\r\n".
    static WsClient open(boost::asio::io_context& ioc, std::uint16_t port, std::string_view path,
                         std::string_view extra_headers = {}) {
        auto s = connect_loopback(ioc, port);
        const std::string req = "GET " + std::string(path) +
                                "?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n" +
                                std::string(extra_headers) + "\r\n";
        boost::asio::write(s, boost::asio::buffer(req));
        std::string head;
        char c = 0;
        while (head.find("\r\n\r\n") == std::string::npos) {
            boost::asio::read(s, boost::asio::buffer(&c, 1));
            head += c;
        }
        EXPECT_EQ(head.substr(0, 12), "HTTP/1.1 101");
        WsClient client(std::move(s));
        EXPECT_TRUE(client.read_until(1));  // the open packet
        EXPECT_EQ(client.texts.at(0).substr(0, 1), "0");
        return client;
    }

    bool on_message(protocol::ws::Opcode op, std::string_view p) override {
        if (op == protocol::ws::Opcode::kText) {
            texts.emplace_back(p);
        }
        return true;
    }
    bool on_ping(std::string_view) override { return true; }
    bool on_pong(std::string_view) override { return true; }
    bool on_close(std::uint16_t code, std::string_view) override {
        close_code = code;
        return false;
    }

    void send_text(std::string_view text) {
        namespace ws = protocol::ws;
        std::string frame;
        const std::uint8_t mask[4] = {1, 2, 3, 4};
        std::string payload(text);
        ws::apply_mask(payload.data(), payload.size(), mask);
        std::uint8_t header[ws::kMaxHeaderSize];
        const auto n = ws::encode_header(header, ws::Opcode::kText, true, payload.size(), mask);
        frame.assign(reinterpret_cast<const char*>(header), n);
        frame += payload;
        boost::asio::write(sock, boost::asio::buffer(frame));
    }

    // Reads until `count` text messages have arrived in all, a close frame arrives, or the
    // socket ends (or a read times out).
    bool read_until(std::size_t count) {
        char buf[65536];
        while (texts.size() < count && close_code == 0) {
            boost::system::error_code ec;
            const auto n = sock.read_some(boost::asio::buffer(buf), ec);
            if (ec) {
                return false;
            }
            if (!reader.feed(std::span<char>(buf, n), *this)) {
                return false;
            }
        }
        return texts.size() >= count;
    }
};

}  // namespace roomcast::edge::testing
