#pragma once
// Declarative command-line + environment configuration shared by every binary.
//
// Each option is a flag `--name value` (or `--name=value`) and the environment variable
// ROOMCAST_<NAME> (upper case, '-' → '_'). The flag wins over the environment, which wins over
// the default (the target's value when the option is registered). Values are validated at
// start-up; a bad value is an error naming the option and what it accepts.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::core {

class Config {
public:
    Config(std::string program, std::string summary);

    Config& add_string(std::string name, std::string* target, std::string help);
    // Comma-separated list; empty entries dropped.
    Config& add_list(std::string name, std::vector<std::string>* target, std::string help);
    Config& add_int(std::string name, std::int64_t* target, std::string help, std::int64_t min,
                    std::int64_t max);
    // Accepts true/false/1/0/yes/no/on/off; a bare flag `--name` means true.
    Config& add_bool(std::string name, bool* target, std::string help);
    // Accepts "250ms", "5s", "2m", "1h" or a bare number of milliseconds.
    Config& add_duration(std::string name, std::chrono::milliseconds* target, std::string help,
                         std::chrono::milliseconds min, std::chrono::milliseconds max);
    // Byte sizes: "1000000", "64k", "1m", "2g" (powers of 1024 for suffixes).
    Config& add_bytes(std::string name, std::uint64_t* target, std::string help, std::uint64_t min,
                      std::uint64_t max);

    enum class Outcome { kRun, kExitOk };
    // Parses `argv` and `envp` (environ when null). Prints --help / --version and returns
    // kExitOk for them. On a bad value or unknown flag returns the error text.
    struct Parsed {
        Outcome outcome = Outcome::kRun;
        std::optional<std::string> error;
    };
    Parsed parse(int argc, const char* const* argv, const char* const* envp = nullptr);
    // parse(), then on error prints "<program>: <error>" and a hint to stderr and exits 2;
    // on --help/--version exits 0.
    void parse_or_exit(int argc, const char* const* argv);

    std::string help_text() const;
    static std::string env_name(std::string_view option);

private:
    struct Option {
        std::string name;
        std::string help;
        std::string default_text;
        // What the option accepts ("an integer from 1 to 65535"), shared by --help and by the
        // error messages so the two never disagree.
        std::string accepts;
        bool is_bool = false;
        std::function<std::optional<std::string>(std::string_view)> set;  // error text or nullopt
    };
    Option& push(std::string name, std::string help, std::string default_text);

    std::string program_;
    std::string summary_;
    std::vector<Option> options_;
};

std::string version_string();

// A comma-separated list as flags and ROOMCAST_* variables spell lists: items trimmed of
// spaces and tabs, empty items dropped.
std::vector<std::string> split_list(std::string_view text);

// Secrets (the HS256 key, the admin token) shorter than this are refused at start-up: a short
// HMAC key or bearer token can be guessed offline or online.
inline constexpr std::size_t kMinSecretBytes = 32;
// "" when `value` (the value of --`flag`) is long enough; otherwise the message to exit with.
std::string weak_secret(std::string_view flag, std::string_view value,
                        std::size_t min_bytes = kMinSecretBytes);

}  // namespace roomcast::core
