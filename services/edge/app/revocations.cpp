#include "app/revocations.hpp"

#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"

namespace roomcast::edge {

namespace {

std::string kick_key(std::string_view room, std::string_view user) {
    std::string k = "kick\n";
    k += room;
    k += '\n';
    k += user;
    return k;
}

std::string room_key(std::string_view room) { return "room\n" + std::string(room); }

std::string user_key(std::string_view user) { return "user\n" + std::string(user); }

}  // namespace

Revocations::Revocations(std::chrono::milliseconds keep, std::size_t max_entries)
    : keep_(keep), max_entries_(std::max<std::size_t>(max_entries, 1)) {}

void Revocations::put(std::string key, std::string reason, std::int64_t at_ms) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
        if (it->second.at_ms >= at_ms) {
            return;  // the newest per key counts
        }
        for (auto [b, e] = by_time_.equal_range(it->second.at_ms); b != e; ++b) {
            if (b->second == key) {
                by_time_.erase(b);
                break;
            }
        }
        it->second = Entry{std::move(reason), at_ms};
    } else {
        entries_.emplace(key, Entry{std::move(reason), at_ms});
    }
    by_time_.emplace(at_ms, std::move(key));
    while (entries_.size() > max_entries_) {
        auto oldest = by_time_.begin();
        horizon_ms_ = std::max(horizon_ms_, oldest->first);
        entries_.erase(oldest->second);
        by_time_.erase(oldest);
    }
}

void Revocations::kick(const std::string& room, const std::string& user, std::string reason,
                       std::int64_t at_ms) {
    put(kick_key(room, user), std::move(reason), at_ms);
}

void Revocations::room(const std::string& room, std::string reason, std::int64_t at_ms) {
    put(room_key(room), std::move(reason), at_ms);
}

void Revocations::user(const std::string& user, std::string reason, std::int64_t at_ms) {
    put(user_key(user), std::move(reason), at_ms);
}

void Revocations::apply(std::string_view key, const bus::v1::Revocation& r) {
    auto parsed = contract::parse_revocation_key(key);
    if (!parsed) {
        return;
    }
    switch (parsed->kind) {
        case contract::RevocationKey::Kind::kKick:
            kick(parsed->room, parsed->user, r.reason(), r.at_ms());
            break;
        case contract::RevocationKey::Kind::kRoom:
            room(parsed->room, r.reason(), r.at_ms());
            break;
        case contract::RevocationKey::Kind::kUser:
            user(parsed->user, r.reason(), r.at_ms());
            break;
    }
}

void Revocations::prune(std::int64_t now_ms) {
    const std::int64_t cutoff = now_ms - keep_.count();
    std::lock_guard lock(mu_);
    while (!by_time_.empty() && by_time_.begin()->first < cutoff) {
        entries_.erase(by_time_.begin()->second);
        by_time_.erase(by_time_.begin());
    }
}

bool Revocations::session_recoverable(const std::string& user, std::int64_t started_ms) const {
    std::lock_guard lock(mu_);
    if (started_ms <= horizon_ms_) {
        return false;
    }
    const auto it = entries_.find(user_key(user));
    return it == entries_.end() || it->second.at_ms < started_ms;
}

std::optional<Revocations::Lost> Revocations::room_revoked(const std::string& room,
                                                           const std::string& user,
                                                           std::int64_t joined_ms) const {
    std::lock_guard lock(mu_);
    if (const auto it = entries_.find(kick_key(room, user)); it != entries_.end() && it->second.at_ms >= joined_ms) {
        return Lost{it->second.reason, false};
    }
    if (const auto it = entries_.find(room_key(room)); it != entries_.end() && it->second.at_ms >= joined_ms) {
        return Lost{it->second.reason, it->second.reason == "room_private"};
    }
    return std::nullopt;
}

std::size_t Revocations::size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

RevocationFeed::RevocationFeed(natsbus::Connection& nats, Revocations& revocations, int replicas,
                               contract::StorageBudgets budgets)
    : nats_(nats), revocations_(revocations), replicas_(replicas), budgets_(budgets) {}

natsbus::Result<void> RevocationFeed::start() {
    // The rooms service owns the bucket (only it may change its settings): bind to it.
    auto kv = nats_.jetstream().key_value(contract::revocations_bucket(replicas_, budgets_),
                                          natsbus::BucketRole::kUser);
    if (!kv) {
        return kv.error();
    }
    kv_ = std::move(*kv);
    auto watch = kv_->watch(
        ">",
        [this](natsbus::KvEntry&& e) {
            bus::v1::Revocation r;
            if (!e.deleted && r.ParseFromString(e.value)) {
                revocations_.apply(e.key, r);
            }
        },
        [] {});
    if (!watch) {
        return watch.error();
    }
    watch_ = std::move(*watch);
    return {};
}

void RevocationFeed::stop() { watch_.reset(); }

}  // namespace roomcast::edge
