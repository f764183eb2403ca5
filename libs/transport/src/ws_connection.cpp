#include "roomcast/transport/ws_connection.hpp"

#include "roomcast/transport/arrival.hpp"

#include <boost/asio/write.hpp>

namespace roomcast::transport {

namespace ws = protocol::ws;
using boost::asio::ip::tcp;

WsConnection::WsConnection(Shard& shard, tcp::socket socket, std::string initial_out,
                           std::string initial_in, const WsLimits& limits)
    : shard_(shard),
      socket_(std::move(socket)),
      reader_(ws::Role::kServer, ws::ReaderLimits{limits.max_message}),
      pending_control_(std::move(initial_out)),
      close_linger_(limits.close_linger) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    in_flight_control_ = std::move(initial_in);  // parsed in start(), before any write exists
}

WsConnection::~WsConnection() = default;

void WsConnection::start(WsHandler* handler) {
    handler_ = handler;
    std::string early_input = std::move(in_flight_control_);
    in_flight_control_.clear();
    if (!pending_control_.empty()) {
        start_write(false);
    }
    if (!early_input.empty() && !consume(std::span<char>(early_input.data(), early_input.size()))) {
        return;
    }
    wait_readable();
}

bool WsConnection::write(std::vector<OutMessagePtr>& batch) {
    if (state_ != State::kOpen) {
        return false;
    }
    if (writing_) {
        if (next_batch_.empty()) {
            next_batch_.swap(batch);
        } else {
            for (auto& m : batch) {
                next_batch_.push_back(std::move(m));
            }
            batch.clear();
        }
        return true;
    }
    in_flight_.swap(batch);  // in_flight_ is empty between writes: `batch` gets its capacity
    start_write(true);
    return true;
}

void WsConnection::close(std::uint16_t code, std::string_view reason) {
    handler_ = nullptr;
    begin_close(code, reason);
}

std::int64_t WsConnection::unread_arrival_ns() noexcept {
    if (state_ == State::kClosed || !socket_.is_open()) {
        return 0;
    }
    return transport::unread_arrival_ns(socket_.native_handle());
}

void WsConnection::abort() {
    handler_ = nullptr;
    finish();
}

void WsConnection::wait_readable() {
    if (reading_ || state_ == State::kClosed) {
        return;
    }
    reading_ = true;
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                           self->reading_ = false;
                           self->on_readable(ec);
                       });
}

void WsConnection::on_readable(const boost::system::error_code& ec) {
    if (state_ == State::kClosed) {
        return;
    }
    if (ec) {
        fail(WsCloseCause::kTransportError);
        return;
    }
    auto scratch = shard_.scratch();
    // Bounded loop: a peer that keeps the socket full cannot starve the shard's other work.
    for (int round = 0; round < 4; ++round) {
        boost::system::error_code rec;
        const std::size_t n =
            socket_.read_some(boost::asio::buffer(scratch.data(), scratch.size()), rec);
        if (rec == boost::asio::error::would_block || rec == boost::asio::error::try_again) {
            wait_readable();
            return;
        }
        if (rec) {
            if (state_ == State::kClosing) {
                finish();  // the peer finished the close handshake (EOF) or went away
            } else {
                fail(WsCloseCause::kTransportError);
            }
            return;
        }
        if (state_ == State::kClosing) {
            continue;  // draining input until the peer's EOF; nothing more is delivered
        }
        if (!consume(scratch.first(n))) {
            return;
        }
        if (n < scratch.size()) {
            break;
        }
    }
    if (state_ != State::kClosed) {
        // Either drained or yielding after a long burst: let other handlers run first.
        wait_readable();
    }
}

bool WsConnection::consume(std::span<char> data) {
    auto self = shared_from_this();  // handlers may drop the last external reference
    auto result = reader_.feed(data, *this);
    if (!result) {
        const auto code = ws::close_code_for(result.error());
        WsHandler* h = handler_;
        handler_ = nullptr;
        begin_close(code, {});
        if (h != nullptr) {
            h->on_ws_closed(WsCloseCause::kProtocolError);
        }
        return false;
    }
    if (reader_.buffered() == 0) {
        reader_.shrink();
    }
    return state_ == State::kOpen;
}

bool WsConnection::on_message(ws::Opcode opcode, std::string_view payload) {
    if (state_ != State::kOpen) {
        return false;
    }
    if (handler_ != nullptr) {
        handler_->on_ws_message(opcode == ws::Opcode::kBinary, payload);
    }
    return state_ == State::kOpen;
}

bool WsConnection::on_ping(std::string_view payload) {
    if (state_ == State::kOpen) {
        send_control(ws::Opcode::kPong, payload);
    }
    return state_ == State::kOpen;
}

bool WsConnection::on_pong(std::string_view /*payload*/) {
    return state_ == State::kOpen;
}

bool WsConnection::on_close(std::uint16_t code, std::string_view /*reason*/) {
    if (state_ != State::kOpen) {
        return false;
    }
    WsHandler* h = handler_;
    handler_ = nullptr;
    // Echo the peer's code as RFC 6455 §5.5.1 asks (1005 "no status" is never sent).
    begin_close(code == ws::close_code::kNoStatus ? ws::close_code::kNormal : code, {});
    if (h != nullptr) {
        h->on_ws_closed(WsCloseCause::kPeerClosed);
    }
    return false;
}

void WsConnection::send_control(ws::Opcode opcode, std::string_view payload) {
    ws::append_frame(pending_control_, opcode, payload.substr(0, 125));
    if (!writing_) {
        start_write(false);
    }
}

void WsConnection::start_write(bool try_now) {
    writing_ = true;
    in_flight_control_.clear();
    in_flight_control_.swap(pending_control_);
    std::size_t frames = 0;
    for (const auto& m : in_flight_) {
        frames += (m->text.empty() ? 0 : 1) + m->binaries.size();
    }
    // A write tried at once is built in the shard's scratch (most complete synchronously and
    // leave the connection nothing to keep); an asynchronous one in the connection's own.
    auto& headers = try_now ? shard_.write_headers() : headers_;
    auto& buffers = try_now ? shard_.write_buffers() : buffers_;
    headers.resize(frames * ws::kMaxHeaderSize);
    buffers.clear();
    buffers.reserve(1 + frames * 2);
    // Control frames go first (a pong should not wait behind data), except when closing: then
    // the close frame must be the last frame on the wire.
    const bool control_last = state_ == State::kClosing;
    if (!in_flight_control_.empty() && !control_last) {
        buffers.emplace_back(in_flight_control_.data(), in_flight_control_.size());
    }
    std::uint8_t* h = headers.data();
    auto add_frame = [&](ws::Opcode op, const std::string& payload) {
        const std::size_t n = ws::encode_header(h, op, true, payload.size());
        buffers.emplace_back(h, n);
        if (!payload.empty()) {
            buffers.emplace_back(payload.data(), payload.size());
        }
        h += n;
    };
    for (const auto& m : in_flight_) {
        if (!m->text.empty()) {
            add_frame(ws::Opcode::kText, m->text);
        }
        for (const auto& b : m->binaries) {
            add_frame(ws::Opcode::kBinary, b);
        }
    }
    if (!in_flight_control_.empty() && control_last) {
        buffers.emplace_back(in_flight_control_.data(), in_flight_control_.size());
    }
    if (try_now) {
        // One non-blocking sendmsg now (the socket is non-blocking): when it takes everything,
        // the write needs no operation object, no completion handler and no trip through the
        // scheduler — the allocation and the extra handler per delivery a fan-out's profile
        // showed. What it does not take (or an error, reported by the asynchronous write that
        // meets it again) goes the asynchronous way.
        boost::system::error_code ec;
        std::size_t n = socket_.write_some(buffers, ec);
        if (!ec && n == boost::asio::buffer_size(buffers)) {
            on_written({});
            return;
        }
        auto it = buffers.begin();
        for (; !ec && it != buffers.end() && n >= it->size(); ++it) {
            n -= it->size();
        }
        // The rest moves to the connection: its headers copied, the buffers that point into the
        // scratch's headers pointed at the copy (payloads stay where they are: in_flight_ and
        // in_flight_control_ hold them).
        headers_.assign(headers.begin(), headers.end());
        buffers_.clear();
        const auto* base = headers.data();
        for (; it != buffers.end(); ++it) {
            const auto* p = static_cast<const std::uint8_t*>(it->data());
            if (p >= base && p < base + headers.size()) {
                buffers_.emplace_back(headers_.data() + (p - base), it->size());
            } else {
                buffers_.push_back(*it);
            }
        }
        if (!ec && n > 0) {
            buffers_.front() += n;
        }
    }
    boost::asio::async_write(
        socket_, buffers_,
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t /*n*/) {
            self->on_written(ec);
        });
}

void WsConnection::on_written(const boost::system::error_code& ec) {
    writing_ = false;
    in_flight_.clear();
    in_flight_control_.clear();
    if (state_ == State::kClosed) {
        return;
    }
    if (ec) {
        fail(WsCloseCause::kTransportError);
        return;
    }
    if (!pending_control_.empty() || !next_batch_.empty()) {
        in_flight_.swap(next_batch_);
        start_write(true);
        return;
    }
    if (state_ == State::kClosing) {
        if (close_frame_queued_) {
            // Close frame sent: half-close and wait (bounded) for the peer's EOF.
            boost::system::error_code sec;
            socket_.shutdown(tcp::socket::shutdown_send, sec);
            linger_timer_.arm(shard_.timers(close_linger_), this);
            wait_readable();
        }
        return;
    }
    // Release the write buffers of a connection that goes idle. The control string held the
    // 101 response (about 200 bytes for every connection, heaptrack) and then only the rare
    // pong or close; headers and buffer lists are only the connection's own after an
    // asynchronous write (the shard's scratch serves the others); a write of a few messages
    // gets its small batch vector back next time.
    if (headers_.capacity() != 0) {
        std::vector<std::uint8_t>().swap(headers_);
        std::vector<boost::asio::const_buffer>().swap(buffers_);
    }
    if (in_flight_.capacity() > 4) {
        std::vector<OutMessagePtr>().swap(in_flight_);
    }
    if (in_flight_control_.capacity() > std::string().capacity()) {
        std::string().swap(in_flight_control_);
    }
    if (handler_ != nullptr) {
        handler_->on_ws_drained();
    }
}

void WsConnection::begin_close(std::uint16_t code, std::string_view reason) {
    if (state_ != State::kOpen) {
        return;
    }
    state_ = State::kClosing;
    ws::append_close(pending_control_, code, reason);
    close_frame_queued_ = true;
    if (!writing_) {
        start_write(false);
    }
}

void WsConnection::fail(WsCloseCause cause) {
    WsHandler* h = handler_;
    handler_ = nullptr;
    finish();
    if (h != nullptr) {
        h->on_ws_closed(cause);
    }
}

void WsConnection::finish() {
    if (state_ == State::kClosed) {
        return;
    }
    state_ = State::kClosed;
    linger_timer_.cancel();
    boost::system::error_code ec;
    socket_.close(ec);  // cancels pending operations; their handlers see state kClosed
}

void WsConnection::on_linger_timeout(void* self) {
    auto* conn = static_cast<WsConnection*>(self);
    auto keep = conn->shared_from_this();
    conn->finish();
}

}  // namespace roomcast::transport
