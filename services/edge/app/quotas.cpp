#include "app/quotas.hpp"

#include <algorithm>

namespace roomcast::edge {

bool Quotas::Bucket::take(double n, double rate, double burst, std::chrono::steady_clock::time_point now) {
    if (rate <= 0) {
        return true;
    }
    if (tokens < 0) {
        tokens = burst;
    } else {
        const std::chrono::duration<double> elapsed = now - refilled;
        tokens = std::min(burst, tokens + elapsed.count() * rate);
    }
    refilled = now;
    if (tokens < n) {
        return false;
    }
    tokens -= n;
    return true;
}

bool Quotas::Bucket::full(double rate, double burst, std::chrono::steady_clock::time_point now) const {
    if (rate <= 0 || tokens < 0) {
        return true;
    }
    const std::chrono::duration<double> elapsed = now - refilled;
    return tokens + elapsed.count() * rate >= burst;
}

Quotas::Quotas(QuotaOptions options, Clock clock) : options_(options), clock_(std::move(clock)) {}

Quotas::Stripe& Quotas::stripe_of(std::string_view user) {
    return stripes_[std::hash<std::string_view>{}(user) % stripes_.size()];
}

Quotas::User* Quotas::user_locked(Stripe& s, std::string_view user) {
    if (auto it = s.users.find(std::string(user)); it != s.users.end()) {
        return &it->second;
    }
    if (users_.load(std::memory_order_relaxed) >= options_.max_users) {
        ++stats_.table_full;
        return nullptr;
    }
    ++users_;
    return &s.users[std::string(user)];
}

Quotas::Result Quotas::charge_publish(std::string_view user, std::size_t bytes) {
    if (options_.publish_rate <= 0 && options_.publish_bytes_rate <= 0) {
        return Result::kOk;
    }
    const auto now = clock_();
    auto& s = stripe_of(user);
    std::lock_guard lock(s.mu);
    User* u = user_locked(s, user);
    if (u == nullptr) {
        return Result::kFull;
    }
    // Checked on copies first, so that a refusal by one bucket charges neither.
    Bucket publishes = u->publishes;
    Bucket data = u->bytes;
    if (!publishes.take(1, options_.publish_rate, options_.publish_burst, now)) {
        ++stats_.publish_rate;
        return Result::kRate;
    }
    if (!data.take(static_cast<double>(bytes), options_.publish_bytes_rate, options_.publish_bytes_burst, now)) {
        ++stats_.publish_bytes;
        return Result::kBytes;
    }
    u->publishes = publishes;
    u->bytes = data;
    return Result::kOk;
}

Quotas::Result Quotas::charge_auto_create(std::string_view user) {
    if (options_.auto_create_per_minute <= 0) {
        return Result::kOk;
    }
    const auto now = clock_();
    auto& s = stripe_of(user);
    std::lock_guard lock(s.mu);
    User* u = user_locked(s, user);
    if (u == nullptr) {
        return Result::kFull;
    }
    if (!u->creates.take(1, options_.auto_create_per_minute / 60.0, options_.auto_create_burst, now)) {
        ++stats_.auto_create;
        return Result::kRate;
    }
    return Result::kOk;
}

void Quotas::sweep() {
    const auto now = clock_();
    for (auto& s : stripes_) {
        std::lock_guard lock(s.mu);
        const auto before = s.users.size();
        std::erase_if(s.users, [&](const auto& entry) {
            const User& u = entry.second;
            return u.publishes.full(options_.publish_rate, options_.publish_burst, now) &&
                   u.bytes.full(options_.publish_bytes_rate, options_.publish_bytes_burst, now) &&
                   u.creates.full(options_.auto_create_per_minute / 60.0, options_.auto_create_burst, now);
        });
        users_ -= before - s.users.size();
    }
}

std::size_t Quotas::users() const { return users_.load(); }

}  // namespace roomcast::edge
