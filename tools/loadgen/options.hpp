#pragma once
// The load generator's command line: every flag as `--name value` / `--name=value`, or as the
// environment variable ROOMCAST_LOADGEN_<NAME> (upper case, '-' → '_'); a flag wins over the
// environment, which wins over the default.
//
// Not libs/core's Config: that one reads ROOMCAST_<NAME> (which would pick up a server's
// ROOMCAST_JWT_SECRET or ROOMCAST_THREADS from a shared shell), replaces a list when a flag is
// repeated (the contract has `--url` repeatable) and has no fractions (`--polling-share`).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace roomcast::loadgen {

enum class Scenario : std::uint8_t { kIdle, kFanout, kLatency, kConnectStorm, kChurn };
enum class TransportMode : std::uint8_t { kWebSocket, kPolling, kMixed };

std::string_view to_string(Scenario s) noexcept;

// One --url: http://host:port[/path]; the Socket.IO path defaults to /socket.io/.
struct Target {
    std::string host;
    std::uint16_t port = 80;
    std::string path = "/socket.io/";
    std::string host_header;  // "host:port" as sent in Host
};

struct Options {
    Scenario scenario = Scenario::kIdle;
    std::vector<Target> urls;
    std::vector<std::string> source_addresses;
    std::uint64_t connections = 0;
    std::uint64_t rooms = 0;
    std::string room_prefix = "lg-";
    TransportMode transport = TransportMode::kWebSocket;
    double polling_share = 0.05;
    // Connections started per second; nullopt: as fast as possible (connect-storm only).
    std::optional<double> connect_rate = 1000.0;
    std::uint64_t publishers = 0;
    double rate = 1.0;
    std::uint64_t payload_bytes = 64;
    // Data and churn messages are published with "ephemeral":true (core NATS: no offset, no
    // history, dropped first under backpressure, so `lost` counts those drops); end markers
    // stay stored so that the count always arrives.
    bool ephemeral = false;
    std::chrono::milliseconds duration{30000};
    std::chrono::milliseconds warmup{5000};
    std::string jwt_secret;
    bool no_auth = false;
    std::string event = "lg";
    std::string id;
    unsigned threads = 1;
    bool json = false;
    // Slack added to the client's ping watchdog (pingInterval + pingTimeout) before it gives
    // up on a server that stopped pinging; absorbs scheduling delays of a saturated loadgen.
    std::chrono::milliseconds ping_timeout_grace{0};

    // Wall-clock time (Unix seconds) before which publishing, churn and the measurement do not
    // start, so that processes started together begin at the same moment once all of them have
    // connected (a receiver still connecting would count early messages as lost).
    std::optional<double> start_at;

    // Limits (every wait has a deadline): TCP connect through the join ack; one publish ack;
    // how long receivers wait for the publishers' end markers.
    std::chrono::milliseconds connect_timeout{15000};
    std::chrono::milliseconds ack_timeout{10000};
    std::chrono::milliseconds end_wait{10000};
    // Handshakes in progress per thread (TCP connect to join ack): bounds the SYN backlog an
    // unpaced connect-storm throws at the server and the kernel.
    std::uint64_t max_pending_connects = 1000;
};

struct ParseOutcome {
    enum class Kind : std::uint8_t { kRun, kHelp, kError } kind = Kind::kRun;
    Options options;
    std::string error;
};

// Parses argv (argv[0] skipped) and an envp-style array (nullptr: no environment).
ParseOutcome parse_options(int argc, const char* const* argv, const char* const* envp);

std::string help_text();

// "30s", "250ms", "2m", "1h", "1.5s"; a bare number is seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::optional<Target> parse_url(std::string_view url);

}  // namespace roomcast::loadgen
