#include "rooms/room_table.hpp"

#include <algorithm>
#include <utility>

namespace roomcast::edge::rooms {

RoomTable::Added RoomTable::add(const std::string& room, const std::string& user,
                                const std::string& name, std::optional<WaiterId> waiter) {
    Added out;
    auto& r = rooms_[room];
    // A room whose subscription failed (generation 0) is subscribed again by the next join.
    if (r.sockets++ == 0 || r.generation == 0) {
        r.generation = next_generation_++;
        r.epoch = r.generation;
        r.offset_known = false;
        out.subscribe = r.generation;
    }
    auto& u = r.users[user];
    if (u.sockets++ == 0) {
        u.name = name;
        out.user = UserChange{user, u.name, u.sockets, false};
    }
    if (waiter) {
        if (r.offset_known) {
            out.offset = r.last_offset;
        } else {
            r.waiters.push_back(*waiter);
        }
    }
    return out;
}

RoomTable::Removed RoomTable::remove(const std::string& room, const std::string& user, bool lost) {
    Removed out;
    auto it = rooms_.find(room);
    if (it == rooms_.end()) {
        return out;
    }
    auto& r = it->second;
    if (auto u = r.users.find(user); u != r.users.end()) {
        if (--u->second.sockets == 0) {
            out.user = UserChange{user, u->second.name, 0, lost};
            r.users.erase(u);
        }
    }
    if (--r.sockets == 0) {
        // The sequence state goes with the subscription: events still on their way belong to
        // this generation and are dropped as stale.
        out.unsubscribe = r.generation != 0;
        out.waiters = std::move(r.waiters);
        rooms_.erase(it);
    }
    return out;
}

std::vector<RoomTable::WaiterId> RoomTable::subscribe_failed(const std::string& room,
                                                             std::uint64_t generation) {
    auto it = rooms_.find(room);
    if (it == rooms_.end() || it->second.generation != generation) {
        return {};
    }
    // The room stays counted; events reach it after the next subscription that succeeds.
    it->second.generation = 0;
    it->second.offset_known = false;
    return std::exchange(it->second.waiters, {});
}

RoomTable::Seeded RoomTable::seeded(const std::string& room, std::uint64_t epoch,
                                    std::uint64_t offset) {
    Seeded out;
    auto it = rooms_.find(room);
    if (it == rooms_.end() || it->second.generation == 0 || it->second.epoch != epoch) {
        return out;
    }
    auto& r = it->second;
    r.seeded = true;
    r.seed = std::max(r.seed, offset);
    r.last_offset = std::max(r.last_offset, offset);
    r.offset_known = true;
    out.waiters = std::exchange(r.waiters, {});
    out.offset = r.last_offset;
    return out;
}

std::vector<RoomTable::WaiterId> RoomTable::seed_failed(const std::string& room,
                                                        std::uint64_t epoch) {
    auto it = rooms_.find(room);
    if (it == rooms_.end() || it->second.epoch != epoch) {
        return {};
    }
    return std::exchange(it->second.waiters, {});
}

std::optional<std::uint64_t> RoomTable::known_offset(const std::string& room) const {
    const auto it = rooms_.find(room);
    if (it == rooms_.end() || !it->second.offset_known) {
        return std::nullopt;
    }
    return it->second.last_offset;
}

std::uint32_t RoomTable::sockets(const std::string& room) const {
    const auto it = rooms_.find(room);
    return it == rooms_.end() ? 0 : it->second.sockets;
}

std::uint32_t RoomTable::user_sockets(const std::string& room, const std::string& user) const {
    const auto it = rooms_.find(room);
    if (it == rooms_.end()) {
        return 0;
    }
    const auto u = it->second.users.find(user);
    return u == it->second.users.end() ? 0 : u->second.sockets;
}

std::optional<std::uint64_t> RoomTable::baseline(const Room& r) {
    if (r.last != 0) {
        return r.last;
    }
    if (r.seeded) {
        return r.seed;
    }
    return std::nullopt;
}

void RoomTable::sequence(Room& r, Incoming&& event, Step& step) {
    if (event.seq == 0) {
        ++stats_.invalid_dropped;
        return;
    }
    if (r.last != 0 && event.seq <= r.last) {
        ++stats_.duplicates_dropped;
        return;
    }
    const auto base = baseline(r);
    if (base && event.prev > *base) {
        // Events between the last one known here and this one never arrived: read them back
        // first; this one (and any later) waits.
        ++stats_.gaps_detected;
        r.repairing = true;
        step.repair_after = *base;
        r.pending.push_back(std::move(event));
        return;
    }
    r.last = event.seq;
    r.last_offset = std::max(r.last_offset, event.seq);
    ++stats_.delivered;
    step.deliver.push_back(std::move(event));
}

RoomTable::Step RoomTable::live(const std::string& room, Incoming&& event) {
    Step step;
    auto it = rooms_.find(room);
    if (it == rooms_.end() || event.generation != it->second.generation) {
        ++stats_.stale_dropped;
        return step;
    }
    auto& r = it->second;
    if (r.repairing || r.holds > 0) {
        r.pending.push_back(std::move(event));
        return step;
    }
    sequence(r, std::move(event), step);
    return step;
}

void RoomTable::drain(Room& r, Step& step) {
    auto pending = std::move(r.pending);
    r.pending.clear();
    for (auto& in : pending) {
        if (r.repairing || r.holds > 0) {
            r.pending.push_back(std::move(in));
            continue;
        }
        sequence(r, std::move(in), step);
    }
}

void RoomTable::hold(const std::string& room) {
    if (auto it = rooms_.find(room); it != rooms_.end()) {
        ++it->second.holds;
    }
}

bool RoomTable::held(const std::string& room) const {
    const auto it = rooms_.find(room);
    return it != rooms_.end() && it->second.holds > 0;
}

RoomTable::Step RoomTable::release(const std::string& room) {
    Step step;
    auto it = rooms_.find(room);
    if (it == rooms_.end() || it->second.holds == 0) {
        return step;
    }
    if (--it->second.holds == 0 && !it->second.repairing) {
        drain(it->second, step);
    }
    return step;
}

RoomTable::Step RoomTable::repaired(const std::string& room,
                                    std::optional<std::vector<Stored>> events,
                                    std::chrono::steady_clock::time_point now) {
    Step step;
    auto it = rooms_.find(room);
    if (it == rooms_.end() || !it->second.repairing) {
        return step;
    }
    auto& r = it->second;
    r.repairing = false;
    std::uint64_t prev = baseline(r).value_or(0);
    // Read-back events stop where the held live ones begin.
    const std::uint64_t limit = r.pending.empty() ? UINT64_MAX : r.pending.front().seq;
    if (!events) {
        // Not lost for good (history and recovery read the stream), but these members will not
        // see them live: delivery resumes after the gap instead of asking again for ever.
        ++stats_.events_lost;
        if (!r.pending.empty()) {
            r.last = std::max(r.last, r.pending.front().prev);
        }
    } else {
        // Queued in front of the live ones, chained so the sequence sees no gap; delivered by
        // drain() unless the room is held.
        std::deque<Incoming> found;
        for (auto& e : *events) {
            if (e.seq <= prev || e.seq <= r.last || e.seq >= limit) {
                continue;
            }
            ++stats_.events_repaired;
            Incoming in;
            in.generation = r.generation;
            in.seq = e.seq;
            in.prev = prev;
            in.data = std::move(e.data);
            in.received = now;
            prev = e.seq;
            found.push_back(std::move(in));
        }
        for (auto f = found.rbegin(); f != found.rend(); ++f) {
            r.pending.push_front(std::move(*f));
        }
    }
    drain(r, step);
    return step;
}

std::vector<RoomTable::Reseed> RoomTable::reconnected() {
    std::vector<Reseed> out;
    for (auto& [name, r] : rooms_) {
        if (r.generation == 0) {
            continue;
        }
        // Same subscription (cnats resubscribes it), but what this edge knows of the room's
        // offset may be behind: joins wait for a new read.
        r.offset_known = false;
        r.epoch = next_generation_++;
        out.push_back(Reseed{name, r.epoch});
    }
    return out;
}

std::optional<std::uint64_t> RoomTable::check_latest(const std::string& room, std::uint64_t latest) {
    auto it = rooms_.find(room);
    if (it == rooms_.end() || it->second.repairing) {
        return std::nullopt;
    }
    const auto base = baseline(it->second);
    if (!base || latest <= *base) {
        return std::nullopt;
    }
    ++stats_.gaps_detected;
    it->second.repairing = true;
    return *base;
}

}  // namespace roomcast::edge::rooms
