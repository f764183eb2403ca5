#pragma once
// Custom events (docs/backends.md "Custom events (RPC)"): a client's event that is not one of
// Roomcast's becomes a CustomEvent on rpc_subject(namespace, event). With an ack callback it is
// a NATS request whose reply becomes the ack ({ok: true, result} or {ok: false, error}); a
// backend that does not answer in time, is not there, fails or answers garbage gives
// {ok: false, error: {code: "unavailable"}}. Without one it is published (fire-and-forget).
//
// Limits: each socket has at most `max_in_flight` requests waiting (more are answered
// `rate_limited` without being sent: a client cannot pile up edge memory and backend load
// behind a slow backend); arguments and replies are capped at `max_bytes` (the edge's
// --max-payload) and `max_attachments`.
//
// Thread-safety: on_event() and call() run on the socket's shard; replies arrive on a NATS
// thread and are posted back to the shard before they touch the socket or its in-flight count.
// RpcMetrics is thread-safe.

#include "backends/backend_port.hpp"
#include "socketio/server.hpp"

#include "roomcast/backend/v1/backend.pb.h"
#include "roomcast/observability/metrics.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace prometheus {
class Counter;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace roomcast::edge::backends {

namespace v1 = roomcast::backend::v1;

struct RpcOptions {
    // How long an edge waits for a reply (--rpc-timeout).
    std::chrono::milliseconds timeout{5000};
    // Requests one socket may have waiting (--rpc-max-in-flight).
    std::uint32_t max_in_flight = 16;
    // Largest arguments (JSON and binaries) sent and largest reply accepted (--max-payload).
    std::uint64_t max_bytes = 1000000;
    // Most binary attachments in a reply (--max-attachments, as for clients' packets).
    std::size_t max_attachments = 10;
};

// How one custom event ended, as roomcast_edge_rpc_requests_total{event, result} counts it.
enum class RpcOutcome : std::uint8_t {
    kOk,           // answered {ok: true}
    kError,        // the backend answered {ok: false}
    kUnavailable,  // timeout, no responders, NATS failure or an undecodable reply
    kRateLimited,  // the socket's in-flight cap: not sent
    kTooLarge,     // the arguments exceed the cap: not sent
    kPublished,    // fire-and-forget, handed to NATS
    kCount
};
inline constexpr const char* kRpcOutcomeNames[] = {"ok",           "error",   "unavailable",
                                                   "rate_limited", "too_large", "published"};

// Per-event counts and latency. Event names are chosen by clients, so only the first
// kMaxEvents distinct names get their own label; the rest count as event="other".
class RpcMetrics {
public:
    static constexpr std::size_t kMaxEvents = 100;

    RpcMetrics() = default;
    // Registers the families (call once, before the first record()).
    void attach(observability::Metrics& metrics);

    void record(std::string_view event, RpcOutcome outcome,
                std::optional<std::chrono::steady_clock::duration> took = std::nullopt);
    std::uint64_t value(std::string_view event, RpcOutcome outcome) const;

private:
    static constexpr std::size_t kOutcomes = static_cast<std::size_t>(RpcOutcome::kCount);
    struct Series {
        std::array<std::atomic<std::uint64_t>, kOutcomes> counts{};
        std::array<prometheus::Counter*, kOutcomes> counters{};
        prometheus::Histogram* latency = nullptr;
    };
    Series& series(std::string_view event);

    mutable std::mutex mu_;
    std::unordered_map<std::string, std::unique_ptr<Series>> events_;  // at most kMaxEvents + 1
    prometheus::Family<prometheus::Counter>* counter_family_ = nullptr;
    prometheus::Family<prometheus::Histogram>* latency_family_ = nullptr;
};

// The CustomEvent request for `args` (placeholders kept, attachments carried); nullopt when
// its arguments exceed `max_bytes`.
std::optional<std::string> encode_custom_event(const v1::Client& client, std::string_view event,
                                               const sio::Args& args, std::int64_t deadline_ms,
                                               std::uint64_t max_bytes);

// {ok: false, error: {code, message}} as an ack.
sio::Args error_ack(std::string_view code, std::string_view message);

struct DecodedReply {
    sio::Args ack;
    RpcOutcome outcome = RpcOutcome::kUnavailable;
    Result port_result = Result::kBadReply;  // what BackendPort::answered() is told (replies only)
};
// The client's ack for a backend's reply (or the NATS error in its place).
DecodedReply decode_reply(const natsbus::Result<std::string>& reply, const RpcOptions& options);

class CustomEvents {
public:
    // Runs a continuation on the socket's shard.
    using Post = std::function<void(std::function<void()>)>;
    // The ack; empty: the client asked for none (fire-and-forget).
    using Answer = std::function<void(const sio::Args&)>;

    CustomEvents(BackendPort& port, RpcOptions options, RpcMetrics& metrics)
        : port_(port), options_(options), metrics_(metrics) {}

    // A client event on its socket's shard. `in_flight` is the socket's count of waiting
    // requests (touched on the shard only; kept alive by the pointer).
    void on_event(const sio::SocketPtr& socket, v1::Client client, std::string_view event,
                  sio::Args&& args, sio::Ack&& ack, std::shared_ptr<std::uint32_t> in_flight);

    // The same without a socket (unit tests): `answer` and the in-flight decrement run
    // through `post`.
    void call(v1::Client client, std::string_view event, const sio::Args& args, Answer answer,
              std::shared_ptr<std::uint32_t> in_flight, Post post);

    const RpcOptions& options() const noexcept { return options_; }

private:
    BackendPort& port_;
    RpcOptions options_;
    RpcMetrics& metrics_;
};

}  // namespace roomcast::edge::backends
