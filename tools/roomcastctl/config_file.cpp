// The config file; the contract is in config_file.hpp.
#include "config_file.hpp"

#include "roomcast/protocol/json.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace roomcast::ctl {
namespace {

namespace json = boost::json;

// The string fields of a context, by their key in the file.
struct Field {
    std::string_view key;
    std::string Context::*member;
};
constexpr Field kFields[] = {
    {"server", &Context::server},
    {"rooms_addr", &Context::rooms_addr},
    {"presence_addr", &Context::presence_addr},
    {"auth_addr", &Context::auth_addr},
    {"ca", &Context::ca_file},
    {"cert", &Context::cert_file},
    {"key", &Context::key_file},
    {"tls_server_name", &Context::tls_server_name},
    {"admin_token_file", &Context::admin_token_file},
    {"timeout", &Context::timeout},
};

std::string trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    return std::string(text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1));
}

// The whole of a regular file of at most `cap` bytes; nullopt when it does not exist (or, with
// `lenient`, cannot be opened at all).
Checked<std::optional<std::string>> read_file(const std::string& path, std::size_t cap,
                                              std::string_view what, bool lenient = false) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT || lenient) {
            return std::optional<std::string>();
        }
        return Problem{"cannot read " + std::string(what) + " " + path + ": " +
                       std::strerror(errno)};
    }
    std::string data;
    char buffer[16 * 1024];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        data.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (data.size() > cap) {
            return Problem{std::string(what) + " " + path + " is larger than " +
                           std::to_string(cap) + " bytes"};
        }
    }
    if (in.bad()) {
        if (lenient) {
            return std::optional<std::string>();
        }
        return Problem{"cannot read " + std::string(what) + " " + path};
    }
    return std::optional<std::string>(std::move(data));
}

}  // namespace

bool valid_context_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name.front() == '.' || name.front() == '-') {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

Checked<ConfigFile> parse_config(std::string_view text) {
    auto parsed = protocol::parse_json(text);
    if (!parsed || !parsed->is_object()) {
        return Problem{"not a JSON object"};
    }
    const json::object& root = parsed->as_object();
    ConfigFile config;
    if (const auto* current = root.if_contains("current_context")) {
        if (!current->is_string()) {
            return Problem{"current_context is not a string"};
        }
        config.current = std::string(current->as_string());
    }
    if (const auto* contexts = root.if_contains("contexts")) {
        if (!contexts->is_object()) {
            return Problem{"contexts is not an object"};
        }
        if (contexts->as_object().size() > kMaxContexts) {
            return Problem{"more than " + std::to_string(kMaxContexts) + " contexts"};
        }
        for (const auto& [name, value] : contexts->as_object()) {
            if (!valid_context_name(name) || !value.is_object()) {
                return Problem{"context '" + std::string(name) + "' is malformed"};
            }
            Context context;
            for (const auto& [key, field] : value.as_object()) {
                if (key == "tls") {
                    if (!field.is_bool()) {
                        return Problem{"context '" + std::string(name) + "': tls is not a boolean"};
                    }
                    context.tls = field.as_bool();
                    continue;
                }
                const auto known = std::find_if(std::begin(kFields), std::end(kFields),
                                                [&](const Field& f) { return f.key == key; });
                if (known == std::end(kFields) || !field.is_string()) {
                    // Unknown keys are refused rather than ignored: a typo ("sever") would
                    // otherwise silently send commands to the default address.
                    return Problem{"context '" + std::string(name) +
                                   "': unknown or non-string key '" + std::string(key) + "'"};
                }
                context.*(known->member) = std::string(field.as_string());
            }
            config.contexts.emplace(std::string(name), std::move(context));
        }
    }
    if (!config.current.empty() && !config.contexts.contains(config.current)) {
        return Problem{"current_context '" + config.current + "' is not defined"};
    }
    return config;
}

std::string serialize_config(const ConfigFile& config) {
    json::object contexts;
    for (const auto& [name, context] : config.contexts) {
        json::object fields;
        for (const Field& field : kFields) {
            if (const std::string& value = context.*(field.member); !value.empty()) {
                fields[field.key] = value;
            }
        }
        if (context.tls) {
            fields["tls"] = true;
        }
        contexts[name] = std::move(fields);
    }
    json::object root;
    root["current_context"] = config.current;
    root["contexts"] = std::move(contexts);
    return protocol::to_json(root) + "\n";
}

std::string config_path(const Environment& env) {
    const auto get = [&env](std::string_view name) -> std::string {
        const auto it = env.find(name);
        return it == env.end() ? std::string() : it->second;
    };
    if (std::string path = get("ROOMCAST_CONFIG"); !path.empty()) {
        return path;
    }
    if (const std::string xdg = get("XDG_CONFIG_HOME"); !xdg.empty()) {
        return xdg + "/roomcast/config.json";
    }
    if (const std::string home = get("HOME"); !home.empty()) {
        return home + "/.config/roomcast/config.json";
    }
    return {};
}

Checked<std::optional<ConfigFile>> load_config(const std::string& path, bool chosen) {
    auto text = read_file(path, kMaxConfigBytes, "config file", !chosen);
    if (!text) {
        return text.error();
    }
    if (!*text) {
        return std::optional<ConfigFile>();
    }
    auto config = parse_config(**text);
    if (!config) {
        return Problem{"config file " + path + ": " + config.error().what};
    }
    return std::optional<ConfigFile>(std::move(*config));
}

Checked<bool> save_config(const std::string& path, const ConfigFile& config) {
    const std::filesystem::path target(path);
    std::error_code ec;
    if (target.has_parent_path() && !std::filesystem::exists(target.parent_path(), ec)) {
        std::filesystem::create_directories(target.parent_path(), ec);
        if (ec) {
            return Problem{"cannot create " + target.parent_path().string() + ": " + ec.message()};
        }
        // Only the owner may list which deployments this user administers.
        std::filesystem::permissions(target.parent_path(), std::filesystem::perms::owner_all, ec);
    }
    const std::string temporary = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return Problem{"cannot write " + temporary + ": " + std::strerror(errno)};
    }
    const std::string text = serialize_config(config);
    std::size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            const std::string why = std::strerror(errno);
            ::close(fd);
            ::unlink(temporary.c_str());
            return Problem{"cannot write " + temporary + ": " + why};
        }
        written += static_cast<std::size_t>(n);
    }
    // fsync before rename: otherwise a crash can leave an empty file under the real name.
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const std::string why = std::strerror(errno);
        ::unlink(temporary.c_str());
        return Problem{"cannot write " + temporary + ": " + why};
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        ::unlink(temporary.c_str());
        return Problem{"cannot replace " + path + ": " + why};
    }
    return true;
}

Checked<std::string> read_token_file(const std::string& path) {
    auto text = read_file(path, kMaxTokenFileBytes, "admin token file");
    if (!text) {
        return text.error();
    }
    if (!*text) {
        return Problem{"admin token file " + path + " does not exist"};
    }
    std::string token = trim(**text);
    if (token.empty()) {
        return Problem{"admin token file " + path + " is empty"};
    }
    return ok(std::move(token));
}

std::string server_address(std::string_view server, std::string_view default_port) {
    if (server.empty()) {
        return {};
    }
    if (server.front() == '[') {
        const std::size_t close = server.find(']');
        if (close == std::string_view::npos || close == 1) {
            return {};
        }
        if (close + 1 == server.size()) {
            return std::string(server) + ":" + std::string(default_port);
        }
        if (server[close + 1] != ':' || close + 2 == server.size()) {
            return {};
        }
        return std::string(server);
    }
    const std::size_t colon = server.find(':');
    if (colon == std::string_view::npos) {
        return std::string(server) + ":" + std::string(default_port);
    }
    if (server.find(':', colon + 1) != std::string_view::npos) {
        // More than one colon without brackets: a bare IPv6 address, no port.
        return "[" + std::string(server) + "]:" + std::string(default_port);
    }
    if (colon == 0 || colon + 1 == server.size()) {
        return {};
    }
    return std::string(server);
}

}  // namespace roomcast::ctl
