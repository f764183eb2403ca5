// The command table and the parser; the contract is in command_line.hpp.
#include "command_line.hpp"

#include "config_file.hpp"

#include "roomcast/core/config.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <system_error>

namespace roomcast::ctl {
namespace {

using std::chrono::milliseconds;

// Shared flag shapes, so the same flag reads the same everywhere.
constexpr FlagSpec kPageSize{"page-size", "N",
                             "Results per page (the server's default when absent)"};
constexpr FlagSpec kPageToken{"page-token", "T",
                              "Start at this page (next_page_token of a previous call)"};
constexpr FlagSpec kAll{"all", "",
                        "Follow next_page_token until the last page and print everything"};
constexpr FlagSpec kLabel{"label", "KEY=VALUE", "A label (repeat for several)", true};
constexpr FlagSpec kReason{"reason", "R", "Why (at most 256 bytes)"};
constexpr FlagSpec kAddr{"addr", "HOST:PORT", "The server to ask (required)"};

// The table is laid out by hand, one command per entry (clang-format would put every field on
// a line of its own).
// clang-format off
const std::vector<CommandSpec>& table() {
    static const std::vector<CommandSpec> specs = {
        {CommandId::kRoomsCreate, "rooms", "create", "<room>", 1, 1,
         "roomcast.rooms.v1.RoomAdmin/CreateRoom",
         "Create a room (PUBLIC unless --private); ALREADY_EXISTS if it exists",
         {{"private", "", "Members only"},
          {"public", "", "Any authenticated user may join and publish (the default)"},
          kLabel}},
        {CommandId::kRoomsGet, "rooms", "get", "<room>", 1, 1,
         "roomcast.rooms.v1.RoomAdmin/GetRoom", "Show a room", {}},
        {CommandId::kRoomsList, "rooms", "list", "", 0, 0,
         "roomcast.rooms.v1.RoomAdmin/ListRooms",
         "List rooms, ascending by id (--live: rooms with sockets now, from presence)",
         {{"prefix", "P", "Only rooms whose id starts with P"},
          {"live", "", "Rooms with live sockets now, from the presence service"},
          kPageSize, kPageToken, kAll}},
        {CommandId::kRoomsUpdate, "rooms", "update", "<room>", 1, 1,
         "roomcast.rooms.v1.RoomAdmin/UpdateRoom",
         "Change a room's visibility and/or labels (--label replaces all labels)",
         {{"public", "", "Make the room PUBLIC"},
          {"private", "", "Make the room PRIVATE (members only)"},
          kLabel,
          {"clear-labels", "", "Remove every label"}}},
        {CommandId::kRoomsDelete, "rooms", "delete", "<room>", 1, 1,
         "roomcast.rooms.v1.RoomAdmin/DeleteRoom",
         "Delete a room and its members; live members are kicked (room_deleted)", {}},
        {CommandId::kRoomsMembers, "rooms", "members", "<room>", 1, 1,
         "roomcast.rooms.v1.RoomAdmin/ListMembers", "List a room's members",
         {kPageSize, kPageToken, kAll}},
        {CommandId::kRoomsAdd, "rooms", "add", "<room> <user>", 2, 2,
         "roomcast.rooms.v1.RoomAdmin/AddMember", "Add a member, or change a member's role",
         {{"role", "member|viewer", "member may publish, viewer may not (default member)"}}},
        {CommandId::kRoomsRemove, "rooms", "remove", "<room> <user>", 2, 2,
         "roomcast.rooms.v1.RoomAdmin/RemoveMember",
         "Remove a member (kicked from a PRIVATE room: membership_removed)", {}},
        {CommandId::kRoomsKick, "rooms", "kick", "<room> <user>", 2, 2,
         "roomcast.rooms.v1.RoomAdmin/KickUser",
         "Remove a user's sockets from a live room on every edge", {kReason}},
        {CommandId::kRoomsPublish, "rooms", "publish", "<room> <event> [<json data>]", 2, 3,
         "roomcast.rooms.v1.RoomAdmin/Publish",
         "Emit an event to a room as \"server\"; data is JSON ('-' reads stdin)",
         {{"data-file", "F", "Read the JSON data from file F ('-' for stdin)"}}},
        {CommandId::kRoomsHistory, "rooms", "history", "<room>", 1, 1,
         "roomcast.rooms.v1.RoomAdmin/History", "A room's stored events, ascending by offset",
         {{"since", "OFFSET", "Only events after this offset (exclusive)"},
          {"limit", "N", "At most N events (server default 50)"}}},
        {CommandId::kUsersDisconnect, "users", "disconnect", "<user>", 1, 1,
         "roomcast.rooms.v1.RoomAdmin/DisconnectUser",
         "Disconnect every socket of a user on every edge (no auto-reconnect)", {kReason}},
        {CommandId::kUsersEmit, "users", "emit", "<user>|--socket <socket> <event> [<json data>]", 1, 3,
         "roomcast.rooms.v1.RoomAdmin/PublishToUser",
         "Emit an event to a user's sockets (or one socket) on every edge, not stored; data is "
         "JSON ('-' reads stdin)",
         {{"socket", "ID", "Emit to this socket id instead of a user (then: <event> [<json data>])"},
          {"namespace", "NSP", "The sockets' namespace (default /)"},
          {"data-file", "F", "Read the JSON data from file F ('-' for stdin)"}}},
        {CommandId::kPresenceGet, "presence", "get", "<room>", 1, 1,
         "roomcast.presence.v1.Presence/GetPresence", "Who is online in a room, by user id",
         {kPageSize, kPageToken, kAll}},
        {CommandId::kPresenceStats, "presence", "stats", "<room>", 1, 1,
         "roomcast.presence.v1.Presence/GetPresenceStats",
         "A room's online counts (sockets, distinct users)", {}},
        {CommandId::kPresenceWatch, "presence", "watch", "<room>", 1, 1,
         "roomcast.presence.v1.Presence/WatchPresence",
         "Print a room's joins and leaves as they happen, until Ctrl-C", {}},
        {CommandId::kEdgesList, "edges", "list", "", 0, 0,
         "roomcast.presence.v1.Presence/ListEdges",
         "The edges heartbeating into roomcast_edges: connections, rooms, version, draining, alive",
         {kPageSize, kPageToken, kAll}},
        {CommandId::kTokenIssue, "token", "issue", "<user>", 1, 1,
         "roomcast.auth.v1.Auth/IssueToken", "Issue a client token (JWT) for a user",
         {{"name", "N", "Display name (the `name` claim)"},
          {"ttl", "DURATION", "Lifetime, e.g. 30m, 1h, 7d (server default 1h)"}}},
        {CommandId::kTokenVerify, "token", "verify", "<token>", 1, 1,
         "roomcast.auth.v1.Auth/VerifyToken", "Verify a token as an edge would ('-' reads stdin)",
         {}},
        {CommandId::kTokenJwks, "token", "jwks", "", 0, 0, "roomcast.auth.v1.Auth/GetJwks",
         "The public verification keys (JWKS); needs no admin token", {}},
        {CommandId::kKeysList, "keys", "list", "", 0, 0, "roomcast.auth.v1.Auth/ListKeys",
         "The auth service's signing keys: which signs, which waits for publication", {}},
        {CommandId::kKeysRotate, "keys", "rotate", "", 0, 0, "roomcast.auth.v1.Auth/RotateKey",
         "A new signing key in the auth service's key directory; signs once published",
         {{"algorithm", "ES256|RS256", "The new key's algorithm (default ES256)"},
          {"kid", "KID", "The new key's id (default: the UTC time, YYYYMMDD-HHMMSS)"}}},
        {CommandId::kGrpcList, "grpc", "list", "", 0, 0,
         "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
         "List a server's services (gRPC reflection)", {kAddr}},
        {CommandId::kGrpcDescribe, "grpc", "describe", "[<symbol>]", 0, 1,
         "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
         "Describe a service, method, message or enum (all services when omitted)", {kAddr}},
        {CommandId::kContextAdd, "context", "add", "<name>", 1, 1, "",
         "Save this line's connection flags (--server, --tls, --ca, --admin-token-file, ...) as "
         "a context",
         {{"select", "", "Also make it the current context"}}},
        {CommandId::kContextList, "context", "list", "", 0, 0, "",
         "List the contexts; * marks the current one",
         {{"names", "", "Print only the names, one a line (for scripts and completion)"}}},
        {CommandId::kContextUse, "context", "use", "<name>", 1, 1, "",
         "Make a context the current one", {}},
        {CommandId::kContextShow, "context", "show", "[<name>]", 0, 1, "",
         "Show a context (the current one when omitted) and the addresses it resolves to", {}},
        {CommandId::kContextRemove, "context", "remove", "<name>", 1, 1, "",
         "Remove a context (and unset it as current)", {}},
        {CommandId::kCompletion, "completion", "bash", "", 0, 0, "",
         "Print a bash completion script: source <(roomcastctl completion bash)", {}},
        {CommandId::kCompletion, "completion", "zsh", "", 0, 0, "",
         "Print a zsh completion script: source <(roomcastctl completion zsh)", {}},
    };
    return specs;
}
// clang-format on

struct GlobalFlag {
    std::string_view name;
    std::string_view value_name;  // empty for a switch
    std::string_view help;
    std::string GlobalOptions::*target;
    // The variable, when not ROOMCAST_<NAME> (--ca alone would make a vague ROOMCAST_CA).
    std::string_view variable = {};
};

std::string variable_of(const GlobalFlag& flag) {
    return flag.variable.empty() ? core::Config::env_name(flag.name) : std::string(flag.variable);
}

// --timeout, --json and --tls are not strings; they are parsed after the loop, so
// GlobalFlag::target is null for them.
const std::vector<GlobalFlag>& global_flags() {
    static const std::vector<GlobalFlag> flags = {
        {"server", "HOST[:PORT]",
         "All three services: HOST at their default ports (50051, 50052, 50053), or HOST:PORT "
         "for one gRPC endpoint routing all three; --rooms-addr and the like win",
         nullptr},
        {"context", "NAME", "Use this context of the config file (see 'roomcastctl context')",
         nullptr},
        {"rooms-addr", "HOST:PORT", "Rooms service", &GlobalOptions::rooms_addr},
        {"presence-addr", "HOST:PORT", "Presence service", &GlobalOptions::presence_addr},
        {"auth-addr", "HOST:PORT", "Auth service", &GlobalOptions::auth_addr},
        {"admin-token", "TOKEN",
         "Bearer token of the admin APIs (prefer the variable: argv is "
         "visible to other users)",
         &GlobalOptions::admin_token},
        {"admin-token-file", "FILE", "Read the admin token from FILE (what a context stores)",
         &GlobalOptions::admin_token_file},
        {"timeout", "DURATION", "Deadline of each call", nullptr},
        {"json", "", "Print responses as JSON (proto field names) for scripts", nullptr},
        {"tls", "", "Connect with TLS (services started with --grpc-tls-cert) [ROOMCAST_TLS=true]",
         nullptr},
        {"ca", "FILE",
         "CA bundle (PEM) to verify the services with (implies --tls; default: the "
         "system's roots)",
         &GlobalOptions::ca_file, "ROOMCAST_TLS_CA"},
        {"cert", "FILE", "Client certificate (PEM) for services requiring one (implies --tls)",
         &GlobalOptions::cert_file, "ROOMCAST_TLS_CERT"},
        {"key", "FILE", "Private key (PEM) of --cert", &GlobalOptions::key_file,
         "ROOMCAST_TLS_KEY"},
        {"tls-server-name", "NAME",
         "Name the services' certificates must carry, when the address is not it (implies --tls)",
         &GlobalOptions::tls_server_name},
    };
    return flags;
}

std::string env_default_text(const GlobalFlag& flag) {
    const GlobalOptions defaults;
    if (flag.name == "timeout") {
        return "10s";
    }
    if (flag.target != nullptr) {
        return defaults.*(flag.target);
    }
    return {};
}

bool is_group(std::string_view word) {
    return std::any_of(table().begin(), table().end(),
                       [word](const CommandSpec& spec) { return spec.group == word; });
}

const CommandSpec* find_command(std::string_view group, std::string_view name) {
    for (const CommandSpec& spec : table()) {
        if (spec.group == group && spec.name == name) {
            return &spec;
        }
    }
    return nullptr;
}

std::string group_commands(std::string_view group) {
    std::string names;
    for (const CommandSpec& spec : table()) {
        if (spec.group == group) {
            names += names.empty() ? "" : ", ";
            names += spec.name;
        }
    }
    return names;
}

// A flag-looking word. "-" (stdin) and negative numbers are arguments, so JSON data such as
// `-1` needs no `--` in front of it.
bool looks_like_flag(std::string_view arg) {
    if (arg.size() < 2 || arg.front() != '-') {
        return false;
    }
    return !(arg[1] >= '0' && arg[1] <= '9');
}

std::string root_help_command() {
    return std::string(kProgram) + " --help";
}

std::string group_help_command(std::string_view group) {
    return std::string(kProgram) + " " + std::string(group) + " --help";
}

// Two-column rows ("  left   right") aligned on the widest left cell, the right column
// word-wrapped so help stays within kHelpWidth columns.
void append_rows(std::string& out, const std::vector<std::pair<std::string, std::string>>& rows) {
    constexpr std::size_t kHelpWidth = 100;
    constexpr std::size_t kMinRightWidth = 30;
    std::size_t width = 0;
    for (const auto& row : rows) {
        width = std::max(width, row.first.size());
    }
    const std::size_t indent = 2 + width + 3;
    const std::size_t right_width =
        std::max(kMinRightWidth, kHelpWidth - std::min(indent, kHelpWidth));
    for (const auto& [left, right] : rows) {
        out += "  ";
        out += left;
        out.append(width - left.size() + 3, ' ');
        std::string_view rest = right;
        std::size_t column = 0;
        while (!rest.empty()) {
            const std::size_t space = rest.find(' ');
            const std::string_view word = rest.substr(0, space);
            rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
            if (column != 0 && column + 1 + word.size() > right_width) {
                out += '\n';
                out.append(indent, ' ');
                column = 0;
            } else if (column != 0) {
                out += ' ';
                ++column;
            }
            out += word;
            column += word.size();
        }
        out += '\n';
    }
}

void append_global_flags(std::string& out) {
    out +=
        "\nGlobal flags (anywhere on the line; a flag wins over its variable, a variable over\n"
        "the context in use, the context over the default):\n";
    std::vector<std::pair<std::string, std::string>> rows;
    for (const GlobalFlag& flag : global_flags()) {
        std::string left = "--" + std::string(flag.name);
        if (!flag.value_name.empty()) {
            left += " " + std::string(flag.value_name);
        }
        std::string right(flag.help);
        if (!flag.value_name.empty()) {
            right += " [" + variable_of(flag);
            if (const std::string def = env_default_text(flag); !def.empty()) {
                right += ", default " + def;
            }
            right += "]";
        }
        rows.emplace_back(std::move(left), std::move(right));
    }
    rows.emplace_back("-h, --help", "Show help (works after any command)");
    rows.emplace_back("--version", "Print the version");
    append_rows(out, rows);
}

std::string usage_line(const CommandSpec& spec) {
    std::string line =
        std::string(kProgram) + " " + std::string(spec.group) + " " + std::string(spec.name);
    if (!spec.arguments.empty()) {
        line += " " + std::string(spec.arguments);
    }
    if (!spec.flags.empty()) {
        line += " [flags]";
    }
    return line;
}

}  // namespace

std::span<const CommandSpec> command_specs() {
    return table();
}

bool CommandLine::has(std::string_view flag) const {
    return flags.find(flag) != flags.end();
}

std::optional<std::string> CommandLine::value(std::string_view flag) const {
    const auto it = flags.find(flag);
    if (it == flags.end() || it->second.empty()) {
        return std::nullopt;
    }
    return it->second.back();
}

std::vector<std::string> CommandLine::values(std::string_view flag) const {
    const auto it = flags.find(flag);
    return it == flags.end() ? std::vector<std::string>{} : it->second;
}

std::string CommandLine::command_name() const {
    return command == nullptr ? std::string()
                              : std::string(command->group) + " " + std::string(command->name);
}

std::string CommandLine::help_command() const {
    return command == nullptr ? root_help_command()
                              : std::string(kProgram) + " " + command_name() + " --help";
}

ParseOutcome parse_command_line(std::span<const std::string> args, const Environment& env,
                                const ConfigFile* config) {
    CommandLine line;
    std::optional<UsageError> error;
    const auto fail = [&error](std::string message, std::string help_command) {
        if (!error) {
            error = UsageError{std::move(message), std::move(help_command)};
        }
    };
    bool help = false;
    bool version = false;
    bool flags_done = false;
    // Set once a word could not be resolved, so the rest of the line does not add noise.
    bool lost = false;
    std::string group;
    std::map<std::string_view, std::string> global_given;

    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        const std::string help_command =
            line.command != nullptr
                ? line.help_command()
                : (group.empty() ? root_help_command() : group_help_command(group));
        if (!flags_done && arg == "--") {
            flags_done = true;
            continue;
        }
        if (!flags_done && looks_like_flag(arg)) {
            if (arg == "-h" || arg == "--help") {
                help = true;
                continue;
            }
            if (arg == "--version") {
                version = true;
                continue;
            }
            if (!arg.starts_with("--")) {
                fail("unknown flag '" + arg + "'", help_command);
                continue;
            }
            const std::string_view body = std::string_view(arg).substr(2);
            const std::size_t equals = body.find('=');
            const std::string_view name = body.substr(0, equals);
            std::optional<std::string> inline_value;
            if (equals != std::string_view::npos) {
                inline_value = std::string(body.substr(equals + 1));
            }
            // Takes the value after `--name`, unless it is missing or is itself a flag: then
            // `--reason --json` reports the mistake instead of sending "--json" as the reason.
            const auto take_value = [&]() -> std::optional<std::string> {
                if (inline_value) {
                    return inline_value;
                }
                if (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
                    return args[++i];
                }
                fail("flag '--" + std::string(name) + "' needs a value", help_command);
                return std::nullopt;
            };

            const auto global =
                std::find_if(global_flags().begin(), global_flags().end(),
                             [name](const GlobalFlag& f) { return f.name == name; });
            if (global != global_flags().end()) {
                if (global->value_name.empty()) {
                    if (inline_value) {
                        fail("flag '--" + std::string(name) + "' takes no value", help_command);
                    }
                    global_given[global->name] = "true";
                } else if (auto value = take_value()) {
                    global_given[global->name] = *value;
                }
                continue;
            }
            if (line.command == nullptr) {
                fail("unknown flag '--" + std::string(name) + "'" +
                         (group.empty() ? std::string() : " (command flags go after the command)"),
                     help_command);
                continue;
            }
            const auto& specs = line.command->flags;
            const auto spec = std::find_if(specs.begin(), specs.end(),
                                           [name](const FlagSpec& f) { return f.name == name; });
            if (spec == specs.end()) {
                fail("unknown flag '--" + std::string(name) + "' for '" + line.command_name() + "'",
                     help_command);
                continue;
            }
            std::optional<std::string> value;
            if (spec->value_name.empty()) {
                if (inline_value) {
                    fail("flag '--" + std::string(name) + "' takes no value", help_command);
                    continue;
                }
                value = std::string();
            } else {
                value = take_value();
            }
            if (!value) {
                continue;
            }
            auto& given = line.flags[std::string(name)];
            if (!spec->repeatable && !given.empty()) {
                fail("flag '--" + std::string(name) + "' given more than once", help_command);
                continue;
            }
            given.push_back(std::move(*value));
            continue;
        }

        if (lost) {
            continue;
        }
        if (group.empty()) {
            if (!is_group(arg)) {
                fail("unknown command '" + arg + "'", root_help_command());
                lost = true;
                continue;
            }
            group = arg;
        } else if (line.command == nullptr) {
            line.command = find_command(group, arg);
            if (line.command == nullptr) {
                fail("unknown command '" + group + " " + arg + "' (" + group + ": " +
                         group_commands(group) + ")",
                     group_help_command(group));
                lost = true;
            }
        } else {
            line.args.push_back(arg);
        }
    }

    if (help) {
        return ShowText{help_text(group, line.command)};
    }
    if (version) {
        return ShowText{std::string(kProgram) + " " + core::version_string() + "\n"};
    }
    if (error) {
        return *error;
    }
    if (group.empty()) {
        return UsageError{"missing command", root_help_command()};
    }
    if (line.command == nullptr) {
        return UsageError{"missing subcommand for '" + group + "' (" + group_commands(group) + ")",
                          group_help_command(group)};
    }
    const CommandSpec& spec = *line.command;
    if (line.args.size() < spec.min_args) {
        return UsageError{
            line.command_name() + ": missing arguments (usage: " + usage_line(spec) + ")",
            line.help_command()};
    }
    if (line.args.size() > spec.max_args) {
        return UsageError{
            line.command_name() + ": unexpected argument '" + line.args[spec.max_args] + "'",
            line.help_command()};
    }

    line.given_globals.insert(global_given.begin(), global_given.end());
    const auto flag_value = [&global_given](std::string_view name) -> std::optional<std::string> {
        const auto it = global_given.find(name);
        return it == global_given.end() ? std::nullopt : std::optional(it->second);
    };
    const auto env_value = [&env](std::string_view name) -> std::optional<std::string> {
        const auto flag = std::find_if(global_flags().begin(), global_flags().end(),
                                       [name](const GlobalFlag& f) { return f.name == name; });
        const auto it = env.find(variable_of(*flag));
        return it == env.end() || it->second.empty() ? std::nullopt : std::optional(it->second);
    };

    // The context, lowest but the defaults. `context` commands manage the file and use none, so
    // a stale ROOMCAST_CONTEXT cannot stop them from fixing it; completion needs none either.
    const Context* context = nullptr;
    if (spec.group != "context" && spec.group != "completion") {
        std::string name;
        std::string source;
        if (auto given = flag_value("context")) {
            name = *given;
            source = "--context";
        } else if (auto variable = env_value("context")) {
            name = *variable;
            source = "ROOMCAST_CONTEXT";
        } else if (config != nullptr) {
            name = config->current;
            source = "the config file's current_context";
        }
        if (!name.empty()) {
            const auto it = config == nullptr ? decltype(config->contexts)::const_iterator{}
                                              : config->contexts.find(name);
            if (config == nullptr || it == config->contexts.end()) {
                return UsageError{"context '" + name + "' (" + source +
                                      ") is not defined; see 'roomcastctl context list'",
                                  root_help_command()};
            }
            context = &it->second;
            line.global.context = name;
            GlobalOptions& g = line.global;
            g.tls = context->tls;
            g.ca_file = context->ca_file;
            g.cert_file = context->cert_file;
            g.key_file = context->key_file;
            g.tls_server_name = context->tls_server_name;
            g.admin_token_file = context->admin_token_file;
            if (!context->timeout.empty()) {
                const auto timeout = parse_duration(context->timeout);
                if (!timeout) {
                    return UsageError{"context '" + name + "': invalid timeout '" +
                                          context->timeout + "': " + timeout.error().what,
                                      root_help_command()};
                }
                g.timeout = *timeout;
            }
        }
    }

    // Variables over the context, then flags over them; an empty variable is unset. Addresses,
    // the token and the context itself are resolved below: they combine several settings.
    for (const GlobalFlag& flag : global_flags()) {
        if (flag.name == "server" || flag.name == "context" || flag.name.ends_with("-addr") ||
            flag.name.starts_with("admin-token")) {
            continue;
        }
        const std::string variable = variable_of(flag);
        std::optional<std::string> text;
        std::string source;
        if (const auto given = global_given.find(flag.name); given != global_given.end()) {
            text = given->second;
            source = "--" + std::string(flag.name);
        } else if (const auto it = env.find(variable); it != env.end() && !it->second.empty()) {
            if (flag.name == "json") {
                // ROOMCAST_JSON is not a thing: output format is a per-call choice.
                continue;
            }
            text = it->second;
            source = variable;
        }
        if (!text) {
            continue;
        }
        if (flag.target != nullptr) {
            line.global.*(flag.target) = *text;
        } else if (flag.name == "json") {
            line.global.json = true;
        } else if (flag.name == "tls") {
            // The switch, or ROOMCAST_TLS as services spell booleans (false overrides a context).
            if (source == "--tls") {
                line.global.tls = true;
            } else if (*text == "true" || *text == "1" || *text == "yes" || *text == "on") {
                line.global.tls = true;
            } else if (*text == "false" || *text == "0" || *text == "no" || *text == "off") {
                line.global.tls = false;
            } else {
                return UsageError{"invalid value '" + *text + "' for " + source +
                                      ": expected true or false",
                                  root_help_command()};
            }
        } else if (flag.name == "timeout") {
            const auto timeout = parse_duration(*text);
            if (!timeout) {
                return UsageError{
                    "invalid value '" + *text + "' for " + source + ": " + timeout.error().what,
                    line.help_command()};
            }
            line.global.timeout = *timeout;
        }
    }

    // Each service's address: the specific setting wins over the shared one within a layer, and
    // a layer (flag, variable, context) wins over the ones after it.
    struct Service {
        std::string_view flag;
        std::string_view default_port;
        std::string GlobalOptions::*target;
        std::string Context::*context_field;
    };
    const Service services[] = {
        {"rooms-addr", "50051", &GlobalOptions::rooms_addr, &Context::rooms_addr},
        {"presence-addr", "50052", &GlobalOptions::presence_addr, &Context::presence_addr},
        {"auth-addr", "50053", &GlobalOptions::auth_addr, &Context::auth_addr},
    };
    for (const Service& service : services) {
        const auto expand = [&](const std::string& server,
                                const std::string& source) -> Checked<std::string> {
            std::string address = server_address(server, service.default_port);
            if (address.empty()) {
                return Problem{"invalid value '" + server + "' for " + source +
                               ": expected HOST or HOST:PORT"};
            }
            return ok(std::move(address));
        };
        std::optional<Checked<std::string>> address;
        if (auto v = flag_value(service.flag)) {
            address = ok(*v);
        } else if (auto server = flag_value("server")) {
            address = expand(*server, "--server");
        } else if (auto v = env_value(service.flag)) {
            address = ok(*v);
        } else if (auto server = env_value("server")) {
            address = expand(*server, "ROOMCAST_SERVER");
        } else if (context != nullptr && !(context->*(service.context_field)).empty()) {
            address = ok(context->*(service.context_field));
        } else if (context != nullptr && !context->server.empty()) {
            address = expand(context->server, "context '" + line.global.context + "'");
        }
        if (address && !*address) {
            return UsageError{address->error().what, root_help_command()};
        }
        if (address) {
            line.global.*(service.target) = **address;
        }
    }

    // The token: given directly or as a file, by flag, variable or context, in that order.
    {
        const auto token = flag_value("admin-token");
        const auto file = flag_value("admin-token-file");
        if (token && file) {
            return UsageError{"--admin-token and --admin-token-file exclude each other",
                              root_help_command()};
        }
        GlobalOptions& g = line.global;
        if (token) {
            g.admin_token = *token;
            g.admin_token_file.clear();
        } else if (file) {
            g.admin_token_file = *file;
        } else if (auto variable = env_value("admin-token")) {
            g.admin_token = *variable;
            g.admin_token_file.clear();
        } else if (auto file_variable = env_value("admin-token-file")) {
            g.admin_token_file = *file_variable;
        }
    }

    GlobalOptions& global = line.global;
    if (!global.ca_file.empty() || !global.cert_file.empty() || !global.tls_server_name.empty()) {
        global.tls = true;
    }
    if (global.cert_file.empty() != global.key_file.empty()) {
        return UsageError{"--cert and --key go together", root_help_command()};
    }
    for (const auto* addr :
         {&line.global.rooms_addr, &line.global.presence_addr, &line.global.auth_addr}) {
        if (addr->empty()) {
            return UsageError{"server addresses cannot be empty", root_help_command()};
        }
    }
    return line;
}

std::vector<std::pair<std::string_view, bool>> global_flag_names() {
    std::vector<std::pair<std::string_view, bool>> names;
    for (const GlobalFlag& flag : global_flags()) {
        names.emplace_back(flag.name, !flag.value_name.empty());
    }
    return names;
}

std::string help_text(std::string_view group, const CommandSpec* command) {
    std::string out;
    if (command != nullptr) {
        out += "Usage: " + usage_line(*command) + "\n\n";
        // Word-wrapped like the tables, so every help line fits 100 columns.
        std::string summary;
        std::size_t column = 0;
        std::string_view rest = command->summary;
        while (!rest.empty()) {
            const std::size_t space = rest.find(' ');
            const std::string_view word = rest.substr(0, space);
            rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
            if (column != 0 && column + 1 + word.size() > 99) {
                summary += '\n';
                column = 0;
            } else if (column != 0) {
                summary += ' ';
                ++column;
            }
            summary += word;
            column += word.size();
        }
        out += summary + ".\n";
        if (!command->method.empty()) {
            out += "Calls " + std::string(command->method) + ".\n";
        }
        if (!command->flags.empty()) {
            out += "\nFlags:\n";
            std::vector<std::pair<std::string, std::string>> rows;
            for (const FlagSpec& flag : command->flags) {
                std::string left = "--" + std::string(flag.name);
                if (!flag.value_name.empty()) {
                    left += " " + std::string(flag.value_name);
                }
                rows.emplace_back(std::move(left), std::string(flag.help));
            }
            append_rows(out, rows);
        }
        append_global_flags(out);
        return out;
    }

    if (group.empty()) {
        out += std::string(kProgram) + ": the command-line client of Roomcast's admin gRPC APIs\n";
        out +=
            "(roomcast.rooms.v1.RoomAdmin, roomcast.presence.v1.Presence, roomcast.auth.v1.Auth)."
            "\n\n";
        out += "Usage: " + std::string(kProgram) + " <command> <subcommand> [arguments] [flags]\n";
    } else {
        out += "Usage: " + std::string(kProgram) + " " + std::string(group) +
               " <subcommand> [arguments] [flags]\n";
    }
    out += "\nCommands:\n";
    std::vector<std::pair<std::string, std::string>> rows;
    for (const CommandSpec& spec : table()) {
        if (!group.empty() && spec.group != group) {
            continue;
        }
        std::string left = std::string(spec.group) + " " + std::string(spec.name);
        if (!spec.arguments.empty()) {
            left += " " + std::string(spec.arguments);
        }
        rows.emplace_back(std::move(left), std::string(spec.summary));
    }
    append_rows(out, rows);
    append_global_flags(out);
    out += exit_status_help();
    out += "Run '" + std::string(kProgram) + " <command> <subcommand> --help' for its flags.\n";
    return out;
}

int exit_code_for_status(int grpc_code) {
    // The numeric values of grpc::StatusCode, which are fixed by the gRPC spec.
    switch (grpc_code) {
        case 0:  // OK
            return kExitOk;
        case 5:  // NOT_FOUND
            return kExitNotFound;
        case 6:  // ALREADY_EXISTS
        case 9:  // FAILED_PRECONDITION
            return kExitConflict;
        case 7:   // PERMISSION_DENIED
        case 16:  // UNAUTHENTICATED
            return kExitAuth;
        case 4:   // DEADLINE_EXCEEDED
        case 10:  // ABORTED
        case 14:  // UNAVAILABLE
            return kExitRetryable;
        case 3:   // INVALID_ARGUMENT
        case 11:  // OUT_OF_RANGE
            return kExitInvalid;
        case 8:  // RESOURCE_EXHAUSTED
            return kExitLimit;
        default:  // CANCELLED, UNKNOWN, UNIMPLEMENTED, INTERNAL, DATA_LOSS, anything newer
            return kExitOther;
    }
}

std::string exit_status_help() {
    std::string out = "\nExit status:\n";
    append_rows(out,
                {
                    {"0", "done"},
                    {"1", "other error (UNKNOWN, INTERNAL, UNIMPLEMENTED, DATA_LOSS, CANCELLED)"},
                    {"2", "bad usage or config file; nothing was sent"},
                    {"3", "not found (NOT_FOUND)"},
                    {"4", "conflict (ALREADY_EXISTS, FAILED_PRECONDITION)"},
                    {"5", "not authorized (UNAUTHENTICATED, PERMISSION_DENIED)"},
                    {"6", "transient, retry (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED)"},
                    {"7", "invalid request (INVALID_ARGUMENT, OUT_OF_RANGE)"},
                    {"8", "a limit was reached (RESOURCE_EXHAUSTED)"},
                });
    return out;
}

Checked<milliseconds> parse_duration(std::string_view text) {
    if (text.empty()) {
        return Problem{"empty duration"};
    }
    std::int64_t total = 0;
    std::string_view rest = text;
    while (!rest.empty()) {
        std::uint64_t count = 0;
        const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), count);
        if (ptr == rest.data()) {
            return Problem{"'" + std::string(text) +
                           "' is not a duration (e.g. 500ms, 10s, 2m, 1h, 7d)"};
        }
        if (ec == std::errc::result_out_of_range) {
            return Problem{"duration too large"};
        }
        rest.remove_prefix(static_cast<std::size_t>(ptr - rest.data()));
        std::int64_t scale = 0;
        // "ms" before "m", or "5ms" would read as five minutes and a stray "s".
        for (const auto& [unit, ms] : {std::pair<std::string_view, std::int64_t>{"ms", 1},
                                       {"s", 1000},
                                       {"m", 60'000},
                                       {"h", 3'600'000},
                                       {"d", 86'400'000}}) {
            if (rest.starts_with(unit)) {
                scale = ms;
                rest.remove_prefix(unit.size());
                break;
            }
        }
        if (scale == 0) {
            return Problem{"'" + std::string(text) +
                           (rest.empty() ? "' needs a unit" : "' is not a duration") +
                           " (e.g. 500ms, 10s, 2m, 1h, 7d)"};
        }
        constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
        if (count > static_cast<std::uint64_t>(kMax / scale) ||
            total > kMax - static_cast<std::int64_t>(count) * scale) {
            return Problem{"duration too large"};
        }
        total += static_cast<std::int64_t>(count) * scale;
    }
    if (total == 0) {
        return Problem{"duration must be more than zero"};
    }
    return milliseconds(total);
}

Checked<std::int32_t> parse_positive_int32(std::string_view text) {
    std::int32_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec == std::errc::invalid_argument || ptr != text.data() + text.size()) {
        return Problem{"'" + std::string(text) + "' is not a whole number"};
    }
    if (ec == std::errc::result_out_of_range || value < 1) {
        return Problem{"'" + std::string(text) + "' is out of range (1 to 2147483647)"};
    }
    return value;
}

Checked<std::pair<std::string, std::string>> parse_label(std::string_view text) {
    const std::size_t equals = text.find('=');
    if (equals == std::string_view::npos || equals == 0) {
        return Problem{"'" + std::string(text) + "' is not KEY=VALUE"};
    }
    return std::pair<std::string, std::string>(text.substr(0, equals), text.substr(equals + 1));
}

}  // namespace roomcast::ctl
