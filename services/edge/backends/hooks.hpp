#pragma once
// The join and publish hooks (docs/backends.md "Hooks"): before a socket joins a room, or a
// client's publish to a room is stored, the edge asks an application backend when the room id
// starts with one of the configured prefixes. The request goes through BackendPort (counted and
// timed there as kind join / publish); this turns the reply, or its absence, into a verdict:
//
//   allow                       → go ahead (publish: with the backend's data when it replaced it)
//   deny {code, message}        → the ack's error (code "forbidden" when empty; both capped)
//   no reply in --hook-timeout, no backend, NATS down, a reply that does not parse or (publish)
//   a replacement that breaks the publish limits
//                               → the fail mode: open goes ahead, closed refuses `unavailable`.
//
// The decisions are pure functions (decide_join, decide_publish) so that every branch has a
// unit test without NATS.
//
// Thread-safety: const after construction; join/publish may be called from any thread and call
// `done` on a library thread (or inline, when the port answers inline).

#include "backends/backend_port.hpp"

#include "roomcast/backend/v1/backend.pb.h"

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::edge::backends {

namespace pb = roomcast::backend::v1;

enum class FailMode : std::uint8_t { kOpen, kClosed };

// "open" / "closed"; nullopt for anything else.
std::optional<FailMode> parse_fail_mode(std::string_view text) noexcept;

struct HookOptions {
    // Room-id prefixes whose joins / publishes are asked ("*": every room; empty: none).
    std::vector<std::string> join_prefixes;
    std::vector<std::string> publish_prefixes;
    std::chrono::milliseconds timeout{2000};
    FailMode join_fail = FailMode::kClosed;
    FailMode publish_fail = FailMode::kClosed;
    // A replacement is held to the client's limits: data JSON + attachments within the publish
    // cap (what the stream accepts), at most this many attachments (what a client may send).
    std::size_t max_publish_bytes = 256 * 1024;
    std::size_t max_attachments = 10;
};

// Caps on what a refusal carries to the client: a backend's bug must not become a megabyte ack.
inline constexpr std::size_t kMaxRefusalCodeBytes = 64;
inline constexpr std::size_t kMaxRefusalMessageBytes = 512;

// Why the edge does not go ahead, as the client's ack error.
struct Refusal {
    std::string code;
    std::string message;
};

struct JoinVerdict {
    std::optional<Refusal> refusal;  // nullopt: allowed
    Result outcome = Result::kOk;    // how the request ended (metrics, tests)
};

struct Replacement {
    std::string data_json;
    std::vector<std::string> attachments;
};

struct PublishVerdict {
    std::optional<Refusal> refusal;          // nullopt: allowed
    std::optional<Replacement> replacement;  // allowed with the backend's data
    Result outcome = Result::kOk;
};

// True when `room` starts with one of `prefixes` ("*" matches every room).
bool matches_prefix(const std::vector<std::string>& prefixes, std::string_view room) noexcept;

// `reply`: the reply's payload, or the request's NATS error.
JoinVerdict decide_join(const natsbus::Result<std::string>& reply, FailMode fail);
PublishVerdict decide_publish(const natsbus::Result<std::string>& reply, FailMode fail,
                              const HookOptions& limits);

class Hooks {
public:
    Hooks(BackendPort& port, HookOptions options, std::string edge_id);

    bool asks_join(std::string_view room) const noexcept {
        return matches_prefix(options_.join_prefixes, room);
    }
    bool asks_publish(std::string_view room) const noexcept {
        return matches_prefix(options_.publish_prefixes, room);
    }

    // `client.edge_id` is filled in here.
    void join(pb::Client client, std::string room, std::function<void(JoinVerdict)> done);
    void publish(pb::Client client, std::string room, std::string event, std::string data_json,
                 std::vector<std::string> attachments, std::function<void(PublishVerdict)> done);

    const HookOptions& options() const noexcept { return options_; }

private:
    BackendPort& port_;
    HookOptions options_;
    std::string edge_id_;
};

}  // namespace roomcast::edge::backends
