#include "roomcast/observability/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace roomcast::observability {

namespace {

// roomcast_process_*: what the stock process collectors report, under our prefix.
class ProcessCollector final : public prometheus::Collectable {
public:
    std::vector<prometheus::MetricFamily> Collect() const override {
        std::vector<prometheus::MetricFamily> out;
        const long ticks = ::sysconf(_SC_CLK_TCK);
        const long page = ::sysconf(_SC_PAGESIZE);
        std::ifstream stat("/proc/self/stat");
        std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        // Fields after the command name (which may contain spaces) start after the last ')'.
        const auto close = content.rfind(')');
        if (close != std::string::npos && ticks > 0) {
            std::istringstream fields(content.substr(close + 2));
            std::vector<std::string> f;
            std::string token;
            while (fields >> token) {
                f.push_back(token);
            }
            // f[0] is field 3 (state): utime=14, stime=15, threads=20, starttime=22, rss=24.
            if (f.size() > 22) {
                const double cpu = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(ticks);
                auto c = counter_family("roomcast_process_cpu_seconds_total", "User and system CPU time");
                add_sample(c, cpu);
                out.push_back(std::move(c));
                auto threads = gauge_family("roomcast_process_threads", "OS threads");
                add_sample(threads, std::stod(f[17]));
                out.push_back(std::move(threads));
                auto rss = gauge_family("roomcast_process_resident_memory_bytes", "Resident memory");
                add_sample(rss, std::stod(f[21]) * static_cast<double>(page));
                out.push_back(std::move(rss));
                std::ifstream uptime("/proc/uptime");
                double up = 0;
                uptime >> up;
                const double boot = static_cast<double>(::time(nullptr)) - up;
                auto start = gauge_family("roomcast_process_start_time_seconds",
                                          "Start time, seconds since the Unix epoch");
                add_sample(start, boot + std::stod(f[19]) / static_cast<double>(ticks));
                out.push_back(std::move(start));
            }
        }
        std::size_t fds = 0;
        if (DIR* dir = ::opendir("/proc/self/fd")) {
            while (const dirent* e = ::readdir(dir)) {
                if (e->d_name[0] != '.') {
                    ++fds;
                }
            }
            ::closedir(dir);
        }
        auto open = gauge_family("roomcast_process_open_fds", "Open file descriptors");
        add_sample(open, static_cast<double>(fds));
        out.push_back(std::move(open));
        return out;
    }
};

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      process_(std::make_shared<ProcessCollector>()) {
    collectables_.push_back(registry_);
    collectables_.push_back(process_);
}

void Metrics::add(std::weak_ptr<prometheus::Collectable> collectable) {
    std::lock_guard lock(mu_);
    collectables_.push_back(std::move(collectable));
}

std::string Metrics::serialize() const {
    std::vector<prometheus::MetricFamily> families;
    {
        std::lock_guard lock(mu_);
        for (const auto& weak : collectables_) {
            if (auto c = weak.lock()) {
                auto f = c->Collect();
                families.insert(families.end(), std::make_move_iterator(f.begin()),
                                std::make_move_iterator(f.end()));
            }
        }
    }
    return prometheus::TextSerializer().Serialize(families);
}

prometheus::Histogram::BucketBoundaries Metrics::latency_buckets() {
    return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
            0.025,   0.05,   0.1,     0.25,   0.5,   1,     2.5,    5,    10};
}

void CallbackCollector::add(const std::string& name, const std::string& help,
                            prometheus::MetricType type, std::function<double()> read, Labels labels) {
    for (auto& f : families_) {
        if (f.name == name) {
            f.samples.push_back(Sample{std::move(labels), std::move(read)});
            return;
        }
    }
    families_.push_back(Family{name, help, type, {Sample{std::move(labels), std::move(read)}}});
}

void CallbackCollector::gauge(const std::string& name, const std::string& help,
                              std::function<double()> read, Labels labels) {
    add(name, help, prometheus::MetricType::Gauge, std::move(read), std::move(labels));
}

void CallbackCollector::counter(const std::string& name, const std::string& help,
                                std::function<double()> read, Labels labels) {
    add(name, help, prometheus::MetricType::Counter, std::move(read), std::move(labels));
}

std::vector<prometheus::MetricFamily> CallbackCollector::Collect() const {
    std::vector<prometheus::MetricFamily> out;
    out.reserve(families_.size());
    for (const auto& f : families_) {
        prometheus::MetricFamily family = f.type == prometheus::MetricType::Counter
                                              ? counter_family(f.name, f.help)
                                              : gauge_family(f.name, f.help);
        for (const auto& sample : f.samples) {
            add_sample(family, sample.read(), sample.labels);
        }
        out.push_back(std::move(family));
    }
    return out;
}

std::shared_ptr<CallbackCollector> nats_collector(std::function<bool()> connected,
                                                  std::function<std::uint64_t()> reconnects,
                                                  std::function<std::uint64_t()> storage_full) {
    auto c = std::make_shared<CallbackCollector>();
    c->gauge("roomcast_nats_connected", "1 while the NATS connection is up",
             [connected = std::move(connected)] { return connected() ? 1.0 : 0.0; });
    c->counter("roomcast_nats_reconnects_total", "NATS reconnections since start",
               [reconnects = std::move(reconnects)] { return static_cast<double>(reconnects()); });
    c->counter(
        "roomcast_nats_storage_full_total",
        "JetStream writes refused because a stream or KV bucket was at its byte budget (or the "
        "store was full)",
        [storage_full = std::move(storage_full)] { return static_cast<double>(storage_full()); });
    return c;
}

prometheus::MetricFamily gauge_family(std::string name, std::string help) {
    prometheus::MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = prometheus::MetricType::Gauge;
    return f;
}

prometheus::MetricFamily counter_family(std::string name, std::string help) {
    prometheus::MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = prometheus::MetricType::Counter;
    return f;
}

void add_sample(prometheus::MetricFamily& family, double value,
                std::vector<prometheus::ClientMetric::Label> labels) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    if (family.type == prometheus::MetricType::Counter) {
        m.counter.value = value;
    } else {
        m.gauge.value = value;
    }
    family.metric.push_back(std::move(m));
}

}  // namespace roomcast::observability
