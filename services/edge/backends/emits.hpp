#pragma once
// Emits to a user or a socket (docs/backends.md "Emit to a user or a socket"): every edge
// subscribes to roomcast.emit (core NATS), checks each Emit and hands it to its matching local
// sockets on their shards: every socket of `user_id` in the namespace, or the socket
// `socket_id`. Nothing is stored; an emit that matches no local socket is counted and dropped.
//
// Checks (an Emit comes from any backend and fans out to clients, so it is checked like a
// client's publish): the event is a valid_event_name, the namespace one this edge serves,
// args_json empty or a JSON array, JSON and binaries together at most `max_bytes`, at most
// `max_attachments` attachments whose placeholders all resolve.
//   roomcast_edge_emits_total{result="delivered|no_target|invalid"}
//
// Thread-safety: parse_emit is pure. EmitDelivery's NATS callback encodes the packet once on
// the NATS thread and posts it to every shard, where sockets are looked up and written.
// UserIndex is per shard: each shard's part is touched on that shard only.

#include "socketio/server.hpp"

#include "roomcast/natsbus/natsbus.hpp"
#include "roomcast/observability/metrics.hpp"
#include "roomcast/transport/shard.hpp"

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace roomcast::edge::backends {

struct EmitLimits {
    std::uint64_t max_bytes = 1000000;  // --max-payload
    std::size_t max_attachments = 10;
};

// A checked Emit, encoded for its namespace.
struct ParsedEmit {
    std::string nsp;        // "/" for ""
    std::string user_id;    // one of user_id, socket_id
    std::string socket_id;
    transport::OutMessagePtr message;
};

// nullopt when the Emit is invalid (malformed, or a check above fails; `served` tells which
// namespaces this edge serves).
std::optional<ParsedEmit> parse_emit(std::string_view data, const EmitLimits& limits,
                                     const std::function<bool(std::string_view nsp)>& served);

// Which sockets of namespaces other than "/" belong to which user (the room fabric knows
// this for "/"): per shard, filled by the namespaces' connection and disconnect handlers.
class UserIndex {
public:
    explicit UserIndex(unsigned shards);
    // On the socket's shard.
    void add(sio::Socket& socket, const std::string& user);
    void remove(sio::Socket& socket, const std::string& user);
    // `user`'s sockets in `nsp` on `shard` (call on that shard).
    std::vector<sio::SocketPtr> sockets(unsigned shard, const sio::Namespace& nsp, std::string_view user) const;

private:
    std::vector<std::unordered_multimap<std::string, sio::Socket*>> shards_;
};

enum class EmitOutcome : std::uint8_t { kDelivered, kNoTarget, kInvalid, kCount };
inline constexpr const char* kEmitOutcomeNames[] = {"delivered", "no_target", "invalid"};

class EmitDelivery {
public:
    // `sockets_of_user(shard, nsp, user)`: the user's sockets in `nsp` on `shard` (on it).
    using SocketsOfUser =
        std::function<std::vector<sio::SocketPtr>(unsigned shard, sio::Namespace& nsp, const std::string& user)>;

    EmitDelivery(natsbus::Connection& nats, sio::Server& io, EmitLimits limits,
                 std::function<bool(std::string_view nsp)> served, SocketsOfUser sockets_of_user);

    natsbus::Result<void> start();
    void stop() { subscription_.reset(); }
    std::shared_ptr<prometheus::Collectable> attach(observability::Metrics& metrics);

    // One message of roomcast.emit (any thread).
    void on_message(std::string_view data);
    std::uint64_t count(EmitOutcome outcome) const noexcept {
        return counts_[static_cast<std::size_t>(outcome)].load(std::memory_order_relaxed);
    }

private:
    void deliver(std::shared_ptr<const ParsedEmit> emit);

    natsbus::Connection& nats_;
    sio::Server& io_;
    EmitLimits limits_;
    std::function<bool(std::string_view)> served_;
    SocketsOfUser sockets_of_user_;
    natsbus::Subscription subscription_;
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(EmitOutcome::kCount)> counts_{};
};

}  // namespace roomcast::edge::backends
