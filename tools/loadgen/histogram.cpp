#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace roomcast::loadgen {

Histogram::Histogram() : counts_(std::make_unique<std::array<std::uint64_t, kBuckets>>()) {
    counts_->fill(0);
}

Histogram::Histogram(const Histogram& other)
    : counts_(std::make_unique<std::array<std::uint64_t, kBuckets>>(*other.counts_)),
      count_(other.count_),
      max_(other.max_),
      min_(other.min_) {}

Histogram& Histogram::operator=(const Histogram& other) {
    if (this != &other) {
        *counts_ = *other.counts_;
        count_ = other.count_;
        max_ = other.max_;
        min_ = other.min_;
    }
    return *this;
}

std::size_t Histogram::bucket_of(std::uint64_t value) noexcept {
    if (value < kLinearLimit) {
        return static_cast<std::size_t>(value);
    }
    // magnitude m = floor(log2 value) >= kSubBucketBits + 1; the top kSubBucketBits + 1 bits
    // select one of 1024 sub-buckets of width 2^(m - kSubBucketBits).
    unsigned m = static_cast<unsigned>(std::bit_width(value)) - 1;
    if (m > kMaxMagnitude) {
        return kBuckets - 1;
    }
    const unsigned shift = m - kSubBucketBits;
    const std::uint64_t sub = (value >> shift) - (1ULL << kSubBucketBits);
    return static_cast<std::size_t>(kLinearLimit +
                                    (m - kSubBucketBits - 1) * (1ULL << kSubBucketBits) + sub);
}

std::uint64_t Histogram::bucket_high(std::size_t bucket) noexcept {
    if (bucket < kLinearLimit) {
        return bucket;
    }
    const std::uint64_t rel = bucket - kLinearLimit;
    const unsigned m = static_cast<unsigned>(rel >> kSubBucketBits) + kSubBucketBits + 1;
    const std::uint64_t sub = rel & ((1ULL << kSubBucketBits) - 1);
    const unsigned shift = m - kSubBucketBits;
    const std::uint64_t low = ((1ULL << kSubBucketBits) + sub) << shift;
    return low + (1ULL << shift) - 1;
}

void Histogram::record(std::uint64_t value) noexcept {
    ++(*counts_)[bucket_of(value)];
    ++count_;
    max_ = std::max(max_, value);
    min_ = std::min(min_, value);
}

void Histogram::merge(const Histogram& other) noexcept {
    if (other.count_ == 0) {
        return;
    }
    for (std::size_t i = 0; i < kBuckets; ++i) {
        (*counts_)[i] += (*other.counts_)[i];
    }
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
}

void Histogram::reset() noexcept {
    counts_->fill(0);
    count_ = 0;
    max_ = 0;
    min_ = ~0ULL;
}

std::uint64_t Histogram::percentile(double p) const noexcept {
    if (count_ == 0) {
        return 0;
    }
    p = std::clamp(p, 0.0, 100.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += (*counts_)[i];
        if (seen >= rank) {
            return std::min(bucket_high(i), max_);
        }
    }
    return max_;
}

}  // namespace roomcast::loadgen
