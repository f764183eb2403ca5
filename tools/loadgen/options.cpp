#include "options.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/core/config.hpp"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <functional>
#include <limits>

namespace roomcast::loadgen {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kEnvPrefix = "ROOMCAST_LOADGEN_";


std::optional<std::uint64_t> parse_uint(std::string_view text) {
    std::uint64_t v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

std::optional<double> parse_double(std::string_view text) {
    double v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
        !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

std::optional<bool> parse_bool(std::string_view text) {
    if (text == "true" || text == "1" || text == "yes" || text == "on") {
        return true;
    }
    if (text == "false" || text == "0" || text == "no" || text == "off") {
        return false;
    }
    return std::nullopt;
}

// Ids end up in user ids, publisher ids and room names: they are made of room id characters
// (contract::room_id_chars), which the edge accepts in room ids and the receivers' fast path
// reads without JSON unescaping. Each option has a length of its own, below the room id limit
// once the generated suffix is added.
bool valid_id(std::string_view s, std::size_t max) {
    return s.size() <= max && contract::room_id_chars(s);
}

// One option: its name, whether it is a bare boolean flag, whether repeating it appends, and
// the setter returning an error text.
struct Spec {
    std::string_view name;
    bool is_bool = false;
    bool repeatable = false;
    std::function<std::optional<std::string>(Options&, std::string_view)> set;
};

std::optional<std::string> set_count(std::uint64_t& target, std::string_view v, std::uint64_t min,
                                     std::uint64_t max) {
    const auto n = parse_uint(v);
    if (!n || *n < min || *n > max) {
        return "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
    }
    target = *n;
    return std::nullopt;
}

std::optional<std::string> set_duration(milliseconds& target, std::string_view v,
                                        milliseconds min) {
    const auto d = parse_duration(v);
    if (!d || *d < min) {
        return "expected a duration such as 30s, 250ms, 2m or 1.5s (a bare number is seconds)";
    }
    target = *d;
    return std::nullopt;
}

const std::vector<Spec>& specs() {
    static const std::vector<Spec> kSpecs = {
        {"scenario", false, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             if (v == "idle") {
                 o.scenario = Scenario::kIdle;
             } else if (v == "fanout") {
                 o.scenario = Scenario::kFanout;
             } else if (v == "latency") {
                 o.scenario = Scenario::kLatency;
             } else if (v == "connect-storm") {
                 o.scenario = Scenario::kConnectStorm;
             } else if (v == "churn") {
                 o.scenario = Scenario::kChurn;
             } else {
                 return "expected idle, fanout, latency, connect-storm or churn";
             }
             return std::nullopt;
         }},
        {"url", false, true,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             for (const auto& item : core::split_list(v)) {
                 auto t = parse_url(item);
                 if (!t) {
                     return "expected http://host:port[/path] (got '" + item + "')";
                 }
                 o.urls.push_back(std::move(*t));
             }
             return std::nullopt;
         }},
        {"source-addresses", false, true,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             for (auto& a : core::split_list(v)) {
                 o.source_addresses.push_back(std::move(a));
             }
             return std::nullopt;
         }},
        {"connections", false, false,
         [](Options& o, std::string_view v) { return set_count(o.connections, v, 1, 10'000'000); }},
        {"rooms", false, false,
         [](Options& o, std::string_view v) { return set_count(o.rooms, v, 0, 10'000'000); }},
        {"room-prefix", false, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             if (!valid_id(v, 100)) {
                 return "expected at most 100 characters of [A-Za-z0-9_:@-]";
             }
             o.room_prefix = std::string(v);
             return std::nullopt;
         }},
        {"transport", false, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             if (v == "websocket") {
                 o.transport = TransportMode::kWebSocket;
             } else if (v == "polling") {
                 o.transport = TransportMode::kPolling;
             } else if (v == "mixed") {
                 o.transport = TransportMode::kMixed;
             } else {
                 return "expected websocket, polling or mixed";
             }
             return std::nullopt;
         }},
        {"polling-share", false, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             const auto d = parse_double(v);
             if (!d || *d < 0 || *d > 1) {
                 return "expected a fraction from 0 to 1";
             }
             o.polling_share = *d;
             return std::nullopt;
         }},
        {"connect-rate", false, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             const auto d = parse_double(v);
             if (!d || *d <= 0) {
                 return "expected a positive number of connections per second";
             }
             o.connect_rate = *d;
             return std::nullopt;
         }},
        {"publishers", false, false,
         [](Options& o, std::string_view v) { return set_count(o.publishers, v, 0, 10'000'000); }},
        {"rate", false, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             const auto d = parse_double(v);
             if (!d || *d <= 0 || *d > 1'000'000) {
                 return "expected messages per second per publisher, above 0";
             }
             o.rate = *d;
             return std::nullopt;
         }},
        {"payload-bytes", false, false,
         [](Options& o, std::string_view v) {
             return set_count(o.payload_bytes, v, 0, 64 * 1024 * 1024);
         }},
        {"ephemeral", true, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             const auto b = parse_bool(v);
             if (!b) {
                 return "expected true/false";
             }
             o.ephemeral = *b;
             return std::nullopt;
         }},
        {"duration", false, false,
         [](Options& o, std::string_view v) {
             return set_duration(o.duration, v, milliseconds(0));
         }},
        {"warmup", false, false,
         [](Options& o, std::string_view v) { return set_duration(o.warmup, v, milliseconds(0)); }},
        {"jwt-secret", false, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             o.jwt_secret = std::string(v);
             return std::nullopt;
         }},
        {"no-auth", true, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             const auto b = parse_bool(v);
             if (!b) {
                 return "expected true/false";
             }
             o.no_auth = *b;
             return std::nullopt;
         }},
        {"event", false, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             if (v.empty() || v.size() > contract::kMaxEventNameBytes) {
                 return "expected a non-empty event name of at most " +
                        std::to_string(contract::kMaxEventNameBytes) + " characters";
             }
             o.event = std::string(v);
             return std::nullopt;
         }},
        {"id", false, false,
         [](Options& o,
            std::string_view v) -> std::
                                    optional<std::string> {
                                        if (v.empty() || !valid_id(v, 64)) {
                                            return "expected 1 to 64 characters of [A-Za-z0-9_:@-]";
                                        }
                                        o.id = std::string(v);
                                        return std::nullopt;
                                    }},
        {"threads", false, false,
         [](Options& o, std::string_view v) -> std::
                                                optional<std::string> {
                                                    std::uint64_t n = 0;
                                                    if (auto e = set_count(n, v, 1, 64)) {
                                                        return e;
                                                    }
                                                    o.threads = static_cast<unsigned>(n);
                                                    return std::nullopt;
                                                }},
        {"json", true, false,
         [](Options& o, std::string_view v) -> std::
                                                optional<std::string> {
                                                    const auto b = parse_bool(v);
                                                    if (!b) {
                                                        return "expected true/false";
                                                    }
                                                    o.json = *b;
                                                    return std::nullopt;
                                                }},
        {"ping-timeout-grace", false, false,
         [](Options& o,
            std::string_view
                v) { return set_duration(o.ping_timeout_grace, v, milliseconds(0)); }},
        {"start-at", false, false,
         [](Options& o, std::string_view v) -> std::optional<std::string> {
             const auto d = parse_double(v);
             if (!d || *d < 0) {
                 return "expected a Unix time in seconds (e.g. $(( $(date +%s) + 60 )))";
             }
             o.start_at = *d;
             return std::nullopt;
         }},
        {"connect-timeout", false, false,
         [](Options& o,
            std::string_view v) { return set_duration(o.connect_timeout, v, milliseconds(100)); }},
        {"ack-timeout", false, false,
         [](Options& o,
            std::string_view v) { return set_duration(o.ack_timeout, v, milliseconds(100)); }},
        {"end-wait", false, false,
         [](Options& o,
            std::string_view v) { return set_duration(o.end_wait, v, milliseconds(0)); }},
        {"max-pending-connects", false, false,
         [](Options& o,
            std::string_view v) { return set_count(o.max_pending_connects, v, 1, 1'000'000); }},
    };
    return kSpecs;
}

std::string env_name(std::string_view option) {
    std::string out(kEnvPrefix);
    for (const char c : option) {
        out += c == '-' ? '_' : (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    }
    return out;
}

std::optional<std::string_view> find_env(const char* const* envp, std::string_view name) {
    if (envp == nullptr) {
        return std::nullopt;
    }
    for (; *envp != nullptr; ++envp) {
        const std::string_view entry(*envp);
        if (entry.size() > name.size() + 1 && entry.starts_with(name) &&
            entry[name.size()] == '=') {
            return entry.substr(name.size() + 1);
        }
    }
    return std::nullopt;
}

}  // namespace

std::string_view to_string(Scenario s) noexcept {
    switch (s) {
        case Scenario::kIdle:
            return "idle";
        case Scenario::kFanout:
            return "fanout";
        case Scenario::kLatency:
            return "latency";
        case Scenario::kConnectStorm:
            return "connect-storm";
        case Scenario::kChurn:
            return "churn";
    }
    return "?";
}

std::optional<milliseconds> parse_duration(std::string_view text) {
    std::size_t unit_at = 0;
    while (unit_at < text.size() &&
           ((text[unit_at] >= '0' && text[unit_at] <= '9') || text[unit_at] == '.')) {
        ++unit_at;
    }
    const std::string_view unit = text.substr(unit_at);
    double scale = 0;
    if (unit.empty() || unit == "s") {
        scale = 1000;
    } else if (unit == "ms") {
        scale = 1;
    } else if (unit == "m") {
        scale = 60'000;
    } else if (unit == "h") {
        scale = 3'600'000;
    } else {
        return std::nullopt;
    }
    const auto n = parse_double(text.substr(0, unit_at));
    if (!n || *n < 0 || *n * scale > 1e12) {
        return std::nullopt;
    }
    return milliseconds(static_cast<std::int64_t>(std::llround(*n * scale)));
}

std::optional<Target> parse_url(std::string_view url) {
    Target t;
    if (url.starts_with("http://")) {
        url.remove_prefix(7);
        t.port = 80;
    } else if (url.starts_with("ws://")) {
        url.remove_prefix(5);
        t.port = 80;
    } else {
        return std::nullopt;  // TLS is not supported: load goes to the edges directly
    }
    const std::size_t slash = url.find('/');
    const std::string_view authority = url.substr(0, slash);
    if (slash != std::string_view::npos) {
        std::string_view path = url.substr(slash);
        if (const std::size_t q = path.find('?'); q != std::string_view::npos) {
            path = path.substr(0, q);
        }
        if (path != "/") {
            t.path = std::string(path);
            if (!t.path.ends_with('/')) {
                t.path += '/';
            }
        }
    }
    std::string_view host = authority;
    if (authority.starts_with('[')) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (!rest.starts_with(':')) {
                return std::nullopt;
            }
            const auto p = parse_uint(rest.substr(1));
            if (!p || *p == 0 || *p > 65535) {
                return std::nullopt;
            }
            t.port = static_cast<std::uint16_t>(*p);
        }
    } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        const auto p = parse_uint(authority.substr(colon + 1));
        if (!p || *p == 0 || *p > 65535) {
            return std::nullopt;
        }
        t.port = static_cast<std::uint16_t>(*p);
    }
    if (host.empty()) {
        return std::nullopt;
    }
    t.host = std::string(host);
    t.host_header = std::string(authority);
    return t;
}

ParseOutcome parse_options(int argc, const char* const* argv, const char* const* envp) {
    ParseOutcome out;
    const auto& all = specs();
    // Flags first (collected, then applied after the environment so that they win).
    std::vector<std::vector<std::string_view>> from_flag(all.size());
    const auto fail = [&out](std::string message) {
        out.kind = ParseOutcome::Kind::kError;
        out.error = std::move(message);
        return out;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i] != nullptr ? argv[i] : "";
        if (arg == "--help" || arg == "-h") {
            out.kind = ParseOutcome::Kind::kHelp;
            return out;
        }
        if (!arg.starts_with("--") || arg.size() == 2) {
            return fail("unexpected argument '" + std::string(arg) + "'");
        }
        const std::string_view body = arg.substr(2);
        const std::size_t eq = body.find('=');
        const std::string_view name = body.substr(0, eq);
        std::size_t index = 0;
        while (index < all.size() && all[index].name != name) {
            ++index;
        }
        if (index == all.size()) {
            return fail("unknown flag '--" + std::string(name) + "'");
        }
        const Spec& spec = all[index];
        std::string_view value;
        if (eq != std::string_view::npos) {
            value = body.substr(eq + 1);
        } else if (spec.is_bool) {
            value = "true";
        } else if (i + 1 < argc && argv[i + 1] != nullptr) {
            value = argv[++i];
        } else {
            return fail("flag '--" + std::string(name) + "' needs a value");
        }
        if (!spec.repeatable) {
            from_flag[index].clear();
        }
        from_flag[index].push_back(value);
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
        const Spec& spec = all[i];
        if (!from_flag[i].empty()) {
            for (const auto v : from_flag[i]) {
                if (auto e = spec.set(out.options, v)) {
                    return fail("invalid value '" + std::string(v) + "' for --" +
                                std::string(spec.name) + ": " + *e);
                }
            }
            continue;
        }
        const std::string variable = env_name(spec.name);
        if (const auto v = find_env(envp, variable)) {
            if (auto e = spec.set(out.options, *v)) {
                return fail("invalid value '" + std::string(*v) + "' in " + variable + ": " + *e);
            }
        }
    }

    Options& o = out.options;
    if (o.urls.empty()) {
        return fail("--url is required");
    }
    if (o.connections == 0) {
        return fail("--connections is required");
    }
    if (o.id.empty()) {
        o.id = "lg" + std::to_string(::getpid());
    }
    const bool publishes = o.scenario == Scenario::kFanout || o.scenario == Scenario::kLatency;
    if (publishes && o.rooms == 0) {
        return fail("--scenario " + std::string(to_string(o.scenario)) + " needs --rooms >= 1");
    }
    if (o.scenario == Scenario::kChurn && o.rooms == 0) {
        return fail("--scenario churn needs --rooms >= 1 (each cycle publishes into its room)");
    }
    if (o.publishers > o.connections) {
        return fail("--publishers must not exceed --connections");
    }
    // connect-storm connects as fast as possible unless a rate is given explicitly.
    if (o.scenario == Scenario::kConnectStorm) {
        std::size_t rate_index = 0;
        while (all[rate_index].name != "connect-rate") {
            ++rate_index;
        }
        if (from_flag[rate_index].empty() && !find_env(envp, env_name("connect-rate"))) {
            o.connect_rate.reset();
        }
    }
    return out;
}

std::string help_text() {
    return R"(Usage: roomcast_loadgen --scenario S --url URL --connections N [--flag value]...
Roomcast load generator: thousands of Socket.IO clients per process (see tools/loadgen/README.md).
Every flag is also the environment variable ROOMCAST_LOADGEN_<NAME> ('-' → '_'); flags win.

  --scenario idle|fanout|latency|connect-storm|churn
  --url URL               http://host:port[/path] (path default /socket.io/); repeatable or
                          comma-separated; connections go round-robin over them
  --source-addresses A,B  local addresses to bind, round-robin (default: the kernel picks)
  --connections N         clients of this process
  --rooms R               client i joins <room-prefix>(i mod R); 0: no join (default 0)
  --room-prefix P         default "lg-"
  --transport websocket|polling|mixed   (default websocket)
  --polling-share F       share of polling clients with --transport mixed (default 0.05)
  --connect-rate C        connections started per second (default 1000; connect-storm:
                          unpaced unless given)
  --publishers P          publishing clients of this process (fanout, latency)
  --rate M                messages per second per publisher (default 1)
  --payload-bytes B       padding in each message's data (default 64)
  --ephemeral             publish data (and churn) messages with "ephemeral":true: no offset,
                          not stored, may be dropped under backpressure (`lost` counts drops);
                          end markers stay stored
  --duration D            measurement time once everything is joined and warmed up (default 30s)
  --warmup D              default 5s; durations: 250ms, 30s, 2m, 1.5s (bare number: seconds)
  --jwt-secret S          sign HS256 tokens (sub <id>-<i>, exp now+1h) for CONNECT's auth
  --no-auth               send {} as the CONNECT payload
  --event NAME            event published and counted (default "lg")
  --id NAME               process id: prefix of user and publisher ids (default lg<pid>)
  --threads T             I/O threads, one io_context each (default 1)
  --json                  print the result JSON on stdout (progress: JSON lines on stderr)
  --ping-timeout-grace D  extra slack on the ping watchdog (pingInterval+pingTimeout; default 0)
  --start-at T            Unix time (s): publishing/churn/measurement start no earlier (several
                          processes started together then begin at the same moment)
  --connect-timeout D     TCP connect to join ack (default 15s)
  --ack-timeout D         one publish ack (default 10s; late acks count as errors)
  --end-wait D            how long receivers wait for end markers (default 10s)
  --max-pending-connects N  handshakes in progress per thread (default 1000)
)";
}

}  // namespace roomcast::loadgen
