#pragma once
// Polling sessions that their client closed (a close packet in a POST) while no long-poll GET
// was waiting, kept briefly so that the GET the client may have sent at the same time gets the
// noop it would have got had it been read first.
//
// Why: a polling client has at most one GET in flight. When it closes, the reference server
// answers the waiting GET with a noop and forgets the session. But a GET and a close POST sent
// at once (the official suites do exactly that) travel on two connections that two shards may
// read, and even the client's own two connects finish in either order, so the close can reach
// the session first while the GET is still on its way.
//
// How: the session closes at once (its handler is told), but the close POST's answer is held
// here with the session id. The first GET for the id takes the entry: it is answered with the
// noop, and the held POST with "ok". Without such a GET the POST is answered when the entry
// expires. So a GET sent after the client had the close's answer always finds the session
// unknown (400, as before): only a GET sent before that answer, i.e. the one in flight, can
// take the noop, and only one.
//
// Pure bookkeeping: no I/O, no clock (the caller passes `now` and runs the expiry), so a test
// drives it deterministically. Payload is what the caller holds (the POST's responder).
// Thread-safety: none; each shard owns one and touches it only on its thread.

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace roomcast::engineio {

template <class Payload>
class ClosedPolls {
public:
    using Clock = std::chrono::steady_clock;

    // At most `capacity` entries are kept (what a flood of closes can hold: a full store makes
    // the caller answer at once, as without it), each for `linger`. Capacity 0 keeps nothing.
    ClosedPolls(std::size_t capacity, std::chrono::milliseconds linger)
        : capacity_(capacity), linger_(linger) {}

    bool full() const noexcept { return order_.size() >= capacity_; }

    // Keeps `payload` for `sid` until take() or expiry. Requires !full().
    void add(std::string sid, Payload payload, Clock::time_point now) {
        const Clock::time_point expires = now + linger_;
        order_.emplace_back(expires, sid);
        by_sid_.insert_or_assign(std::move(sid), Entry{std::move(payload), expires});
    }

    // The payload kept for `sid`, which is forgotten (the client had one GET in flight at most).
    std::optional<Payload> take(const std::string& sid) {
        const auto it = by_sid_.find(sid);
        if (it == by_sid_.end()) {
            return std::nullopt;
        }
        std::optional<Payload> out(std::move(it->second.payload));
        by_sid_.erase(it);
        return out;
    }

    // Removes and returns the payloads whose linger has passed, oldest first.
    std::vector<Payload> take_expired(Clock::time_point now) {
        std::vector<Payload> out;
        while (!order_.empty() && order_.front().first <= now) {
            const auto& [expires, sid] = order_.front();
            if (const auto it = by_sid_.find(sid);
                it != by_sid_.end() && it->second.expires == expires) {
                out.push_back(std::move(it->second.payload));
                by_sid_.erase(it);
            }
            order_.pop_front();
        }
        return out;
    }

    // When the oldest entry expires (nullopt when there is none to wait for).
    std::optional<Clock::time_point> next_expiry() const {
        if (order_.empty()) {
            return std::nullopt;
        }
        return order_.front().first;
    }

    // Removes and returns every payload still kept (a GET could still have taken them).
    std::vector<Payload> take_all() {
        std::vector<Payload> out;
        out.reserve(by_sid_.size());
        for (auto& [sid, entry] : by_sid_) {
            out.push_back(std::move(entry.payload));
        }
        by_sid_.clear();
        order_.clear();
        return out;
    }

    // Entries that a GET can still take.
    std::size_t size() const noexcept { return by_sid_.size(); }

private:
    struct Entry {
        Payload payload;
        Clock::time_point expires;
    };

    std::size_t capacity_;
    std::chrono::milliseconds linger_;
    std::unordered_map<std::string, Entry> by_sid_;
    // Every add() in order, hence by expiry (one linger for all). Entries a GET took stay until
    // they expire, so the capacity bounds this list, not only what can still be taken.
    std::deque<std::pair<Clock::time_point, std::string>> order_;
};

}  // namespace roomcast::engineio
