#pragma once
// The presence state machine of one replica: room → user → per-edge sockets, edge liveness,
// grace periods, and the join/leave changes waiting for the next batch.
//
// Pure: no I/O, no threads, no clock (every mutation takes `now_ms`, Unix milliseconds), so a
// test drives it deterministically. Thread-safety: none; PresenceService owns one and touches it
// only on its strand.
//
// Model (docs/control-plane.md, "Presence"):
// - A slot is one edge's entry for (room, user) with sockets > 0. It counts while its edge is
//   alive. `clients` of a room is the sum of counted sockets, kept as a running total.
// - A user is present while they have a counted socket, or during the grace that follows the
//   loss of their last one by a lost connection or a dead edge. `users` of a room is the size of
//   its ordered present-user map: no count ever walks a room, and lists page by user id.
// - A user joins when they become present and leaves when they stop being present: at once when
//   the last socket went away by a leave or a clean disconnect, after the grace otherwise, and
//   not at all when a socket comes back (on any edge) within the grace.
// - Changes are recorded per room relative to the last take_changes(): a user who joins and
//   leaves within one batch produces nothing, so a batch never holds contradictory news.

#include "roomcast/contract/timing.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace roomcast::presence {

struct StateOptions {
    // How long a user whose last socket was lost (or whose edge died) stays present.
    std::chrono::milliseconds grace = contract::kPresenceGrace;
    // An edge not heard from for longer than this is dead: its slots stop counting.
    std::chrono::milliseconds edge_dead_after = contract::kEdgeDeadAfter;
    // Users per RoomChange: keeps one PresenceChange / PresenceEvent far below NATS' 1 MB
    // default max payload (~50–600 bytes per user) when a whole room joins at once.
    std::size_t max_users_per_change = 1000;
    // Slots held in memory; further slots are refused (and counted). Protects a replica's memory
    // from a runaway writer; 10M slots are a few GB.
    std::size_t max_entries = 10'000'000;
};

// One edge's entry for (room, user), as carried by roomcast.bus.v1.PresenceEntry.
struct EntryValue {
    std::string name;
    std::uint32_t sockets = 0;
    // The last socket went away by a lost connection: the grace applies.
    bool lost = false;
    // The edge's clock when it wrote the entry. Used only while loading (to resume a grace that
    // started before this replica did); afterwards the time of arrival counts.
    std::int64_t updated_ms = 0;
};

struct UserRef {
    std::string id;
    std::string name;
};
struct ListedUser {
    std::string id;
    std::string name;
    std::uint32_t sockets = 0;  // counted sockets; 0 during the grace
};
struct RoomTotals {
    std::uint64_t clients = 0;
    std::uint64_t users = 0;
};
struct LiveRoom {
    std::string id;
    RoomTotals totals;
};
struct LiveRoomsPage {
    std::vector<LiveRoom> rooms;
    bool more = false;  // rooms after the last listed one exist
};
struct Page {
    RoomTotals totals;
    std::vector<ListedUser> users;
    bool more = false;  // users after the last listed one exist
};
// One batch of a room's changes (a room's batch is split into several when it is large).
struct RoomChange {
    std::string room;
    std::vector<UserRef> joined;
    std::vector<UserRef> left;
};

struct StateCounters {
    std::uint64_t slots = 0;
    std::uint64_t rooms = 0;
    std::uint64_t edges = 0;
    std::uint64_t edges_alive = 0;
    // User records and slots visited, cumulative: the witness (tested) that an update touches
    // only what it changes and a count touches nothing.
    std::uint64_t scanned = 0;
    std::uint64_t refused = 0;  // slots refused at max_entries
    std::uint64_t joins = 0;
    std::uint64_t leaves = 0;
};

class PresenceState {
public:
    explicit PresenceState(StateOptions options = {});

    // An edge's entry for (room, user); sockets == 0 removes the slot. Ids must be valid (the
    // caller parsed them from the key).
    void apply_entry(const std::string& edge, const std::string& room, const std::string& user,
                     const EntryValue& value, std::int64_t now_ms);
    // The entry's key was deleted: a clean removal of the slot.
    void remove_entry(const std::string& edge, const std::string& room, const std::string& user,
                      std::int64_t now_ms);

    // The edge was heard from at `seen_ms` (clamped to now). A dead edge that is heard from again
    // counts again; its users that are still in their grace never left.
    void edge_heartbeat(const std::string& edge, std::int64_t seen_ms, std::int64_t now_ms);
    // The edge's heartbeat key was deleted: it is dead as of now.
    void edge_gone(const std::string& edge, std::int64_t now_ms);
    // No edge is declared dead before `until_ms`: while this replica's own NATS connection is
    // down (or just came back), missing heartbeats say nothing about the edges.
    void hold_liveness(std::int64_t until_ms) noexcept { hold_until_ = until_ms; }

    // Edge liveness and grace expiry; call periodically (the batch interval).
    void tick(std::int64_t now_ms);

    // The initial KV state is in: what it produced is the state, not news, so the pending
    // changes are dropped. Until then, unknown edges are dead (their heartbeat key expired long
    // ago) and lost entries resume their grace from the edge's `updated_ms`; afterwards an
    // unknown edge is alive as of its first entry (its heartbeat may trail its first entry).
    void mark_loaded();
    bool loaded() const noexcept { return loaded_; }

    // The changes since the last call, by room id then user id.
    std::vector<RoomChange> take_changes();

    RoomTotals totals(const std::string& room) const;
    // Present users with id > `after` (all when empty), ascending, at most `limit`.
    Page page(const std::string& room, std::string_view after, std::size_t limit) const;
    // Rooms with counted sockets whose id starts with `prefix` and is > `after` (all when
    // empty), ascending, at most `limit`. Visits every room (the index is unordered, kept for
    // the per-entry updates): O(rooms) per call, for operators' listings only.
    LiveRoomsPage live_rooms(std::string_view prefix, std::string_view after,
                             std::size_t limit) const;
    // Counted sockets of a present user (0 when absent or in the grace).
    std::uint32_t user_sockets(const std::string& room, const std::string& user) const;
    StateCounters counters() const;
    bool edge_alive(const std::string& edge) const;

private:
    struct User {
        std::string name;
        std::map<std::string, std::uint32_t, std::less<>> slots;  // edge → sockets (> 0)
        std::uint32_t live = 0;                                   // sockets on alive edges
        std::int64_t grace_until = 0;  // set while present without live sockets
    };
    using UserMap = std::map<std::string, User, std::less<>>;
    struct Pending {
        bool was_present = false;  // at the last take_changes()
        std::string name;
    };
    struct Room {
        UserMap present;  // the listed and counted users
        UserMap dormant;  // not present, but with slots on dead edges (they count if it returns)
        std::uint64_t clients = 0;
        std::map<std::string, Pending, std::less<>> pending;
    };
    struct Edge {
        std::int64_t last_seen = 0;
        bool alive = true;
        std::int64_t dead_since = 0;
        std::set<std::pair<std::string, std::string>> slots;  // (room, user)
    };
    struct GraceItem {
        std::int64_t deadline;
        std::string room;
        std::string user;
        bool operator>(const GraceItem& o) const noexcept { return deadline > o.deadline; }
    };
    enum class Why { kNeutral, kClean, kLost };
    struct Found {
        UserMap::iterator it;
        bool present = false;
        bool found = false;
    };

    Found find_user(Room& room, const std::string& user);
    // Brings a user's presence in line with their sockets after a change; `why` says how their
    // sockets went away (if they did), `from` when the grace starts.
    void settle(const std::string& room_id, Room& room, Found user, Why why, std::int64_t from,
                std::int64_t now);
    void leave(const std::string& room_id, Room& room, UserMap::iterator it);
    void note_flip(const std::string& room_id, Room& room, const std::string& user,
                   const std::string& name, bool now_present);
    void kill_edge(const std::string& edge_id, Edge& edge, std::int64_t dead_since,
                   std::int64_t now);
    void revive_edge(const std::string& edge_id, Edge& edge, std::int64_t now);
    void erase_room_if_empty(const std::string& room_id);

    StateOptions options_;
    std::int64_t grace_ms_;
    std::int64_t dead_after_ms_;
    bool loaded_ = false;
    std::int64_t hold_until_ = 0;
    std::unordered_map<std::string, Room> rooms_;
    std::unordered_map<std::string, Edge> edges_;
    std::set<std::string> dirty_;  // rooms with pending changes
    // Lazy: an item whose deadline no longer matches its user's grace_until is skipped.
    std::priority_queue<GraceItem, std::vector<GraceItem>, std::greater<>> graces_;
    std::uint64_t slots_ = 0;
    mutable std::uint64_t scanned_ = 0;
    std::uint64_t refused_ = 0;
    std::uint64_t joins_ = 0;
    std::uint64_t leaves_ = 0;
};

}  // namespace roomcast::presence
