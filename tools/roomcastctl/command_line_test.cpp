// The parser alone: every command's shape, global flags from flags and ROOMCAST_*, help and
// version, and the usage errors it reports (cli_test.cpp checks what run() prints for them).
#include "command_line.hpp"

#include <grpcpp/support/status.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace roomcast::ctl {
namespace {

using std::chrono::milliseconds;

ParseOutcome parse(std::vector<std::string> args, const Environment& env = {}) {
    return parse_command_line(args, env);
}

const CommandLine& expect_line(const ParseOutcome& outcome) {
    if (const auto* error = std::get_if<UsageError>(&outcome)) {
        ADD_FAILURE() << "usage error: " << error->message;
    }
    static const CommandLine kEmpty;
    const auto* line = std::get_if<CommandLine>(&outcome);
    return line != nullptr ? *line : kEmpty;
}

std::string expect_usage_error(const ParseOutcome& outcome) {
    const auto* error = std::get_if<UsageError>(&outcome);
    if (error == nullptr) {
        ADD_FAILURE() << "expected a usage error";
        return {};
    }
    return error->message;
}

TEST(CommandLine, EveryCommandParsesWithItsArguments) {
    struct Case {
        std::vector<std::string> args;
        CommandId id;
        std::size_t positionals;
    };
    const std::vector<Case> cases = {
        {{"rooms", "create", "lobby", "--private", "--label", "a=1", "--label=b=2"},
         CommandId::kRoomsCreate,
         1},
        {{"rooms", "get", "lobby"}, CommandId::kRoomsGet, 1},
        {{"rooms", "list", "--prefix", "team:", "--page-size", "5", "--page-token", "t", "--all"},
         CommandId::kRoomsList,
         0},
        {{"rooms", "update", "lobby", "--public", "--label", "a=1"}, CommandId::kRoomsUpdate, 1},
        {{"rooms", "delete", "lobby"}, CommandId::kRoomsDelete, 1},
        {{"rooms", "members", "lobby", "--page-size", "2", "--all"}, CommandId::kRoomsMembers, 1},
        {{"rooms", "add", "lobby", "alice", "--role", "viewer"}, CommandId::kRoomsAdd, 2},
        {{"rooms", "remove", "lobby", "alice"}, CommandId::kRoomsRemove, 2},
        {{"rooms", "kick", "lobby", "alice", "--reason", "spam"}, CommandId::kRoomsKick, 2},
        {{"rooms", "publish", "lobby", "chat", "{\"a\":1}"}, CommandId::kRoomsPublish, 3},
        {{"rooms", "publish", "lobby", "chat", "--data-file", "-"}, CommandId::kRoomsPublish, 2},
        {{"rooms", "history", "lobby", "--since", "41", "--limit", "10"},
         CommandId::kRoomsHistory,
         1},
        {{"users", "disconnect", "alice", "--reason", "banned"}, CommandId::kUsersDisconnect, 1},
        {{"users", "emit", "alice", "notice", "{}", "--namespace", "/x"}, CommandId::kUsersEmit, 3},
        {{"users", "emit", "--socket", "s1", "notice"}, CommandId::kUsersEmit, 1},
        {{"presence", "get", "lobby", "--page-size", "50", "--all"}, CommandId::kPresenceGet, 1},
        {{"presence", "stats", "lobby"}, CommandId::kPresenceStats, 1},
        {{"presence", "watch", "lobby"}, CommandId::kPresenceWatch, 1},
        {{"rooms", "list", "--live", "--prefix", "team:", "--all"}, CommandId::kRoomsList, 0},
        {{"edges", "list", "--page-size", "10"}, CommandId::kEdgesList, 0},
        {{"context", "add", "prod", "--server", "h", "--select"}, CommandId::kContextAdd, 1},
        {{"context", "show"}, CommandId::kContextShow, 0},
        {{"completion", "zsh"}, CommandId::kCompletion, 0},
        {{"token", "issue", "alice", "--name", "Alice", "--ttl", "1h"}, CommandId::kTokenIssue, 1},
        {{"token", "verify", "eyJ.x.y"}, CommandId::kTokenVerify, 1},
        {{"token", "jwks"}, CommandId::kTokenJwks, 0},
        {{"grpc", "list", "--addr", "127.0.0.1:1"}, CommandId::kGrpcList, 0},
        {{"grpc", "describe", "roomcast.rooms.v1.RoomAdmin", "--addr", "x:1"},
         CommandId::kGrpcDescribe,
         1},
        {{"grpc", "describe", "--addr", "x:1"}, CommandId::kGrpcDescribe, 0},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.args[0] + " " + c.args[1]);
        const auto outcome = parse(c.args);
        const CommandLine& line = expect_line(outcome);
        ASSERT_NE(line.command, nullptr);
        EXPECT_EQ(line.command->id, c.id);
        EXPECT_EQ(line.args.size(), c.positionals);
    }
}

TEST(CommandLine, EveryCommandIsInTheTableOnce) {
    std::vector<std::string> names;
    for (const CommandSpec& spec : command_specs()) {
        names.push_back(std::string(spec.group) + " " + std::string(spec.name));
        EXPECT_FALSE(spec.summary.empty()) << names.back();
        // Local commands (the config file, completion) call no method.
        const bool local = spec.group == "context" || spec.group == "completion";
        EXPECT_EQ(spec.method.empty(), local) << names.back();
    }
    std::sort(names.begin(), names.end());
    EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
    EXPECT_EQ(names.size(), 31U);
}

TEST(CommandLine, FlagValuesAndRepeats) {
    const auto outcome =
        parse({"rooms", "create", "lobby", "--label", "a=1", "--label=b=2=3", "--private"});
    const CommandLine& line = expect_line(outcome);
    EXPECT_EQ(line.values("label"), (std::vector<std::string>{"a=1", "b=2=3"}));
    EXPECT_TRUE(line.has("private"));
    EXPECT_FALSE(line.has("public"));
    EXPECT_EQ(line.value("private"), "");
    EXPECT_EQ(line.value("missing"), std::nullopt);
    EXPECT_EQ(line.command_name(), "rooms create");
    EXPECT_EQ(line.help_command(), "roomcastctl rooms create --help");
}

TEST(CommandLine, DefaultsEnvironmentAndFlagsInThatOrder) {
    {
        const auto outcome = parse({"rooms", "get", "x"});
        const GlobalOptions& g = expect_line(outcome).global;
        EXPECT_EQ(g.rooms_addr, "127.0.0.1:50051");
        EXPECT_EQ(g.presence_addr, "127.0.0.1:50052");
        EXPECT_EQ(g.auth_addr, "127.0.0.1:50053");
        EXPECT_EQ(g.admin_token, "");
        EXPECT_EQ(g.timeout, milliseconds(10'000));
        EXPECT_FALSE(g.json);
    }
    const Environment env = {
        {"ROOMCAST_ROOMS_ADDR", "rooms:1"}, {"ROOMCAST_PRESENCE_ADDR", "presence:2"},
        {"ROOMCAST_AUTH_ADDR", "auth:3"},   {"ROOMCAST_ADMIN_TOKEN", "from-env"},
        {"ROOMCAST_TIMEOUT", "2s"},         {"ROOMCAST_JSON", "true"}};
    {
        const auto outcome = parse({"rooms", "get", "x"}, env);
        const GlobalOptions& g = expect_line(outcome).global;
        EXPECT_EQ(g.rooms_addr, "rooms:1");
        EXPECT_EQ(g.presence_addr, "presence:2");
        EXPECT_EQ(g.auth_addr, "auth:3");
        EXPECT_EQ(g.admin_token, "from-env");
        EXPECT_EQ(g.timeout, milliseconds(2'000));
        // The output format is chosen per call, never by the environment.
        EXPECT_FALSE(g.json);
    }
    {
        // Global flags anywhere: before the command, between, after its arguments.
        const auto outcome = parse({"--rooms-addr", "r:9", "rooms", "--admin-token=flag", "get",
                                    "x", "--json", "--timeout", "1m30s"},
                                   env);
        const GlobalOptions& g = expect_line(outcome).global;
        EXPECT_EQ(g.rooms_addr, "r:9");
        EXPECT_EQ(g.presence_addr, "presence:2");
        EXPECT_EQ(g.admin_token, "flag");
        EXPECT_EQ(g.timeout, milliseconds(90'000));
        EXPECT_TRUE(g.json);
    }
    {
        // An empty variable is unset.
        const auto outcome = parse({"rooms", "get", "x"}, {{"ROOMCAST_ROOMS_ADDR", ""}});
        EXPECT_EQ(expect_line(outcome).global.rooms_addr, "127.0.0.1:50051");
    }
}

TEST(CommandLine, TlsFlagsAndVariables) {
    {
        const auto outcome = parse({"rooms", "get", "x"});
        const GlobalOptions& g = expect_line(outcome).global;
        EXPECT_FALSE(g.tls) << "plaintext unless asked, as the local stack serves";
    }
    {
        const auto outcome = parse({"--tls", "rooms", "get", "x"});
        const GlobalOptions& g = expect_line(outcome).global;
        EXPECT_TRUE(g.tls);
        EXPECT_EQ(g.ca_file, "") << "the system's roots";
    }
    {
        // --ca (and --cert, --tls-server-name) imply --tls.
        const auto outcome = parse({"rooms", "get", "x", "--ca", "/etc/ca.pem", "--tls-server-name",
                                    "rooms.roomcast.svc"});
        const GlobalOptions& g = expect_line(outcome).global;
        EXPECT_TRUE(g.tls);
        EXPECT_EQ(g.ca_file, "/etc/ca.pem");
        EXPECT_EQ(g.tls_server_name, "rooms.roomcast.svc");
    }
    {
        const Environment env = {{"ROOMCAST_TLS", "true"},
                                 {"ROOMCAST_TLS_CA", "/env/ca.pem"},
                                 {"ROOMCAST_TLS_CERT", "/env/client.pem"},
                                 {"ROOMCAST_TLS_KEY", "/env/client.key"}};
        const auto outcome = parse({"rooms", "get", "x", "--ca", "/flag/ca.pem"}, env);
        const GlobalOptions& g = expect_line(outcome).global;
        EXPECT_TRUE(g.tls);
        EXPECT_EQ(g.ca_file, "/flag/ca.pem");
        EXPECT_EQ(g.cert_file, "/env/client.pem");
        EXPECT_EQ(g.key_file, "/env/client.key");
    }
    EXPECT_FALSE(expect_line(parse({"rooms", "get", "x"}, {{"ROOMCAST_TLS", "false"}})).global.tls);
    EXPECT_EQ(expect_usage_error(parse({"rooms", "get", "x"}, {{"ROOMCAST_TLS", "maybe"}})),
              "invalid value 'maybe' for ROOMCAST_TLS: expected true or false");
    EXPECT_EQ(expect_usage_error(parse({"rooms", "get", "x", "--cert", "/c.pem"})),
              "--cert and --key go together");
    EXPECT_EQ(expect_usage_error(parse({"rooms", "get", "x", "--tls=yes"})),
              "flag '--tls' takes no value");
}

TEST(CommandLine, DashesAndNegativeNumbersAreArguments) {
    {
        const auto outcome = parse({"rooms", "publish", "lobby", "n", "-1"});
        EXPECT_EQ(expect_line(outcome).args.back(), "-1");
    }
    {
        const auto outcome = parse({"rooms", "publish", "lobby", "n", "-"});
        EXPECT_EQ(expect_line(outcome).args.back(), "-");
    }
    {
        const auto outcome = parse({"rooms", "kick", "lobby", "--", "--weird-user"});
        EXPECT_EQ(expect_line(outcome).args.back(), "--weird-user");
    }
}

TEST(CommandLine, HelpAtEveryLevel) {
    const auto root = std::get<ShowText>(parse({"--help"}));
    EXPECT_NE(root.text.find("rooms create <room>"), std::string::npos);
    EXPECT_NE(root.text.find("token jwks"), std::string::npos);
    EXPECT_NE(root.text.find("ROOMCAST_ROOMS_ADDR, default 127.0.0.1:50051"), std::string::npos);
    EXPECT_NE(root.text.find("ROOMCAST_TIMEOUT, default 10s"), std::string::npos);

    const auto group = std::get<ShowText>(parse({"presence", "-h"}));
    EXPECT_NE(group.text.find("presence watch <room>"), std::string::npos);
    EXPECT_EQ(group.text.find("rooms create"), std::string::npos);

    const auto command = std::get<ShowText>(parse({"rooms", "list", "--help"}));
    EXPECT_NE(command.text.find("Usage: roomcastctl rooms list [flags]"), std::string::npos);
    EXPECT_NE(command.text.find("--page-token T"), std::string::npos);
    EXPECT_NE(command.text.find("Calls roomcast.rooms.v1.RoomAdmin/ListRooms"), std::string::npos);

    // Help wins over mistakes elsewhere on the line.
    const auto despite = std::get<ShowText>(parse({"rooms", "create", "--bogus", "--help"}));
    EXPECT_NE(despite.text.find("Usage: roomcastctl rooms create <room>"), std::string::npos);

    std::vector<std::string> texts = {root.text, group.text, command.text};
    for (const CommandSpec& spec : command_specs()) {
        texts.push_back(help_text(spec.group, &spec));
        texts.push_back(help_text(spec.group));
    }
    for (const std::string& line : texts) {
        std::size_t start = 0;
        while (start < line.size()) {
            const std::size_t end = line.find('\n', start);
            EXPECT_LE(end - start, 100U) << line.substr(start, end - start);
            start = end + 1;
        }
    }
}

TEST(CommandLine, Version) {
    const auto text = std::get<ShowText>(parse({"--version"})).text;
    EXPECT_TRUE(text.starts_with("roomcastctl ")) << text;
    EXPECT_TRUE(text.ends_with("\n"));
}

TEST(CommandLine, UsageErrors) {
    struct Case {
        std::vector<std::string> args;
        std::string message;
        std::string help;
    };
    const std::vector<Case> cases = {
        {{}, "missing command", "roomcastctl --help"},
        {{"bogus"}, "unknown command 'bogus'", "roomcastctl --help"},
        {{"rooms"},
         "missing subcommand for 'rooms' (create, get, list",
         "roomcastctl rooms --help"},
        {{"rooms", "nuke"}, "unknown command 'rooms nuke'", "roomcastctl rooms --help"},
        {{"rooms", "get"},
         "rooms get: missing arguments (usage: roomcastctl rooms get <room>)",
         "roomcastctl rooms get --help"},
        {{"rooms", "get", "a", "b"},
         "rooms get: unexpected argument 'b'",
         "roomcastctl rooms get --help"},
        {{"rooms", "add", "lobby"}, "rooms add: missing arguments", "roomcastctl rooms add --help"},
        {{"rooms", "get", "a", "--all"},
         "unknown flag '--all' for 'rooms get'",
         "roomcastctl rooms get --help"},
        {{"rooms", "--all", "list"},
         "unknown flag '--all' (command flags go after the command)",
         "roomcastctl rooms --help"},
        {{"-x"}, "unknown flag '-x'", "roomcastctl --help"},
        {{"rooms", "list", "--prefix"},
         "flag '--prefix' needs a value",
         "roomcastctl rooms list --help"},
        {{"rooms", "kick", "a", "b", "--reason", "--json"},
         "flag '--reason' needs a value",
         "roomcastctl rooms kick --help"},
        {{"rooms", "create", "a", "--private=yes"},
         "flag '--private' takes no value",
         "roomcastctl rooms create --help"},
        {{"rooms", "list", "--prefix", "a", "--prefix", "b"},
         "flag '--prefix' given more than once",
         "roomcastctl rooms list --help"},
        {{"rooms", "get", "a", "--timeout", "10"},
         "invalid value '10' for --timeout: '10' needs a "
         "unit",
         "roomcastctl rooms get --help"},
        {{"rooms", "get", "a", "--rooms-addr", ""},
         "server addresses cannot be empty",
         "roomcastctl --help"},
        {{"rooms", "get", "a", "--json=1"},
         "flag '--json' takes no value",
         "roomcastctl rooms get --help"},
    };
    for (const Case& c : cases) {
        std::string joined;
        for (const auto& a : c.args) {
            joined += a + " ";
        }
        SCOPED_TRACE(joined);
        const auto outcome = parse(c.args);
        const auto* error = std::get_if<UsageError>(&outcome);
        ASSERT_NE(error, nullptr);
        EXPECT_NE(error->message.find(c.message), std::string::npos) << error->message;
        EXPECT_EQ(error->help_command, c.help);
    }
    const std::string from_env =
        expect_usage_error(parse({"rooms", "get", "x"}, {{"ROOMCAST_TIMEOUT", "soon"}}));
    EXPECT_NE(from_env.find("invalid value 'soon' for ROOMCAST_TIMEOUT"), std::string::npos)
        << from_env;
}

TEST(ValueParsers, Durations) {
    EXPECT_EQ(*parse_duration("500ms"), milliseconds(500));
    EXPECT_EQ(*parse_duration("10s"), milliseconds(10'000));
    EXPECT_EQ(*parse_duration("2m"), milliseconds(120'000));
    EXPECT_EQ(*parse_duration("1h30m"), milliseconds(5'400'000));
    EXPECT_EQ(*parse_duration("7d"), milliseconds(7LL * 86'400'000));
    for (const char* bad : {"", "10", "s", "1x", "1.5s", "-1s", "0s", "1h 2m", "99999999999999d"}) {
        EXPECT_FALSE(parse_duration(bad)) << bad;
    }
    EXPECT_NE(parse_duration("10").error().what.find("needs a unit"), std::string::npos);
}

TEST(ValueParsers, PositiveIntegersAndLabels) {
    EXPECT_EQ(*parse_positive_int32("1"), 1);
    EXPECT_EQ(*parse_positive_int32("2147483647"), 2147483647);
    for (const char* bad : {"", "0", "-1", "2147483648", "1e3", "12a", " 1"}) {
        EXPECT_FALSE(parse_positive_int32(bad)) << bad;
    }
    EXPECT_EQ(*parse_label("team=core"), (std::pair<std::string, std::string>{"team", "core"}));
    EXPECT_EQ(*parse_label("empty="), (std::pair<std::string, std::string>{"empty", ""}));
    EXPECT_EQ(*parse_label("a=b=c"), (std::pair<std::string, std::string>{"a", "b=c"}));
    EXPECT_FALSE(parse_label("novalue"));
    EXPECT_FALSE(parse_label("=v"));
}

// The public table (docs/admin-api.md): every gRPC code lands in its class, and no class is
// reused for something else.
TEST(ExitCodes, OneClassPerGrpcStatus) {
    const std::vector<std::pair<grpc::StatusCode, int>> expected = {
        {grpc::StatusCode::OK, 0},
        {grpc::StatusCode::CANCELLED, 1},
        {grpc::StatusCode::UNKNOWN, 1},
        {grpc::StatusCode::INVALID_ARGUMENT, 7},
        {grpc::StatusCode::DEADLINE_EXCEEDED, 6},
        {grpc::StatusCode::NOT_FOUND, 3},
        {grpc::StatusCode::ALREADY_EXISTS, 4},
        {grpc::StatusCode::PERMISSION_DENIED, 5},
        {grpc::StatusCode::RESOURCE_EXHAUSTED, 8},
        {grpc::StatusCode::FAILED_PRECONDITION, 4},
        {grpc::StatusCode::ABORTED, 6},
        {grpc::StatusCode::OUT_OF_RANGE, 7},
        {grpc::StatusCode::UNIMPLEMENTED, 1},
        {grpc::StatusCode::INTERNAL, 1},
        {grpc::StatusCode::UNAVAILABLE, 6},
        {grpc::StatusCode::DATA_LOSS, 1},
        {grpc::StatusCode::UNAUTHENTICATED, 5},
    };
    for (const auto& [code, exit] : expected) {
        EXPECT_EQ(exit_code_for_status(static_cast<int>(code)), exit) << static_cast<int>(code);
    }
    EXPECT_EQ(exit_code_for_status(99), kExitOther) << "a code from a newer gRPC";
    // Usage (2) is never an RPC outcome: a script can rely on "2 = nothing was sent".
    for (int code = 0; code <= 16; ++code) {
        EXPECT_NE(exit_code_for_status(code), kExitUsage);
    }
    // The root help documents every class.
    const std::string help = help_text();
    for (const std::string_view row :
         {"  0   done", "  2   bad usage", "  3   not found", "  4   conflict",
          "  5   not authorized", "  6   transient, retry", "  7   invalid request",
          "  8   a limit was reached"}) {
        EXPECT_NE(help.find(row), std::string::npos) << row << "\n" << help;
    }
}

}  // namespace
}  // namespace roomcast::ctl
