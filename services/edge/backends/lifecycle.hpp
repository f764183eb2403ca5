#pragma once
// Lifecycle events (docs/backends.md "Lifecycle events"): what happened to this edge's sockets
// (connect, disconnect, join, leave, kicked), published for application backends as
// LifecycleBatch on roomcast.lifecycle.<edge>. Never on a client's path: callers only append
// to a bounded queue; a timer on the edge's executor (every `interval`, or at once when `batch`
// events wait) publishes them in batches of at most `batch`. A full queue drops the new event
// and counts it (roomcast_edge_lifecycle_dropped_total, and `dropped` in the next batch), so a
// slow or absent NATS costs memory bounded by `queue` events, never a blocked shard.
//
// One per edge, owned by main. Thread-safety: the event methods may be called from any thread
// (a mutex held only to append); flush() and the timer run on the executor given to start().

#include "backends/backend_port.hpp"

#include "roomcast/backend/v1/backend.pb.h"
#include "roomcast/observability/metrics.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::edge::backends {

struct LifecycleOptions {
    bool enabled = true;
    // Events waiting at most; past it new ones are dropped (and counted).
    std::size_t queue = 10000;
    // Events per LifecycleBatch at most; this many waiting triggers a flush before the interval.
    std::size_t batch = 500;
    std::chrono::milliseconds interval{100};
};

// Who an event is about.
struct LifecycleSocket {
    std::string user_id;
    std::string user_name;
    std::string socket_id;
    std::string nsp;
};

// Caps on the event's free-text fields (a kick's reason comes from the admin API): bounds one
// event, so `queue` bounds the memory.
inline constexpr std::size_t kMaxLifecycleTextBytes = 256;

class Lifecycle {
public:
    using Clock = std::function<std::int64_t()>;  // Unix ms
    Lifecycle(BackendPort& port, std::string edge_id, LifecycleOptions options, Clock clock = {});
    ~Lifecycle();
    Lifecycle(const Lifecycle&) = delete;
    Lifecycle& operator=(const Lifecycle&) = delete;

    bool enabled() const noexcept { return options_.enabled; }

    void connect(const LifecycleSocket& s, bool recovered);
    void disconnect(const LifecycleSocket& s, std::string_view reason);
    void join(const LifecycleSocket& s, std::string_view room);
    void leave(const LifecycleSocket& s, std::string_view room);
    void kicked(const LifecycleSocket& s, std::string_view room, std::string_view reason);

    // Starts the interval timer on `executor`, which must outlive this object (the timer is
    // its I/O object, destroyed with this).
    void start(boost::asio::io_context& executor);
    // Cancels the timer and publishes what waits (call on the executor, or after it stopped).
    void stop();

    // Publishes every waiting event, in batches of at most `batch`; returns the batches sent.
    // The executor's thread (the timer calls it), or a test's.
    std::size_t flush();

    std::uint64_t dropped_total() const noexcept { return dropped_total_.load(std::memory_order_relaxed); }
    std::uint64_t published_total() const noexcept { return published_total_.load(std::memory_order_relaxed); }
    std::size_t waiting() const;

    // roomcast_edge_lifecycle_dropped_total and roomcast_edge_lifecycle_events_total (keep the
    // collector registered as long as this lives).
    std::shared_ptr<prometheus::Collectable> attach(observability::Metrics& metrics);

private:
    void push(backend::v1::LifecycleEvent::Kind kind, const LifecycleSocket& s, std::string_view room,
              std::string_view reason, bool recovered);
    void arm();

    BackendPort& port_;
    const std::string edge_id_;
    const std::string subject_;
    const LifecycleOptions options_;
    Clock clock_;

    mutable std::mutex mu_;
    std::vector<backend::v1::LifecycleEvent> queue_;  // guarded by mu_
    std::uint64_t dropped_since_batch_ = 0;           // guarded by mu_

    std::atomic<std::uint64_t> dropped_total_{0};
    std::atomic<std::uint64_t> published_total_{0};
    // A flush is posted (the queue reached `batch`): one post however many events follow.
    std::atomic<bool> flush_posted_{false};
    boost::asio::io_context* executor_ = nullptr;
    std::unique_ptr<boost::asio::steady_timer> timer_;
    bool stopped_ = false;  // executor's thread
};

}  // namespace roomcast::edge::backends
