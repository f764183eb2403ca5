#pragma once
// Client requests of the collaboration protocol (PRODUCT.md §2) counted by request and result,
// with their latency: roomcast_edge_client_requests_total{request,result} and
// roomcast_edge_client_request_seconds{request} (docs/operations.md, "Metrics"). Counted where
// every answer is produced (Reply::ok / Reply::error), once per request, whether or not the
// client asked for an ack; a request whose socket went away before the answer is not counted.
//
// Labels are closed lists: the request names below and the error codes of docs/protocol.md
// ("ok" for a success). A code outside the protocol's list (an application backend's hook may
// refuse with its own) is counted as "other", so no client or backend input becomes a label.
//
// Thread-safety: record() from any thread. On a shard thread it writes that shard's plain
// counters (transport::LocalCounter: no lock, no locked instruction, no shared cache line);
// elsewhere (unit tests) it takes a mutex. Collect() sums the shards at scrape time.

#include "roomcast/transport/shard.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

namespace roomcast::edge {

enum class ClientRequest : std::uint8_t {
    kJoin,
    kLeave,
    kPublish,
    kHistory,
    kPresence,
    kRefresh,
    kCount
};
inline constexpr const char* kClientRequestNames[] = {"join",    "leave",    "publish",
                                                      "history", "presence", "refresh"};
static_assert(std::size(kClientRequestNames) == static_cast<std::size_t>(ClientRequest::kCount));

// The request an event name stands for, nullopt for any other event (custom events have their
// own metrics, docs/backends.md).
std::optional<ClientRequest> client_request(std::string_view event) noexcept;

class RequestMetrics final : public prometheus::Collectable {
public:
    // The result label values: "ok", the protocol's error codes, then "other".
    static constexpr const char* kResults[] = {
        "ok",           "bad_request",       "unauthorized", "forbidden", "not_found", "not_joined",
        "rate_limited", "payload_too_large", "unavailable",  "internal",  "other"};
    static constexpr std::size_t kResultCount = std::size(kResults);
    // Upper bounds of the latency buckets, seconds (observability::Metrics::latency_buckets).
    static constexpr double kBuckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                          0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                          0.5,     1,      2.5,     5,      10};
    static constexpr std::size_t kBucketCount = std::size(kBuckets);

    // `shards`: the edge's shard count (the shard index selects the counters).
    explicit RequestMetrics(unsigned shards);

    // One answered request: `code` is the ack's error code, empty for ok.
    void record(ClientRequest request, std::string_view code,
                std::chrono::steady_clock::duration took);

    // The index of `code` in kResults (0 for an empty code).
    static std::size_t result_index(std::string_view code) noexcept;

    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    static constexpr std::size_t kRequests = static_cast<std::size_t>(ClientRequest::kCount);
    // One shard's counters; aligned so two shards never write the same cache line.
    struct alignas(64) Slot {
        std::array<std::array<transport::LocalCounter, kResultCount>, kRequests> results{};
        // Per bucket (not cumulative), the last one for samples above every bound.
        std::array<std::array<transport::LocalCounter, kBucketCount + 1>, kRequests> buckets{};
        std::array<transport::LocalCounter, kRequests> sum_ns{};
    };
    static void add(Slot& slot, ClientRequest request, std::size_t result,
                    std::chrono::steady_clock::duration took) noexcept;

    std::vector<std::unique_ptr<Slot>> shards_;
    // Answers produced off the shards (unit tests): one slot behind a mutex.
    mutable std::mutex other_mu_;
    std::unique_ptr<Slot> other_;
};

}  // namespace roomcast::edge
