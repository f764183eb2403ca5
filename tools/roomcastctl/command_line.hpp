#pragma once
// roomcastctl's command line: the commands it knows, their flags, and the parser that turns the
// arguments plus ROOMCAST_* variables into a CommandLine. Pure: no I/O, no gRPC, so every usage
// rule is testable without a server.
//
// Shape: `roomcastctl <group> <command> [arguments] [flags]`. Global flags may appear anywhere
// (before or after the command); a command's own flags only after the command is named, since
// before that it is unknown whether they take a value. `--name value` and `--name=value` are
// both accepted, `--` ends the flags, and a lone `-` or a negative number is an argument.

#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace roomcast::ctl {

// Exit status: one per class of gRPC status, so a script can tell "retry later" from "fix the
// request" from "it is not there" without parsing stderr. Classes, not codes: 17 codes are too
// many to branch on, and which of two neighbouring codes a server picks (ALREADY_EXISTS or
// FAILED_PRECONDITION, UNAVAILABLE or DEADLINE_EXCEEDED) is rarely what a script cares about.
// The table is public (docs/admin-api.md, --help): values never change meaning.
inline constexpr int kExitOk = 0;
// Anything else: UNKNOWN, INTERNAL, DATA_LOSS, UNIMPLEMENTED, CANCELLED, a response that
// cannot be printed.
inline constexpr int kExitOther = 1;
// The command line (or the config file) was wrong; nothing was sent.
inline constexpr int kExitUsage = 2;
// NOT_FOUND.
inline constexpr int kExitNotFound = 3;
// ALREADY_EXISTS, FAILED_PRECONDITION: the request conflicts with the current state.
inline constexpr int kExitConflict = 4;
// UNAUTHENTICATED, PERMISSION_DENIED: the admin token is missing, wrong or not allowed.
inline constexpr int kExitAuth = 5;
// UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED: transient; the same call may succeed if retried
// (with backoff). ABORTED is a concurrent change to the same key, which our services document
// as "retry".
inline constexpr int kExitRetryable = 6;
// INVALID_ARGUMENT, OUT_OF_RANGE: the server rejected the request's contents; retrying the same
// request cannot help.
inline constexpr int kExitInvalid = 7;
// RESOURCE_EXHAUSTED: a limit was reached (a server's in-flight cap, a full bucket, too many
// pages). Apart from 6: retrying helps only after load drops or space is freed.
inline constexpr int kExitLimit = 8;

// The exit status for a gRPC status code (its numeric value, so this header needs no gRPC).
int exit_code_for_status(int grpc_code);
// The table above as help shows it, one "  N  meaning" row per line.
std::string exit_status_help();

inline constexpr std::string_view kProgram = "roomcastctl";

// Why an input was rejected, in words for the user.
struct Problem {
    std::string what;
};

// A value, or why there is none.
template <class T>
using Checked = boost::system::result<T, Problem>;

// A value as a Checked. Needed for Checked<std::string>: Problem is constructible from a string
// (C++20 aggregate initialization with parentheses), so the implicit conversion is ambiguous.
template <class T>
Checked<T> ok(T value) {
    return Checked<T>(boost::system::in_place_value, std::move(value));
}

// Environment variables by name. main() copies environ; tests build their own. Empty values count
// as unset, as everywhere in Roomcast (that is how shells and pod specs "unset" a variable).
using Environment = std::map<std::string, std::string, std::less<>>;

struct ConfigFile;

// Where to connect and how. Each comes from, first given wins: its flag, its ROOMCAST_<NAME>
// variable, the context in use (--context, ROOMCAST_CONTEXT, the config file's current one), the
// default. A service's address: --<svc>-addr, --server, ROOMCAST_<SVC>_ADDR, ROOMCAST_SERVER,
// the context's <svc>_addr, the context's server, the default; the specific setting wins over
// --server within each layer.
struct GlobalOptions {
    std::string rooms_addr = "127.0.0.1:50051";
    std::string presence_addr = "127.0.0.1:50052";
    std::string auth_addr = "127.0.0.1:50053";
    // Sent as `authorization: Bearer <token>`; empty sends no header (the servers then answer
    // UNAUTHENTICATED, and the error says how to pass a token).
    std::string admin_token;
    // Where to read the admin token at run time (--admin-token-file, a context's); set only when
    // no token was given directly. run() reads it before any call.
    std::string admin_token_file;
    // The context in use, "" for none.
    std::string context;
    // The deadline of each call (each page of --all; for `presence watch`, of connecting).
    std::chrono::milliseconds timeout{10'000};
    bool json = false;
    // TLS to the services (started with --grpc-tls-cert). --ca, --cert, --key and
    // --tls-server-name turn it on too: each is meaningless over plaintext.
    bool tls = false;
    std::string ca_file;          // empty: the system's trusted roots
    std::string cert_file;        // client certificate, for services with --grpc-tls-client-ca
    std::string key_file;
    std::string tls_server_name;  // the name to verify instead of the address's host
};

enum class CommandId {
    kRoomsCreate,
    kRoomsGet,
    kRoomsList,
    kRoomsUpdate,
    kRoomsDelete,
    kRoomsMembers,
    kRoomsAdd,
    kRoomsRemove,
    kRoomsKick,
    kRoomsPublish,
    kRoomsHistory,
    kUsersDisconnect,
    kUsersEmit,
    kPresenceGet,
    kPresenceStats,
    kPresenceWatch,
    kEdgesList,
    kTokenIssue,
    kTokenVerify,
    kTokenJwks,
    kKeysList,
    kKeysRotate,
    kGrpcList,
    kGrpcDescribe,
    kContextAdd,
    kContextList,
    kContextUse,
    kContextShow,
    kContextRemove,
    kCompletion,
};

struct FlagSpec {
    std::string_view name;  // without "--"
    // Shown in help ("N", "KEY=VALUE"); empty for a switch, which takes no value.
    std::string_view value_name;
    std::string_view help;
    bool repeatable = false;
};

struct CommandSpec {
    CommandId id;
    std::string_view group;
    std::string_view name;
    // The arguments as the usage line shows them: "<room> <user>".
    std::string_view arguments;
    std::size_t min_args = 0;
    std::size_t max_args = 0;
    // The gRPC method it calls, as error messages name it ("" when it calls several).
    std::string_view method;
    std::string_view summary;
    std::vector<FlagSpec> flags;
};

// Every command, in the order help lists them.
std::span<const CommandSpec> command_specs();

struct CommandLine {
    GlobalOptions global;
    const CommandSpec* command = nullptr;
    std::vector<std::string> args;
    // The command's flags as given, by name without "--"; a switch has one "" per use.
    std::map<std::string, std::vector<std::string>, std::less<>> flags;
    // The global flags given on the command line itself (not from variables or a context), by
    // name without "--"; a switch is "true". `context add` stores these.
    std::map<std::string, std::string, std::less<>> given_globals;

    bool has(std::string_view flag) const;
    // The value of a flag that is not repeatable; nullopt when it was not given.
    std::optional<std::string> value(std::string_view flag) const;
    std::vector<std::string> values(std::string_view flag) const;
    // "rooms create".
    std::string command_name() const;
    // "roomcastctl rooms create --help", for the hint after a usage error.
    std::string help_command() const;
};

struct UsageError {
    std::string message;
    // The help to suggest: "roomcastctl --help", "roomcastctl rooms --help", ...
    std::string help_command;
};

// --help or --version: print the text on stdout and exit 0.
struct ShowText {
    std::string text;
};

using ParseOutcome = std::variant<CommandLine, ShowText, UsageError>;

// `args` excludes the program name. --help and --version win over any mistake elsewhere on the
// line, so a user who got something wrong can always ask for help by appending --help.
// `config` is the loaded config file (null when there is none); only its contexts are read.
ParseOutcome parse_command_line(std::span<const std::string> args, const Environment& env,
                                const ConfigFile* config = nullptr);

// The global flags' names (without "--") and whether each takes a value, for completion.
std::vector<std::pair<std::string_view, bool>> global_flag_names();

// Root help (group and command empty), a group's help, or a command's help.
std::string help_text(std::string_view group = {}, const CommandSpec* command = nullptr);

// Value parsers shared by the commands.

// "500ms", "10s", "2m", "1h", "7d" and sums such as "1h30m". A unit is required: a bare number is
// ambiguous (seconds in kubectl, milliseconds in our services' flags).
Checked<std::chrono::milliseconds> parse_duration(std::string_view text);
// 1 .. 2^31-1.
Checked<std::int32_t> parse_positive_int32(std::string_view text);
// "key=value"; the key is non-empty, the value may be.
Checked<std::pair<std::string, std::string>> parse_label(std::string_view text);

}  // namespace roomcast::ctl
