// The config file (pure parts and its I/O in a temporary directory), and how a context combines
// with flags and variables in parse_command_line.
#include "config_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace roomcast::ctl {
namespace {

std::filesystem::path temp_dir() {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("roomcastctl-test-" + std::to_string(::getpid()) + "-" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    return dir;
}

const CommandLine& expect_line(const ParseOutcome& outcome) {
    if (const auto* error = std::get_if<UsageError>(&outcome)) {
        ADD_FAILURE() << "usage error: " << error->message;
    }
    static const CommandLine kEmpty;
    const auto* line = std::get_if<CommandLine>(&outcome);
    return line != nullptr ? *line : kEmpty;
}

ConfigFile sample() {
    ConfigFile config;
    config.current = "prod";
    Context prod;
    prod.server = "roomcast.example.com";
    prod.tls = true;
    prod.ca_file = "/etc/roomcast/ca.pem";
    prod.admin_token_file = "/home/ops/.roomcast/prod.token";
    prod.timeout = "30s";
    config.contexts.emplace("prod", prod);
    Context split;
    split.rooms_addr = "rooms.internal:50051";
    split.presence_addr = "presence.internal:50052";
    split.auth_addr = "auth.internal:50053";
    config.contexts.emplace("split", split);
    return config;
}

TEST(ConfigFile, RoundTripsAndRefusesWhatItDoesNotKnow) {
    const ConfigFile config = sample();
    const auto parsed = parse_config(serialize_config(config));
    ASSERT_TRUE(parsed) << parsed.error().what;
    EXPECT_EQ(parsed->current, "prod");
    ASSERT_EQ(parsed->contexts.size(), 2U);
    const Context& prod = parsed->contexts.at("prod");
    EXPECT_EQ(prod.server, "roomcast.example.com");
    EXPECT_TRUE(prod.tls);
    EXPECT_EQ(prod.ca_file, "/etc/roomcast/ca.pem");
    EXPECT_EQ(prod.admin_token_file, "/home/ops/.roomcast/prod.token");
    EXPECT_EQ(prod.timeout, "30s");
    EXPECT_FALSE(parsed->contexts.at("split").tls);
    // The token itself has no key in the file format.
    EXPECT_EQ(serialize_config(config).find("\"admin_token\""), std::string::npos);

    EXPECT_FALSE(parse_config("[]"));
    EXPECT_FALSE(parse_config("not json"));
    const auto typo = parse_config(R"({"contexts":{"a":{"sever":"x"}}})");
    ASSERT_FALSE(typo);
    EXPECT_NE(typo.error().what.find("'sever'"), std::string::npos);
    EXPECT_FALSE(parse_config(R"({"contexts":{"a":{"tls":"yes"}}})"));
    EXPECT_FALSE(parse_config(R"({"contexts":{"a":{"admin_token":"secret"}}})"));
    EXPECT_FALSE(parse_config(R"({"contexts":{"-bad":{}}})"));
    EXPECT_FALSE(parse_config(R"({"current_context":"gone","contexts":{}})"));
    EXPECT_TRUE(parse_config(R"({})"));
}

TEST(ConfigFile, ContextNames) {
    for (const char* good : {"prod", "eu-west.1", "a_b", "X"}) {
        EXPECT_TRUE(valid_context_name(good)) << good;
    }
    for (const char* bad : {"", "-x", ".x", "a b", "a/b", "ä"}) {
        EXPECT_FALSE(valid_context_name(bad)) << bad;
    }
    EXPECT_FALSE(valid_context_name(std::string(65, 'a')));
}

TEST(ConfigFile, ServerAddresses) {
    EXPECT_EQ(server_address("example.com", "50051"), "example.com:50051");
    EXPECT_EQ(server_address("example.com:443", "50051"), "example.com:443");
    EXPECT_EQ(server_address("10.0.0.1", "50052"), "10.0.0.1:50052");
    EXPECT_EQ(server_address("[::1]", "50053"), "[::1]:50053");
    EXPECT_EQ(server_address("[::1]:8443", "50053"), "[::1]:8443");
    EXPECT_EQ(server_address("::1", "50053"), "[::1]:50053");
    for (const char* bad : {"", ":50051", "host:", "[::1", "[]", "[::1]x", "[::1]:"}) {
        EXPECT_EQ(server_address(bad, "1"), "") << bad;
    }
}

TEST(ConfigFile, PathFromTheEnvironment) {
    EXPECT_EQ(config_path({{"ROOMCAST_CONFIG", "/x/c.json"}, {"HOME", "/home/u"}}), "/x/c.json");
    EXPECT_EQ(config_path({{"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/home/u"}}),
              "/xdg/roomcast/config.json");
    EXPECT_EQ(config_path({{"HOME", "/home/u"}}), "/home/u/.config/roomcast/config.json");
    EXPECT_EQ(config_path({}), "");
}

TEST(ConfigFile, SavedOwnerOnlyAndLoadedBack) {
    const auto dir = temp_dir();
    const std::string path = (dir / "nested" / "config.json").string();
    const auto missing = load_config(path);
    ASSERT_TRUE(missing);
    EXPECT_FALSE(missing->has_value()) << "no file: no contexts, not an error";

    ASSERT_TRUE(save_config(path, sample()));
    struct stat info {};
    ASSERT_EQ(::stat(path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600U);
    ASSERT_EQ(::stat((dir / "nested").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700U);

    // Replacing a file another tool left world-readable makes it owner-only.
    ::chmod(path.c_str(), 0644);
    ASSERT_TRUE(save_config(path, sample()));
    ASSERT_EQ(::stat(path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600U);

    const auto loaded = load_config(path);
    ASSERT_TRUE(loaded && loaded->has_value());
    EXPECT_EQ((*loaded)->contexts.size(), 2U);

    // Unreadable: an error where the user chose the path, absent at the default location (a
    // pod's HOME may belong to another user). A directory stands in for "cannot be read" (the
    // tests may run as root, who reads any file).
    const std::string unreadable = (dir / "nested").string();
    EXPECT_FALSE(load_config(unreadable, true));
    const auto lenient = load_config(unreadable, false);
    ASSERT_TRUE(lenient);
    EXPECT_FALSE(lenient->has_value());

    std::ofstream(path) << "{\"contexts\": 5}";
    const auto broken = load_config(path);
    ASSERT_FALSE(broken);
    EXPECT_NE(broken.error().what.find(path), std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST(ConfigFile, TokenFiles) {
    const auto dir = temp_dir();
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "token").string();
    std::ofstream(path) << "  s3cret\n";
    const auto token = read_token_file(path);
    ASSERT_TRUE(token);
    EXPECT_EQ(*token, "s3cret");
    std::ofstream(path) << "\n";
    EXPECT_FALSE(read_token_file(path));
    EXPECT_FALSE(read_token_file((dir / "none").string()));
    std::ofstream(path) << std::string(kMaxTokenFileBytes + 1, 'a');
    EXPECT_FALSE(read_token_file(path));
    std::filesystem::remove_all(dir);
}

ParseOutcome parse(std::vector<std::string> args, const Environment& env,
                   const ConfigFile* config) {
    return parse_command_line(args, env, config);
}

TEST(Contexts, FlagOverVariableOverContextOverDefault) {
    const ConfigFile config = sample();
    // The current context: --server's host at each service's port, its TLS and timeout.
    {
        const ParseOutcome outcome = parse({"rooms", "list"}, {}, &config);
        const CommandLine& line = expect_line(outcome);
        EXPECT_EQ(line.global.context, "prod");
        EXPECT_EQ(line.global.rooms_addr, "roomcast.example.com:50051");
        EXPECT_EQ(line.global.presence_addr, "roomcast.example.com:50052");
        EXPECT_EQ(line.global.auth_addr, "roomcast.example.com:50053");
        EXPECT_TRUE(line.global.tls);
        EXPECT_EQ(line.global.ca_file, "/etc/roomcast/ca.pem");
        EXPECT_EQ(line.global.timeout, std::chrono::seconds(30));
        EXPECT_EQ(line.global.admin_token, "");
        EXPECT_EQ(line.global.admin_token_file, "/home/ops/.roomcast/prod.token");
    }
    // A variable over the context; the specific address over the shared server in each layer.
    {
        const Environment env = {{"ROOMCAST_SERVER", "staging"},
                                 {"ROOMCAST_PRESENCE_ADDR", "p:1"},
                                 {"ROOMCAST_ADMIN_TOKEN", "from-env"},
                                 {"ROOMCAST_TLS", "false"}};
        const ParseOutcome outcome = parse({"rooms", "list"}, env, &config);
        const CommandLine& line = expect_line(outcome);
        EXPECT_EQ(line.global.rooms_addr, "staging:50051");
        EXPECT_EQ(line.global.presence_addr, "p:1");
        EXPECT_EQ(line.global.auth_addr, "staging:50053");
        EXPECT_EQ(line.global.admin_token, "from-env");
        EXPECT_EQ(line.global.admin_token_file, "") << "a token given directly wins";
        // --ca from the context still implies TLS: a CA is meaningless over plaintext.
        EXPECT_TRUE(line.global.tls);
    }
    // Flags over variables: --server beats ROOMCAST_ROOMS_ADDR, --rooms-addr beats --server.
    {
        const Environment env = {{"ROOMCAST_ROOMS_ADDR", "env-rooms:1"},
                                 {"ROOMCAST_CONTEXT", "split"}};
        const ParseOutcome outcome =
            parse({"rooms", "list", "--server", "one:8443", "--auth-addr", "a:2"}, env, &config);
        const CommandLine& line = expect_line(outcome);
        EXPECT_EQ(line.global.context, "split");
        EXPECT_EQ(line.global.rooms_addr, "one:8443");
        EXPECT_EQ(line.global.presence_addr, "one:8443");
        EXPECT_EQ(line.global.auth_addr, "a:2");
        EXPECT_FALSE(line.global.tls);
    }
    // --context over ROOMCAST_CONTEXT over current; per-service addresses of a context.
    {
        const ParseOutcome outcome =
            parse({"rooms", "list", "--context", "split"}, {{"ROOMCAST_CONTEXT", "prod"}}, &config);
        const CommandLine& line = expect_line(outcome);
        EXPECT_EQ(line.global.rooms_addr, "rooms.internal:50051");
        EXPECT_EQ(line.global.auth_addr, "auth.internal:50053");
        EXPECT_EQ(line.global.timeout, std::chrono::seconds(10));
    }
    // No config: the defaults, and --server alone.
    {
        const ParseOutcome outcome = parse({"rooms", "list", "--server", "h"}, {}, nullptr);
        const CommandLine& line = expect_line(outcome);
        EXPECT_EQ(line.global.rooms_addr, "h:50051");
        EXPECT_EQ(line.global.context, "");
    }
}

TEST(Contexts, UsageErrors) {
    const ConfigFile config = sample();
    const auto message = [](const ParseOutcome& outcome) {
        const auto* error = std::get_if<UsageError>(&outcome);
        return error == nullptr ? std::string("(no error)") : error->message;
    };
    EXPECT_NE(message(parse({"rooms", "list", "--context", "nope"}, {}, &config))
                  .find("context 'nope' (--context) is not defined"),
              std::string::npos);
    EXPECT_NE(message(parse({"rooms", "list"}, {{"ROOMCAST_CONTEXT", "x"}}, nullptr))
                  .find("context 'x' (ROOMCAST_CONTEXT) is not defined"),
              std::string::npos);
    EXPECT_NE(message(parse({"rooms", "list", "--server", "h:"}, {}, nullptr))
                  .find("invalid value 'h:' for --server"),
              std::string::npos);
    EXPECT_NE(message(parse({"rooms", "list", "--admin-token", "a", "--admin-token-file", "f"}, {},
                            nullptr))
                  .find("exclude each other"),
              std::string::npos);
    // Context commands ignore a stale ROOMCAST_CONTEXT, so they can repair the file.
    const ParseOutcome outcome =
        parse({"context", "list"}, {{"ROOMCAST_CONTEXT", "gone"}}, &config);
    const CommandLine& line = expect_line(outcome);
    EXPECT_EQ(line.global.context, "");
}

}  // namespace
}  // namespace roomcast::ctl
