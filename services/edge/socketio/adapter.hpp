#pragma once
// Where a namespace's rooms live: socketioxide's (and the reference server's) Adapter. A
// namespace hands every room operation of its sockets — join, leave, leave-all on disconnect,
// the list of a socket's rooms, broadcasts — to its adapter, and keeps no room state itself.
//
//   LocalAdapter (this file): rooms on this process only, one index per shard. The default of
//     every namespace; what the conformance server and the official suites run on.
//   The edge's room fabric (services/edge/rooms): rooms across every edge over NATS, installed
//     on "/" with Namespace::set_adapter, so that io.to(room).emit(...) reaches every edge.
//
// Threading: join, leave, leave_all and rooms run on the socket's shard; broadcast is
// thread-safe. An adapter keeps its per-socket state in the socket's adapter slot
// (Socket::adapter_slot), which lives and dies with the socket.

#include "socketio/room_index.hpp"

#include "roomcast/transport/http_types.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::sio {

class Args;
class Namespace;
class Socket;
enum class DisconnectReason : std::uint8_t;

// Recipients of a broadcast: sockets in any of `rooms` (every socket of the namespace when
// empty), minus sockets in any `except` room. Socket ids count as rooms.
struct BroadcastTarget {
    std::vector<std::string> rooms;
    std::vector<std::string> except;
    bool is_volatile = false;  // dropped for recipients that cannot take it right now
};

// Per-socket state of an adapter, kept in the socket (Socket::adapter_slot).
struct AdapterSocket {
    virtual ~AdapterSocket() = default;
};

class Adapter {
public:
    virtual ~Adapter() = default;

    // The socket's shard only.
    virtual void join(Socket& socket, std::string_view room) = 0;
    virtual void leave(Socket& socket, std::string_view room) = 0;
    // The socket left the namespace: it leaves every room. Runs after the disconnect handlers,
    // so that they still see the socket's rooms (as the reference server's "disconnecting").
    virtual void leave_all(Socket& socket, DisconnectReason reason) = 0;
    virtual std::vector<std::string> rooms(const Socket& socket) const = 0;

    // Thread-safe: delivers the event to the target's sockets on every node the adapter spans.
    virtual void broadcast(const BroadcastTarget& target, std::string_view event, const Args& args) = 0;
};

// Rooms on this process only: per shard, a room index (RoomIndex) touched by that shard alone.
// A broadcast is encoded once and the shared message posted to every shard, which walks its
// members without locks.
class LocalAdapter final : public Adapter {
public:
    explicit LocalAdapter(Namespace& nsp);
    ~LocalAdapter() override;

    void join(Socket& socket, std::string_view room) override;
    void leave(Socket& socket, std::string_view room) override;
    void leave_all(Socket& socket, DisconnectReason reason) override;
    std::vector<std::string> rooms(const Socket& socket) const override;
    void broadcast(const BroadcastTarget& target, std::string_view event, const Args& args) override;

    // Delivers an encoded message to the target's sockets on `shard` (on that shard); returns
    // how many took it.
    std::size_t deliver(unsigned shard, const transport::OutMessagePtr& message,
                        const BroadcastTarget& target);

    // Rooms with members on `shard` (on that shard).
    std::size_t room_count(unsigned shard) const noexcept;
    // Sockets in `room` on `shard` (on that shard).
    std::vector<Socket*> members(unsigned shard, std::string_view room) const;

    struct Member;

private:
    struct Shard;
    Member* member_of(const Socket& socket) const noexcept;
    Member& member_for(Socket& socket);

    Namespace& nsp_;
    std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace roomcast::sio
