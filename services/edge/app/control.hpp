#pragma once
// Actions on live sockets from the rooms service (roomcast.control, bus.proto `Control`;
// docs/control-plane.md): kicks, DisconnectUser, and rights that narrowed (a room turned
// PRIVATE). Each takes effect at its place among the room events this edge receives (the
// fabric's in_order): a socket that loses a room gets no event published after the change.
//
//   Kick{room, user, reason}   the user's sockets (everyone's, for an empty user) leave the room
//                              and get `kicked` {room, reason};
//   DisconnectUser{user}       the user's sockets get a Socket.IO DISCONNECT;
//   RoomRights{room, revision} the room's live events are held until this edge's rights cache
//                              has the change (revision), then every member that may no longer
//                              join leaves with `kicked` {room, "room_private"}.
// Every action is also recorded in the revocations (for sessions away at that moment).
//
// Thread-safety: the subscription's callback runs on the NATS delivery thread and only records
// and hands over; the rest runs on the fabric thread and the shards.

#include "app/acl.hpp"
#include "app/metrics.hpp"
#include "app/records.hpp"
#include "app/revocations.hpp"
#include "backends/lifecycle.hpp"
#include "rooms/fabric.hpp"

#include "roomcast/natsbus/natsbus.hpp"

#include <chrono>

namespace roomcast::edge {

class ControlHandler {
public:
    ControlHandler(natsbus::Connection& nats, sio::Server& io, rooms::Fabric& fabric, AclCache& acl,
                   Revocations& revocations, SessionRecorder& records, EdgeCounters& counters,
                   std::chrono::milliseconds rights_wait = std::chrono::milliseconds(2000));

    // Kicks are reported as lifecycle events (call before start()).
    void report_to(backends::Lifecycle& lifecycle) { lifecycle_ = &lifecycle; }

    natsbus::Result<void> start();
    void stop();

private:
    void on_message(const bus::v1::Control& control);
    // Tells a socket removed from `room` (its shard) and rewrites its session record.
    void kicked(const sio::SocketPtr& socket, const std::string& room, const std::string& reason);
    void kick(const std::string& room, const std::string& user, const std::string& reason);
    void disconnect(const std::string& user, const std::string& reason);
    // Fabric thread, the room held: removes the members `acl` no longer admits, then releases.
    void recheck(const std::string& room, const std::string& reason);

    natsbus::Connection& nats_;
    sio::Server& io_;
    rooms::Fabric& fabric_;
    AclCache& acl_;
    Revocations& revocations_;
    SessionRecorder& records_;
    EdgeCounters& counters_;
    std::chrono::milliseconds rights_wait_;
    natsbus::Subscription subscription_;
    backends::Lifecycle* lifecycle_ = nullptr;
};

}  // namespace roomcast::edge
