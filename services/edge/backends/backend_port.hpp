#pragma once
// How the edge talks to application backends (docs/backends.md): NATS requests with a deadline
// (custom events, hooks) and plain publishes (fire-and-forget custom events, lifecycle
// batches). The one place that sends them, so every kind is counted and timed alike:
//   roomcast_edge_backend_requests_total{kind, result}  result: ok, error (the backend answered
//     with a refusal or an error), timeout, no_responders, bad_reply, failed (NATS refused it)
//   roomcast_edge_backend_request_seconds{kind}          answered requests, send to reply
// Callers decode the reply and say how it ended (`answered`); transport outcomes are counted
// here. Handlers and hooks take a BackendPort, so unit tests use a fake.
//
// Thread-safety: every method may be called from any thread; `done` runs on a library thread.

#include "roomcast/natsbus/natsbus.hpp"
#include "roomcast/observability/metrics.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Histogram;
}

namespace roomcast::edge::backends {

// kLifecycle: the lifecycle batches' publishes (only ever `failed`; lifecycle.hpp counts events).
enum class Kind : std::uint8_t { kRpc, kConnect, kJoin, kPublish, kLifecycle, kCount };
inline constexpr const char* kKindNames[] = {"rpc", "connect", "join", "publish", "lifecycle"};

enum class Result : std::uint8_t { kOk, kError, kTimeout, kNoResponders, kBadReply, kFailed, kCount };
inline constexpr const char* kResultNames[] = {"ok",           "error",     "timeout",
                                               "no_responders", "bad_reply", "failed"};

class BackendPort {
public:
    virtual ~BackendPort() = default;
    // A request with a deadline: `done` gets the reply's payload, or the NATS error (kTimeout,
    // kNoResponders, kNotConnected, …), on a library thread. After a reply the caller decodes
    // it and calls answered() once with how it ended (kOk, kError or kBadReply).
    virtual void request(Kind kind, std::string subject, std::string payload,
                         std::chrono::milliseconds timeout,
                         std::function<void(natsbus::Result<std::string>)> done) = 0;
    virtual void answered(Kind kind, Result result) = 0;
    // Fire-and-forget; false when NATS refused it at once (counted as kFailed for `kind`).
    virtual bool publish(Kind kind, std::string_view subject, std::string_view payload) = 0;
};

// Counts per kind and result, and a latency histogram per kind.
class BackendMetrics {
public:
    BackendMetrics() = default;
    // Registers the histograms and returns the counters' collector (keep it registered as long
    // as this lives).
    std::shared_ptr<prometheus::Collectable> attach(observability::Metrics& metrics);

    void count(Kind kind, Result result) noexcept {
        counts_[static_cast<std::size_t>(kind)][static_cast<std::size_t>(result)].fetch_add(
            1, std::memory_order_relaxed);
    }
    void observe(Kind kind, std::chrono::steady_clock::duration took) noexcept;
    std::uint64_t value(Kind kind, Result result) const noexcept {
        return counts_[static_cast<std::size_t>(kind)][static_cast<std::size_t>(result)].load(
            std::memory_order_relaxed);
    }

private:
    static constexpr std::size_t kKinds = static_cast<std::size_t>(Kind::kCount);
    static constexpr std::size_t kResults = static_cast<std::size_t>(Result::kCount);
    std::array<std::array<std::atomic<std::uint64_t>, kResults>, kKinds> counts_{};
    std::array<prometheus::Histogram*, kKinds> latency_{};
};

// The production port: natsbus request_async / publish, counted in `metrics`.
class NatsBackend final : public BackendPort {
public:
    NatsBackend(natsbus::Connection& nats, BackendMetrics& metrics) : nats_(nats), metrics_(metrics) {}

    void request(Kind kind, std::string subject, std::string payload, std::chrono::milliseconds timeout,
                 std::function<void(natsbus::Result<std::string>)> done) override;
    void answered(Kind kind, Result result) override { metrics_.count(kind, result); }
    bool publish(Kind kind, std::string_view subject, std::string_view payload) override;

private:
    natsbus::Connection& nats_;
    BackendMetrics& metrics_;
};

}  // namespace roomcast::edge::backends
