#pragma once
// The room fabric: the single owner of room membership on an edge, and the edge's Socket.IO
// adapter for namespace "/" (socketioxide's sense: io.to(room).emit(...) from any code reaches
// every edge). docs/design.md, "The room fabric", has the picture.
//
//   ShardRooms (one per shard)  which local socket is in which room, the user index, events
//                               held for recovering sockets; touched by its shard only.
//   RoomTable (fabric thread)   per room: counts derived from the shards' changes (the bus
//                               interest, per-user sockets for presence), the room's sequence
//                               (order, duplicates, gap repair), its offset and the joins
//                               waiting for it.
//   RoomStream (NATS)           publish, subscriptions, stored-event reads.
//
// A room event travels: NATS delivery thread → (post) fabric thread: sequenced by the
// RoomTable, checked and encoded once → (post) every shard: its ShardRooms hands the shared
// packet to each local member (or holds it for a recovering one). Membership changes travel
// the other way: a shard changes its ShardRooms at once, then posts the change to the fabric
// thread, which subscribes, unsubscribes and reports presence.
//
// Threading: methods say where they may be called. Shard methods take the socket and run on
// its shard; thread-safe ones may be called anywhere. Callbacks given to shard methods run on
// the socket's shard.

#include "rooms/recovery.hpp"
#include "rooms/room_stream.hpp"
#include "rooms/room_table.hpp"
#include "rooms/shard_rooms.hpp"
#include "socketio/server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace roomcast::edge::rooms {

// Who a socket is (from its token). Immutable; shared by the application's per-socket state and
// the fabric's record of the socket.
struct Identity {
    std::string user_id;
    std::string name;
};

struct FabricOptions {
    RoomStreamOptions stream;
    // Most events read back to repair one gap, or to replay one room on recovery (the stream
    // keeps at most this many per room).
    std::size_t read_max = 1000;
    // Most event bytes a recovery replays (all its rooms together): a session that missed more
    // is not recovered (it starts anew and pages through history), so parallel recoveries of
    // big rooms do not pin memory, and the replay (sent past the queue caps) stays bounded.
    std::uint64_t recovery_max_bytes = 4 * 1024 * 1024;
    // Live events held per recovering socket (its outbound queue's cap: past it the socket is
    // a slow consumer).
    std::size_t held_cap = 4096;
};

struct FabricHooks {
    // A user's count of local sockets in a room changed (fabric thread; must not block). Call
    // `written` (from any thread) once the presence entry is stored: the join that caused it is
    // answered after that, so the counts it reports include the joining socket.
    std::function<void(const std::string& room, const UserChange& change,
                       std::function<void()> written)>
        user_changed;
    // Encodes a room's presence change (from the presence service) as the packet its members
    // receive; nullptr drops it (fabric thread).
    std::function<transport::OutMessagePtr(const std::string& room, std::string&& change)>
        encode_presence;
    // After a room event was handed to a shard's members (the shard's thread): how many, and
    // when the event arrived from the bus (the fan-out latency metric).
    std::function<void(std::size_t recipients, std::chrono::steady_clock::time_point received)>
        delivered;
};

// How far the session's and the NATS server's clocks may disagree: events stored up to this
// long before a session's start still count as possibly its own.
inline constexpr std::chrono::milliseconds kRecoveryClockSkew{5000};

// Whether events of a room after offset `after` may have been dropped from the stream, as
// `state` shows it: the budget and the max age drop the stream's oldest events, so nothing
// after `after` is gone while the oldest kept is at or before `after` + 1, nor while the oldest
// kept was stored before the session began (`session_started_ms`, less kRecoveryClockSkew).
// Conservative: another room's dropped events count too.
bool events_may_be_gone(const natsbus::StreamState& state, std::uint64_t after,
                        std::int64_t session_started_ms);

class Fabric;

// The fabric's record of a socket, in the socket's adapter slot.
struct FabricSocket final : sio::AdapterSocket {
    explicit FabricSocket(sio::Socket& s) : socket(&s) {}
    std::vector<ShardRooms<FabricSocket>::Membership>& memberships() noexcept { return rooms; }
    const std::string& user() const noexcept;

    sio::Socket* socket;
    std::shared_ptr<const Identity> identity;
    std::vector<ShardRooms<FabricSocket>::Membership> rooms;
    std::unique_ptr<Held> recovery;  // only while recovering: 8 bytes for every other socket
    bool attached = false;
};

class Fabric final : public sio::Adapter {
public:
    Fabric(sio::Namespace& nsp, RoomStream& stream, FabricOptions options, FabricHooks hooks);
    ~Fabric() override;
    Fabric(const Fabric&) = delete;
    Fabric& operator=(const Fabric&) = delete;

    // Starts / stops the fabric thread. stop() drops every subscription.
    void start();
    void stop();
    // The fabric thread's executor (other periodic edge work may share it).
    boost::asio::io_context& executor() noexcept { return ioc_; }

    // --- sockets (the socket's shard) ----------------------------------------------------------

    // A socket connected as `identity` (before it joins anything).
    void attach(sio::Socket& socket, std::shared_ptr<const Identity> identity);

    using OffsetCallback = std::function<void(natsbus::Result<std::uint64_t>)>;
    // Puts the socket in `room` and answers with the room's offset: every later event of the
    // room reaches the socket. A socket already in the room gets the room's latest offset.
    // `done` runs on the socket's shard, unless the socket is gone by then.
    void enter(const sio::SocketPtr& socket, const std::string& room, OffsetCallback done);
    // Takes the socket out of `room`; false when it was not in it.
    bool exit(sio::Socket& socket, std::string_view room);
    bool in_room(const sio::Socket& socket, std::string_view room) const;
    std::size_t room_count(const sio::Socket& socket) const;
    // The socket's rooms, with where each one's history starts for it (session records).
    std::vector<std::pair<std::string, MemberInfo>> memberships(const sio::Socket& socket) const;

    // --- sio::Adapter ------------------------------------------------------------------------------
    void join(sio::Socket& socket, std::string_view room) override;
    void leave(sio::Socket& socket, std::string_view room) override;
    void leave_all(sio::Socket& socket, sio::DisconnectReason reason) override;
    std::vector<std::string> rooms(const sio::Socket& socket) const override;
    // A single room goes through the bus to every edge (`from` "server", the data is the only
    // argument, or an array of them): stored with an offset, or, when volatile, as an ephemeral
    // event. Any other target is delivered on this edge only.
    void broadcast(const sio::BroadcastTarget& target, std::string_view event,
                   const sio::Args& args) override;

    // --- actions on local sockets (on `shard`) -----------------------------------------------------

    // Takes `user`'s sockets (every socket when empty) out of `room` on `shard`; returns them.
    std::vector<sio::SocketPtr> remove(unsigned shard, const std::string& room, std::string_view user);
    // `user`'s sockets on `shard`.
    std::vector<sio::SocketPtr> sockets_of(unsigned shard, std::string_view user) const;
    // The sockets in `room` on `shard`.
    std::vector<sio::SocketPtr> members(unsigned shard, std::string_view room) const;

    // --- the bus (thread-safe) ---------------------------------------------------------------------

    void publish(const std::string& room, const bus::v1::RoomEvent& event,
                 std::function<void(natsbus::Result<std::uint64_t>)> done);
    // An ephemeral event (PRODUCT.md §2): to the room's members on every edge, never stored.
    natsbus::Result<void> publish_ephemeral(const std::string& room, const bus::v1::RoomEvent& event);
    void read_after(const std::string& room, std::uint64_t after, std::size_t max,
                    std::uint64_t max_bytes, std::function<void(natsbus::Result<RoomStream::Page>)> done);
    void read_last(const std::string& room, std::size_t count, std::uint64_t max_bytes,
                   std::function<void(natsbus::Result<RoomStream::Page>)> done);

    // Events of several rooms after their offsets, read in parallel and encoded as clients get
    // them (what a recovering session missed), within the recovery byte budget (shared by the
    // rooms). `done` runs on a library thread.
    struct Missed {
        std::vector<RoomMessage> events;                 // those for `exclude_socket` left out
        std::unordered_map<std::string, std::uint64_t> last;  // room → last offset read
        bool failed = false;     // a read failed
        // A room had as many events as a read returns (some may be gone from the stream), or
        // more than the budget: the session cannot get everything it missed.
        bool truncated = false;
        // The stream dropped events (its byte budget or max age) that a room may have had
        // after its offset: events_may_be_gone.
        bool gone = false;
        // The session's start (read_missed's `session_started_ms`), for the catch-up read.
        std::int64_t session_started_ms = 0;
    };
    // `session_started_ms`: when the session began (its record's started_ms): events stored
    // before it are none of its business, so the stream having dropped only those is no loss.
    void read_missed(std::vector<std::pair<std::string, std::uint64_t>> rooms,
                     std::string exclude_socket, std::int64_t session_started_ms,
                     std::function<void(std::shared_ptr<Missed>)> done);

    // --- recovery (the socket's shard) ---------------------------------------------------------

    struct Resume {
        std::string room;
        MemberInfo info;         // as the session record had it
        std::uint64_t start = 0; // the socket has every event of the room up to here
    };
    // Puts a recovered socket back in its rooms and sends it what it missed: `missed` (read
    // when the recovery was decided), then what was stored since (read once the socket is back
    // in its rooms), merged with the live events that reach it meanwhile (recovery.hpp). Rooms
    // the socket leaves before the merge (a kick) send nothing more.
    void recover(const sio::SocketPtr& socket, std::vector<Resume> rooms, std::shared_ptr<Missed> missed);

    // --- ordering with room events -----------------------------------------------------------------

    // Runs `fn` on the fabric thread. Called from a NATS callback, `fn` runs after every room
    // event this edge received before it has been handed to the shards, and before any later
    // one: what `fn` posts to a shard reaches it before those later events (all subscriptions
    // share one NATS delivery thread). Control actions use this to take effect at their place
    // in the stream of events.
    void in_order(std::function<void()> fn);
    // Fabric thread only: holds a room's live events (they queue) until release_room().
    void hold_room(const std::string& room);
    void release_room(const std::string& room);

    // --- NATS reconnected (any thread) ----------------------------------------------------------
    void reconnected();

    struct Stats {
        std::atomic<std::uint64_t> subscriptions{0};
        std::atomic<std::uint64_t> invalid_dropped{0};  // envelopes clients could not parse
        // Ephemeral events of a room whose rights change was being settled (hold_room).
        std::atomic<std::uint64_t> ephemeral_held_dropped{0};
    };
    const Stats& stats() const noexcept { return stats_; }
    const RoomTable::Stats& sequence_stats() const noexcept { return table_.stats(); }
    // Rooms with a socket on this edge. Fabric thread only (the table is its state).
    std::size_t room_count() const noexcept { return table_.rooms(); }

private:
    using Shard = ShardRooms<FabricSocket>;
    struct JoinWait {
        std::weak_ptr<sio::Socket> socket;
        std::string room;
        OffsetCallback done;
        std::optional<natsbus::Result<std::uint64_t>> offset;
        bool presence_pending = false;
    };

    FabricSocket* member_of(const sio::Socket& socket) const noexcept;
    // The fabric's record of the socket `socket_id` on `shard` (nullptr: none, or not here).
    const FabricSocket* local_member(unsigned shard, const std::string& socket_id) const;
    FabricSocket& member_for(sio::Socket& socket);
    Shard& shard_of(const sio::Socket& socket) const;

    // Fabric thread.
    void added(const std::string& room, const std::shared_ptr<const Identity>& identity,
               std::optional<JoinWait> wait);
    void removed(const std::string& room, const std::string& user, bool lost);
    void subscribe(const std::string& room, std::uint64_t generation);
    void seed(const std::string& room, std::uint64_t epoch);
    void answer_from_stream(RoomTable::WaiterId id);
    void finish_wait(RoomTable::WaiterId id);
    void on_live(const std::string& room, Incoming&& in);
    void run(const std::string& room, RoomTable::Step&& step);
    // A room event to the room's local members on every shard: stored (its offset `seq`) or
    // ephemeral (nullopt).
    void fan_out(const std::string& room, std::optional<std::uint64_t> seq, transport::OutMessagePtr message,
                 std::string exclude_socket, std::chrono::steady_clock::time_point received);
    void fan_out_ephemeral(const std::string& room, std::string&& data,
                           std::chrono::steady_clock::time_point received);
    void fan_out_presence(const std::string& room, std::string&& change);

    sio::Namespace& nsp_;
    RoomStream& stream_;
    FabricOptions options_;
    FabricHooks hooks_;
    Stats stats_;
    std::vector<std::unique_ptr<Shard>> shards_;

    // Fabric thread only.
    RoomTable table_;
    std::unordered_map<std::string, RoomStream::Subscriptions> subscriptions_;
    std::unordered_map<RoomTable::WaiterId, JoinWait> waits_;
    RoomTable::WaiterId next_wait_ = 1;

    boost::asio::io_context ioc_{1};
    std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    std::thread thread_;
};

}  // namespace roomcast::edge::rooms
