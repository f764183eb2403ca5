// Flag + environment parsing shared by every Roomcast binary; the contract is in config.hpp.
#include "roomcast/core/config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <utility>

#ifndef ROOMCAST_VERSION
#error "ROOMCAST_VERSION must be defined by the build (see libs/core/CMakeLists.txt)"
#endif

extern char** environ;

namespace roomcast::core {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kDigits = "0123456789";
constexpr std::string_view kEnvPrefix = "ROOMCAST_";

// A parsed value, or the reason the text was rejected ("not an integer", "too large"). The
// caller adds the option name and what it accepts, so parsers stay independent of options.
template <class T>
struct ParseResult {
    std::optional<T> value;
    std::string_view problem;
};

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

// Unsigned decimal digits only: no sign, no spaces, no fraction. Signs are rejected here rather
// than range-checked later so "-5s" reads as garbage, not as a huge unsigned number.
ParseResult<std::uint64_t> parse_digits(std::string_view text, std::string_view what) {
    if (text.empty() || text.find_first_not_of(kDigits) != std::string_view::npos) {
        return {std::nullopt, what};
    }
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range) {
        return {std::nullopt, "too large"};
    }
    if (ec != std::errc() || ptr != text.data() + text.size()) {
        return {std::nullopt, what};
    }
    return {value, {}};
}

ParseResult<std::int64_t> parse_int(std::string_view text) {
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range) {
        return {std::nullopt, "out of range"};
    }
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
        return {std::nullopt, "not an integer"};
    }
    return {value, {}};
}

ParseResult<bool> parse_bool(std::string_view text) {
    for (std::string_view yes : {"true", "1", "yes", "on"}) {
        if (iequals(text, yes)) {
            return {true, {}};
        }
    }
    for (std::string_view no : {"false", "0", "no", "off"}) {
        if (iequals(text, no)) {
            return {false, {}};
        }
    }
    return {std::nullopt, "not a boolean"};
}

ParseResult<milliseconds> parse_duration(std::string_view text) {
    const std::size_t unit_at = std::min(text.find_first_not_of(kDigits), text.size());
    const std::string_view unit = text.substr(unit_at);
    std::int64_t scale = 0;
    if (unit.empty() || unit == "ms") {
        scale = 1;
    } else if (unit == "s") {
        scale = 1000;
    } else if (unit == "m") {
        scale = 60 * 1000;
    } else if (unit == "h") {
        scale = 60 * 60 * 1000;
    } else if (unit.starts_with('.') || unit.starts_with(',')) {
        return {std::nullopt, "not a whole number"};
    } else {
        return {std::nullopt, "not a duration"};
    }
    const auto count = parse_digits(text.substr(0, unit_at), "not a duration");
    if (!count.value) {
        return {std::nullopt, count.problem};
    }
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (*count.value > kMax / static_cast<std::uint64_t>(scale)) {
        return {std::nullopt, "too large"};
    }
    return {milliseconds(static_cast<std::int64_t>(*count.value) * scale), {}};
}

ParseResult<std::uint64_t> parse_bytes(std::string_view text) {
    unsigned shift = 0;
    // Kubernetes' binary suffixes (Ki, Mi, Gi, Ti) mean the same as k, m, g, t here, so a Helm
    // value such as 512Mi passes through to a flag unchanged.
    const bool binary_suffix = text.size() >= 2 && ascii_lower(text.back()) == 'i';
    if (binary_suffix) {
        text.remove_suffix(1);
    }
    if (!text.empty()) {
        switch (ascii_lower(text.back())) {
            case 'k':
                shift = 10;
                break;
            case 'm':
                shift = 20;
                break;
            case 'g':
                shift = 30;
                break;
            case 't':
                shift = 40;
                break;
            default:
                break;
        }
    }
    if (shift != 0) {
        text.remove_suffix(1);
    } else if (binary_suffix) {
        return {std::nullopt, "not a byte size"};
    }
    const auto count = parse_digits(text, "not a byte size");
    if (!count.value) {
        return count;
    }
    if (*count.value > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
        return {std::nullopt, "too large"};
    }
    return {*count.value << shift, {}};
}

// The largest unit that divides the value exactly, so the text parses back to the same value.
std::string format_duration(milliseconds value) {
    const std::int64_t ms = value.count();
    if (ms != 0) {
        if (ms % (60 * 60 * 1000) == 0) {
            return std::to_string(ms / (60 * 60 * 1000)) + "h";
        }
        if (ms % (60 * 1000) == 0) {
            return std::to_string(ms / (60 * 1000)) + "m";
        }
        if (ms % 1000 == 0) {
            return std::to_string(ms / 1000) + "s";
        }
    }
    return std::to_string(ms) + "ms";
}

std::string join_list(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& item : items) {
        if (!out.empty()) {
            out += ',';
        }
        out += item;
    }
    return out;
}


// The value of `name` in an envp-style array, or nullopt when absent or empty: an empty
// variable is how shells and container specs "unset" something, so it must not override.
std::optional<std::string_view> find_env(const char* const* envp, std::string_view name) {
    if (envp == nullptr) {
        return std::nullopt;
    }
    for (; *envp != nullptr; ++envp) {
        const std::string_view entry(*envp);
        if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=') {
            const std::string_view value = entry.substr(name.size() + 1);
            if (value.empty()) {
                return std::nullopt;
            }
            return value;
        }
    }
    return std::nullopt;
}

bool valid_option_name(std::string_view name) {
    if (name.empty() || name.front() == '-' || name.back() == '-') {
        return false;
    }
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) {
            return false;
        }
    }
    return name != "help" && name != "version";
}

template <class T>
void check_range(std::string_view name, const T& value, const T& min, const T& max) {
    if (min > max) {
        throw std::invalid_argument("option '" + std::string(name) + "': min > max");
    }
    if (value < min || value > max) {
        throw std::invalid_argument("option '" + std::string(name) +
                                    "': default is outside [min, max]");
    }
}

// Appends `text` word-wrapped to kHelpWidth columns, each line indented by kHelpIndent, so
// --help stays readable in a 100-column terminal whatever the option's help says.
void append_wrapped(std::string& out, std::string_view text) {
    constexpr std::size_t kHelpWidth = 100;
    constexpr std::string_view kHelpIndent = "      ";
    std::size_t column = 0;
    while (!text.empty()) {
        const std::size_t space = text.find(' ');
        const std::string_view word = text.substr(0, space);
        text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
        if (word.empty()) {
            continue;
        }
        if (column != 0 && column + 1 + word.size() > kHelpWidth) {
            out += '\n';
            column = 0;
        }
        if (column == 0) {
            out += kHelpIndent;
            column = kHelpIndent.size();
        } else {
            out += ' ';
            ++column;
        }
        out += word;
        column += word.size();
    }
    out += '\n';
}

}  // namespace

std::string weak_secret(std::string_view flag, std::string_view value, std::size_t min_bytes) {
    if (value.size() >= min_bytes) {
        return {};
    }
    return "--" + std::string(flag) + " must be at least " + std::to_string(min_bytes) +
           " bytes (it has " + std::to_string(value.size()) + "): generate one, e.g. with `openssl rand -hex 32`";
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> items;
    while (true) {
        const std::size_t comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        const std::size_t first = item.find_first_not_of(" \t");
        if (first != std::string_view::npos) {
            item = item.substr(first, item.find_last_not_of(" \t") - first + 1);
            items.emplace_back(item);
        }
        if (comma == std::string_view::npos) {
            return items;
        }
        text.remove_prefix(comma + 1);
    }
}

Config::Config(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

// Names, targets and ranges come from code, not users, so a bad one is a programming error and
// throws at start-up instead of being reported as a parse error.
Config::Option& Config::push(std::string name, std::string help, std::string default_text) {
    if (!valid_option_name(name)) {
        throw std::invalid_argument("invalid option name '" + name +
                                    "' (lower-case letters, digits and '-'; not help/version)");
    }
    for (const Option& existing : options_) {
        if (existing.name == name) {
            throw std::invalid_argument("option '" + name + "' registered twice");
        }
    }
    Option& option = options_.emplace_back();
    option.name = std::move(name);
    option.help = std::move(help);
    option.default_text = std::move(default_text);
    return option;
}

Config& Config::add_string(std::string name, std::string* target, std::string help) {
    if (target == nullptr) {
        throw std::invalid_argument("option '" + name + "': null target");
    }
    Option& option = push(std::move(name), std::move(help), *target);
    option.accepts = "any text";
    option.set = [target](std::string_view text) -> std::optional<std::string> {
        target->assign(text);
        return std::nullopt;
    };
    return *this;
}

Config& Config::add_list(std::string name, std::vector<std::string>* target, std::string help) {
    if (target == nullptr) {
        throw std::invalid_argument("option '" + name + "': null target");
    }
    Option& option = push(std::move(name), std::move(help), join_list(*target));
    option.accepts = "a comma-separated list";
    option.set = [target](std::string_view text) -> std::optional<std::string> {
        *target = split_list(text);
        return std::nullopt;
    };
    return *this;
}

Config& Config::add_int(std::string name, std::int64_t* target, std::string help, std::int64_t min,
                        std::int64_t max) {
    if (target == nullptr) {
        throw std::invalid_argument("option '" + name + "': null target");
    }
    check_range(name, *target, min, max);
    Option& option = push(std::move(name), std::move(help), std::to_string(*target));
    option.accepts = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    option.set = [target, min, max](std::string_view text) -> std::optional<std::string> {
        const auto parsed = parse_int(text);
        if (!parsed.value) {
            return std::string(parsed.problem);
        }
        if (*parsed.value < min || *parsed.value > max) {
            return "out of range";
        }
        *target = *parsed.value;
        return std::nullopt;
    };
    return *this;
}

Config& Config::add_bool(std::string name, bool* target, std::string help) {
    if (target == nullptr) {
        throw std::invalid_argument("option '" + name + "': null target");
    }
    Option& option = push(std::move(name), std::move(help), *target ? "true" : "false");
    option.accepts = "true/false, 1/0, yes/no or on/off";
    option.is_bool = true;
    option.set = [target](std::string_view text) -> std::optional<std::string> {
        const auto parsed = parse_bool(text);
        if (!parsed.value) {
            return std::string(parsed.problem);
        }
        *target = *parsed.value;
        return std::nullopt;
    };
    return *this;
}

Config& Config::add_duration(std::string name, milliseconds* target, std::string help,
                             milliseconds min, milliseconds max) {
    if (target == nullptr) {
        throw std::invalid_argument("option '" + name + "': null target");
    }
    check_range(name, *target, min, max);
    Option& option = push(std::move(name), std::move(help), format_duration(*target));
    option.accepts = "a duration such as 250ms, 5s, 2m or 1h (a bare number is milliseconds)";
    option.accepts += " from " + format_duration(min) + " to " + format_duration(max);
    option.set = [target, min, max](std::string_view text) -> std::optional<std::string> {
        const auto parsed = parse_duration(text);
        if (!parsed.value) {
            return std::string(parsed.problem);
        }
        if (*parsed.value < min || *parsed.value > max) {
            return "out of range";
        }
        *target = *parsed.value;
        return std::nullopt;
    };
    return *this;
}

Config& Config::add_bytes(std::string name, std::uint64_t* target, std::string help,
                          std::uint64_t min, std::uint64_t max) {
    if (target == nullptr) {
        throw std::invalid_argument("option '" + name + "': null target");
    }
    check_range(name, *target, min, max);
    Option& option = push(std::move(name), std::move(help), std::to_string(*target));
    option.accepts =
        "a byte count such as 1000000, 64k, 512Mi or 2g (k/m/g/t and Ki/Mi/Gi/Ti are powers of "
        "1024)";
    option.accepts += " from " + std::to_string(min) + " to " + std::to_string(max);
    option.set = [target, min, max](std::string_view text) -> std::optional<std::string> {
        const auto parsed = parse_bytes(text);
        if (!parsed.value) {
            return std::string(parsed.problem);
        }
        if (*parsed.value < min || *parsed.value > max) {
            return "out of range";
        }
        *target = *parsed.value;
        return std::nullopt;
    };
    return *this;
}

Config::Parsed Config::parse(int argc, const char* const* argv, const char* const* envp) {
    // Flags are collected before anything is assigned: --help and --version win over any
    // mistake elsewhere on the line, and a flag replaces the environment's value instead of
    // being validated after it.
    std::vector<std::optional<std::string_view>> from_flag(options_.size());
    std::optional<std::string> first_error;
    const auto fail = [&first_error](std::string message) {
        if (!first_error) {
            first_error = std::move(message);
        }
    };
    const Option* previous_bare_bool = nullptr;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i] != nullptr ? argv[i] : "";
        if (arg == "--help" || arg == "-h") {
            const std::string text = help_text();
            std::fwrite(text.data(), 1, text.size(), stdout);
            std::fflush(stdout);
            return {Outcome::kExitOk, std::nullopt};
        }
        if (arg == "--version") {
            std::printf("%s %s\n", program_.c_str(), version_string().c_str());
            std::fflush(stdout);
            return {Outcome::kExitOk, std::nullopt};
        }
        const Option* bare_bool = nullptr;
        if (arg.size() > 2 && arg.starts_with("--")) {
            const std::string_view body = arg.substr(2);
            const std::size_t equals = body.find('=');
            const std::string_view name = body.substr(0, equals);
            std::size_t index = 0;
            while (index < options_.size() && options_[index].name != name) {
                ++index;
            }
            if (index == options_.size()) {
                fail("unknown flag '--" + std::string(name) + "'");
            } else if (const Option& option = options_[index]; equals != std::string_view::npos) {
                from_flag[index] = body.substr(equals + 1);
            } else if (option.is_bool) {
                // A bool never takes the next argument, so `--verbose file` cannot silently
                // swallow a word; false needs `--verbose=false`.
                from_flag[index] = "true";
                bare_bool = &option;
            } else if (i + 1 < argc && argv[i + 1] != nullptr &&
                       !std::string_view(argv[i + 1]).starts_with("--")) {
                from_flag[index] = argv[++i];
            } else {
                fail("flag '--" + option.name + "' needs a value: " + option.accepts);
            }
        } else if (arg.size() > 1 && arg.starts_with('-') && arg != "--") {
            fail("unknown flag '" + std::string(arg) + "'");
        } else if (previous_bare_bool != nullptr) {
            fail("unexpected argument '" + std::string(arg) + "': --" + previous_bare_bool->name +
                 " is a boolean flag and takes a value only as --" + previous_bare_bool->name +
                 "=" + std::string(arg));
        } else {
            fail("unexpected argument '" + std::string(arg) + "': " + program_ +
                 " takes no positional arguments");
        }
        previous_bare_bool = bare_bool;
    }
    if (first_error) {
        return {Outcome::kRun, std::move(first_error)};
    }

    const char* const* env = envp != nullptr ? envp : environ;
    for (std::size_t i = 0; i < options_.size(); ++i) {
        const Option& option = options_[i];
        if (from_flag[i]) {
            if (auto problem = option.set(*from_flag[i])) {
                return {Outcome::kRun, "invalid value '" + std::string(*from_flag[i]) + "' for --" +
                                           option.name + ": " + *problem + "; expected " +
                                           option.accepts};
            }
            continue;
        }
        const std::string variable = env_name(option.name);
        if (const auto value = find_env(env, variable)) {
            if (auto problem = option.set(*value)) {
                return {Outcome::kRun, "invalid value '" + std::string(*value) + "' in " +
                                           variable + " (--" + option.name + "): " + *problem +
                                           "; expected " + option.accepts};
            }
        }
    }
    return {Outcome::kRun, std::nullopt};
}

void Config::parse_or_exit(int argc, const char* const* argv) {
    const Parsed parsed = parse(argc, argv);
    if (parsed.error) {
        std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", program_.c_str(), parsed.error->c_str(),
                     program_.c_str());
        std::exit(2);
    }
    if (parsed.outcome == Outcome::kExitOk) {
        std::exit(0);
    }
}

std::string Config::help_text() const {
    std::string out = "Usage: " + program_ + " [--flag value]...\n";
    if (!summary_.empty()) {
        out += summary_ + "\n";
    }
    out +=
        "\nEvery flag can also be set through its environment variable; a flag wins over "
        "the\nenvironment, which wins over the default. Empty variables are ignored.\n"
        "\nOptions:\n";
    for (const Option& option : options_) {
        out += "  --" + option.name + (option.is_bool ? "[=<bool>]\n" : " <value>\n");
        if (!option.help.empty()) {
            append_wrapped(out, option.help);
        }
        append_wrapped(out, "Accepts " + option.accepts + ".");
        out += "      Env: " + env_name(option.name) + "  Default: " +
               (option.default_text.empty() ? std::string("\"\"") : option.default_text) + "\n";
    }
    out += "  -h, --help\n      Print this help and exit.\n";
    out += "  --version\n      Print the version and exit.\n";
    return out;
}

std::string Config::env_name(std::string_view option) {
    std::string out(kEnvPrefix);
    for (const char c : option) {
        out += c == '-' ? '_' : (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    }
    return out;
}

std::string version_string() {
    return ROOMCAST_VERSION;
}

}  // namespace roomcast::core
