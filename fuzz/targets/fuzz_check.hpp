#pragma once
// Shared by the fuzz targets. A broken invariant is a crash (a message, then abort), so that
// libFuzzer reports it with the input that caused it and fuzz_regressions_test fails on the
// same input in the normal build.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__,    \
                         __LINE__);                                                         \
            std::abort();                                                                   \
        }                                                                                   \
    } while (0)

// An invariant that a reported, not yet fixed bug breaks (fuzz/regressions/README.md lists
// them, each with an "open-*" reproducer). By default a failure is printed once per run and the
// input is otherwise accepted, so that fuzzing stays useful (and CI green) until the fix lands;
// with ROOMCAST_FUZZ_OPEN_BUGS=abort it is a crash like any other, which is how
// fuzz_regressions_test checks that each reproducer still reproduces. Once the bug is fixed,
// the check becomes a FUZZ_CHECK.
#define FUZZ_CHECK_OPEN(cond, bug)                                                          \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            static std::atomic<bool> fuzz_reported_{false};                                 \
            ::roomcast::fuzz::open_bug_reproduced(#cond, bug, __FILE__, __LINE__,           \
                                                  fuzz_reported_);                          \
        }                                                                                   \
    } while (0)

namespace roomcast::fuzz {

inline void open_bug_reproduced(const char* cond, const char* bug, const char* file, int line,
                                std::atomic<bool>& reported) {
    const char* mode = std::getenv("ROOMCAST_FUZZ_OPEN_BUGS");
    if (mode != nullptr && std::string_view(mode) == "abort") {
        std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d; open bug %s)\n", cond, file, line,
                     bug);
        std::abort();
    }
    if (!reported.exchange(true)) {
        std::fprintf(stderr, "known open bug reproduced: %s (%s at %s:%d; not a new finding)\n",
                     bug, cond, file, line);
    }
}

// Consumes a fuzz input from the front: small structured choices first, the rest as bytes.
// Reading past the end yields zeros, so every input is usable.
class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) noexcept
        : data_(reinterpret_cast<const char*>(data)), size_(size) {}

    std::uint8_t byte() noexcept {
        return pos_ < size_ ? static_cast<std::uint8_t>(data_[pos_++]) : 0;
    }
    std::string_view bytes(std::size_t n) noexcept {
        const std::size_t take = n < size_ - pos_ ? n : size_ - pos_;
        const std::string_view out(data_ + pos_, take);
        pos_ += take;
        return out;
    }
    std::string_view rest() noexcept { return bytes(size_ - pos_); }
    bool empty() const noexcept { return pos_ >= size_; }

private:
    const char* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

// Deterministic chunk sizes (xorshift) for feeding one stream in pieces: 1..max bytes each.
class Chunker {
public:
    Chunker(std::uint8_t seed, std::size_t max) noexcept : state_(0x9E3779B9u ^ seed), max_(max) {}
    std::size_t next() noexcept {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 17;
        state_ ^= state_ << 5;
        return 1 + state_ % max_;
    }

private:
    std::uint32_t state_;
    std::size_t max_;
};

}  // namespace roomcast::fuzz
