#pragma once
// The idle TTL of auto-created rooms (issue 12). Edges auto-create rooms on first join and
// nothing else ever deletes them, so without this the registry (roomcast_rooms) and the room
// stream's subjects would grow with every id ever joined.
//
// A room is idle when it was auto-created (never one created through the admin API), no event
// was published to it for the TTL (nor was it created within the TTL), and nobody is present
// in it. The decision is idle_verdict(), a pure function of those facts; the sweeper gathers
// them, per room: the record from roomcast_rooms, the time of the last message on the room's
// subject of ROOMCAST_ROOMS (one get-last request), and, only for a room idle by time, the
// presence service's count (a PresenceQuery on roomcast.presence.query, which counts users in
// their reconnect grace and ignores dead edges' entries the way clients see presence).
//
// Deleting is RoomsService::delete_idle_room: DeleteRoom's path (members, a room revocation,
// a kick with reason room_deleted to every socket still in it) with a compare-and-delete on the
// revision the room was judged at. Every rooms replica sweeps; two replicas deleting the same
// room are harmless (the second finds it gone or changed and does nothing), and a room
// auto-created again right after a delete is never removed by a decision about its previous
// incarnation.
//
// A join racing with the delete: the room key is deleted first, then every edge kicks the
// room's sockets (reason room_deleted). A socket that joined before the kick reaches its edge
// is kicked and told so; a join after the edge saw the deletion auto-creates the room again.
//
// Work per pass is bounded: at most `batch` rooms examined (the next pass resumes after the last
// one, in id order, wrapping around), every NATS call with a timeout, and a pass stops once it
// has run for an interval. Errors are logged and counted; the room is then kept.
//
// Threading: start() runs passes on a thread of its own; sweep_once() may be called directly
// (tests) when the thread is not running. The counters are atomics, read from any thread.

#include "rooms_service.hpp"

#include "roomcast/contract/timing.hpp"
#include "roomcast/natsbus/natsbus.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace roomcast::rooms {

using SystemTime = std::chrono::system_clock::time_point;

enum class IdleVerdict : std::uint8_t {
    kIdle,            // delete it
    kDisabled,        // TTL 0: auto-created rooms live forever
    kNotAutoCreated,  // created through the admin API: never swept
    kActive,          // an event, or its creation, within the TTL
    kPresent,         // someone is in it
};
std::string_view to_string(IdleVerdict verdict) noexcept;

// What is known of one room, with the times on the wall clock.
struct RoomActivity {
    bool auto_created = false;
    SystemTime created{};
    // The stored time of the room's last event; nullopt when its subject holds none (never an
    // event, or all aged out of the stream).
    std::optional<SystemTime> last_event;
    bool present = false;
};

// Whether `room` is idle at `now` for `ttl`. Its last activity is the later of its creation and
// its last event (an event of an earlier room of the same id may predate the creation); a time
// after `now` (clock differences) counts as activity now.
IdleVerdict idle_verdict(const RoomActivity& room, SystemTime now,
                         std::chrono::milliseconds ttl) noexcept;

struct SweepOptions {
    std::chrono::milliseconds idle_ttl = contract::kAutoRoomIdleTtl;
    std::chrono::milliseconds interval = contract::kAutoRoomSweepInterval;
    std::int64_t batch = contract::kAutoRoomSweepBatch;
    // Longest wait for one stream read, presence query or delete.
    std::chrono::milliseconds nats_timeout{5000};
};

struct SweepPass {
    std::uint64_t examined = 0;
    std::uint64_t swept = 0;
    std::uint64_t errors = 0;
};

class IdleRoomSweeper {
public:
    // Borrows everything; `kv` is roomcast_rooms, `rooms` the service deleting through it.
    IdleRoomSweeper(natsbus::Connection& nats, natsbus::KeyValue& kv, RoomsService& rooms,
                    SweepOptions options);
    ~IdleRoomSweeper();
    IdleRoomSweeper(const IdleRoomSweeper&) = delete;
    IdleRoomSweeper& operator=(const IdleRoomSweeper&) = delete;

    // A pass every interval on a thread of its own; nothing when the TTL is 0. The first pass
    // waits a random part of an interval, so replicas started together do not sweep in step.
    void start();
    // Stops the thread (waiting for a pass in progress, whose NATS calls are bounded).
    void stop();

    // One pass, now.
    SweepPass sweep_once();

    std::uint64_t swept() const noexcept { return swept_.load(std::memory_order_relaxed); }
    std::uint64_t errors() const noexcept { return errors_.load(std::memory_order_relaxed); }

private:
    enum class Fate : std::uint8_t { kKept, kSwept, kError };
    Fate examine(const std::string& room_id, SystemTime now);
    // Whether the presence service counts anyone in `room_id`.
    natsbus::Result<bool> present(const std::string& room_id);

    natsbus::Connection& nats_;
    natsbus::KeyValue& kv_;
    RoomsService& rooms_;
    SweepOptions options_;
    // The last room id examined: the next pass starts after it ("" = from the start).
    std::string cursor_;

    std::atomic<std::uint64_t> swept_{0};
    std::atomic<std::uint64_t> errors_{0};

    std::mutex mu_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace roomcast::rooms
