#include "roomcast/observability/metrics.hpp"

#include "roomcast/core/config.hpp"

#include <prometheus/text_serializer.h>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>

namespace roomcast::observability {

namespace {

#ifndef ROOMCAST_REVISION
#error "ROOMCAST_REVISION must be defined by the build (see libs/observability/CMakeLists.txt)"
#endif

// The standard process metrics (the names every Prometheus client library exports, so stock
// dashboards and alerts work), read from /proc/self at scrape time: a scrape costs two small
// file reads and one directory listing, and nothing is kept between scrapes.
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
        if (close != std::string::npos && close + 2 < content.size() && ticks > 0) {
            std::istringstream fields(content.substr(close + 2));
            std::vector<std::string> f;
            std::string token;
            while (fields >> token) {
                f.push_back(token);
            }
            // f[0] is field 3 (state): utime=14, stime=15, threads=20, starttime=22, vsize=23,
            // rss=24 (proc(5)), so field n is f[n - 3].
            if (f.size() > 21) {
                const double cpu = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(ticks);
                auto c = counter_family("process_cpu_seconds_total",
                                        "Total user and system CPU time spent in seconds.");
                add_sample(c, cpu);
                out.push_back(std::move(c));
                auto threads = gauge_family("process_threads", "Number of OS threads in the process.");
                add_sample(threads, std::stod(f[17]));
                out.push_back(std::move(threads));
                auto vsize = gauge_family("process_virtual_memory_bytes", "Virtual memory size in bytes.");
                add_sample(vsize, std::stod(f[20]));
                out.push_back(std::move(vsize));
                auto rss = gauge_family("process_resident_memory_bytes", "Resident memory size in bytes.");
                add_sample(rss, std::stod(f[21]) * static_cast<double>(page));
                out.push_back(std::move(rss));
                std::ifstream uptime("/proc/uptime");
                double up = 0;
                uptime >> up;
                const double boot = static_cast<double>(::time(nullptr)) - up;
                auto start = gauge_family("process_start_time_seconds",
                                          "Start time of the process since unix epoch in seconds.");
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
            --fds;  // the listing's own descriptor
        }
        auto open = gauge_family("process_open_fds", "Number of open file descriptors.");
        add_sample(open, static_cast<double>(fds));
        out.push_back(std::move(open));
        // The soft limit: what the process may open before accept() fails with EMFILE.
        if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
            auto max = gauge_family("process_max_fds", "Maximum number of open file descriptors.");
            add_sample(max, limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                                             : static_cast<double>(limit.rlim_cur));
            out.push_back(std::move(max));
        }
        return out;
    }
};

// roomcast_build_info: one constant series whose labels say what runs, so a query can join it
// (on instance) to tell which version and commit a pod serves, and a rollout is visible as the
// series of the old version disappearing.
std::shared_ptr<CallbackCollector> build_info_collector(std::string service) {
    auto c = std::make_shared<CallbackCollector>();
    c->gauge("roomcast_build_info",
             "Always 1; the labels name the service, its version and the git commit it was built from",
             [] { return 1.0; },
             {{"service", std::move(service)}, {"version", core::version_string()},
              {"revision", ROOMCAST_REVISION}});
    return c;
}

}  // namespace

Metrics::Metrics(std::string service)
    : registry_(std::make_shared<prometheus::Registry>()),
      process_(std::make_shared<ProcessCollector>()),
      build_info_(build_info_collector(std::move(service))) {
    collectables_.push_back(registry_);
    collectables_.push_back(process_);
    collectables_.push_back(build_info_);
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
