#pragma once
// Runs one scenario: starts the worker threads, drives the phases (connect and join, warm-up,
// measurement, end markers, close), prints progress and merges the workers' results.

#include "accounting.hpp"
#include "histogram.hpp"
#include "options.hpp"

#include <boost/json/object.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>

namespace roomcast::loadgen {

struct RunResult {
    std::string id;
    Scenario scenario = Scenario::kIdle;
    bool ephemeral = false;  // --ephemeral: what was published, so a result says how it was made
    unsigned threads = 1;

    std::uint64_t target = 0;
    std::uint64_t established = 0;
    std::uint64_t failed = 0;
    std::uint64_t disconnected = 0;
    double connects_per_second = 0;  // established / time until every attempt settled
    Histogram connect_us;            // TCP connect start → Socket.IO CONNECT reply
    Histogram connect_join_us;       // TCP connect start → join ack
    std::map<std::string, std::uint64_t> failure_reasons;
    std::map<std::string, std::uint64_t> disconnect_reasons;
    std::map<unsigned, std::uint64_t> upgrade_refused_statuses;  // HTTP status -> upgrades refused

    std::uint64_t joins_ok = 0;
    std::uint64_t joins_failed = 0;

    std::uint64_t sent = 0;
    std::uint64_t acked = 0;
    std::uint64_t publish_errors = 0;

    std::uint64_t deliveries = 0;
    std::uint64_t measured_deliveries = 0;
    std::uint64_t without_offset = 0;  // deliveries without an offset: ephemeral events
    double deliveries_per_second = 0;
    LossTotals loss;
    std::uint64_t publishers_seen = 0;
    std::uint64_t foreign = 0;  // the event with data not written by a load generator

    std::uint64_t churn_cycles = 0;
    std::uint64_t churn_completed = 0;
    std::uint64_t churn_failed = 0;

    Histogram latency_us;
    double duration_s = 0;
    std::uint64_t rss_start_bytes = 0;
    std::uint64_t rss_bytes = 0;  // at the end of the measurement, before closing
    std::uint64_t rss_peak_bytes = 0;
    double cpu_seconds = 0;

    boost::json::object to_json() const;
    // 0 when the run completed, 1 when nothing connected.
    int exit_code() const noexcept { return established > 0 ? 0 : 1; }
};

// Runs the scenario. Progress lines (JSON) go to `progress` once a second when non-null.
// Throws std::runtime_error for set-up errors (unresolvable URL, bad source address).
RunResult run(const Options& options, std::ostream* progress);

}  // namespace roomcast::loadgen
