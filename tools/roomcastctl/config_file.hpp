#pragma once
// roomcastctl's config file: named contexts (like `nats context` or kubeconfig), each a set of
// connection settings, and which one is current. JSON at $ROOMCAST_CONFIG, else
// $XDG_CONFIG_HOME/roomcast/config.json, else ~/.config/roomcast/config.json; written 0600.
//
// The admin token itself is never stored: a context names a file that holds it
// (admin_token_file), read at each run, so the config file can be shared or backed up without
// leaking a root credential.
//
// parse_config/serialize_config are pure; load_config/save_config do the file I/O.

#include "command_line.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace roomcast::ctl {

// A context holds only what was given to `context add`; empty means "not set here".
struct Context {
    std::string server;
    std::string rooms_addr;
    std::string presence_addr;
    std::string auth_addr;
    bool tls = false;
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    std::string tls_server_name;
    std::string admin_token_file;
    std::string timeout;  // as given ("30s"); checked when stored and when used
};

struct ConfigFile {
    std::string current;  // empty: no current context
    std::map<std::string, Context, std::less<>> contexts;
};

// Caps: a config file is a few kilobytes; these stop a wrong file (or a runaway script adding
// contexts) from being read into memory or listed forever.
inline constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;
inline constexpr std::size_t kMaxContexts = 1000;
// A token file holds one token; anything larger is the wrong file.
inline constexpr std::size_t kMaxTokenFileBytes = 64 * 1024;

// 1..64 of [A-Za-z0-9._-], not starting with '.' or '-' (it is typed on command lines).
bool valid_context_name(std::string_view name);

Checked<ConfigFile> parse_config(std::string_view json);
std::string serialize_config(const ConfigFile& config);

// Where the config file is; empty when neither ROOMCAST_CONFIG, XDG_CONFIG_HOME nor HOME is set.
std::string config_path(const Environment& env);

// nullopt when the file does not exist (no contexts yet). `chosen`: the path was given
// (ROOMCAST_CONFIG), so a file that cannot be read is an error; at the default location it
// counts as absent, because `kubectl exec … roomcastctl` runs as a user whose HOME (often "/"
// or another user's) it may not read, and must still work from variables alone.
Checked<std::optional<ConfigFile>> load_config(const std::string& path, bool chosen = true);
// Creates the directory (0700) if needed; writes a temporary file 0600 and renames it over the
// old one, so a crash leaves the old file or the new one, and never a readable partial one.
Checked<bool> save_config(const std::string& path, const ConfigFile& config);

// The token in a token file: its content without surrounding whitespace; empty is an error.
Checked<std::string> read_token_file(const std::string& path);

// "HOST" → "HOST:<default_port>"; "HOST:PORT" and "[v6]:PORT" as given; a bare IPv6 address
// gets brackets. Empty on an empty or malformed input.
std::string server_address(std::string_view server, std::string_view default_port);

}  // namespace roomcast::ctl
