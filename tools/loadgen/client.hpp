#pragma once
// One simulated socket.io-client: the Socket.IO / collaboration-protocol logic in Client, the
// Engine.IO transport in WsClient (WebSocket) or PollingClient (HTTP long-polling).
//
// Ownership: clients are owned by their Worker for the whole run and never move, so pending
// I/O handlers capture a raw pointer plus the connection epoch: a handler whose epoch is stale
// (the connection it was started for has been closed, maybe reopened) returns at once.
// Thread-safety: everything runs on the owning worker's thread.
//
// Memory per idle WebSocket client: the socket (and Asio's reactor entry), an empty frame
// Reader, two timers embedded here and a few counters. Reads go through the shard's scratch
// buffer; write buffers exist only while bytes are waiting for the socket.

#include "accounting.hpp"
#include "worker.hpp"

#include "roomcast/protocol/engineio.hpp"
#include "roomcast/protocol/websocket.hpp"
#include "roomcast/transport/timer_list.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::loadgen {

class Client {
public:
    enum class State : std::uint8_t {
        kIdle,           // not started, or closed
        kConnecting,     // TCP, HTTP upgrade / polling handshake, Engine.IO open
        kSioConnecting,  // "40{auth}" sent, waiting for the CONNECT reply
        kJoining,        // join sent, waiting for its ack
        kReady,          // connected (and joined)
        kClosing,        // a close we asked for is in progress
    };

    struct Received {
        std::uint32_t publisher;  // interned by the worker
        SeqTracker tracker;
    };

    Client(Worker& worker, std::uint64_t index);
    virtual ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    std::uint64_t index() const noexcept { return index_; }
    State state() const noexcept { return state_; }
    bool ready() const noexcept { return state_ == State::kReady; }
    bool in_room() const noexcept { return in_room_; }
    bool ever_joined() const noexcept { return ever_joined_; }
    const std::vector<Received>& received() const noexcept { return received_; }
    void set_publisher(Publisher* p);
    Publisher* publisher() const noexcept { return publisher_; }

    // Connects, authenticates and joins (its room, if any).
    void start();
    // Churn: close gracefully, then reconnect, join and publish one message.
    void churn(std::uint64_t cycle);
    // Closes gracefully (Socket.IO DISCONNECT, then the transport's close).
    void close();

    // Publishing (publishers only).
    void publish_data();
    void publish_end();

    // (receiver, publisher) pairs whose end marker has not arrived: publishers seen by this
    // client, plus `local` publisher ids of its room that it has not seen at all.
    std::uint64_t missing_ends(const std::vector<std::uint32_t>& local) const;

protected:
    // --- implemented by the transport ---
    virtual void transport_open() = 0;
    // One Engine.IO text packet: "<type digit><data>".
    virtual void transport_send(std::string_view packet) = 0;
    // Graceful close of an open transport; calls transport_closed() when done (or aborts).
    virtual void transport_close() = 0;
    // Immediate close; no callback.
    virtual void transport_abort() = 0;

    // --- called by the transport ---
    // The Engine.IO open packet's JSON; false when it is unusable (the caller aborts).
    bool on_open(std::string_view handshake_json);
    void on_eio(char type, std::string_view data);
    // The transport ended without our asking (before or after Socket.IO CONNECT).
    void on_transport_lost(Why why);
    // A close we asked for has finished.
    void transport_closed();

    Worker& worker_;
    std::uint32_t epoch_ = 0;  // bumped at every (re)connection; stale handlers compare it

private:
    void on_sio(std::string_view text);
    void on_connected();
    void on_ack(std::uint64_t id, std::string_view payload);
    void on_event(std::string_view payload);
    void send_connect();
    void send_join();
    void publish_churn();
    void fail(Why why);
    void settle(bool ok);
    void arm_phase_timer();
    static void on_phase_timeout(void* self);
    static void on_ping_timeout(void* self);
    Received& received_for(std::uint32_t publisher);
    std::int64_t elapsed_us() const;

    std::uint64_t index_;
    State state_ = State::kIdle;
    bool settled_ = false;  // the first attempt is over
    bool ever_established_ = false;
    bool ever_joined_ = false;
    bool in_room_ = false;
    bool churn_pending_ = false;  // reconnect after the close in progress (churn)
    bool churn_cycle_ = false;    // this connection is a churn reconnection
    std::uint64_t churn_number_ = 0;
    std::uint64_t next_ack_ = 0;
    std::uint64_t join_ack_ = 0;
    std::uint64_t churn_ack_ = 0;
    Clock::time_point started_{};
    std::chrono::milliseconds ping_deadline_{0};  // pingInterval + pingTimeout + grace
    transport::Timer phase_timer_;                // connect timeout; linger while closing
    transport::Timer ping_timer_;                 // server ping watchdog
    Publisher* publisher_ = nullptr;
    std::uint32_t own_id_ = ~0U;      // interned own id (publishers), to ignore any echo
    std::vector<Received> received_;  // sorted by publisher
};

// Engine.IO over WebSocket (RFC 6455 client role, masked frames).
class WsClient final : public Client, private protocol::ws::ReaderSink {
public:
    WsClient(Worker& worker, std::uint64_t index);
    ~WsClient() override;

private:
    enum class Phase : std::uint8_t { kClosed, kTcp, kUpgrade, kOpen, kClosing };

    void transport_open() override;
    void transport_send(std::string_view packet) override;
    void transport_close() override;
    void transport_abort() override;

    bool on_message(protocol::ws::Opcode opcode, std::string_view payload) override;
    bool on_ping(std::string_view payload) override;
    bool on_pong(std::string_view payload) override;
    bool on_close(std::uint16_t code, std::string_view reason) override;

    void on_connect(const boost::system::error_code& ec);
    void wait_readable();
    void on_readable(const boost::system::error_code& ec);
    bool consume(std::span<char> data);
    void write_frame(protocol::ws::Opcode opcode, std::string_view payload);
    void flush();
    void on_written(const boost::system::error_code& ec);
    void lost(Why why);
    void finish();

    boost::asio::ip::tcp::socket socket_;
    protocol::ws::Reader reader_;
    Phase phase_ = Phase::kClosed;
    bool reading_ = false;
    bool writing_ = false;
    bool shutdown_after_write_ = false;
    std::string in_;           // the upgrade response head until it is complete; then empty
    std::string out_;          // bytes not written yet
    std::string writing_buf_;  // bytes of the write in flight
};

// Engine.IO over HTTP long-polling: one GET and one POST in flight at most, each on its own
// keep-alive connection (as a browser or Node.js agent would use two sockets).
class PollingClient final : public Client {
public:
    PollingClient(Worker& worker, std::uint64_t index);
    ~PollingClient() override;

private:
    struct Leg {
        explicit Leg(boost::asio::io_context& ioc) : socket(ioc) {}
        boost::asio::ip::tcp::socket socket;
        std::string request;  // kept until answered, to retry once on a stale connection
        std::string in;       // response bytes so far
        bool open = false;
        bool busy = false;
        bool reused = false;  // has answered a request before
        Clock::time_point idle_since{};
    };

    void transport_open() override;
    void transport_send(std::string_view packet) override;
    void transport_close() override;
    void transport_abort() override;

    void send_request(Leg& leg, bool is_get);
    void connect_leg(Leg& leg, bool is_get);
    void write_request(Leg& leg, bool is_get);
    void read_response(Leg& leg, bool is_get);
    void on_response(bool is_get, unsigned status, std::string_view body);
    void poll();
    void flush_post();
    void lost(Why why);
    void close_legs();
    std::string target() const;

    Leg get_;
    Leg post_;
    std::string sid_;
    protocol::eio::PayloadWriter queued_;  // packets for the next POST
    bool handshaken_ = false;
    bool closing_ = false;
    bool open_ = false;
};

}  // namespace roomcast::loadgen
