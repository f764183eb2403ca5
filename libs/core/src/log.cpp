// JSON-lines logger; the line format and thread-safety contract are in log.hpp.
#include "roomcast/core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>

namespace roomcast::core::log {
namespace {

std::atomic<std::uint8_t> g_min_level{static_cast<std::uint8_t>(Level::kInfo)};
// Written only by init(), which runs before other threads start, so readers need no lock.
std::string g_service;

// The testing sink. Production never sets it, so the hot path pays one relaxed load; the mutex
// is taken only while a sink is installed and lets set_sink_for_testing() race with logging.
std::atomic<bool> g_sink_installed{false};
std::mutex g_sink_mutex;
std::function<void(std::string_view)> g_sink;  // guarded by g_sink_mutex

// A thread's buffer grows to its longest line; past this it is released after the line so one
// huge message does not pin memory in every thread that ever logged it.
constexpr std::size_t kMaxRetainedBuffer = 64 * 1024;

std::string_view level_name(Level level) {
    switch (level) {
        case Level::kDebug:
            return "debug";
        case Level::kInfo:
            return "info";
        case Level::kWarn:
            return "warn";
        case Level::kError:
            return "error";
    }
    return "error";
}

void append_digits(char* out, unsigned value, int width) {
    for (int i = width - 1; i >= 0; --i) {
        out[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
}

// "2026-11-27T20:42:41.123Z". Built by hand: strftime and iostreams depend on the locale and
// gmtime_r has no milliseconds.
void append_timestamp(std::string& out, std::chrono::system_clock::time_point now) {
    using namespace std::chrono;
    const auto ms = floor<milliseconds>(now);
    const auto day = floor<days>(ms);
    const year_month_day date{day};
    const auto ms_of_day = static_cast<unsigned>((ms - day).count());
    char text[] = "0000-00-00T00:00:00.000Z";
    append_digits(text, static_cast<unsigned>(static_cast<int>(date.year())), 4);
    append_digits(text + 5, static_cast<unsigned>(date.month()), 2);
    append_digits(text + 8, static_cast<unsigned>(date.day()), 2);
    append_digits(text + 11, ms_of_day / 3'600'000, 2);
    append_digits(text + 14, ms_of_day / 60'000 % 60, 2);
    append_digits(text + 17, ms_of_day / 1000 % 60, 2);
    append_digits(text + 20, ms_of_day % 1000, 3);
    out.append(text, sizeof(text) - 1);
}

// Length of the UTF-8 sequence at s[i] (a byte >= 0x80) and whether it is well formed. When it
// is not, `length` is its maximal valid prefix (at least 1), which is replaced by one U+FFFD
// as Unicode recommends, so a truncated character costs one replacement, not several.
struct Utf8Scan {
    std::size_t length;
    bool valid;
};

Utf8Scan scan_utf8(std::string_view s, std::size_t i) {
    const auto lead = static_cast<unsigned char>(s[i]);
    std::size_t trailing = 0;
    // The first continuation byte's range excludes overlong forms, surrogates and > U+10FFFF.
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        trailing = 1;
    } else if (lead == 0xE0) {
        trailing = 2;
        low = 0xA0;
    } else if (lead == 0xED) {
        trailing = 2;
        high = 0x9F;
    } else if (lead >= 0xE1 && lead <= 0xEF) {
        trailing = 2;
    } else if (lead == 0xF0) {
        trailing = 3;
        low = 0x90;
    } else if (lead == 0xF4) {
        trailing = 3;
        high = 0x8F;
    } else if (lead >= 0xF1 && lead <= 0xF3) {
        trailing = 3;
    } else {
        return {1, false};
    }
    for (std::size_t k = 1; k <= trailing; ++k) {
        if (i + k >= s.size()) {
            return {k, false};
        }
        const auto byte = static_cast<unsigned char>(s[i + k]);
        if (byte < low || byte > high) {
            return {k, false};
        }
        low = 0x80;
        high = 0xBF;
    }
    return {trailing + 1, true};
}

// Appends `s` as a JSON string body. Runs of bytes that need no escaping (including valid
// multi-byte UTF-8) are copied in one append.
void append_escaped(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::size_t run = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            ++i;
            continue;
        }
        if (c >= 0x80) {
            const Utf8Scan scan = scan_utf8(s, i);
            if (scan.valid) {
                i += scan.length;
                continue;
            }
            out.append(s.data() + run, i - run);
            out += "\\ufffd";
            i += scan.length;
            run = i;
            continue;
        }
        out.append(s.data() + run, i - run);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default: {
                const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
                out.append(escape, sizeof(escape));
                break;
            }
        }
        ++i;
        run = i;
    }
    out.append(s.data() + run, s.size() - run);
}

void append_string(std::string& out, std::string_view s) {
    out += '"';
    append_escaped(out, s);
    out += '"';
}

template <class Number>
void append_number(std::string& out, Number value) {
    char text[32];
    const auto result = std::to_chars(text, text + sizeof(text), value);
    out.append(text, result.ptr);
}

void append_value(std::string& out, const Field::Value& value) {
    if (const auto* s = std::get_if<std::string_view>(&value)) {
        append_string(out, *s);
    } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
        append_number(out, *i);
    } else if (const auto* u = std::get_if<std::uint64_t>(&value)) {
        append_number(out, *u);
    } else if (const auto* d = std::get_if<double>(&value)) {
        // JSON has no NaN or infinity; null keeps the line parseable and the key visible.
        if (std::isfinite(*d)) {
            append_number(out, *d);
        } else {
            out += "null";
        }
    } else if (const auto* b = std::get_if<bool>(&value)) {
        out += *b ? "true" : "false";
    }
}

void format_line(std::string& out, std::chrono::system_clock::time_point now, Level level,
                 std::string_view msg, std::initializer_list<Field> fields) {
    out += "{\"ts\":\"";
    append_timestamp(out, now);
    out += "\",\"level\":\"";
    out += level_name(level);
    out += "\",\"svc\":";
    append_string(out, g_service);
    out += ",\"msg\":";
    append_string(out, msg);
    for (const Field& field : fields) {
        out += ',';
        append_string(out, field.key);
        out += ':';
        append_value(out, field.value);
    }
    out += "}\n";
}

// One write(2) per line keeps lines from different threads whole. A line that cannot be
// written (EAGAIN on a non-blocking stderr, EPIPE, ...) is dropped: logging must never block
// forever or take the process down. errno is preserved so logging a failure does not change
// what the caller sees.
void write_all(int fd, std::string_view data) {
    const int saved_errno = errno;
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    errno = saved_errno;
}

void emit(std::string_view line) {
    if (g_sink_installed.load(std::memory_order_relaxed)) {
        const std::lock_guard lock(g_sink_mutex);
        if (g_sink) {
            g_sink(line);
            return;
        }
    }
    write_all(STDERR_FILENO, line);
}

}  // namespace

void init(std::string_view service, Level min_level) {
    g_service.assign(service);
    g_min_level.store(static_cast<std::uint8_t>(min_level), std::memory_order_relaxed);
}

bool parse_level(std::string_view text, Level& out) noexcept {
    for (const Level level : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
        if (text == level_name(level)) {
            out = level;
            return true;
        }
    }
    return false;
}

bool enabled(Level level) noexcept {
    return static_cast<std::uint8_t>(level) >= g_min_level.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
    // Callers of write() need not check enabled() themselves.
    if (!enabled(level)) {
        return;
    }
    thread_local std::string line;
    line.clear();
    format_line(line, std::chrono::system_clock::now(), level, msg, fields);
    emit(line);
    if (line.capacity() > kMaxRetainedBuffer) {
        std::string().swap(line);
    }
}

void set_sink_for_testing(std::function<void(std::string_view line)> sink) {
    const std::lock_guard lock(g_sink_mutex);
    g_sink = std::move(sink);
    g_sink_installed.store(static_cast<bool>(g_sink), std::memory_order_relaxed);
}

}  // namespace roomcast::core::log
