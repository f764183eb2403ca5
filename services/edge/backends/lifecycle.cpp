#include "backends/lifecycle.hpp"

#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/clock.hpp"

#include <boost/asio/post.hpp>

namespace roomcast::edge::backends {

namespace pb = roomcast::backend::v1;

namespace {

std::string capped(std::string_view s) {
    std::size_t n = std::min(s.size(), kMaxLifecycleTextBytes);
    if (n < s.size()) {
        while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
            --n;  // keep UTF-8 whole: protobuf strings must be valid
        }
    }
    return std::string(s.substr(0, n));
}

}  // namespace

Lifecycle::Lifecycle(BackendPort& port, std::string edge_id, LifecycleOptions options, Clock clock)
    : port_(port),
      edge_id_(std::move(edge_id)),
      subject_(contract::lifecycle_subject(edge_id_)),
      options_(options),
      clock_(clock ? std::move(clock) : Clock([] { return core::unix_ms(); })) {}

Lifecycle::~Lifecycle() = default;

void Lifecycle::connect(const LifecycleSocket& s, bool recovered) {
    push(pb::LifecycleEvent::KIND_CONNECT, s, {}, {}, recovered);
}

void Lifecycle::disconnect(const LifecycleSocket& s, std::string_view reason) {
    push(pb::LifecycleEvent::KIND_DISCONNECT, s, {}, reason, false);
}

void Lifecycle::join(const LifecycleSocket& s, std::string_view room) {
    push(pb::LifecycleEvent::KIND_JOIN, s, room, {}, false);
}

void Lifecycle::leave(const LifecycleSocket& s, std::string_view room) {
    push(pb::LifecycleEvent::KIND_LEAVE, s, room, {}, false);
}

void Lifecycle::kicked(const LifecycleSocket& s, std::string_view room, std::string_view reason) {
    push(pb::LifecycleEvent::KIND_KICKED, s, room, reason, false);
}

void Lifecycle::push(pb::LifecycleEvent::Kind kind, const LifecycleSocket& s, std::string_view room,
                     std::string_view reason, bool recovered) {
    if (!options_.enabled) {
        return;
    }
    // Built outside the lock: the lock only covers the append.
    pb::LifecycleEvent ev;
    ev.set_kind(kind);
    ev.set_at_ms(clock_());
    ev.set_user_id(s.user_id);
    ev.set_user_name(capped(s.user_name));
    ev.set_socket_id(s.socket_id);
    ev.set_namespace_(s.nsp);
    ev.set_room(std::string(room));
    ev.set_reason(capped(reason));
    ev.set_recovered(recovered);
    bool full_batch = false;
    {
        std::lock_guard lock(mu_);
        if (queue_.size() >= options_.queue) {
            ++dropped_since_batch_;
            dropped_total_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        queue_.push_back(std::move(ev));
        full_batch = queue_.size() >= options_.batch;
    }
    if (full_batch && executor_ != nullptr && !flush_posted_.exchange(true)) {
        boost::asio::post(*executor_, [this] {
            flush_posted_ = false;
            flush();
        });
    }
}

std::size_t Lifecycle::flush() {
    std::vector<pb::LifecycleEvent> events;
    std::uint64_t dropped = 0;
    {
        std::lock_guard lock(mu_);
        if (queue_.empty() && dropped_since_batch_ == 0) {
            return 0;
        }
        events.swap(queue_);
        dropped = dropped_since_batch_;
        dropped_since_batch_ = 0;
    }
    std::size_t batches = 0;
    std::size_t i = 0;
    // Drops alone still make a batch (with no events): a backend learns of them promptly.
    do {
        pb::LifecycleBatch batch;
        batch.set_edge_id(edge_id_);
        batch.set_dropped(dropped);
        const std::size_t end = std::min(events.size(), i + options_.batch);
        for (; i < end; ++i) {
            *batch.add_events() = std::move(events[i]);
        }
        const auto n = static_cast<std::uint64_t>(batch.events_size());
        if (port_.publish(Kind::kLifecycle, subject_, batch.SerializeAsString())) {
            published_total_.fetch_add(n, std::memory_order_relaxed);
            dropped = 0;
        } else {
            // NATS refused it: these events are lost as surely as a full queue's, and counted
            // alike (the next batch says so too).
            dropped += n;
            dropped_total_.fetch_add(n, std::memory_order_relaxed);
        }
        ++batches;
    } while (i < events.size());
    if (dropped > 0) {
        std::lock_guard lock(mu_);
        dropped_since_batch_ += dropped;
    }
    return batches;
}

std::size_t Lifecycle::waiting() const {
    std::lock_guard lock(mu_);
    return queue_.size();
}

void Lifecycle::start(boost::asio::io_context& executor) {
    if (!options_.enabled) {
        return;
    }
    executor_ = &executor;
    timer_ = std::make_unique<boost::asio::steady_timer>(executor);
    arm();
}

void Lifecycle::arm() {
    timer_->expires_after(options_.interval);
    timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopped_) {
            return;
        }
        flush();
        arm();
    });
}

void Lifecycle::stop() {
    stopped_ = true;
    if (timer_) {
        timer_->cancel();
    }
    flush();
}

std::shared_ptr<prometheus::Collectable> Lifecycle::attach(observability::Metrics&) {
    auto c = std::make_shared<observability::CallbackCollector>();
    c->counter("roomcast_edge_lifecycle_dropped_total",
               "Lifecycle events this edge dropped: its queue (--lifecycle-queue) was full, or NATS "
               "refused their batch",
               [this] { return static_cast<double>(dropped_total()); });
    c->counter("roomcast_edge_lifecycle_events_total", "Lifecycle events this edge published",
               [this] { return static_cast<double>(published_total()); });
    return c;
}

}  // namespace roomcast::edge::backends
