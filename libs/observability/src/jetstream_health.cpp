#include "roomcast/observability/jetstream_health.hpp"

#include "roomcast/observability/metrics.hpp"

namespace roomcast::observability {

JetStreamHealth::Target JetStreamHealth::stream(std::string_view name) {
    return {std::string(name), std::string(name)};
}

JetStreamHealth::Target JetStreamHealth::bucket(std::string_view name) {
    return {std::string(name), "KV_" + std::string(name)};
}

JetStreamHealth::JetStreamHealth(natsbus::Connection& nats, std::vector<Target> targets,
                                 JetStreamHealthOptions options)
    : nats_(nats), targets_(std::move(targets)), options_(options), states_(targets_.size()) {}

JetStreamHealth::~JetStreamHealth() {
    stop();
}

void JetStreamHealth::start() {
    thread_ = std::thread([this] {
        std::unique_lock lock(mu_);
        while (!stopping_) {
            lock.unlock();
            poll(true);
            lock.lock();
            wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
        }
    });
}

void JetStreamHealth::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void JetStreamHealth::poll_once() {
    poll(false);
}

void JetStreamHealth::poll(bool stoppable) {
    for (std::size_t i = 0; i < targets_.size(); ++i) {
        // Outside the lock: a scrape never waits for a NATS round trip.
        auto r = nats_.jetstream().stream_health(targets_[i].stream, options_.timeout);
        std::lock_guard lock(mu_);
        if (stoppable && stopping_) {
            return;  // stop() waits for this thread: no more requests
        }
        auto& state = states_[i];
        if (r) {
            state.present = true;
            state.has_leader = r->has_leader;
            state.last = *r;
        } else if (r.error() == natsbus::Errc::kNotFound) {
            state = State{};
        } else {
            ++errors_;
            state.has_leader = false;
        }
    }
}

std::vector<prometheus::MetricFamily> JetStreamHealth::Collect() const {
    auto bytes = gauge_family("roomcast_jetstream_bytes",
                              "Bytes a JetStream stream or KV bucket of the bus contract holds");
    auto max_bytes = gauge_family("roomcast_jetstream_max_bytes",
                                  "The byte budget (max_bytes) of a JetStream stream or KV bucket");
    auto messages = gauge_family("roomcast_jetstream_messages",
                                 "Messages (bucket: entries and history) a stream or bucket holds");
    auto leader = gauge_family("roomcast_jetstream_has_leader",
                               "1 while a leader answers for the stream or bucket");
    auto errors = counter_family(
        "roomcast_jetstream_info_errors_total",
        "Stream info requests that failed or timed out (a missing stream is not counted)");
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < targets_.size(); ++i) {
        const auto& s = states_[i];
        if (!s.present) {
            continue;
        }
        const std::vector<prometheus::ClientMetric::Label> name{{"name", targets_[i].name}};
        add_sample(bytes, static_cast<double>(s.last.bytes), name);
        if (s.last.max_bytes > 0) {
            add_sample(max_bytes, static_cast<double>(s.last.max_bytes), name);
        }
        add_sample(messages, static_cast<double>(s.last.messages), name);
        add_sample(leader, s.has_leader ? 1.0 : 0.0, name);
    }
    add_sample(errors, static_cast<double>(errors_));
    return {std::move(bytes), std::move(max_bytes), std::move(messages), std::move(leader),
            std::move(errors)};
}

}  // namespace roomcast::observability
