#include "backends/backend_port.hpp"

#include <prometheus/histogram.h>

namespace roomcast::edge::backends {

std::shared_ptr<prometheus::Collectable> BackendMetrics::attach(observability::Metrics& metrics) {
    auto& family = prometheus::BuildHistogram()
                       .Name("roomcast_edge_backend_request_seconds")
                       .Help("Requests to application backends that were answered: from the "
                             "request to its reply, by kind (rpc, connect, join, publish)")
                       .Register(metrics.registry());
    for (std::size_t k = 0; k < kKinds; ++k) {
        if (k == static_cast<std::size_t>(Kind::kLifecycle)) {
            continue;  // publishes only: nothing is answered, so there is no latency to time
        }
        latency_[k] = &family.Add({{"kind", kKindNames[k]}}, observability::Metrics::latency_buckets());
    }
    auto c = std::make_shared<observability::CallbackCollector>();
    for (std::size_t k = 0; k < kKinds; ++k) {
        for (std::size_t r = 0; r < kResults; ++r) {
            c->counter("roomcast_edge_backend_requests_total",
                       "Requests to application backends by kind and result (ok, error: the "
                       "backend refused or failed it, timeout, no_responders, bad_reply, failed: "
                       "NATS refused it)",
                       [this, k, r] { return static_cast<double>(counts_[k][r].load(std::memory_order_relaxed)); },
                       {{"kind", kKindNames[k]}, {"result", kResultNames[r]}});
        }
    }
    return c;
}

void BackendMetrics::observe(Kind kind, std::chrono::steady_clock::duration took) noexcept {
    if (auto* h = latency_[static_cast<std::size_t>(kind)]) {
        h->Observe(std::chrono::duration<double>(took).count());
    }
}

void NatsBackend::request(Kind kind, std::string subject, std::string payload,
                          std::chrono::milliseconds timeout,
                          std::function<void(natsbus::Result<std::string>)> done) {
    const auto sent = std::chrono::steady_clock::now();
    nats_.request_async(
        subject, std::move(payload), timeout,
        [this, kind, sent, done = std::move(done)](natsbus::Result<natsbus::Message> reply) {
            if (!reply) {
                const auto e = reply.error();
                metrics_.count(kind, e == natsbus::Errc::kTimeout        ? Result::kTimeout
                                     : e == natsbus::Errc::kNoResponders ? Result::kNoResponders
                                                                         : Result::kFailed);
                done(e);
                return;
            }
            metrics_.observe(kind, std::chrono::steady_clock::now() - sent);
            done(std::move(reply->data));
        });
}

bool NatsBackend::publish(Kind kind, std::string_view subject, std::string_view payload) {
    if (!nats_.publish(subject, payload)) {
        metrics_.count(kind, Result::kFailed);
        return false;
    }
    return true;
}

}  // namespace roomcast::edge::backends
