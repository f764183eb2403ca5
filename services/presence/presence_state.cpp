#include "presence_state.hpp"

#include "encodings.hpp"

#include <algorithm>

namespace roomcast::presence {

PresenceState::PresenceState(StateOptions options)
    : options_(options),
      grace_ms_(options.grace.count()),
      dead_after_ms_(options.edge_dead_after.count()) {
    options_.max_users_per_change = std::max<std::size_t>(1, options_.max_users_per_change);
}

PresenceState::Found PresenceState::find_user(Room& room, const std::string& user) {
    Found f;
    f.it = room.present.find(user);
    if (f.it != room.present.end()) {
        f.present = true;
        f.found = true;
        ++scanned_;
        return f;
    }
    f.it = room.dormant.find(user);
    f.found = f.it != room.dormant.end();
    if (f.found) {
        ++scanned_;
    }
    return f;
}

void PresenceState::apply_entry(const std::string& edge_id, const std::string& room_id,
                                const std::string& user_id, const EntryValue& value,
                                std::int64_t now) {
    auto eit = edges_.find(edge_id);
    if (eit == edges_.end()) {
        Edge fresh;
        if (loaded_) {
            fresh.last_seen = now;  // its heartbeat may trail its first entry
        } else {
            fresh.alive = false;  // no heartbeat key at all: dead for longer than its TTL
        }
        eit = edges_.emplace(edge_id, std::move(fresh)).first;
    }
    Edge& edge = eit->second;
    Room& room = rooms_[room_id];
    Found user = find_user(room, user_id);
    std::uint32_t old = 0;
    if (user.found) {
        if (auto s = user.it->second.slots.find(edge_id); s != user.it->second.slots.end()) {
            old = s->second;
        }
    }
    const std::uint32_t sockets = value.sockets;
    // While loading, a lost entry may describe a user whose grace is still running.
    const bool resumes_grace = !loaded_ && sockets == 0 && value.lost;
    if (!user.found && sockets == 0 && !resumes_grace) {
        erase_room_if_empty(room_id);
        return;
    }
    if (old == 0 && sockets > 0 && slots_ >= options_.max_entries) {
        ++refused_;
        erase_room_if_empty(room_id);
        return;
    }
    if (!user.found) {
        user.it = room.dormant.emplace(user_id, User{}).first;
        user.found = true;
        user.present = false;
    }
    User& u = user.it->second;
    if (!value.name.empty()) {
        u.name = clip_name(value.name);
    }
    if (sockets > 0) {
        u.slots[edge_id] = sockets;
        if (old == 0) {
            edge.slots.emplace(room_id, user_id);
            ++slots_;
        }
    } else if (old > 0) {
        u.slots.erase(edge_id);
        edge.slots.erase({room_id, user_id});
        --slots_;
    }
    if (edge.alive) {
        u.live = u.live - old + sockets;
        room.clients = room.clients - old + sockets;
    }

    Why why = Why::kNeutral;
    std::int64_t from = now;
    if (old > 0 && sockets == 0) {
        why = value.lost ? Why::kLost : Why::kClean;
    }
    if (!loaded_) {
        if (resumes_grace) {
            why = Why::kLost;
            from = value.updated_ms > 0 ? std::min(value.updated_ms, now) : now;
        } else if (!edge.alive && sockets > 0) {
            why = Why::kLost;  // the edge died while this user was on it
            from = edge.dead_since;
        }
    }
    // A dead edge left without slots is forgotten by tick(), not here: while loading, its
    // dead_since still matters to its other entries.
    settle(room_id, room, user, why, from, now);
    erase_room_if_empty(room_id);
}

void PresenceState::remove_entry(const std::string& edge, const std::string& room,
                                 const std::string& user, std::int64_t now) {
    if (edges_.find(edge) == edges_.end() || rooms_.find(room) == rooms_.end()) {
        return;  // nothing of it is held: no slot to remove
    }
    apply_entry(edge, room, user, EntryValue{}, now);
}

void PresenceState::settle(const std::string& room_id, Room& room, Found user, Why why,
                           std::int64_t from, std::int64_t now) {
    User& u = user.it->second;
    if (u.live > 0) {
        u.grace_until = 0;
        if (!user.present) {
            auto node = room.dormant.extract(user.it);
            auto inserted = room.present.insert(std::move(node));
            note_flip(room_id, room, inserted.position->first, inserted.position->second.name,
                      true);
        }
        return;
    }
    if (user.present) {
        if (why == Why::kNeutral) {
            if (u.grace_until != 0) {
                return;  // still in a grace that started earlier
            }
            why = Why::kLost;  // present without sockets and no grace: cannot stay so
            from = now;
        }
        if (why == Why::kClean) {
            leave(room_id, room, user.it);
            return;
        }
        const std::int64_t deadline = from + grace_ms_;
        if (deadline <= now) {
            leave(room_id, room, user.it);
            return;
        }
        if (deadline > u.grace_until) {
            u.grace_until = deadline;
            graces_.push(GraceItem{deadline, room_id, user.it->first});
        }
        return;
    }
    if (why == Why::kLost && !loaded_ && from + grace_ms_ > now) {
        // Loading: the user was present before this replica started and is in their grace.
        u.grace_until = from + grace_ms_;
        graces_.push(GraceItem{u.grace_until, room_id, user.it->first});
        auto node = room.dormant.extract(user.it);
        auto inserted = room.present.insert(std::move(node));
        note_flip(room_id, room, inserted.position->first, inserted.position->second.name, true);
        return;
    }
    if (u.slots.empty()) {
        room.dormant.erase(user.it);
    }
}

void PresenceState::leave(const std::string& room_id, Room& room, UserMap::iterator it) {
    note_flip(room_id, room, it->first, it->second.name, false);
    it->second.grace_until = 0;
    if (it->second.slots.empty()) {
        room.present.erase(it);
    } else {
        room.dormant.insert(room.present.extract(it));
    }
}

void PresenceState::note_flip(const std::string& room_id, Room& room, const std::string& user,
                              const std::string& name, bool now_present) {
    if (now_present) {
        ++joins_;
    } else {
        ++leaves_;
    }
    auto p = room.pending.find(user);
    if (p == room.pending.end()) {
        room.pending.emplace(user, Pending{!now_present, name});
        dirty_.insert(room_id);
    } else if (p->second.was_present == now_present) {
        room.pending.erase(p);  // back where the batch started: no news
    } else {
        p->second.name = name;
    }
}

void PresenceState::edge_heartbeat(const std::string& edge_id, std::int64_t seen_ms,
                                   std::int64_t now) {
    const std::int64_t seen = std::min(seen_ms, now);
    auto [it, inserted] = edges_.try_emplace(edge_id);
    Edge& edge = it->second;
    if (inserted) {
        edge.last_seen = seen;
        edge.alive = now - seen <= dead_after_ms_;
        edge.dead_since = edge.alive ? 0 : seen + dead_after_ms_;
        return;
    }
    edge.last_seen = std::max(edge.last_seen, seen);
    if (!edge.alive && now - edge.last_seen <= dead_after_ms_) {
        revive_edge(edge_id, edge, now);
    }
}

void PresenceState::edge_gone(const std::string& edge_id, std::int64_t now) {
    auto it = edges_.find(edge_id);
    if (it == edges_.end()) {
        return;
    }
    if (it->second.alive) {
        kill_edge(edge_id, it->second, now, now);
    }
    if (it->second.slots.empty()) {
        edges_.erase(it);
    }
}

void PresenceState::kill_edge(const std::string& edge_id, Edge& edge, std::int64_t dead_since,
                              std::int64_t now) {
    edge.alive = false;
    edge.dead_since = dead_since;
    for (const auto& [room_id, user_id] : edge.slots) {
        auto rit = rooms_.find(room_id);
        if (rit == rooms_.end()) {
            continue;
        }
        Room& room = rit->second;
        Found user = find_user(room, user_id);
        if (!user.found) {
            continue;
        }
        User& u = user.it->second;
        const auto s = u.slots.find(edge_id);
        const std::uint32_t sockets = s == u.slots.end() ? 0 : s->second;
        u.live -= sockets;
        room.clients -= sockets;
        // The user keeps this slot, so settle never erases them (nor their room).
        settle(room_id, room, user, Why::kLost, dead_since, now);
    }
}

void PresenceState::revive_edge(const std::string& edge_id, Edge& edge, std::int64_t now) {
    edge.alive = true;
    edge.dead_since = 0;
    for (const auto& [room_id, user_id] : edge.slots) {
        auto rit = rooms_.find(room_id);
        if (rit == rooms_.end()) {
            continue;
        }
        Room& room = rit->second;
        Found user = find_user(room, user_id);
        if (!user.found) {
            continue;
        }
        User& u = user.it->second;
        const auto s = u.slots.find(edge_id);
        const std::uint32_t sockets = s == u.slots.end() ? 0 : s->second;
        u.live += sockets;
        room.clients += sockets;
        settle(room_id, room, user, Why::kNeutral, now, now);
    }
}

void PresenceState::tick(std::int64_t now) {
    if (now >= hold_until_) {
        for (auto it = edges_.begin(); it != edges_.end();) {
            Edge& edge = it->second;
            if (edge.alive && now - edge.last_seen > dead_after_ms_) {
                kill_edge(it->first, edge, edge.last_seen + dead_after_ms_, now);
            }
            if (!edge.alive && edge.slots.empty()) {
                it = edges_.erase(it);
            } else {
                ++it;
            }
        }
    }
    while (!graces_.empty() && graces_.top().deadline <= now) {
        const GraceItem item = graces_.top();
        graces_.pop();
        auto rit = rooms_.find(item.room);
        if (rit == rooms_.end()) {
            continue;
        }
        Room& room = rit->second;
        auto uit = room.present.find(item.user);
        if (uit == room.present.end()) {
            continue;
        }
        ++scanned_;
        if (uit->second.grace_until == item.deadline && uit->second.live == 0) {
            leave(item.room, room, uit);
            erase_room_if_empty(item.room);
        }
    }
}

void PresenceState::mark_loaded() {
    loaded_ = true;
    for (const auto& room_id : dirty_) {
        if (auto it = rooms_.find(room_id); it != rooms_.end()) {
            it->second.pending.clear();
            erase_room_if_empty(room_id);
        }
    }
    dirty_.clear();
}

std::vector<RoomChange> PresenceState::take_changes() {
    std::vector<RoomChange> out;
    for (const auto& room_id : dirty_) {
        auto it = rooms_.find(room_id);
        if (it == rooms_.end()) {
            continue;
        }
        RoomChange change{room_id, {}, {}};
        for (auto& [user, p] : it->second.pending) {
            (p.was_present ? change.left : change.joined)
                .push_back(UserRef{user, std::move(p.name)});
            if (change.joined.size() + change.left.size() >= options_.max_users_per_change) {
                out.push_back(std::move(change));
                change = RoomChange{room_id, {}, {}};
            }
        }
        if (!change.joined.empty() || !change.left.empty()) {
            out.push_back(std::move(change));
        }
        it->second.pending.clear();
        erase_room_if_empty(room_id);
    }
    dirty_.clear();
    return out;
}

void PresenceState::erase_room_if_empty(const std::string& room_id) {
    auto it = rooms_.find(room_id);
    if (it != rooms_.end() && it->second.present.empty() && it->second.dormant.empty() &&
        it->second.pending.empty()) {
        rooms_.erase(it);
    }
}

RoomTotals PresenceState::totals(const std::string& room) const {
    auto it = rooms_.find(room);
    if (it == rooms_.end()) {
        return {};
    }
    return RoomTotals{it->second.clients, it->second.present.size()};
}

Page PresenceState::page(const std::string& room, std::string_view after, std::size_t limit) const {
    Page page;
    auto rit = rooms_.find(room);
    if (rit == rooms_.end()) {
        return page;
    }
    const Room& r = rit->second;
    page.totals = RoomTotals{r.clients, r.present.size()};
    auto it = after.empty() ? r.present.begin() : r.present.upper_bound(after);
    for (; it != r.present.end() && page.users.size() < limit; ++it) {
        ++scanned_;
        page.users.push_back(ListedUser{it->first, it->second.name, it->second.live});
    }
    page.more = it != r.present.end();
    return page;
}

LiveRoomsPage PresenceState::live_rooms(std::string_view prefix, std::string_view after,
                                        std::size_t limit) const {
    std::vector<std::pair<std::string_view, const Room*>> found;
    for (const auto& [id, room] : rooms_) {
        if (room.clients == 0 || !std::string_view(id).starts_with(prefix) ||
            (!after.empty() && std::string_view(id) <= after)) {
            continue;
        }
        found.emplace_back(id, &room);
    }
    LiveRoomsPage page;
    const std::size_t take = std::min(limit, found.size());
    // Only the page is sorted: the rest is partitioned past it.
    std::partial_sort(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(take), found.end(),
                      [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < take; ++i) {
        const Room& room = *found[i].second;
        page.rooms.push_back(
            LiveRoom{std::string(found[i].first), RoomTotals{room.clients, room.present.size()}});
    }
    page.more = found.size() > take;
    return page;
}

std::uint32_t PresenceState::user_sockets(const std::string& room, const std::string& user) const {
    auto rit = rooms_.find(room);
    if (rit == rooms_.end()) {
        return 0;
    }
    auto it = rit->second.present.find(user);
    return it == rit->second.present.end() ? 0 : it->second.live;
}

StateCounters PresenceState::counters() const {
    StateCounters c;
    c.slots = slots_;
    c.rooms = rooms_.size();
    c.edges = edges_.size();
    for (const auto& [id, edge] : edges_) {
        c.edges_alive += edge.alive ? 1 : 0;
    }
    c.scanned = scanned_;
    c.refused = refused_;
    c.joins = joins_;
    c.leaves = leaves_;
    return c;
}

bool PresenceState::edge_alive(const std::string& edge) const {
    auto it = edges_.find(edge);
    return it != edges_.end() && it->second.alive;
}

}  // namespace roomcast::presence
