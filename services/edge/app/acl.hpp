#pragma once
// The edge's local copy of the room registry and rights (KV bucket roomcast_rooms, written by
// the rooms service only), kept fresh by a KV watch, so that a join or a publish never waits
// for a service in the steady state. Auto-created rooms are asked of the rooms service.
//
// Rules (PRODUCT.md §2, docs/control-plane.md): a missing room is `not_found` unless its id
// matches an auto-create prefix (then it is created PUBLIC on first join); PUBLIC rooms admit
// every authenticated user; PRIVATE rooms admit members only, and only ROLE_MEMBER publishes.
//
// Thread-safety: updates come from the watch thread; shards read under a shared lock (joins and
// publishes, never per delivered message).

#include "app/ports.hpp"

#include "roomcast/contract/storage.hpp"
#include "roomcast/natsbus/natsbus.hpp"
#include "roomcast/rooms/v1/rooms.pb.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace roomcast::edge {

class AclCache final : public RightsPort {
public:
    AclCache(natsbus::Connection& nats, std::vector<std::string> auto_create_prefixes, int replicas,
             contract::StorageBudgets budgets);

    // Binds the bucket and starts the watch. `on_change(room)` runs on the watch thread after a
    // room's record changed or was deleted.
    natsbus::Result<void> start(std::function<void(const std::string& room)> on_change = {});
    void stop();
    bool loaded() const noexcept { return loaded_.load(std::memory_order_acquire); }

    // May `user` join `room`? kCreate: the room does not exist but may be auto-created.
    Verdict may_join(const std::string& room, const std::string& user) const override;
    // May `user` publish to `room` (which it joined)?
    Verdict may_publish(const std::string& room, const std::string& user) const override;

    // Asks the rooms service to create `room` PUBLIC and auto-created (request/reply on
    // contract::kRoomAutoCreateSubject, waiting at most kRoomAutoCreateTimeout). `done` runs on
    // a library thread with true when the room exists afterwards and is PUBLIC; false when the
    // service refused (an existing PRIVATE room), did not answer, or there is none. Calls for
    // a room whose request is in flight wait for that request's answer (one request per room
    // at a time: a connect storm into new rooms sends one per room, not one per join, and does
    // not overrun the rooms service's cap on requests at once).
    void create(const std::string& room, std::function<void(bool)> done) override;

    // Runs `fn` once the cache has applied the bucket's revision `revision` (at once when it
    // has; else on the watch thread when it does). A rights change announced on the control
    // subject names its revision, so the edge decides on the rights it introduced.
    void after_revision(std::uint64_t revision, std::function<void()> fn);

private:
    struct RoomInfo {
        ::roomcast::rooms::v1::Visibility visibility = ::roomcast::rooms::v1::VISIBILITY_PUBLIC;
        std::unordered_map<std::string, ::roomcast::rooms::v1::Role> members;
        bool exists = false;  // false: only members known so far
    };
    void apply(natsbus::KvEntry&& entry);
    bool auto_create(std::string_view room) const;

    natsbus::Connection& nats_;
    std::vector<std::string> prefixes_;
    int replicas_;
    contract::StorageBudgets budgets_;
    std::unique_ptr<natsbus::KeyValue> kv_;
    natsbus::Subscription watch_;
    std::function<void(const std::string&)> on_change_;
    std::atomic<bool> loaded_{false};
    std::atomic<std::uint64_t> revision_{0};  // the newest revision applied
    std::mutex waiters_mu_;
    std::vector<std::pair<std::uint64_t, std::function<void()>>> waiters_;
    // Auto-create requests in flight: room → the calls waiting for its answer.
    std::mutex creating_mu_;
    std::unordered_map<std::string, std::vector<std::function<void(bool)>>> creating_;
    mutable std::shared_mutex mu_;
    std::unordered_map<std::string, RoomInfo> rooms_;
};

}  // namespace roomcast::edge
