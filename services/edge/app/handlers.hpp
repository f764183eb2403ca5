#pragma once
// The collaboration protocol's room requests (PRODUCT.md §2): join, leave, publish, history,
// presence. Each is parse (requests.hpp, pure) → rights (RightsPort) → state (RoomsPort, the
// room fabric), in that order, as the error order requires: bad_request, then forbidden, then
// not_joined / not_found; then the user's quotas (rate_limited: publishes, published bytes,
// auto-created rooms). Answers go through Reply; work that waits for NATS continues on the
// caller's shard.
//
// Application backends (docs/backends.md): for rooms under the hook prefixes, the join hook is
// asked once Roomcast's rights allowed a join (before an auto-created room is created and before
// the fabric enter), the publish hook after the rights and quotas (before the event is stored).
// A socket that left while a hook was pending gets nothing and changes nothing. Joins and
// leaves are reported as lifecycle events.
//
// Thread-safety: call on the caller's shard. Holds references to its ports, which outlive it.

#include "app/ports.hpp"
#include "app/quotas.hpp"
#include "app/reply.hpp"
#include "app/requests.hpp"
#include "backends/hooks.hpp"
#include "backends/lifecycle.hpp"

namespace roomcast::edge {

struct HandlerOptions {
    requests::Limits limits;
    // Rooms one socket may be in at once.
    std::size_t max_rooms_per_socket = 100;
    // Users listed by a `presence` request (PRODUCT.md §2: at most 100).
    std::uint32_t presence_list_max = 100;
    // Most event bytes one `history` answer carries (a page: `more: true` when it stops short).
    std::uint64_t history_max_bytes = 1024 * 1024;
};

// The application-backend parts the handlers use; either may be null (not configured).
struct HandlerBackends {
    backends::Hooks* hooks = nullptr;
    backends::Lifecycle* lifecycle = nullptr;
    // This edge's id, as hook requests name it (Client.edge_id).
    std::string edge_id;
};

// Who the caller is, as lifecycle events and hook requests name it (the `name` claim, else the
// user id; the socket's id and namespace when it has a socket).
backends::LifecycleSocket lifecycle_socket(const Caller& caller);
backend::v1::Client backend_client(const Caller& caller, std::string_view edge_id);

class RoomHandlers {
public:
    RoomHandlers(RoomsPort& rooms, RightsPort& rights, PresencePort& presence, RecordsPort& records,
                 Quotas& quotas, HandlerOptions options, HandlerBackends backends = {});

    void join(const Caller& caller, sio::Args&& args, Reply reply);
    void leave(const Caller& caller, sio::Args&& args, Reply reply);
    void publish(const Caller& caller, sio::Args&& args, Reply reply);
    void history(const Caller& caller, sio::Args&& args, Reply reply);
    void presence(const Caller& caller, sio::Args&& args, Reply reply);

private:
    // history and presence: the join rights (forbidden) and membership (not_joined); answers
    // the refusal and returns false.
    bool may_read(const Caller& caller, const std::string& room, Reply& reply,
                  std::string_view not_joined);
    // Enters a room whose rights allowed the join.
    void admit(const Caller& caller, const std::string& room, std::shared_ptr<Reply> reply);
    // Asks the join hook when `room` is under its prefixes; runs `then` on the caller's shard
    // when the join may go on (the socket still connected), answers the refusal otherwise.
    void ask_join(const Caller& caller, const std::string& room, std::shared_ptr<Reply> reply,
                  std::function<void()> then);
    // Stores a publish that passed every check (and the hook); answers the offset.
    // Publishes the event: stored (the ack carries its offset) or ephemeral (no offset).
    void store(const Caller& caller, bus::v1::RoomEvent& event, std::shared_ptr<Reply> reply,
               bool ephemeral);

    RoomsPort& rooms_;
    RightsPort& rights_;
    PresencePort& presence_;
    RecordsPort& records_;
    Quotas& quotas_;
    HandlerOptions options_;
    HandlerBackends backends_;
};

}  // namespace roomcast::edge
