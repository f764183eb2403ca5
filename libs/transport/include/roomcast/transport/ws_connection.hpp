#pragma once
// A server-side WebSocket connection over a raw TCP socket with Roomcast's own framing
// (roomcast::protocol::ws).
//
// Memory: an idle connection holds its socket, a Reader with empty buffers and a few flags.
// Reads go through the shard's scratch buffer (wait for readability, then read non-blocking),
// so no per-connection read buffer exists between messages.
//
// Writes: at most one write in flight. The owner hands over a whole batch of messages; they are
// framed with headers built into one small array and written with one gathered write (write
// coalescing), the batch's shared buffers held until the write completes.
//
// Ownership: kept alive by its pending operations (shared_from_this) and by the handler that
// holds a shared_ptr. Thread-safety: everything runs on the owning shard's thread.

#include "roomcast/transport/http_types.hpp"
#include "roomcast/transport/shard.hpp"
#include "roomcast/transport/timer_list.hpp"

#include "roomcast/protocol/websocket.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace roomcast::transport {

enum class WsCloseCause : std::uint8_t {
    kPeerClosed,      // the peer sent a close frame
    kTransportError,  // reset, EOF without close frame, write failure
    kProtocolError,   // the peer broke RFC 6455 (or sent a message over the size cap)
};

class WsHandler {
public:
    virtual ~WsHandler() = default;
    virtual void on_ws_message(bool binary, std::string_view payload) = 0;
    // The connection ended for `cause`. Called at most once, never after the handler called
    // close() or abort() itself, and no other call follows it.
    virtual void on_ws_closed(WsCloseCause cause) = 0;
    // The batch passed to write() has been written; the next one may be written now.
    virtual void on_ws_drained() = 0;
};

struct WsLimits {
    std::size_t max_message = 1000000;
    // How long a closing connection waits for the peer's close frame / EOF.
    std::chrono::milliseconds close_linger{2000};
};

class WsConnection : public std::enable_shared_from_this<WsConnection>,
                     private protocol::ws::ReaderSink {
public:
    // `initial_out` (the 101 response) is written first; `initial_in` holds bytes that arrived
    // with the upgrade request and are parsed before reading the socket.
    WsConnection(Shard& shard, boost::asio::ip::tcp::socket socket, std::string initial_out,
                 std::string initial_in, const WsLimits& limits);
    ~WsConnection() override;

    // Starts reading and writes the initial bytes. `handler` may be null until set_handler().
    void start(WsHandler* handler);
    void set_handler(WsHandler* handler) noexcept { handler_ = handler; }

    // Writes a batch of messages, after the write in flight if there is one (owners that want
    // larger batches wait for on_ws_drained() instead). Returns false when closing or closed.
    // Takes the messages out of `batch` and leaves it empty, holding the capacity of a vector
    // this connection is done with, so an owner that keeps its queue vector allocates nothing
    // per write. The write is tried at once: when the socket takes it all (the common case on
    // a healthy link) on_ws_drained() runs before write() returns.
    bool write(std::vector<OutMessagePtr>& batch);
    bool write(std::vector<OutMessagePtr>&& batch) { return write(batch); }
    bool writing() const noexcept { return writing_; }
    bool open() const noexcept { return state_ == State::kOpen; }

    // Graceful close: pending writes finish, a close frame follows, then the TCP connection is
    // shut down. Detaches the handler.
    void close(std::uint16_t code, std::string_view reason = {});
    // Immediate close of the TCP connection without a close frame. Detaches the handler.
    void abort();

    // When the first byte the peer sent and this connection has not read yet reached this host
    // (transport/arrival.hpp); 0 when nothing is waiting. Call on the connection's shard.
    std::int64_t unread_arrival_ns() noexcept;

private:
    enum class State : std::uint8_t { kOpen, kClosing, kClosed };

    bool on_message(protocol::ws::Opcode opcode, std::string_view payload) override;
    bool on_ping(std::string_view payload) override;
    bool on_pong(std::string_view payload) override;
    bool on_close(std::uint16_t code, std::string_view reason) override;

    void wait_readable();
    void on_readable(const boost::system::error_code& ec);
    bool consume(std::span<char> data);
    // Writes pending control frames and in_flight_. `try_now`: one non-blocking write first,
    // completing synchronously when it takes everything (only from write() and the write
    // chain, whose callers expect on_ws_drained() at any time; the 101, pongs and closes are
    // written asynchronously, as before).
    void start_write(bool try_now);
    void on_written(const boost::system::error_code& ec);
    void send_control(protocol::ws::Opcode opcode, std::string_view payload);
    void begin_close(std::uint16_t code, std::string_view reason);
    void fail(WsCloseCause cause);
    void finish();
    static void on_linger_timeout(void* self);

    Shard& shard_;
    boost::asio::ip::tcp::socket socket_;
    protocol::ws::Reader reader_;
    WsHandler* handler_ = nullptr;
    State state_ = State::kOpen;
    bool writing_ = false;
    bool reading_ = false;
    bool close_frame_queued_ = false;
    std::string pending_control_;  // control frames (and the 101) not yet written
    std::string in_flight_control_;
    std::vector<OutMessagePtr> in_flight_;
    std::vector<OutMessagePtr> next_batch_;  // written after the write in flight
    std::vector<std::uint8_t> headers_;      // frame headers of an asynchronous write in flight
    std::vector<boost::asio::const_buffer> buffers_;
    LazyTimer<&WsConnection::on_linger_timeout> linger_timer_;
    std::chrono::milliseconds close_linger_;
};

}  // namespace roomcast::transport
