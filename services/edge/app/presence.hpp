#pragma once
// The edge's side of presence (docs/control-plane.md): it writes, for every (room, user) whose
// socket count on this edge changes (the room fabric counts them and reports the changes), the
// KV entry entry.<edge>.<key(room)>.<key(user)> that the presence service aggregates across
// edges, and asks the service for counts and lists over NATS (roomcast.presence.query).
//
// Writes of one key are serialized (one in flight, later changes coalesced into the newest
// value): two quick changes can never land in the wrong order. An entry is kept only while it
// is being written. Thread-safe.

#include "app/ports.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/storage.hpp"
#include "roomcast/natsbus/natsbus.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace roomcast::edge {

class PresenceTracker final : public PresencePort {
public:
    PresenceTracker(natsbus::Connection& nats, std::string edge_id, int replicas,
                    contract::StorageBudgets budgets);

    // Binds the bucket and zeroes what a previous run of this edge id left behind. Start-up
    // only (blocking).
    natsbus::Result<void> start();

    // `user` has `sockets` sockets in `room` on this edge now; `lost` when the last one left by
    // a lost connection (the service then waits its grace period). `written` (optional) runs on
    // a library thread once the new count is stored (or failed to be).
    void set(const std::string& room, const std::string& user, const std::string& name,
             std::uint32_t sockets, bool lost, std::function<void()> written = {});

    // Counts (and up to `limit` users) of `room` from the presence service.
    void query(const std::string& room, std::uint32_t limit,
               std::function<void(natsbus::Result<bus::v1::PresenceQueryResult>)> done) override;

private:
    struct Entry {
        std::string room;
        std::string user;
        std::string name;
        std::uint32_t sockets = 0;
        bool lost = false;
        bool writing = false;
        bool dirty = false;
        std::vector<std::function<void()>> waiters;
    };
    void write_locked(const std::string& key, Entry& entry);
    void on_written(const std::string& key);

    natsbus::Connection& nats_;
    std::string edge_id_;
    int replicas_;
    contract::StorageBudgets budgets_;
    std::unique_ptr<natsbus::KeyValue> kv_;
    std::mutex mu_;
    std::unordered_map<std::string, Entry> entries_;  // KV key → entry
};

}  // namespace roomcast::edge
