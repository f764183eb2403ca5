#pragma once
// One load-generating thread: its io_context (a transport::Shard), the clients it owns, its
// publishers and its statistics. Every client, timer and counter of a worker is touched only
// by that worker's thread, so the message path takes no lock; the runner posts commands to it
// and reads its counters (single-writer atomics). Histograms and per-client accounting are read
// by the runner only after the worker's thread has stopped.

#include "accounting.hpp"
#include "histogram.hpp"
#include "options.hpp"

#include "roomcast/jwt/jwt.hpp"
#include "roomcast/transport/shard.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace roomcast::loadgen {

using Clock = std::chrono::steady_clock;

// Everything the workers share, fixed before they start and read-only afterwards.
struct Plan {
    Options options;
    std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // one per options.urls
    std::vector<boost::asio::ip::address> sources;
    std::string event_json;  // the event name as a JSON string
    std::optional<jwt::Key> key;
    // How long a client we close waits for the server's side of the close.
    std::chrono::milliseconds close_linger{2000};

    bool publishes() const noexcept {
        return options.scenario == Scenario::kFanout || options.scenario == Scenario::kLatency;
    }
    bool is_polling(std::uint64_t i) const noexcept;
    bool is_publisher(std::uint64_t i) const noexcept {
        return publishes() && i < options.publishers;
    }
    unsigned worker_of(std::uint64_t i) const noexcept {
        return static_cast<unsigned>(i % options.threads);
    }
    std::string user_id(std::uint64_t i) const;
    // Empty when --rooms is 0.
    std::string room(std::uint64_t i) const;
};

// Resolves the URLs and source addresses; throws std::runtime_error with a usage message.
Plan make_plan(Options options);

// Why a connection attempt failed (before Socket.IO CONNECT succeeded) or an established one
// ended without our asking. A closed set, reported as counts.
enum class Why : std::uint8_t {
    kConnect,           // TCP connect / bind failed
    kHandshake,         // a bad upgrade response or Engine.IO open packet; polling: not 200
    kUpgradeRefused,    // the WebSocket upgrade answered with another status than 101 (which:
                        // Worker::upgrade_statuses)
    kUnauthorized,      // CONNECT_ERROR "unauthorized"
    kConnectError,      // other CONNECT_ERROR
    kTimeout,           // no Socket.IO CONNECT (or join ack) within --connect-timeout
    kTransportClose,    // EOF, reset, close frame, Engine.IO close, polling 400
    kPingTimeout,       // no server ping within pingInterval + pingTimeout (+ grace)
    kServerDisconnect,  // Socket.IO DISCONNECT from the server
    kProtocolError,     // a frame or packet we cannot parse
    kCount,
};
std::string_view to_string(Why why) noexcept;
inline constexpr std::size_t kWhyCount = static_cast<std::size_t>(Why::kCount);

struct Counters {
    transport::LocalCounter launched;     // initial connection attempts started
    transport::LocalCounter settled;      // initial attempts finished (joined, join failed, failed)
    transport::LocalCounter established;  // clients whose first Socket.IO CONNECT succeeded
    transport::LocalCounter failed;       // clients that never connected
    transport::LocalCounter joined;       // join acks ok (every join, churn included)
    transport::LocalCounter join_failed;  // join acks with an error, or no ack in time
    transport::LocalCounter disconnected;  // connections lost without our asking
    transport::LocalCounter live;          // transports open now
    transport::LocalCounter sent;          // data messages published
    transport::LocalCounter acked;         // ... acked ok
    transport::LocalCounter pub_errors;    // ... acked with an error, or not in time
    transport::LocalCounter pending_acks;  // data-message acks outstanding
    transport::LocalCounter deliveries;    // data (and churn) messages received, warmup included
    transport::LocalCounter measured_deliveries;  // ... during the measurement window
    transport::LocalCounter without_offset;       // ... delivered without an offset (ephemeral)
    transport::LocalCounter foreign;              // the configured event with data we did not write
    transport::LocalCounter churn_cycles;         // churn: reconnections started
    transport::LocalCounter churn_completed;      // ... that connected, joined and got the ack
    transport::LocalCounter churn_failed;         // ... that failed somewhere on the way
    std::array<transport::LocalCounter, kWhyCount> fail_reasons;
    std::array<transport::LocalCounter, kWhyCount> disconnect_reasons;
};

class Client;

// A publishing client's state. Owned by its worker; the client points to it.
struct Publisher {
    Client* client = nullptr;
    std::string id;  // the user id; the "p" of its messages
    std::string room;
    std::uint64_t sent = 0;
    std::uint64_t acked = 0;
    std::uint64_t refused = 0;  // acked with ok:false
    std::uint64_t timed_out = 0;
    double next_due_s = 0;  // seconds since publishing started
    // Acks awaited: (ack id, deadline), oldest first.
    std::deque<std::pair<std::uint64_t, Clock::time_point>> pending;
    std::optional<std::uint64_t> end_ack_id;
    bool end_sent = false;
};

class Worker {
public:
    Worker(transport::Shard& shard, const Plan& plan, unsigned index);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // --- commands: run on the worker's thread (the runner posts them) ---
    void start(Clock::time_point t0);  // create this worker's clients, connect them at the rate
    void start_publishing();
    void set_measuring(bool on) noexcept { measuring_ = on; }
    void stop_publishing();
    void send_end_markers();
    void update_missing_ends();  // recounts counters.missing_ends
    void start_churn();
    void stop_churn();
    void close_all();
    void snapshot_latency();  // copies the latency histogram for progress reports

    Histogram latency_snapshot() const;  // any thread
    Counters counters;                   // written by the worker's thread, read by any

    // --- for the runner after the worker's thread has stopped ---
    const std::vector<std::unique_ptr<Client>>& clients() const noexcept { return clients_; }
    const std::vector<Publisher>& publishers() const noexcept { return publishers_; }
    const std::string& publisher_name(std::uint32_t interned) const { return names_[interned]; }
    const Histogram& connect_us() const noexcept { return connect_us_; }
    const Histogram& connect_join_us() const noexcept { return connect_join_us_; }
    const Histogram& latency_us() const noexcept { return latency_us_; }
    // Refused WebSocket upgrades by HTTP status (0: no status line): why a server said no.
    const std::map<unsigned, std::uint64_t>& upgrade_statuses() const noexcept { return upgrade_statuses_; }
    std::uint64_t churn_in_flight() const noexcept { return churn_in_flight_.get(); }
    std::uint64_t missing_ends() const noexcept {
        return missing_ends_.load(std::memory_order_relaxed);
    }

    // --- for the clients (worker's thread) ---
    transport::Shard& shard() noexcept { return shard_; }
    const Plan& plan() const noexcept { return plan_; }
    std::string& packet_buffer() noexcept { return packet_; }
    void random_bytes(std::uint8_t* out, std::size_t n) noexcept;
    std::uint32_t intern(std::string_view publisher);
    void upgrade_refused(unsigned status) { ++upgrade_statuses_[status]; }
    bool measuring() const noexcept { return measuring_; }
    bool closing() const noexcept { return closing_; }
    Histogram& connect_hist() noexcept { return connect_us_; }
    Histogram& connect_join_hist() noexcept { return connect_join_us_; }
    // A data or churn message arrived (its send time, when it carried one; whether the event
    // had an offset argument, i.e. was stored, not ephemeral).
    void on_delivery(std::optional<std::int64_t> sent_ns, bool offset);
    // A client's first connection attempt is over (joined, join refused, or failed).
    void on_settled(bool ok);
    void on_churn_done(Client& c, bool ok);
    void on_publish_ack(Publisher& p, std::uint64_t id, bool ok);

private:
    void tick();
    void launch_due(Clock::time_point now);
    void publish_due(Clock::time_point now);
    void churn_due(Clock::time_point now);
    void expire_acks(Clock::time_point now);

    transport::Shard& shard_;
    const Plan& plan_;
    unsigned index_;
    std::vector<std::unique_ptr<Client>> clients_;
    std::vector<Publisher> publishers_;
    boost::asio::steady_timer ticker_;
    bool ticking_ = false;
    bool measuring_ = false;
    bool publishing_ = false;
    bool churning_ = false;
    bool closing_ = false;
    Clock::time_point t0_{};
    Clock::time_point publish_t0_{};
    Clock::time_point churn_t0_{};
    std::size_t next_launch_ = 0;
    std::uint64_t pending_connects_ = 0;
    std::uint64_t churn_started_ = 0;
    std::size_t churn_cursor_ = 0;
    transport::LocalCounter churn_in_flight_;
    std::atomic<std::uint64_t> missing_ends_{0};  // (receiver, publisher) end markers awaited
    std::string packet_;                          // reused to build outgoing packets
    std::uint64_t rng_;
    // Publisher ids seen by this worker's clients, interned so that per-client tables hold
    // indices; the last lookup is cached (deliveries of one message arrive back to back).
    std::unordered_map<std::string, std::uint32_t> ids_;
    std::vector<std::string> names_;
    std::string last_name_;
    std::uint32_t last_id_ = 0;
    std::map<unsigned, std::uint64_t> upgrade_statuses_;  // a few keys at most
    Histogram connect_us_;
    Histogram connect_join_us_;
    Histogram latency_us_;
    mutable std::mutex snapshot_mu_;
    Histogram latency_snapshot_;
};

}  // namespace roomcast::loadgen
