#pragma once
// Prometheus metrics of a Roomcast process, served at /metrics on its admin port.
//
// Names are prefixed roomcast_; labels never carry room or user ids (bounded label values
// only). Families are built once and their children cached by the code that owns them.
// Hot paths (the edge's per-message counters) keep plain per-shard counters and are read at
// scrape time by a Collectable, so scraping costs the scraper, not the message path.
//
// Every process also exports roomcast_build_info{service,version,revision} (always 1) and the
// standard process metrics under their usual names (process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
// process_max_fds, process_start_time_seconds, process_threads), read from /proc/self at
// scrape time.

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace roomcast::observability {

class Metrics {
public:
    // `service` is roomcast_build_info's service label: edge, rooms, presence or auth.
    explicit Metrics(std::string service);
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    prometheus::Registry& registry() noexcept { return *registry_; }
    // Adds a collectable read at every scrape (kept alive by the caller).
    void add(std::weak_ptr<prometheus::Collectable> collectable);
    // The text exposition format (version 0.0.4) of everything registered.
    std::string serialize() const;

    // Buckets for latencies from 50 µs to 10 s.
    static prometheus::Histogram::BucketBoundaries latency_buckets();

private:
    std::shared_ptr<prometheus::Registry> registry_;
    std::shared_ptr<prometheus::Collectable> process_;
    std::shared_ptr<prometheus::Collectable> build_info_;
    mutable std::mutex mu_;
    std::vector<std::weak_ptr<prometheus::Collectable>> collectables_;
};

// Values read from callbacks at scrape time (gauges and counters owned elsewhere: connection
// states, per-shard counters). The callbacks run on the scraping thread: they must be
// thread-safe and cheap. Register everything before the first scrape.
class CallbackCollector final : public prometheus::Collectable {
public:
    using Labels = std::vector<prometheus::ClientMetric::Label>;
    void gauge(const std::string& name, const std::string& help, std::function<double()> read,
               Labels labels = {});
    void counter(const std::string& name, const std::string& help, std::function<double()> read,
                 Labels labels = {});
    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    struct Sample {
        Labels labels;
        std::function<double()> read;
    };
    struct Family {
        std::string name;
        std::string help;
        prometheus::MetricType type;
        std::vector<Sample> samples;
    };
    void add(const std::string& name, const std::string& help, prometheus::MetricType type,
             std::function<double()> read, Labels labels);
    std::vector<Family> families_;
};

// roomcast_nats_connected (0/1), roomcast_nats_reconnects_total and
// roomcast_nats_storage_full_total (writes refused by a full stream or bucket), read from
// callbacks.
std::shared_ptr<CallbackCollector> nats_collector(std::function<bool()> connected,
                                                  std::function<std::uint64_t()> reconnects,
                                                  std::function<std::uint64_t()> storage_full);

// Helpers to build MetricFamily values in custom collectables.
prometheus::MetricFamily gauge_family(std::string name, std::string help);
prometheus::MetricFamily counter_family(std::string name, std::string help);
void add_sample(prometheus::MetricFamily& family, double value,
                std::vector<prometheus::ClientMetric::Label> labels = {});

}  // namespace roomcast::observability
