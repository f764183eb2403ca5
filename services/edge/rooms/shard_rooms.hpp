#pragma once
// The room fabric's membership on one shard: which local socket is in which room. This is the
// only place on the edge that stores room membership (docs/design.md, "The room fabric"); the
// fabric's RoomTable keeps counts derived from the changes made here, and session records are
// written from rooms_of().
//
//   room → members: a dense vector per room (sio::RoomIndex), walked by the fan-out;
//   member → rooms: each with the offset the socket's history starts at (`since`: its join
//     offset, or where its recovery resumed) and when it joined (`joined_ms`, the edge's
//     clock: rights revoked later than this take the room away from a recovering session);
//   user → members: for actions on a user's sockets (kicks, DisconnectUser);
//   recovering members: live room events for them are held (not sent) until the replay of
//     what they missed has been merged in front (recovery.hpp), so nothing arrives out of order.
//
// Pure: no I/O, no clock, no threads. Member is the fabric's per-socket record (a fake in
// tests); it provides `memberships()` (sio::RoomIndex), `const std::string& user() const`, and
// a `recovery` member (std::unique_ptr<Held>: allocated only while the socket recovers, so
// an idle socket pays a pointer) that this class manages.
// Thread-safety: one shard thread owns a ShardRooms.

#include "socketio/room_index.hpp"

#include "roomcast/transport/http_types.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace roomcast::edge::rooms {

struct MemberInfo {
    std::uint64_t since = 0;
    std::int64_t joined_ms = 0;
};

// A room event with the room it belongs to.
struct RoomMessage {
    std::string room;
    std::uint64_t seq = 0;
    transport::OutMessagePtr message;
};

// What a recovering member holds: live room events (arrival order), at most `cap` of them.
// After the merge (`merged`), what is left is a watch: per room, the offset the merge covered.
// A recovery's catch-up read can return an event before that event's live delivery reaches
// this shard (the read and the live path are different NATS deliveries), so live events at or
// below it were sent already and are dropped; the room's first live event above it ends the
// watch for that room (a room's live events reach a shard in offset order).
struct Held {
    std::vector<RoomMessage> events;
    bool overflowed = false;  // more than the cap arrived: the member is a slow consumer
    bool merged = false;
    std::vector<std::pair<std::string, std::uint64_t>> covered;  // room, offset (merged only)

    // Merged only: whether a live event of `room` at `seq` is new to the member.
    bool fresh(std::string_view room, std::uint64_t seq) {
        const auto it = std::find_if(covered.begin(), covered.end(),
                                     [&](const auto& c) { return c.first == room; });
        if (it == covered.end()) {
            return true;
        }
        if (seq <= it->second) {
            return false;
        }
        covered.erase(it);
        return true;
    }
};

template <class Member>
class ShardRooms {
public:
    using Index = sio::RoomIndex<Member, MemberInfo>;
    using Membership = typename Index::Membership;

    explicit ShardRooms(std::size_t held_cap = 4096) : held_cap_(held_cap) {}

    // --- sockets ---------------------------------------------------------------------------

    // A socket connected: indexed by its user.
    void attach(Member& m) { users_[m.user()].push_back(&m); }

    // A socket left: out of every room (returned, for the derived counts) and the user index.
    std::vector<std::string> detach(Member& m) {
        auto rooms = room_names(m);
        index_.leave_all(m);
        m.recovery.reset();
        if (auto it = users_.find(m.user()); it != users_.end()) {
            std::erase(it->second, &m);
            if (it->second.empty()) {
                users_.erase(it);
            }
        }
        return rooms;
    }

    // The user's sockets on this shard (nullptr: none).
    const std::vector<Member*>* sockets_of(std::string_view user) const {
        const auto it = users_.find(std::string(user));
        return it == users_.end() ? nullptr : &it->second;
    }

    // --- membership --------------------------------------------------------------------------

    // Returns true when `m` was not in `room` before.
    bool join(Member& m, std::string_view room, MemberInfo info) { return index_.join(m, room, info); }

    // Returns true when `m` was in `room`.
    bool leave(Member& m, std::string_view room) { return index_.leave(m, room); }

    bool in_room(Member& m, std::string_view room) const { return Index::find(m, room) != nullptr; }

    // `m`'s membership of `room` (its info may be updated: the join offset arrives after the
    // socket entered the room).
    MemberInfo* info(Member& m, std::string_view room) const {
        auto* ms = Index::find(m, room);
        return ms == nullptr ? nullptr : &ms->info;
    }

    std::vector<std::pair<std::string, MemberInfo>> rooms_of(Member& m) const {
        std::vector<std::pair<std::string, MemberInfo>> out;
        out.reserve(m.memberships().size());
        for (const auto& ms : m.memberships()) {
            out.emplace_back(ms.room->name, ms.info);
        }
        return out;
    }

    std::size_t room_count(Member& m) const { return m.memberships().size(); }

    // Members of `room` on this shard (nullptr: none).
    const std::vector<Member*>* members(std::string_view room) const { return index_.members(room); }

    // Members of `room` whose user is `user` (every member when `user` is empty): copied, since
    // removing them changes the room's list.
    std::vector<Member*> select(std::string_view room, std::string_view user) const {
        std::vector<Member*> out;
        if (const auto* list = index_.members(room)) {
            for (Member* m : *list) {
                if (user.empty() || m->user() == user) {
                    out.push_back(m);
                }
            }
        }
        return out;
    }

    std::size_t rooms() const noexcept { return index_.room_count(); }

    // --- fan-out -----------------------------------------------------------------------------

    // Hands a room event to every member of `room` except `except`: `send(member, message)`
    // for members that are live, held for recovering ones. Returns how many were sent or held.
    template <class Send>
    std::size_t deliver(std::string_view room, std::uint64_t seq,
                        const transport::OutMessagePtr& message, const Member* except, Send&& send) {
        const auto* list = index_.members(room);
        if (list == nullptr) {
            return 0;
        }
        std::size_t n = 0;
        for (Member* m : *list) {
            if (m == except) {
                continue;
            }
            if (m->recovery && m->recovery->merged) {
                if (!m->recovery->fresh(room, seq)) {
                    continue;
                }
                if (m->recovery->covered.empty()) {
                    m->recovery.reset();
                }
            } else if (m->recovery) {
                auto& held = *m->recovery;
                if (held.events.size() >= held_cap_) {
                    held.overflowed = true;
                    continue;
                }
                held.events.push_back(RoomMessage{std::string(room), seq, message});
                ++n;
                continue;
            }
            n += send(*m, message) ? 1 : 0;
        }
        return n;
    }

    // Hands an ephemeral room event to every member of `room` except `except` and those still
    // recovering (their catch-up has not been merged yet): an ephemeral event is never held nor
    // replayed (PRODUCT.md §2), and it has no offset to merge by. Returns how many were sent.
    template <class Send>
    std::size_t deliver_ephemeral(std::string_view room, const transport::OutMessagePtr& message,
                                  const Member* except, Send&& send) {
        const auto* list = index_.members(room);
        if (list == nullptr) {
            return 0;
        }
        std::size_t n = 0;
        for (Member* m : *list) {
            if (m == except || (m->recovery && !m->recovery->merged)) {
                continue;
            }
            n += send(*m, message) ? 1 : 0;
        }
        return n;
    }

    // --- recovery ----------------------------------------------------------------------------

    // From now on live room events for `m` are held.
    void hold(Member& m) { m.recovery = std::make_unique<Held>(); }
    // Stops holding; returns what was held.
    Held release(Member& m) {
        Held out = m.recovery ? std::move(*m.recovery) : Held{};
        m.recovery.reset();
        return out;
    }
    // After the merge was sent: live events of each room at or below its offset in `covered`
    // are dropped for `m` (see Held).
    void watch(Member& m, std::vector<std::pair<std::string, std::uint64_t>> covered) {
        if (covered.empty()) {
            m.recovery.reset();
            return;
        }
        m.recovery = std::make_unique<Held>();
        Held& h = *m.recovery;
        h.merged = true;
        h.covered = std::move(covered);
    }

private:
    std::vector<std::string> room_names(Member& m) const {
        std::vector<std::string> out;
        out.reserve(m.memberships().size());
        for (const auto& ms : m.memberships()) {
            out.push_back(ms.room->name);
        }
        return out;
    }

    std::size_t held_cap_;
    Index index_;
    std::unordered_map<std::string, std::vector<Member*>> users_;
};

}  // namespace roomcast::edge::rooms
