#pragma once
// Per-user quotas on this edge (issue 12 "budgets"): what one user may do across all their
// sockets here, whatever the number of sockets — publishes per second, published bytes per
// second, and rooms auto-created per minute. Each is a token bucket per user, refilled from
// the steady clock; a request over it is refused with `rate_limited` (the handlers) and counted.
//
// Entries exist only for users who used a quota recently: sweep() drops those whose buckets
// are full again (nothing to remember), and the table is capped (past the cap a new user is
// refused until a sweep makes room — fail closed, counted).
//
// Thread-safety: thread-safe (the table is split in stripes, each with its own mutex; a charge
// touches one stripe). Pure apart from the clock, which tests replace.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace roomcast::edge {

struct QuotaOptions {
    // Publishes per second across a user's sockets on this edge, and the burst (0: no limit).
    double publish_rate = 50;
    double publish_burst = 100;
    // Published bytes (data + attachments) per second, and the burst; the burst must hold the
    // largest publish (--max-publish-bytes). 0: no limit.
    double publish_bytes_rate = 1024 * 1024;
    double publish_bytes_burst = 4 * 1024 * 1024;
    // Rooms one user may auto-create per minute, and the burst (0: no limit).
    double auto_create_per_minute = 10;
    double auto_create_burst = 20;
    // Users tracked at once (each entry ~150 bytes).
    std::size_t max_users = 1000000;
};

class Quotas {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    enum class Result : std::uint8_t { kOk, kRate, kBytes, kFull };

    explicit Quotas(QuotaOptions options, Clock clock = [] { return std::chrono::steady_clock::now(); });

    // One publish of `bytes` by `user`: kRate / kBytes when over a quota (nothing is charged).
    Result charge_publish(std::string_view user, std::size_t bytes);
    // One room auto-created by `user`.
    Result charge_auto_create(std::string_view user);

    // Drops the users whose buckets are full again. Call periodically.
    void sweep();

    std::size_t users() const;

    struct Stats {
        std::atomic<std::uint64_t> publish_rate{0};
        std::atomic<std::uint64_t> publish_bytes{0};
        std::atomic<std::uint64_t> auto_create{0};
        std::atomic<std::uint64_t> table_full{0};
    };
    const Stats& stats() const noexcept { return stats_; }

private:
    struct Bucket {
        double tokens = -1;  // < 0: full (not yet used)
        std::chrono::steady_clock::time_point refilled{};
        // Refills, then takes `n` when there are enough; false otherwise.
        bool take(double n, double rate, double burst, std::chrono::steady_clock::time_point now);
        bool full(double rate, double burst, std::chrono::steady_clock::time_point now) const;
    };
    struct User {
        Bucket publishes;
        Bucket bytes;
        Bucket creates;
    };
    struct Stripe {
        std::mutex mu;
        std::unordered_map<std::string, User> users;
    };
    Stripe& stripe_of(std::string_view user);
    // The user's entry (created when there is room); nullptr when the table is full.
    User* user_locked(Stripe& s, std::string_view user);

    QuotaOptions options_;
    Clock clock_;
    std::array<Stripe, 16> stripes_;
    std::atomic<std::size_t> users_{0};
    Stats stats_;
};

}  // namespace roomcast::edge
