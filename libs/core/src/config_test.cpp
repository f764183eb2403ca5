#include "roomcast/core/config.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace roomcast::core {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// A null-terminated argv/envp array, as main() receives it. Tests always pass an explicit envp
// so the machine's real environment cannot leak into the results.
class Strings {
public:
    Strings(std::initializer_list<const char*> items) : items_(items) { items_.push_back(nullptr); }
    int size() const { return static_cast<int>(items_.size()) - 1; }
    const char* const* data() const { return items_.data(); }

private:
    std::vector<const char*> items_;
};

const Strings kNoEnv{};

// Owns the targets of one option of every kind, registered on a Config named "edge".
struct Fixture {
    std::string listen = "0.0.0.0:3000";
    std::vector<std::string> peers = {"a", "b"};
    std::int64_t port = 3000;
    bool verbose = false;
    milliseconds ping = 25s;
    milliseconds timeout = 300ms;
    std::uint64_t max_payload = 1000000;
    Config config{"edge", "Socket.IO edge server."};

    Fixture() {
        config.add_string("listen", &listen, "Address to accept connections on.")
            .add_list("peers", &peers, "Other edges.")
            .add_int("port", &port, "TCP port.", 1, 65535)
            .add_bool("verbose", &verbose, "Log more.")
            .add_duration("ping-interval", &ping, "Time between pings.", 1s, 1h)
            .add_duration("connect-timeout", &timeout, "Handshake deadline.", 0ms, 1min)
            .add_bytes("max-payload", &max_payload, "Largest message accepted.", 1, 1ull << 40);
    }

    Config::Parsed parse(const Strings& argv, const Strings& envp = kNoEnv) {
        return config.parse(argv.size(), argv.data(), envp.data());
    }

    // The error text of a parse that must fail.
    std::string error(const Strings& argv, const Strings& envp = kNoEnv) {
        const Config::Parsed parsed = parse(argv, envp);
        EXPECT_EQ(parsed.outcome, Config::Outcome::kRun);
        EXPECT_TRUE(parsed.error.has_value());
        return parsed.error.value_or("");
    }

    void expect_ok(const Strings& argv, const Strings& envp = kNoEnv) {
        const Config::Parsed parsed = parse(argv, envp);
        EXPECT_EQ(parsed.outcome, Config::Outcome::kRun);
        EXPECT_EQ(parsed.error, std::nullopt);
    }
};

// Parses one flag value for a single-option config; returns the error or "".
template <class AddOption>
std::string parse_one(AddOption add, std::string value) {
    Config config("prog", "");
    add(config);
    const std::string arg = "--opt=" + value;
    const Strings argv{"prog", arg.c_str()};
    return config.parse(argv.size(), argv.data(), kNoEnv.data()).error.value_or("");
}

TEST(ConfigTest, EnvNameUpperCasesAndReplacesDashes) {
    EXPECT_EQ(Config::env_name("ping-interval"), "ROOMCAST_PING_INTERVAL");
    EXPECT_EQ(Config::env_name("port"), "ROOMCAST_PORT");
    EXPECT_EQ(Config::env_name("nats-url2"), "ROOMCAST_NATS_URL2");
}

TEST(ConfigTest, DefaultsStayWithoutFlagsOrEnv) {
    Fixture f;
    f.expect_ok({"edge"});
    EXPECT_EQ(f.listen, "0.0.0.0:3000");
    EXPECT_EQ(f.peers, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(f.port, 3000);
    EXPECT_FALSE(f.verbose);
    EXPECT_EQ(f.ping, 25s);
    EXPECT_EQ(f.timeout, 300ms);
    EXPECT_EQ(f.max_payload, 1000000u);
}

TEST(ConfigTest, ArgcZeroIsAccepted) {
    Fixture f;
    EXPECT_EQ(f.config.parse(0, nullptr, kNoEnv.data()).error, std::nullopt);
    EXPECT_EQ(f.port, 3000);
}

TEST(ConfigTest, EnvOverridesDefault) {
    Fixture f;
    f.expect_ok({"edge"},
                {"ROOMCAST_PORT=4000", "ROOMCAST_PING_INTERVAL=5s", "ROOMCAST_VERBOSE=yes",
                 "ROOMCAST_PEERS=x,y", "ROOMCAST_MAX_PAYLOAD=64k", "ROOMCAST_LISTEN=[::]:80"});
    EXPECT_EQ(f.port, 4000);
    EXPECT_EQ(f.ping, 5s);
    EXPECT_TRUE(f.verbose);
    EXPECT_EQ(f.peers, (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(f.max_payload, 64u * 1024);
    EXPECT_EQ(f.listen, "[::]:80");
}

TEST(ConfigTest, FlagOverridesEnvInBothForms) {
    Fixture f;
    f.expect_ok({"edge", "--port", "5000", "--ping-interval=2m"},
                {"ROOMCAST_PORT=4000", "ROOMCAST_PING_INTERVAL=5s"});
    EXPECT_EQ(f.port, 5000);
    EXPECT_EQ(f.ping, 2min);
}

TEST(ConfigTest, FlagOverridesEnvForBool) {
    Fixture f;
    f.expect_ok({"edge", "--verbose=false"}, {"ROOMCAST_VERBOSE=true"});
    EXPECT_FALSE(f.verbose);
}

TEST(ConfigTest, FlagReplacesInvalidEnvWithoutValidatingIt) {
    Fixture f;
    f.expect_ok({"edge", "--port=80"}, {"ROOMCAST_PORT=not-a-number"});
    EXPECT_EQ(f.port, 80);
}

TEST(ConfigTest, EmptyEnvCountsAsUnset) {
    Fixture f;
    f.expect_ok({"edge"}, {"ROOMCAST_PORT=", "ROOMCAST_LISTEN=", "ROOMCAST_PEERS="});
    EXPECT_EQ(f.port, 3000);
    EXPECT_EQ(f.listen, "0.0.0.0:3000");
    EXPECT_EQ(f.peers, (std::vector<std::string>{"a", "b"}));
}

TEST(ConfigTest, OnlyTheExactVariableNameMatches) {
    Fixture f;
    f.expect_ok({"edge"}, {"PORT=1", "ROOMCAST_PORTS=2", "ROOMCAST_port=3", "XROOMCAST_PORT=4",
                           "ROOMCAST_UNKNOWN=whatever"});
    EXPECT_EQ(f.port, 3000);
}

TEST(ConfigTest, InvalidEnvNamesVariableAndAcceptedValues) {
    Fixture f;
    const std::string error = f.error({"edge"}, {"ROOMCAST_PORT=70000"});
    EXPECT_THAT(error, HasSubstr("ROOMCAST_PORT"));
    EXPECT_THAT(error, HasSubstr("--port"));
    EXPECT_THAT(error, HasSubstr("'70000'"));
    EXPECT_THAT(error, HasSubstr("an integer from 1 to 65535"));
}

TEST(ConfigTest, NullEnvpReadsTheProcessEnvironment) {
    std::int64_t value = 1;
    Config config("prog", "");
    config.add_int("core-test-only-knob", &value, "", 0, 100);
    ASSERT_EQ(::setenv("ROOMCAST_CORE_TEST_ONLY_KNOB", "42", 1), 0);
    const Strings argv{"prog"};
    const Config::Parsed parsed = config.parse(argv.size(), argv.data());
    ::unsetenv("ROOMCAST_CORE_TEST_ONLY_KNOB");
    EXPECT_EQ(parsed.error, std::nullopt);
    EXPECT_EQ(value, 42);
}

TEST(ConfigTest, LastFlagWins) {
    Fixture f;
    f.expect_ok({"edge", "--port=1", "--port", "2"});
    EXPECT_EQ(f.port, 2);
}

TEST(ConfigStringTest, TakesValueVerbatim) {
    Fixture f;
    f.expect_ok({"edge", "--listen=a=b c"});
    EXPECT_EQ(f.listen, "a=b c");
    f.expect_ok({"edge", "--listen", "-dash"});
    EXPECT_EQ(f.listen, "-dash");
    f.expect_ok({"edge", "--listen="});
    EXPECT_EQ(f.listen, "");
}

TEST(ConfigListTest, SplitsOnCommasDroppingEmptyEntriesAndBlanks) {
    Fixture f;
    f.expect_ok({"edge", "--peers", ",one,, two ,three,"});
    EXPECT_EQ(f.peers, (std::vector<std::string>{"one", "two", "three"}));
    f.expect_ok({"edge", "--peers=,,"});
    EXPECT_TRUE(f.peers.empty());
}

TEST(ConfigIntTest, AcceptsValuesInclusiveOfBounds) {
    std::int64_t value = 0;
    const auto add = [&value](Config& c) { c.add_int("opt", &value, "", -10, 10); };
    for (const auto& [text, expected] : std::vector<std::pair<std::string, std::int64_t>>{
             {"-10", -10}, {"10", 10}, {"0", 0}, {"-3", -3}, {"007", 7}}) {
        SCOPED_TRACE(text);
        EXPECT_EQ(parse_one(add, text), "");
        EXPECT_EQ(value, expected);
    }
}

TEST(ConfigIntTest, AcceptsInt64Extremes) {
    std::int64_t value = 0;
    constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
    constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
    const auto add = [&value](Config& c) { c.add_int("opt", &value, "", kMin, kMax); };
    EXPECT_EQ(parse_one(add, "-9223372036854775808"), "");
    EXPECT_EQ(value, kMin);
    EXPECT_EQ(parse_one(add, "9223372036854775807"), "");
    EXPECT_EQ(value, kMax);
    EXPECT_THAT(parse_one(add, "9223372036854775808"), HasSubstr("out of range"));
}

TEST(ConfigIntTest, RejectsOutOfRangeAndGarbageWithoutChangingTarget) {
    std::int64_t value = 5;
    const auto add = [&value](Config& c) { c.add_int("opt", &value, "", -10, 10); };
    for (const std::string text : {"11", "-11", "99999999999999999999", "", "abc", "12a", "1.5",
                                   "+5", " 5", "5 ", "0x10", "1e3"}) {
        SCOPED_TRACE(text);
        const std::string error = parse_one(add, text);
        EXPECT_THAT(error, HasSubstr("--opt"));
        EXPECT_THAT(error, HasSubstr("an integer from -10 to 10"));
        EXPECT_EQ(value, 5);
    }
}

TEST(ConfigBoolTest, AcceptsEverySpellingCaseInsensitively) {
    bool value = false;
    const auto add = [&value](Config& c) { c.add_bool("opt", &value, ""); };
    for (const std::string text : {"true", "1", "yes", "on", "TRUE", "Yes", "ON"}) {
        SCOPED_TRACE(text);
        value = false;
        EXPECT_EQ(parse_one(add, text), "");
        EXPECT_TRUE(value);
    }
    for (const std::string text : {"false", "0", "no", "off", "False", "NO", "Off"}) {
        SCOPED_TRACE(text);
        value = true;
        EXPECT_EQ(parse_one(add, text), "");
        EXPECT_FALSE(value);
    }
}

TEST(ConfigBoolTest, BareFlagMeansTrue) {
    Fixture f;
    f.expect_ok({"edge", "--verbose"}, {"ROOMCAST_VERBOSE=off"});
    EXPECT_TRUE(f.verbose);
}

TEST(ConfigBoolTest, RejectsGarbage) {
    bool value = false;
    const auto add = [&value](Config& c) { c.add_bool("opt", &value, ""); };
    for (const std::string text : {"", "maybe", "2", "t", "yess"}) {
        SCOPED_TRACE(text);
        const std::string error = parse_one(add, text);
        EXPECT_THAT(error, HasSubstr("--opt"));
        EXPECT_THAT(error, HasSubstr("true/false, 1/0, yes/no or on/off"));
    }
}

TEST(ConfigBoolTest, NeverConsumesTheNextArgument) {
    Fixture f;
    const std::string error = f.error({"edge", "--verbose", "false"});
    EXPECT_THAT(error, HasSubstr("unexpected argument 'false'"));
    EXPECT_THAT(error, HasSubstr("--verbose=false"));
}

TEST(ConfigDurationTest, AcceptsEveryUnitAndBareMilliseconds) {
    milliseconds value = 0ms;
    const auto add = [&value](Config& c) { c.add_duration("opt", &value, "", 0ms, 24h); };
    for (const auto& [text, expected] :
         std::vector<std::pair<std::string, milliseconds>>{{"250ms", 250ms},
                                                           {"5s", 5s},
                                                           {"2m", 2min},
                                                           {"1h", 1h},
                                                           {"1500", 1500ms},
                                                           {"0", 0ms},
                                                           {"0s", 0ms},
                                                           {"24h", 24h}}) {
        SCOPED_TRACE(text);
        EXPECT_EQ(parse_one(add, text), "");
        EXPECT_EQ(value, expected);
    }
}

TEST(ConfigDurationTest, RejectsNegativeFractionalGarbageAndOverflow) {
    milliseconds value = 7ms;
    constexpr milliseconds kMax = milliseconds::max();
    const auto add = [&value](Config& c) { c.add_duration("opt", &value, "", 0ms, kMax); };
    for (const auto& [text, problem] :
         std::vector<std::pair<std::string, std::string>>{{"-5s", "not a duration"},
                                                          {"-1", "not a duration"},
                                                          {"1.5s", "not a whole number"},
                                                          {"0.5", "not a whole number"},
                                                          {"5x", "not a duration"},
                                                          {"5sec", "not a duration"},
                                                          {"s", "not a duration"},
                                                          {"ms", "not a duration"},
                                                          {"", "not a duration"},
                                                          {"5 s", "not a duration"},
                                                          {"1h30m", "not a duration"},
                                                          {"9223372036854775808", "too large"},
                                                          {"99999999999999999999ms", "too large"},
                                                          {"2562047788016h", "too large"},
                                                          {"9223372036854776s", "too large"},
                                                          {"153722867280913m", "too large"}}) {
        SCOPED_TRACE(text);
        const std::string error = parse_one(add, text);
        EXPECT_THAT(error, HasSubstr("--opt"));
        EXPECT_THAT(error, HasSubstr(problem));
        EXPECT_THAT(error, HasSubstr("a duration such as 250ms"));
        EXPECT_EQ(value, 7ms);
    }
}

TEST(ConfigDurationTest, LargestValueThatFitsIsAccepted) {
    milliseconds value = 0ms;
    const auto add = [&value](Config& c) {
        c.add_duration("opt", &value, "", 0ms, milliseconds::max());
    };
    EXPECT_EQ(parse_one(add, "2562047788015h"), "");
    EXPECT_EQ(value, 2562047788015h);
    EXPECT_EQ(parse_one(add, "9223372036854775807"), "");
    EXPECT_EQ(value, milliseconds::max());
}

TEST(ConfigDurationTest, RejectsOutOfRange) {
    Fixture f;
    for (const char* arg : {"--ping-interval=999ms", "--ping-interval=61m"}) {
        SCOPED_TRACE(arg);
        const std::string error = f.error({"edge", arg});
        EXPECT_THAT(error, HasSubstr("--ping-interval"));
        EXPECT_THAT(error, HasSubstr("out of range"));
        EXPECT_THAT(error, HasSubstr("from 1s to 1h"));
    }
    EXPECT_EQ(f.ping, 25s);
}

TEST(ConfigBytesTest, AcceptsBareAndSuffixedValuesCaseInsensitively) {
    std::uint64_t value = 0;
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    const auto add = [&value](Config& c) { c.add_bytes("opt", &value, "", 0, kMax); };
    for (const auto& [text, expected] : std::vector<std::pair<std::string, std::uint64_t>>{
             {"1000000", 1000000},
             {"0", 0},
             {"64k", 64ull << 10},
             {"64K", 64ull << 10},
             {"1m", 1ull << 20},
             {"1M", 1ull << 20},
             {"2g", 2ull << 30},
             {"2G", 2ull << 30},
             {"3t", 3ull << 40},
             {"64Ki", 64ull << 10},
             {"512Mi", 512ull << 20},
             {"512mi", 512ull << 20},
             {"1Gi", 1ull << 30},
             {"2Ti", 2ull << 40},
             {"18446744073709551615", kMax},
             {"17179869183g", 17179869183ull << 30}}) {
        SCOPED_TRACE(text);
        EXPECT_EQ(parse_one(add, text), "");
        EXPECT_EQ(value, expected);
    }
}

TEST(ConfigBytesTest, RejectsGarbageAndOverflow) {
    std::uint64_t value = 9;
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    const auto add = [&value](Config& c) { c.add_bytes("opt", &value, "", 0, kMax); };
    for (const auto& [text, problem] :
         std::vector<std::pair<std::string, std::string>>{{"-1", "not a byte size"},
                                                          {"1.5k", "not a byte size"},
                                                          {"1kb", "not a byte size"},
                                                          {"1p", "not a byte size"},
                                                          {"1i", "not a byte size"},
                                                          {"Gi", "not a byte size"},
                                                          {"1GiB", "not a byte size"},
                                                          {"1G i", "not a byte size"},
                                                          {"k", "not a byte size"},
                                                          {"", "not a byte size"},
                                                          {"12x", "not a byte size"},
                                                          {"1 k", "not a byte size"},
                                                          {"18446744073709551616", "too large"},
                                                          {"17179869184g", "too large"},
                                                          {"18014398509481984k", "too large"},
                                                          {"16777216Ti", "too large"}}) {
        SCOPED_TRACE(text);
        const std::string error = parse_one(add, text);
        EXPECT_THAT(error, HasSubstr("--opt"));
        EXPECT_THAT(error, HasSubstr(problem));
        EXPECT_THAT(error, HasSubstr("Ki/Mi/Gi/Ti are powers of 1024"));
        EXPECT_EQ(value, 9u);
    }
}

TEST(ConfigBytesTest, RejectsOutOfRange) {
    Fixture f;
    const std::string error = f.error({"edge", "--max-payload", "0"});
    EXPECT_THAT(error, HasSubstr("--max-payload"));
    EXPECT_THAT(error, HasSubstr("from 1 to 1099511627776"));
    EXPECT_THAT(f.error({"edge", "--max-payload=1025g"}), HasSubstr("out of range"));
    EXPECT_EQ(f.max_payload, 1000000u);
}

TEST(ConfigErrorTest, UnknownFlag) {
    Fixture f;
    EXPECT_EQ(f.error({"edge", "--prot=1"}), "unknown flag '--prot'");
    EXPECT_EQ(f.error({"edge", "-p"}), "unknown flag '-p'");
}

TEST(ConfigErrorTest, MissingValueNamesFlagAndWhatItAccepts) {
    Fixture f;
    for (const Strings& argv :
         {Strings{"edge", "--port"}, Strings{"edge", "--port", "--verbose"}}) {
        const std::string error = f.error(argv);
        EXPECT_THAT(error, HasSubstr("'--port' needs a value"));
        EXPECT_THAT(error, HasSubstr("an integer from 1 to 65535"));
    }
}

TEST(ConfigErrorTest, PositionalArgumentsAreRejected) {
    Fixture f;
    for (const char* arg : {"extra", "-", "--"}) {
        SCOPED_TRACE(arg);
        EXPECT_THAT(f.error({"edge", "--port=1", arg}),
                    HasSubstr("unexpected argument '" + std::string(arg) + "'"));
    }
}

TEST(ConfigErrorTest, FirstErrorIsReported) {
    Fixture f;
    EXPECT_EQ(f.error({"edge", "--nope", "--also-nope"}), "unknown flag '--nope'");
}

TEST(ConfigHelpTest, HelpPrintsToStdoutAndExitsOk) {
    for (const char* flag : {"--help", "-h"}) {
        SCOPED_TRACE(flag);
        Fixture f;
        ::testing::internal::CaptureStdout();
        const Config::Parsed parsed = f.parse({"edge", flag});
        const std::string out = ::testing::internal::GetCapturedStdout();
        EXPECT_EQ(parsed.outcome, Config::Outcome::kExitOk);
        EXPECT_EQ(parsed.error, std::nullopt);
        EXPECT_EQ(out, f.config.help_text());
    }
}

TEST(ConfigHelpTest, HelpWinsOverOtherMistakes) {
    Fixture f;
    ::testing::internal::CaptureStdout();
    const Config::Parsed parsed = f.parse({"edge", "--bogus", "--port=x", "--help"});
    ::testing::internal::GetCapturedStdout();
    EXPECT_EQ(parsed.outcome, Config::Outcome::kExitOk);
    EXPECT_EQ(parsed.error, std::nullopt);
    EXPECT_EQ(f.port, 3000);
}

TEST(ConfigHelpTest, VersionPrintsProgramAndVersion) {
    Fixture f;
    ::testing::internal::CaptureStdout();
    const Config::Parsed parsed = f.parse({"edge", "--version"});
    const std::string out = ::testing::internal::GetCapturedStdout();
    EXPECT_EQ(parsed.outcome, Config::Outcome::kExitOk);
    EXPECT_EQ(out, "edge " + version_string() + "\n");
}

TEST(ConfigHelpTest, VersionStringIsTheBuildVersion) {
    EXPECT_THAT(version_string(), ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+.*"));
}

// Joins wrapped help lines ("\n" plus the 6-space indent) back into one line.
std::string unwrap(std::string_view text) {
    constexpr std::string_view kBreak = "\n      ";
    std::string out;
    while (!text.empty()) {
        if (text.starts_with(kBreak)) {
            out += ' ';
            text.remove_prefix(kBreak.size());
        } else {
            out += text.front();
            text.remove_prefix(1);
        }
    }
    return out;
}

TEST(ConfigHelpTest, HelpListsEveryOptionWithEnvNameAndDefault) {
    Fixture f;
    const std::string help = f.config.help_text();
    EXPECT_THAT(help, HasSubstr("Usage: edge"));
    EXPECT_THAT(help, HasSubstr("Socket.IO edge server."));
    const std::vector<std::vector<std::string>> expected = {
        {"--listen <value>", "Address to accept connections on.", "ROOMCAST_LISTEN",
         "Default: 0.0.0.0:3000"},
        {"--peers <value>", "Other edges.", "ROOMCAST_PEERS", "Default: a,b"},
        {"--port <value>", "TCP port.", "ROOMCAST_PORT", "Default: 3000"},
        {"--verbose[=<bool>]", "Log more.", "ROOMCAST_VERBOSE", "Default: false"},
        {"--ping-interval <value>", "Time between pings.", "ROOMCAST_PING_INTERVAL", "Default: 25s",
         "from 1s to 1h"},
        {"--connect-timeout <value>", "Handshake deadline.", "ROOMCAST_CONNECT_TIMEOUT",
         "Default: 300ms"},
        {"--max-payload <value>", "Largest message accepted.", "ROOMCAST_MAX_PAYLOAD",
         "Default: 1000000"},
    };
    for (const auto& parts : expected) {
        SCOPED_TRACE(parts[0]);
        std::size_t at = help.find("  " + parts[0] + "\n");
        ASSERT_NE(at, std::string::npos);
        // Each option's block is its usage line followed by help, accepts and env/default lines.
        const std::size_t end = help.find("\n  -", at + 1);
        // Long lines are wrapped; undo that so phrases can be matched whole.
        const std::string block = unwrap(help.substr(at, end - at));
        for (std::size_t i = 1; i < parts.size(); ++i) {
            EXPECT_THAT(block, HasSubstr(parts[i]));
        }
    }
    EXPECT_THAT(help, HasSubstr("-h, --help"));
    EXPECT_THAT(help, HasSubstr("--version"));
}

TEST(ConfigHelpTest, DefaultIsTheTargetValueAtRegistration) {
    milliseconds ping = 5s;
    Config config("edge", "");
    config.add_duration("ping-interval", &ping, "", 1s, 1h);
    ping = 7s;
    EXPECT_THAT(config.help_text(), HasSubstr("Default: 5s\n"));
}

TEST(ConfigHelpTest, EmptyStringDefaultIsShownQuoted) {
    std::string value;
    Config config("prog", "");
    config.add_string("token-file", &value, "Path.");
    EXPECT_THAT(config.help_text(), HasSubstr("Env: ROOMCAST_TOKEN_FILE  Default: \"\""));
}

TEST(ConfigHelpTest, HelpLinesFitIn100Columns) {
    Fixture f;
    const std::string help = f.config.help_text();
    std::size_t start = 0;
    while (start < help.size()) {
        const std::size_t end = help.find('\n', start);
        EXPECT_LE(end - start, 100u) << help.substr(start, end - start);
        start = end + 1;
    }
}

TEST(ConfigRegistrationTest, ProgrammingErrorsThrow) {
    std::int64_t n = 5;
    std::string s;
    Config config("prog", "");
    config.add_int("n", &n, "", 0, 10);
    EXPECT_THROW(config.add_string("n", &s, ""), std::invalid_argument);
    EXPECT_THROW(config.add_string("Upper", &s, ""), std::invalid_argument);
    EXPECT_THROW(config.add_string("", &s, ""), std::invalid_argument);
    EXPECT_THROW(config.add_string("-x", &s, ""), std::invalid_argument);
    EXPECT_THROW(config.add_string("a=b", &s, ""), std::invalid_argument);
    EXPECT_THROW(config.add_string("help", &s, ""), std::invalid_argument);
    EXPECT_THROW(config.add_string("version", &s, ""), std::invalid_argument);
    EXPECT_THROW(config.add_string("null", nullptr, ""), std::invalid_argument);
    EXPECT_THROW(config.add_int("m", &n, "", 10, 0), std::invalid_argument);
    EXPECT_THROW(config.add_int("m", &n, "", 6, 10), std::invalid_argument);
    milliseconds d = 0ms;
    EXPECT_THROW(config.add_duration("d", &d, "", 1s, 2s), std::invalid_argument);
    std::uint64_t b = 0;
    EXPECT_THROW(config.add_bytes("b", &b, "", 1, 2), std::invalid_argument);
}

using ConfigDeathTest = ::testing::Test;

TEST_F(ConfigDeathTest, ParseOrExitPrintsErrorAndHintThenExitsTwo) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const Strings argv{"edge", "--bogus"};
    EXPECT_EXIT(
        {
            Fixture f;
            f.config.parse_or_exit(argv.size(), argv.data());
        },
        ::testing::ExitedWithCode(2), "edge: unknown flag '--bogus'\nTry 'edge --help'\\.\n");
}

TEST_F(ConfigDeathTest, ParseOrExitExitsZeroForHelpAndVersion) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    for (const char* flag : {"--help", "--version"}) {
        const Strings argv{"edge", flag};
        EXPECT_EXIT(
            {
                Fixture f;
                f.config.parse_or_exit(argv.size(), argv.data());
            },
            ::testing::ExitedWithCode(0), "");
    }
}

TEST(ConfigTest, ParseOrExitReturnsWhenArgumentsAreValid) {
    Fixture f;
    const Strings argv{"edge", "--port=81"};
    f.config.parse_or_exit(argv.size(), argv.data());
    EXPECT_EQ(f.port, 81);
}

TEST(WeakSecretTest, ShortSecretsAreRefusedWithTheFlagsName) {
    EXPECT_EQ(weak_secret("jwt-secret", std::string(32, 'x')), "");
    const auto message = weak_secret("jwt-secret", std::string(31, 'x'));
    EXPECT_NE(message.find("--jwt-secret"), std::string::npos) << message;
    EXPECT_NE(message.find("32"), std::string::npos) << message;
    EXPECT_NE(weak_secret("admin-token", ""), "");
    EXPECT_EQ(weak_secret("admin-token", "abc", 3), "");
}

}  // namespace
}  // namespace roomcast::core
