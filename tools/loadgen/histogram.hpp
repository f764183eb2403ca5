#pragma once
// An HDR-style histogram of non-negative integers (microseconds here): exact below 2048, then
// log-linear with 1024 sub-buckets per power of two, so every recorded value is reported with
// a relative error below 1/1024 (0.1 %). The maximum is kept exactly. Fixed size (256 KiB), no
// allocation when recording; histograms of several threads merge by adding counts.
//
// Thread-safety: none; one per thread, merged after the threads are done (or copied under the
// owner's lock for progress reports).

#include <array>
#include <cstdint>
#include <memory>

namespace roomcast::loadgen {

class Histogram {
public:
    static constexpr unsigned kSubBucketBits = 10;                         // 1024 per power of two
    static constexpr std::uint64_t kLinearLimit = 2ULL << kSubBucketBits;  // exact below 2048
    static constexpr unsigned kMaxMagnitude = 41;  // up to 2^42 µs (~50 days)
    static constexpr std::size_t kBuckets =
        kLinearLimit + (kMaxMagnitude - kSubBucketBits) * (1ULL << kSubBucketBits);

    Histogram();
    Histogram(const Histogram& other);
    Histogram& operator=(const Histogram& other);

    void record(std::uint64_t value) noexcept;
    void merge(const Histogram& other) noexcept;
    void reset() noexcept;

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t max() const noexcept { return max_; }
    std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
    // The value at percentile `p` (0..100) by nearest rank: the smallest recorded value v such
    // that at least ceil(p/100 · count) values are ≤ v, reported as the highest value of v's
    // bucket (never above the exact maximum). 0 when empty.
    std::uint64_t percentile(double p) const noexcept;

    static std::size_t bucket_of(std::uint64_t value) noexcept;
    // Highest value that falls into `bucket`.
    static std::uint64_t bucket_high(std::size_t bucket) noexcept;

private:
    std::unique_ptr<std::array<std::uint64_t, kBuckets>> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t min_ = ~0ULL;
};

}  // namespace roomcast::loadgen
