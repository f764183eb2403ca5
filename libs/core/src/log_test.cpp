#include "roomcast/core/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace roomcast::core::log {
namespace {

using namespace std::string_view_literals;
using ::testing::HasSubstr;

// Parses one captured line with Boost.JSON (which also rejects invalid UTF-8), after checking
// that it is exactly one line. Returns nullopt, with a test failure, when it is not.
std::optional<boost::json::object> parse_line(std::string_view line) {
    EXPECT_TRUE(line.ends_with('\n')) << line;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(line, ec);
    if (ec) {
        ADD_FAILURE() << "not JSON (" << ec.message() << "): " << line;
        return std::nullopt;
    }
    if (!value.is_object()) {
        ADD_FAILURE() << "not an object: " << line;
        return std::nullopt;
    }
    return std::move(value.as_object());
}

std::vector<std::string> keys_of(const boost::json::object& object) {
    std::vector<std::string> keys;
    for (const auto& entry : object) {
        keys.emplace_back(entry.key());
    }
    return keys;
}

std::string string_at(const boost::json::object& object, std::string_view key) {
    const boost::json::value* value = object.if_contains(key);
    if (value == nullptr || !value->is_string()) {
        ADD_FAILURE() << "no string at " << key;
        return {};
    }
    return std::string(value->as_string());
}

// Captures lines through the testing sink for the duration of a test.
class LogTest : public ::testing::Test {
protected:
    void SetUp() override {
        init("test-svc", Level::kDebug);
        set_sink_for_testing([this](std::string_view line) { lines_.emplace_back(line); });
    }
    void TearDown() override {
        set_sink_for_testing(nullptr);
        init("test-svc", Level::kInfo);
    }

    // The single captured line, parsed.
    boost::json::object only_line() {
        EXPECT_EQ(lines_.size(), 1u);
        if (lines_.empty()) {
            return {};
        }
        return parse_line(lines_.front()).value_or(boost::json::object{});
    }

    std::vector<std::string> lines_;
};

TEST_F(LogTest, LineHasFixedKeysFirstThenFieldsInOrder) {
    info("listening", {{"port", 3000}, {"addr", "0.0.0.0"}, {"tls", false}});
    const boost::json::object line = only_line();
    EXPECT_EQ(keys_of(line),
              (std::vector<std::string>{"ts", "level", "svc", "msg", "port", "addr", "tls"}));
    EXPECT_EQ(string_at(line, "level"), "info");
    EXPECT_EQ(string_at(line, "svc"), "test-svc");
    EXPECT_EQ(string_at(line, "msg"), "listening");
    EXPECT_EQ(line.at("port").as_int64(), 3000);
    EXPECT_EQ(string_at(line, "addr"), "0.0.0.0");
    EXPECT_EQ(line.at("tls").as_bool(), false);
    EXPECT_THAT(lines_.front(), ::testing::StartsWith("{\"ts\":\""));
}

TEST_F(LogTest, TimestampIsUtcWithMillisecondsAndCurrent) {
    const auto before =
        std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
    info("tick");
    const auto after = std::chrono::system_clock::now();
    const std::string ts = string_at(only_line(), "ts");
    std::smatch m;
    const std::regex shape(R"((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z)");
    ASSERT_TRUE(std::regex_match(ts, m, shape)) << ts;
    using namespace std::chrono;
    const auto part = [&m](int i) { return std::stoi(m[i].str()); };
    const sys_days day = year{part(1)} / part(2) / part(3);
    const auto parsed =
        day + hours{part(4)} + minutes{part(5)} + seconds{part(6)} + milliseconds{part(7)};
    EXPECT_GE(parsed, before);
    EXPECT_LE(parsed, after);
}

TEST_F(LogTest, EveryLevelHasItsName) {
    debug("d");
    info("i");
    warn("w");
    error("e");
    ASSERT_EQ(lines_.size(), 4u);
    const std::vector<std::string> names = {"debug", "info", "warn", "error"};
    for (std::size_t i = 0; i < names.size(); ++i) {
        const auto line = parse_line(lines_[i]);
        ASSERT_TRUE(line);
        EXPECT_EQ(string_at(*line, "level"), names[i]);
    }
}

TEST_F(LogTest, LinesBelowTheMinimumLevelAreDropped) {
    init("test-svc", Level::kWarn);
    EXPECT_FALSE(enabled(Level::kDebug));
    EXPECT_FALSE(enabled(Level::kInfo));
    EXPECT_TRUE(enabled(Level::kWarn));
    EXPECT_TRUE(enabled(Level::kError));
    debug("no");
    info("no");
    write(Level::kInfo, "direct write is filtered too");
    warn("yes");
    error("yes");
    ASSERT_EQ(lines_.size(), 2u);
    for (const std::string& raw : lines_) {
        const auto line = parse_line(raw);
        ASSERT_TRUE(line);
        EXPECT_EQ(string_at(*line, "msg"), "yes");
    }
    init("test-svc", Level::kError);
    warn("no");
    EXPECT_EQ(lines_.size(), 2u);
}

TEST(LogLevelTest, ParseLevelAcceptsTheFourNamesOnly) {
    Level level = Level::kError;
    EXPECT_TRUE(parse_level("debug", level));
    EXPECT_EQ(level, Level::kDebug);
    EXPECT_TRUE(parse_level("info", level));
    EXPECT_EQ(level, Level::kInfo);
    EXPECT_TRUE(parse_level("warn", level));
    EXPECT_EQ(level, Level::kWarn);
    EXPECT_TRUE(parse_level("error", level));
    EXPECT_EQ(level, Level::kError);
    for (std::string_view bad : {"", "INFO", "warning", "trace", "err", "info "}) {
        SCOPED_TRACE(bad);
        level = Level::kWarn;
        EXPECT_FALSE(parse_level(bad, level));
        EXPECT_EQ(level, Level::kWarn);
    }
}

TEST_F(LogTest, ControlCharactersQuotesAndBackslashesAreEscaped) {
    const std::string_view msg = "q\" b\\ n\n t\t r\r bs\b ff\f bel\x07 nul\0 esc\x1b end"sv;
    info(msg, {{"k", msg}});
    const boost::json::object line = only_line();
    EXPECT_EQ(string_at(line, "msg"), msg);
    EXPECT_EQ(string_at(line, "k"), msg);
    const std::string& raw = lines_.front();
    EXPECT_THAT(raw,
                HasSubstr(R"(q\" b\\ n\n t\t r\r bs\b ff\f bel\u0007 nul\u0000 esc\u001b end)"));
    for (std::size_t i = 0; i + 1 < raw.size(); ++i) {
        EXPECT_GE(static_cast<unsigned char>(raw[i]), 0x20) << "raw control byte at " << i;
    }
}

TEST_F(LogTest, KeysAreEscapedToo) {
    info("m", {{"we\"ird\nkey", 1}});
    const boost::json::object line = only_line();
    EXPECT_TRUE(line.contains("we\"ird\nkey"));
}

TEST_F(LogTest, ValidUtf8PassesThroughUnchanged) {
    const std::string_view text = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf";
    info(text);
    EXPECT_EQ(string_at(only_line(), "msg"), text);
    EXPECT_THAT(lines_.front(), HasSubstr(std::string(text)));
}

TEST_F(LogTest, InvalidUtf8BecomesReplacementCharacters) {
    const std::string kFffd = "\xef\xbf\xbd";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {std::string("a\xff") + "b", "a" + kFffd + "b"},
        {"\x80", kFffd},
        // A truncated sequence is replaced once (its maximal valid prefix), not per byte.
        {std::string("\xe2\x82") + "a", kFffd + "a"},
        {"abc\xf0\x9f\x98", "abc" + kFffd},
        // Overlong encodings, surrogates and code points past U+10FFFF are not valid UTF-8.
        {"\xc0\xaf", kFffd + kFffd},
        {"\xe0\x80\xaf", kFffd + kFffd + kFffd},
        {"\xed\xa0\x80", kFffd + kFffd + kFffd},
        {"\xf4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},
        {"\xf8\x88\x80\x80\x80", kFffd + kFffd + kFffd + kFffd + kFffd},
    };
    for (const auto& [input, expected] : cases) {
        info(input, {{"field", input}});
    }
    ASSERT_EQ(lines_.size(), cases.size());
    for (std::size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE(i);
        const auto line = parse_line(lines_[i]);
        ASSERT_TRUE(line);
        EXPECT_EQ(string_at(*line, "msg"), cases[i].second);
        EXPECT_EQ(string_at(*line, "field"), cases[i].second);
        EXPECT_THAT(lines_[i], HasSubstr("\\ufffd"));
    }
}

TEST_F(LogTest, NumbersAndBooleansKeepTheirTypes) {
    constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
    constexpr double kInf = std::numeric_limits<double>::infinity();
    const std::string owned = "owned";
    info("types", {{"i64", std::int64_t{-42}},
                   {"i64min", std::numeric_limits<std::int64_t>::min()},
                   {"u64max", std::numeric_limits<std::uint64_t>::max()},
                   {"short", static_cast<short>(-3)},
                   {"u8", static_cast<std::uint8_t>(200)},
                   {"size", std::size_t{7}},
                   {"tenth", 0.1},
                   {"huge", 1e300},
                   {"tiny", -5e-324},
                   {"whole", 2.0},
                   {"nan", kNan},
                   {"inf", kInf},
                   {"ninf", -kInf},
                   {"yes", true},
                   {"no", false},
                   {"cstr", "c"},
                   {"sv", std::string_view(owned)}});
    const boost::json::object line = only_line();
    EXPECT_EQ(line.at("i64").as_int64(), -42);
    EXPECT_EQ(line.at("i64min").as_int64(), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(line.at("u64max").as_uint64(), std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(line.at("short").as_int64(), -3);
    EXPECT_EQ(line.at("u8").to_number<int>(), 200);
    EXPECT_EQ(line.at("size").to_number<int>(), 7);
    EXPECT_EQ(line.at("tenth").as_double(), 0.1);
    EXPECT_EQ(line.at("huge").as_double(), 1e300);
    EXPECT_EQ(line.at("tiny").as_double(), -5e-324);
    EXPECT_EQ(line.at("whole").to_number<double>(), 2.0);
    EXPECT_TRUE(line.at("nan").is_null());
    EXPECT_TRUE(line.at("inf").is_null());
    EXPECT_TRUE(line.at("ninf").is_null());
    EXPECT_EQ(line.at("yes").as_bool(), true);
    EXPECT_EQ(line.at("no").as_bool(), false);
    EXPECT_EQ(string_at(line, "cstr"), "c");
    EXPECT_EQ(string_at(line, "sv"), "owned");
    // Shortest round-trip form, not %.17g noise.
    EXPECT_THAT(lines_.front(), HasSubstr("\"tenth\":0.1,"));
}

TEST_F(LogTest, LongMessageStaysOneLine) {
    const std::string big(1 << 20, 'x');
    info(big);
    info("after");
    ASSERT_EQ(lines_.size(), 2u);
    const auto first = parse_line(lines_[0]);
    ASSERT_TRUE(first);
    EXPECT_EQ(string_at(*first, "msg"), big);
    const auto second = parse_line(lines_[1]);
    ASSERT_TRUE(second);
    EXPECT_EQ(string_at(*second, "msg"), "after");
}

TEST_F(LogTest, ServiceNameComesFromInit) {
    init("svc \"quoted\"", Level::kInfo);
    info("m");
    EXPECT_EQ(string_at(only_line(), "svc"), "svc \"quoted\"");
}

// Points fd 2 at a temporary file while alive, so tests can read what write() really wrote.
class StderrToFile {
public:
    StderrToFile() {
        std::string path = ::testing::TempDir() + "roomcast_log_test_XXXXXX";
        file_ = ::mkstemp(path.data());
        EXPECT_GE(file_, 0);
        ::unlink(path.c_str());
        // O_APPEND makes each write(2) land whole at the end even with concurrent writers.
        ::fcntl(file_, F_SETFL, O_APPEND);
        saved_ = ::dup(STDERR_FILENO);
        ::dup2(file_, STDERR_FILENO);
    }
    StderrToFile(const StderrToFile&) = delete;
    StderrToFile& operator=(const StderrToFile&) = delete;
    ~StderrToFile() { restore(); }

    // Restores fd 2 and returns everything written to it.
    std::string finish() {
        restore();
        std::string out;
        char buffer[1 << 16];
        ::lseek(file_, 0, SEEK_SET);
        for (ssize_t n; (n = ::read(file_, buffer, sizeof(buffer))) > 0;) {
            out.append(buffer, static_cast<std::size_t>(n));
        }
        ::close(file_);
        file_ = -1;
        return out;
    }

private:
    void restore() {
        if (saved_ >= 0) {
            ::dup2(saved_, STDERR_FILENO);
            ::close(saved_);
            saved_ = -1;
        }
    }

    int file_ = -1;
    int saved_ = -1;
};

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        const std::size_t length = end == std::string_view::npos ? text.size() : end + 1;
        lines.push_back(text.substr(0, length));
        text.remove_prefix(length);
    }
    return lines;
}

TEST(LogStderrTest, NullSinkRestoresFd2AndErrnoIsPreserved) {
    init("fd-test", Level::kInfo);
    set_sink_for_testing([](std::string_view) {});
    set_sink_for_testing(nullptr);
    StderrToFile capture;
    errno = EDOM;
    info("to stderr", {{"n", 1}});
    EXPECT_EQ(errno, EDOM);
    const std::string out = capture.finish();
    const auto lines = split_lines(out);
    ASSERT_EQ(lines.size(), 1u);
    const auto line = parse_line(lines[0]);
    ASSERT_TRUE(line);
    EXPECT_EQ(string_at(*line, "svc"), "fd-test");
    EXPECT_EQ(string_at(*line, "msg"), "to stderr");
}

TEST(LogStderrTest, ClosedStderrDropsTheLineQuietly) {
    init("fd-test", Level::kInfo);
    const int saved = ::dup(STDERR_FILENO);
    ::close(STDERR_FILENO);
    errno = EDOM;
    info("nowhere to go");
    EXPECT_EQ(errno, EDOM);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
}

// Four threads log lines of up to ~9 KB (larger than PIPE_BUF) straight to fd 2; every line
// must come out whole, parse, and keep its thread's order.
TEST(LogStderrTest, ConcurrentThreadsProduceOnlyWholeLines) {
    constexpr int kThreads = 4;
    constexpr int kLinesPerThread = 1000;
    const auto length_of = [](int seq) { return static_cast<std::size_t>(1 + seq * 37 % 9000); };
    init("fd-test", Level::kInfo);
    StderrToFile capture;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([t, &length_of] {
            for (int seq = 0; seq < kLinesPerThread; ++seq) {
                const std::string msg(length_of(seq), static_cast<char>('a' + t));
                info(msg, {{"thread", t}, {"seq", seq}, {"tail", "end\n\"quoted\""}});
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    const std::string out = capture.finish();
    const auto lines = split_lines(out);
    ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kLinesPerThread));
    std::vector<int> next_seq(kThreads, 0);
    for (const std::string_view raw : lines) {
        const auto line = parse_line(raw);
        ASSERT_TRUE(line);
        const auto t = line->at("thread").to_number<int>();
        ASSERT_GE(t, 0);
        ASSERT_LT(t, kThreads);
        const int seq = line->at("seq").to_number<int>();
        EXPECT_EQ(seq, next_seq[static_cast<std::size_t>(t)]);
        next_seq[static_cast<std::size_t>(t)] = seq + 1;
        EXPECT_EQ(string_at(*line, "msg"), std::string(length_of(seq), static_cast<char>('a' + t)));
        EXPECT_EQ(string_at(*line, "tail"), "end\n\"quoted\"");
    }
    EXPECT_EQ(next_seq, std::vector<int>(kThreads, kLinesPerThread));
}

}  // namespace
}  // namespace roomcast::core::log
