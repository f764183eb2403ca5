#include "app/acl.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/contract/timing.hpp"
#include "roomcast/core/log.hpp"

#include <chrono>
#include <mutex>

namespace roomcast::edge {

namespace log = core::log;

AclCache::AclCache(natsbus::Connection& nats, std::vector<std::string> auto_create_prefixes,
                   int replicas, contract::StorageBudgets budgets)
    : nats_(nats),
      prefixes_(std::move(auto_create_prefixes)),
      replicas_(replicas),
      budgets_(budgets) {}

natsbus::Result<void> AclCache::start(std::function<void(const std::string& room)> on_change) {
    on_change_ = std::move(on_change);
    // The rooms service owns the bucket (only it may change its settings): bind to it.
    auto kv = nats_.jetstream().key_value(contract::rooms_bucket(replicas_, budgets_),
                                          natsbus::BucketRole::kUser);
    if (!kv) {
        return kv.error();
    }
    kv_ = std::move(*kv);
    auto watch = kv_->watch(
        ">", [this](natsbus::KvEntry&& e) { apply(std::move(e)); },
        [this] {
            loaded_.store(true, std::memory_order_release);
            log::info("room registry loaded", {{"rooms", rooms_.size()}});
        });
    if (!watch) {
        return watch.error();
    }
    watch_ = std::move(*watch);
    return {};
}

void AclCache::stop() { watch_.reset(); }

void AclCache::after_revision(std::uint64_t revision, std::function<void()> fn) {
    {
        std::lock_guard lock(waiters_mu_);
        if (revision_.load(std::memory_order_acquire) < revision) {
            waiters_.emplace_back(revision, std::move(fn));
            return;
        }
    }
    fn();
}

void AclCache::apply(natsbus::KvEntry&& e) {
    // Whatever the entry, its revision has been seen once this returns.
    struct Seen {
        AclCache& acl;
        std::uint64_t revision;
        ~Seen() {
            std::vector<std::function<void()>> ready;
            {
                std::lock_guard lock(acl.waiters_mu_);
                if (revision > acl.revision_.load(std::memory_order_relaxed)) {
                    acl.revision_.store(revision, std::memory_order_release);
                }
                std::erase_if(acl.waiters_, [&](auto& w) {
                    if (w.first <= revision) {
                        ready.push_back(std::move(w.second));
                        return true;
                    }
                    return false;
                });
            }
            for (auto& fn : ready) {
                fn();
            }
        }
    } seen{*this, e.revision};
    // room.<key(room)> or member.<key(room)>.<key(user)> (contract/keys.hpp)
    std::string changed;
    if (auto room = contract::parse_room_key(e.key)) {
        std::unique_lock lock(mu_);
        auto& info = rooms_[*room];
        if (e.deleted) {
            info.exists = false;
            info.members.clear();
            rooms_.erase(*room);
        } else {
            ::roomcast::rooms::v1::Room r;
            if (!r.ParseFromString(e.value)) {
                return;
            }
            info.exists = true;
            info.visibility = r.visibility() == ::roomcast::rooms::v1::VISIBILITY_PRIVATE
                                  ? ::roomcast::rooms::v1::VISIBILITY_PRIVATE
                                  : ::roomcast::rooms::v1::VISIBILITY_PUBLIC;
        }
        changed = *room;
    } else if (auto member = contract::parse_member_key(e.key)) {
        std::unique_lock lock(mu_);
        if (e.deleted) {
            if (auto it = rooms_.find(member->room); it != rooms_.end()) {
                it->second.members.erase(member->user);
            }
        } else {
            ::roomcast::rooms::v1::Member m;
            if (!m.ParseFromString(e.value)) {
                return;
            }
            rooms_[member->room].members[member->user] =
                m.role() == ::roomcast::rooms::v1::ROLE_VIEWER ? ::roomcast::rooms::v1::ROLE_VIEWER : ::roomcast::rooms::v1::ROLE_MEMBER;
        }
        changed = std::move(member->room);
    } else {
        return;
    }
    if (on_change_) {
        on_change_(changed);
    }
}

bool AclCache::auto_create(std::string_view room) const {
    for (const auto& p : prefixes_) {
        if (p == "*" || room.substr(0, p.size()) == p) {
            return true;
        }
    }
    return false;
}

Verdict AclCache::may_join(const std::string& room, const std::string& user) const {
    if (!loaded()) {
        return Verdict::kUnavailable;
    }
    std::shared_lock lock(mu_);
    const auto it = rooms_.find(room);
    if (it == rooms_.end() || !it->second.exists) {
        return auto_create(room) ? Verdict::kCreate : Verdict::kNotFound;
    }
    if (it->second.visibility == ::roomcast::rooms::v1::VISIBILITY_PRIVATE && !it->second.members.contains(user)) {
        return Verdict::kForbidden;
    }
    return Verdict::kAllow;
}

Verdict AclCache::may_publish(const std::string& room, const std::string& user) const {
    if (!loaded()) {
        return Verdict::kUnavailable;
    }
    std::shared_lock lock(mu_);
    const auto it = rooms_.find(room);
    if (it == rooms_.end() || !it->second.exists) {
        // Auto-created a moment ago and not yet seen by the watch: public by definition.
        return auto_create(room) ? Verdict::kAllow : Verdict::kNotFound;
    }
    if (it->second.visibility == ::roomcast::rooms::v1::VISIBILITY_PRIVATE) {
        const auto m = it->second.members.find(user);
        if (m == it->second.members.end() || m->second != ::roomcast::rooms::v1::ROLE_MEMBER) {
            return Verdict::kForbidden;
        }
    }
    return Verdict::kAllow;
}

void AclCache::create(const std::string& room, std::function<void(bool)> done) {
    {
        std::lock_guard lock(creating_mu_);
        auto [it, first] = creating_.try_emplace(room);
        it->second.push_back(std::move(done));
        if (!first) {
            return;  // the request in flight answers this call too
        }
    }
    // Edges may not write room rights: the rooms service creates the room (one replica of its
    // queue group answers), and this cache sees it through the watch like any other change.
    bus::v1::AutoCreateRoom request;
    request.set_room(room);
    nats_.request_async(
        contract::kRoomAutoCreateSubject, request.SerializeAsString(),
        contract::kRoomAutoCreateTimeout, [this, room](natsbus::Result<natsbus::Message> reply) {
            bool ok = false;
            bus::v1::AutoCreateRoomReply answer;
            if (!reply) {
                log::warn("room auto-create: no answer from the rooms service",
                          {{"room", room}, {"error", reply.error().message()}});
            } else if (!answer.ParseFromString(reply->data)) {
                log::warn("room auto-create: not an AutoCreateRoomReply", {{"room", room}});
            } else {
                if (!answer.ok()) {
                    log::info("room auto-create refused",
                              {{"room", room}, {"code", answer.code()}, {"reason", answer.message()}});
                }
                ok = answer.ok();
            }
            std::vector<std::function<void(bool)>> waiting;
            {
                std::lock_guard lock(creating_mu_);
                if (auto it = creating_.find(room); it != creating_.end()) {
                    waiting = std::move(it->second);
                    creating_.erase(it);
                }
            }
            for (auto& w : waiting) {
                w(ok);
            }
        });
}

}  // namespace roomcast::edge
