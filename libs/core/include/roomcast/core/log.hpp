#pragma once
// Structured logs: one JSON object per line on stderr with fixed keys
// {"ts":"2026-11-27T20:42:41.123Z","level":"info","svc":"edge","msg":"...", <fields>}.
// Thread-safe: each line is formatted in a thread-local buffer and written with one write(2).
// Never pass secrets as fields.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string_view>
#include <type_traits>
#include <variant>

namespace roomcast::core::log {

enum class Level : std::uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Field {
    using Value = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;
    std::string_view key;
    Value value;

    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, bool v) : key(k), value(v) {}
    Field(std::string_view k, double v) : key(k), value(v) {}
    template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) Field(std::string_view k, I v)
        : key(k),
          value(std::is_signed_v<I> ? Value(static_cast<std::int64_t>(v))
                                    : Value(static_cast<std::uint64_t>(v))) {}
};

// Sets the service name and the minimum level. Call once at start-up, before threads start.
void init(std::string_view service, Level min_level);
// Parses "debug" | "info" | "warn" | "error".
bool parse_level(std::string_view text, Level& out) noexcept;
// A relaxed atomic load: cheap enough to guard every call site.
bool enabled(Level level) noexcept;
// Formats one line and writes it with a single write(2) to fd 2 (retrying partial writes and
// EINTR; a line that still cannot be written is dropped). Lines below the minimum level are
// dropped. Strings are JSON-escaped and invalid UTF-8 becomes U+FFFD, so every line parses.
void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

// Tests only: sends each complete line (including its trailing '\n') to `sink` instead of
// fd 2; nullptr restores fd 2. Calls to the sink are serialized, so it needs no lock of its
// own, but it must not log. Safe to call while other threads log.
void set_sink_for_testing(std::function<void(std::string_view line)> sink);

inline void debug(std::string_view msg, std::initializer_list<Field> f = {}) {
    if (enabled(Level::kDebug)) {
        write(Level::kDebug, msg, f);
    }
}
inline void info(std::string_view msg, std::initializer_list<Field> f = {}) {
    if (enabled(Level::kInfo)) {
        write(Level::kInfo, msg, f);
    }
}
inline void warn(std::string_view msg, std::initializer_list<Field> f = {}) {
    if (enabled(Level::kWarn)) {
        write(Level::kWarn, msg, f);
    }
}
inline void error(std::string_view msg, std::initializer_list<Field> f = {}) {
    if (enabled(Level::kError)) {
        write(Level::kError, msg, f);
    }
}

}  // namespace roomcast::core::log
