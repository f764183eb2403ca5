#pragma once
// Rights lost while a session was away (PRODUCT.md §2 "Rights hold for the whole life of a
// socket"): the edge's copy of the revocations the rooms service records in KV bucket
// roomcast_revocations (bus.proto `Revocation`) and announces on roomcast.control, so that a
// session recovering on any edge leaves out the rooms it lost and a DisconnectUser'ed session is
// not recovered at all.
//
//   kick.<key(room)>.<key(user)>  KickUser; RemoveMember of a PRIVATE room
//   room.<key(room)>              DeleteRoom ("room_deleted"); UpdateRoom to PRIVATE ("room_private")
//   user.<key(user)>              DisconnectUser
//
// Entries arrive from the KV watch and from control messages (whichever is first); only the
// newest per key counts. Entries older than `keep` (the recovery window plus a margin) can no
// longer matter — a session away since before them is past its window — and are pruned. The
// store is capped: when it overflows, the oldest entries go and the horizon moves to the
// newest of them, and sessions that started before the horizon are not recovered (fail closed).
//
// Thread-safety: thread-safe (a mutex; reads at connect and recovery, writes per revocation).

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/storage.hpp"
#include "roomcast/natsbus/natsbus.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace roomcast::edge {

class Revocations {
public:
    Revocations(std::chrono::milliseconds keep, std::size_t max_entries);

    void kick(const std::string& room, const std::string& user, std::string reason, std::int64_t at_ms);
    void room(const std::string& room, std::string reason, std::int64_t at_ms);
    void user(const std::string& user, std::string reason, std::int64_t at_ms);
    // An entry of roomcast_revocations (unknown key shapes are ignored).
    void apply(std::string_view key, const bus::v1::Revocation& revocation);

    // Drops entries older than `now_ms - keep`.
    void prune(std::int64_t now_ms);

    // May a session of `user` that started at `started_ms` be recovered? False after a
    // DisconnectUser at or after its start, or when it started before the horizon.
    bool session_recoverable(const std::string& user, std::int64_t started_ms) const;

    struct Lost {
        std::string reason;
        bool private_only = false;  // "room_private": lost only by users who are not members
    };
    // A revocation of `room` for `user` at or after `joined_ms`, if any (a kick first).
    std::optional<Lost> room_revoked(const std::string& room, const std::string& user,
                                     std::int64_t joined_ms) const;

    std::size_t size() const;

private:
    struct Entry {
        std::string reason;
        std::int64_t at_ms = 0;
    };
    void put(std::string key, std::string reason, std::int64_t at_ms);

    std::chrono::milliseconds keep_;
    std::size_t max_entries_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, Entry> entries_;  // "kick\n<room>\n<user>", "room\n<room>", "user\n<user>"
    std::multimap<std::int64_t, std::string> by_time_;  // at_ms → key, for pruning and the cap
    std::int64_t horizon_ms_ = 0;
};

// The KV bucket roomcast_revocations (contract::revocations_bucket; created here when missing)
// watched into a Revocations.
class RevocationFeed {
public:
    RevocationFeed(natsbus::Connection& nats, Revocations& revocations, int replicas,
                   contract::StorageBudgets budgets);

    // Binds the bucket and starts the watch (start-up, blocking).
    natsbus::Result<void> start();
    void stop();

private:
    natsbus::Connection& nats_;
    Revocations& revocations_;
    int replicas_;
    contract::StorageBudgets budgets_;
    std::unique_ptr<natsbus::KeyValue> kv_;
    natsbus::Subscription watch_;
};

}  // namespace roomcast::edge
