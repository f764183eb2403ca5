#pragma once
// Wall-clock time as the contract writes it (session records, presence entries, revocations):
// Unix milliseconds. Steady clocks are used for every duration; this is for timestamps that
// other processes compare.

#include <chrono>
#include <cstdint>

namespace roomcast::core {

inline std::int64_t unix_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace roomcast::core
