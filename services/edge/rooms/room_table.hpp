#pragma once
// The room fabric's per-room state on this edge (docs/design.md, "The room fabric"): a pure
// state machine — no NATS, no clock, no threads — driven by the fabric's thread, which turns
// what it returns into NATS calls and posts to shards.
//
// For each room with local members it holds:
//   - counts derived from the shards' membership (the membership itself lives in ShardRooms):
//     local sockets in the room (the bus interest: subscribed while > 0) and, per user, the
//     user's sockets and presence name (presence is written when a user's count changes);
//   - the room's sequence as delivered here: the last offset delivered, events held while a
//     gap is repaired, duplicates dropped. Events carry the stream sequence (the offset) and
//     the room's previous sequence (Nats-Last-Sequence): prev > last means events were missed
//     (a NATS reconnect) and are read back from the stream before anything later is delivered;
//   - the room's latest offset as this edge knows it (the seed read when it subscribed, raised
//     by every event delivered since) and the joins waiting for it.
//
// A subscription has a generation: events of an older subscription of the same room (left and
// joined again meanwhile) are recognised and dropped. Offset reads have an epoch of their own,
// renewed by every subscription and every NATS reconnect, so a read that started before either
// cannot answer for the room's current state.
//
// Thread-safety: none; one thread owns a RoomTable.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace roomcast::edge::rooms {

// A live event as it arrived from the bus.
struct Incoming {
    std::uint64_t generation = 0;  // of the subscription that received it
    std::uint64_t seq = 0;         // the event's offset (Nats-Sequence)
    std::uint64_t prev = 0;        // the room's previous offset (Nats-Last-Sequence; 0: first)
    std::string data;              // the serialized envelope, opaque here
    std::chrono::steady_clock::time_point received{};
};

// An event read back from the stream.
struct Stored {
    std::uint64_t seq = 0;
    std::string data;
};

// A user's count of sockets in a room on this edge changed (presence writes it).
struct UserChange {
    std::string user;
    std::string name;
    std::uint32_t sockets = 0;
    bool lost = false;  // the last socket went away by a lost connection
};

class RoomTable {
public:
    using WaiterId = std::uint64_t;

    struct Added {
        // Subscribe to the room now, with this generation (the first local socket); then read
        // its offset and report it with seeded(room, *subscribe, offset).
        std::optional<std::uint64_t> subscribe;
        // The user's count went from 0 to 1.
        std::optional<UserChange> user;
        // The room's offset when it is known now; otherwise the waiter is answered by seeded().
        std::optional<std::uint64_t> offset;
    };
    // A local socket of `user` entered `room`. With `waiter` set, the caller wants the room's
    // offset (a join): answered now (Added::offset) or later (seeded()).
    Added add(const std::string& room, const std::string& user, const std::string& name,
              std::optional<WaiterId> waiter);

    struct Removed {
        bool unsubscribe = false;  // the last local socket left: drop the subscription
        std::optional<UserChange> user;  // the user's count changed
        // Joins still waiting for the offset of the room just dropped: they must ask the stream.
        std::vector<WaiterId> waiters;
    };
    // A local socket of `user` left `room` (`lost`: by a lost connection).
    Removed remove(const std::string& room, const std::string& user, bool lost);

    // The room's subscription failed: it stays counted but unsubscribed; waiters are told to
    // ask the stream (the returned ids).
    std::vector<WaiterId> subscribe_failed(const std::string& room, std::uint64_t generation);

    // The offset read of epoch `epoch` (the generation returned by add(), or an epoch returned
    // by reconnected()) is back. Returns the waiters to answer and the offset to answer them
    // with; nothing when the read is older than the room's current epoch.
    struct Seeded {
        std::vector<WaiterId> waiters;
        std::uint64_t offset = 0;
    };
    Seeded seeded(const std::string& room, std::uint64_t epoch, std::uint64_t offset);
    // The offset read failed: waiters must ask the stream themselves.
    std::vector<WaiterId> seed_failed(const std::string& room, std::uint64_t epoch);

    // The room's latest offset when this edge knows it (subscribed and seeded).
    std::optional<std::uint64_t> known_offset(const std::string& room) const;

    // What the fabric does with an event: deliver these (in order), and/or read back the
    // stream after `repair_after` (then call repaired()).
    struct Step {
        std::vector<Incoming> deliver;
        std::optional<std::uint64_t> repair_after;
    };
    Step live(const std::string& room, Incoming&& event);
    // The read-back of a gap is here (`events` ascending; nullopt: the read failed, the gap
    // stays unrepaired and live delivery resumes after it).
    Step repaired(const std::string& room, std::optional<std::vector<Stored>> events,
                  std::chrono::steady_clock::time_point now);

    // Holds the room's live events (they queue, in order) until release(): while a rights
    // change is settled, nothing published after it may reach a socket that loses the room.
    // Holds nest. Unknown rooms are not held.
    void hold(const std::string& room);
    Step release(const std::string& room);
    bool held(const std::string& room) const;

    // After a NATS reconnect: every subscribed room's offset must be read again (a new epoch,
    // returned, for seeded()) and events may have been missed (check_latest()).
    struct Reseed {
        std::string room;
        std::uint64_t epoch = 0;
    };
    std::vector<Reseed> reconnected();
    // The stream's latest offset of `room`, read after a reconnect: returns the gap to repair,
    // if events newer than the last one delivered exist.
    std::optional<std::uint64_t> check_latest(const std::string& room, std::uint64_t latest);

    // Written by the owning thread only; atomics so that metrics may read them elsewhere.
    struct Stats {
        std::atomic<std::uint64_t> delivered{0};
        std::atomic<std::uint64_t> duplicates_dropped{0};
        std::atomic<std::uint64_t> invalid_dropped{0};
        std::atomic<std::uint64_t> stale_dropped{0};  // events of an older subscription
        std::atomic<std::uint64_t> gaps_detected{0};
        std::atomic<std::uint64_t> events_repaired{0};
        std::atomic<std::uint64_t> events_lost{0};  // gaps that could not be read back
    };
    const Stats& stats() const noexcept { return stats_; }

    std::size_t rooms() const noexcept { return rooms_.size(); }
    bool contains(const std::string& room) const { return rooms_.contains(room); }
    // Local sockets in `room` (0 when none).
    std::uint32_t sockets(const std::string& room) const;
    // `user`'s local sockets in `room`.
    std::uint32_t user_sockets(const std::string& room, const std::string& user) const;

private:
    struct User {
        std::uint32_t sockets = 0;
        std::string name;
    };
    struct Room {
        std::uint32_t sockets = 0;
        std::unordered_map<std::string, User> users;
        std::uint64_t generation = 0;  // 0: not subscribed
        std::uint64_t epoch = 0;       // of the offset read that may answer
        bool offset_known = false;
        bool seeded = false;            // an offset read answered since subscribing
        std::uint64_t seed = 0;         // what it answered
        std::uint64_t last_offset = 0;  // max(seed, every event delivered since)
        std::vector<WaiterId> waiters;
        std::uint64_t last = 0;  // last offset delivered (0: none yet)
        bool repairing = false;
        std::uint32_t holds = 0;
        std::deque<Incoming> pending;  // live events held while a gap is repaired or held
    };
    // Runs `event` through the room's sequence (not repairing): deliver, drop, or start a repair.
    void sequence(Room& room, Incoming&& event, Step& step);
    // Runs the pending events while the room is neither repairing nor held.
    void drain(Room& room, Step& step);
    // The offset after which nothing is missing, as far as this edge knows: the last event
    // delivered, else the offset read when subscribing; nullopt when neither is known.
    static std::optional<std::uint64_t> baseline(const Room& room);

    std::unordered_map<std::string, Room> rooms_;
    std::uint64_t next_generation_ = 1;
    Stats stats_;
};

}  // namespace roomcast::edge::rooms
