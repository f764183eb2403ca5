#pragma once
// The collaboration protocol of PRODUCT.md §2 on namespace "/": JWT at connect, join, leave,
// publish, history, presence, and connection state recovery across edges.
//
// Everything a socket does runs on its shard; NATS answers (PubAcks, KV reads, stream reads)
// arrive on library threads and are posted back to the socket's shard before touching it.
// Room events from the bus are encoded once (on the bus thread) into a shared Socket.IO packet
// and fanned out to every shard.

#include "app/acl.hpp"
#include "app/jwks.hpp"
#include "app/metrics.hpp"
#include "app/presence.hpp"
#include "app/requests.hpp"
#include "app/sessions.hpp"
#include "bus/room_bus.hpp"
#include "socketio/server.hpp"

#include "roomcast/jwt/jwt.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace roomcast::edge {

struct CollabOptions {
    std::string edge_id;
    bool recovery = true;
    std::size_t history_default = 50;
    std::size_t history_max = 1000;
    // Largest publish (data JSON + binary attachments), bytes.
    std::size_t max_publish_bytes = 256 * 1024;
    // Rooms one socket may be in at once.
    std::size_t max_rooms_per_socket = 100;
    std::chrono::seconds jwt_leeway{30};
};

class Collab {
public:
    Collab(sio::Server& io, natsbus::Connection& nats, RoomBus& bus, SessionStore& sessions,
           KeyRing& keys, AclCache& acl, PresenceTracker& presence, EdgeCounters& counters,
           CollabOptions options);

    // Registers the connect hook and the event handlers on "/". Before the shards start.
    void install();
    // Subscribes to roomcast.control (kicks, disconnects from the rooms service).
    natsbus::Result<void> start_control();
    void stop_control();

    // RoomBus::Deliver: encodes the event once and fans it out (bus thread).
    void deliver(const std::string& room, std::uint64_t offset, bus::v1::RoomEvent&& event,
                 std::chrono::steady_clock::time_point received);
    // RoomBus::DeliverPresence: forwards a room's presence change to its local members.
    void deliver_presence(const std::string& room, std::string&& change);

    struct SocketState;
    struct RoomReads;

private:
    void on_connect(const sio::Handshake& hs, sio::ConnectCallback done);
    void on_connection(const sio::SocketPtr& socket);
    void on_disconnect(const sio::SocketPtr& socket, sio::DisconnectReason reason);
    void on_join(const sio::SocketPtr& socket, sio::Args&& args, sio::Ack&& ack);
    void on_leave(const sio::SocketPtr& socket, sio::Args&& args, sio::Ack&& ack);
    void on_publish(const sio::SocketPtr& socket, sio::Args&& args, sio::Ack&& ack);
    void on_history(const sio::SocketPtr& socket, sio::Args&& args, sio::Ack&& ack);
    void on_presence(const sio::SocketPtr& socket, sio::Args&& args, sio::Ack&& ack);

    void recover(const sio::SocketPtr& socket, const std::shared_ptr<SocketState>& state);
    // Reads every room's events after its offset in parallel; `done` runs on a library thread
    // with the encoded events (those excluded for `socket_id` left out).
    void read_rooms(std::vector<std::pair<std::string, std::uint64_t>> rooms, std::string socket_id,
                    std::function<void(std::shared_ptr<RoomReads>)> done);
    void persist(const std::shared_ptr<SocketState>& state, transport::Shard& shard);
    // Completes a join that the rules allowed (on the socket's shard).
    void admit(const sio::SocketPtr& socket, const std::string& room, std::shared_ptr<sio::Ack> ack);
    // Takes the socket out of `room` (leave, kick): local index, bus interest, presence, record.
    void drop_room(const sio::SocketPtr& socket, const std::shared_ptr<SocketState>& state,
                   const std::string& room, bool lost);
    // On shard `shard`: applies a control action to the local sockets.
    void apply_control(unsigned shard, const bus::v1::Control& control);

    sio::Server& io_;
    natsbus::Connection& nats_;
    RoomBus& bus_;
    SessionStore& sessions_;
    KeyRing& keys_;
    AclCache& acl_;
    PresenceTracker& presence_;
    EdgeCounters& counters_;
    CollabOptions options_;
    requests::Limits limits_;
    natsbus::Subscription control_;
    // Per shard (touched only by that shard): user id → its sockets there, for control actions.
    std::vector<std::unordered_map<std::string, std::vector<std::weak_ptr<sio::Socket>>>> users_;
};

}  // namespace roomcast::edge
