#pragma once
// Answers the edges' auto-create requests: edges may not write room rights (docs/operations.md,
// "NATS roles"), so an edge whose --auto-create-prefixes allow a missing room asks here
// (contract::kRoomAutoCreateSubject, bus.v1.AutoCreateRoom → AutoCreateRoomReply). Every
// replica subscribes in the queue group contract::kRoomAutoCreateQueue: one answers each request.
//
// Threading: requests arrive on the NATS delivery thread, which must not block; each is handed
// to the natsbus worker pool, where RoomsService::auto_create_room makes its KV round trips and
// the reply is published. At most `max_in_flight` requests are worked on at once; beyond that a
// request is answered `unavailable` at once, so a burst of joins to new rooms cannot queue work
// without bound (the edge answers the join `unavailable` too, and the client may retry).
//
// Ownership: borrows the Connection and the RoomsService, which must outlive it; the worker
// tasks it posts reference it, so close the Connection (which runs or cancels them) before
// destroying it.

#include "rooms_service.hpp"

#include "roomcast/natsbus/natsbus.hpp"

#include <atomic>
#include <cstddef>

namespace roomcast::rooms {

struct AutoCreateOptions {
    // Requests worked on at once (see above).
    std::size_t max_in_flight = 64;
};

class AutoCreateResponder {
public:
    AutoCreateResponder(natsbus::Connection& nats, RoomsService& service,
                        AutoCreateOptions options = {});

    // Subscribes (queue group) and flushes, so edges are answered once it returns.
    natsbus::Result<void> start();
    // Unsubscribes: no new request is taken (those in flight still reply).
    void stop();

private:
    void on_request(natsbus::Message&& request);
    void reply(const std::string& to, bool ok, std::string_view code, std::string_view message);

    natsbus::Connection& nats_;
    RoomsService& service_;
    AutoCreateOptions options_;
    std::atomic<std::size_t> in_flight_{0};
    natsbus::Subscription subscription_;
};

}  // namespace roomcast::rooms
