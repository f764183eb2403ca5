#include "app/request_metrics.hpp"

#include "roomcast/observability/metrics.hpp"

#include <algorithm>
#include <limits>

namespace roomcast::edge {

std::optional<ClientRequest> client_request(std::string_view event) noexcept {
    for (std::size_t i = 0; i < std::size(kClientRequestNames); ++i) {
        if (event == kClientRequestNames[i]) {
            return static_cast<ClientRequest>(i);
        }
    }
    return std::nullopt;
}

RequestMetrics::RequestMetrics(unsigned shards) : other_(std::make_unique<Slot>()) {
    shards_.reserve(shards);
    for (unsigned i = 0; i < shards; ++i) {
        shards_.push_back(std::make_unique<Slot>());
    }
}

std::size_t RequestMetrics::result_index(std::string_view code) noexcept {
    if (code.empty()) {
        return 0;
    }
    for (std::size_t i = 1; i + 1 < kResultCount; ++i) {
        if (code == kResults[i]) {
            return i;
        }
    }
    return kResultCount - 1;  // "other"
}

void RequestMetrics::add(Slot& slot, ClientRequest request, std::size_t result,
                         std::chrono::steady_clock::duration took) noexcept {
    const auto r = static_cast<std::size_t>(request);
    const double seconds = std::chrono::duration<double>(took).count();
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(std::begin(kBuckets), std::end(kBuckets), seconds) - std::begin(kBuckets));
    slot.results[r][result].add();
    slot.buckets[r][bucket].add();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
    slot.sum_ns[r].add(ns > 0 ? static_cast<std::uint64_t>(ns) : 0);
}

void RequestMetrics::record(ClientRequest request, std::string_view code,
                            std::chrono::steady_clock::duration took) {
    const std::size_t result = result_index(code);
    if (auto* shard = transport::Shard::current();
        shard != nullptr && shard->index() < shards_.size()) {
        add(*shards_[shard->index()], request, result, took);
        return;
    }
    std::lock_guard lock(other_mu_);
    add(*other_, request, result, took);
}

std::vector<prometheus::MetricFamily> RequestMetrics::Collect() const {
    std::vector<const Slot*> slots;
    for (const auto& s : shards_) {
        slots.push_back(s.get());
    }
    std::lock_guard lock(other_mu_);  // the off-shard slot's plain counters are written under it
    slots.push_back(other_.get());

    auto requests = observability::counter_family(
        "roomcast_edge_client_requests_total",
        "Client requests of the collaboration protocol answered, by request and result (ok or the "
        "ack's error code)");
    prometheus::MetricFamily latency;
    latency.name = "roomcast_edge_client_request_seconds";
    latency.help =
        "Client requests of the collaboration protocol: from the request's arrival to its answer";
    latency.type = prometheus::MetricType::Histogram;
    for (std::size_t r = 0; r < kRequests; ++r) {
        const prometheus::ClientMetric::Label request{"request", kClientRequestNames[r]};
        for (std::size_t code = 0; code < kResultCount; ++code) {
            double total = 0;
            for (const auto* s : slots) {
                total += static_cast<double>(s->results[r][code].get());
            }
            observability::add_sample(requests, total, {request, {"result", kResults[code]}});
        }
        prometheus::ClientMetric m;
        m.label = {request};
        std::uint64_t cumulative = 0;
        std::uint64_t sum_ns = 0;
        for (std::size_t b = 0; b <= kBucketCount; ++b) {
            for (const auto* s : slots) {
                cumulative += s->buckets[r][b].get();
            }
            prometheus::ClientMetric::Bucket bucket;
            bucket.cumulative_count = cumulative;
            bucket.upper_bound =
                b < kBucketCount ? kBuckets[b] : std::numeric_limits<double>::infinity();
            m.histogram.bucket.push_back(bucket);
        }
        for (const auto* s : slots) {
            sum_ns += s->sum_ns[r].get();
        }
        // The count is the +Inf bucket, read in the same pass, so count and buckets agree.
        m.histogram.sample_count = cumulative;
        m.histogram.sample_sum = static_cast<double>(sum_ns) / 1e9;
        latency.metric.push_back(std::move(m));
    }
    return {std::move(requests), std::move(latency)};
}

}  // namespace roomcast::edge
