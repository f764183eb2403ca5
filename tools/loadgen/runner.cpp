#include "runner.hpp"

#include "client.hpp"
#include "worker.hpp"

#include "roomcast/protocol/json.hpp"
#include "roomcast/transport/shard.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/array.hpp>

#include <sys/resource.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <future>
#include <thread>
#include <unordered_map>

namespace roomcast::loadgen {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

constexpr auto kPoll = milliseconds(50);
constexpr auto kProgressEvery = std::chrono::seconds(1);

std::uint64_t proc_status_kb(std::string_view key) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with(key)) {
            return std::strtoull(line.c_str() + key.size(), nullptr, 10);
        }
    }
    return 0;
}

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    const auto tv = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6;
    };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// Every connection is a descriptor (two for a polling client): use the whole hard limit.
void raise_open_files_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

double round3(double v) {
    return std::round(v * 1000.0) / 1000.0;
}

json::object ms_percentiles(const Histogram& h) {
    json::object o;
    o["p50"] = round3(static_cast<double>(h.percentile(50)) / 1000.0);
    o["p90"] = round3(static_cast<double>(h.percentile(90)) / 1000.0);
    o["p99"] = round3(static_cast<double>(h.percentile(99)) / 1000.0);
    o["max"] = round3(static_cast<double>(h.max()) / 1000.0);
    return o;
}

// The run's orchestration, on the calling thread; workers are driven by posting to them.
class Orchestrator {
public:
    Orchestrator(const Plan& plan, std::ostream* progress)
        : plan_(plan), progress_(progress), pool_(plan.options.threads) {
        for (unsigned i = 0; i < pool_.size(); ++i) {
            workers_.push_back(std::make_unique<Worker>(pool_.shard(i), plan_, i));
        }
    }
    ~Orchestrator() {
        pool_.stop();
        workers_.clear();  // before pool_: sockets deregister from live io_contexts
    }

    RunResult run();

private:
    void post_all(std::function<void(Worker&)> f) {
        for (auto& w : workers_) {
            boost::asio::post(w->shard().ioc(), [f, wp = w.get()] { f(*wp); });
        }
    }
    // Runs `f` on every worker and waits until all have run it.
    void sync_all(std::function<void(Worker&)> f) {
        std::vector<std::future<void>> done;
        for (auto& w : workers_) {
            auto promise = std::make_shared<std::promise<void>>();
            done.push_back(promise->get_future());
            boost::asio::post(w->shard().ioc(), [f, wp = w.get(), promise] {
                f(*wp);
                promise->set_value();
            });
        }
        for (auto& d : done) {
            d.wait();
        }
    }
    std::uint64_t sum(transport::LocalCounter Counters::*member) const {
        std::uint64_t total = 0;
        for (const auto& w : workers_) {
            total += (w->counters.*member).get();
        }
        return total;
    }
    // Waits until `done` or `timeout`, reporting progress; returns whether `done` became true.
    bool wait_until(const std::function<bool()>& done, Clock::duration timeout);
    void sleep_for(Clock::duration d) {
        wait_until([] { return false; }, d);
    }
    void report(bool force = false);
    RunResult collect();

    const Plan& plan_;
    std::ostream* progress_;
    transport::ShardPool pool_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::string phase_ = "connect";
    Clock::time_point t0_{};
    Clock::time_point last_report_{};
    std::uint64_t last_sent_ = 0;
    std::uint64_t last_received_ = 0;
    Clock::time_point measure_start_{};
    Clock::time_point measure_end_{};
    double setup_s_ = 0;
    RunResult result_;
};

bool Orchestrator::wait_until(const std::function<bool()>& done, Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
        if (done()) {
            return true;
        }
        const auto now = Clock::now();
        if (now >= deadline) {
            return false;
        }
        if (now - last_report_ >= kProgressEvery) {
            report();
        }
        std::this_thread::sleep_for(std::min<Clock::duration>(kPoll, deadline - now));
    }
}

void Orchestrator::report(bool force) {
    const auto now = Clock::now();
    const double dt = std::chrono::duration<double>(now - last_report_).count();
    if (progress_ == nullptr || (!force && dt <= 0)) {
        last_report_ = now;
        return;
    }
    sync_all([](Worker& w) { w.snapshot_latency(); });
    Histogram latency;
    for (const auto& w : workers_) {
        latency.merge(w->latency_snapshot());
    }
    const std::uint64_t sent = sum(&Counters::sent);
    const std::uint64_t received = sum(&Counters::deliveries);
    const std::uint64_t established = sum(&Counters::established);
    const std::uint64_t disconnected = sum(&Counters::disconnected);
    json::object line;
    line["t"] = round3(std::chrono::duration<double>(now - t0_).count());
    line["id"] = plan_.options.id;
    line["phase"] = phase_;
    line["connected"] = established - std::min(established, disconnected);
    line["joined"] = sum(&Counters::joined);
    line["failed"] = sum(&Counters::failed);
    line["disconnected"] = disconnected;
    line["sent_per_s"] = std::round(static_cast<double>(sent - last_sent_) / dt);
    line["received_per_s"] = std::round(static_cast<double>(received - last_received_) / dt);
    line["p99_us"] = latency.percentile(99);
    *progress_ << protocol::to_json(line) << std::endl;
    last_sent_ = sent;
    last_received_ = received;
    last_report_ = now;
}

RunResult Orchestrator::run() {
    const Options& o = plan_.options;
    result_.rss_start_bytes = proc_status_kb("VmRSS:") * 1024;
    const double cpu_start = cpu_seconds();
    pool_.start();
    t0_ = Clock::now();
    last_report_ = t0_;
    post_all([t0 = t0_](Worker& w) { w.start(t0); });

    // 1. Connect and join everybody (bounded: pacing time plus the per-client deadline).
    const double pacing_s =
        o.connect_rate ? static_cast<double>(o.connections) / *o.connect_rate : 0;
    const double waves = std::ceil(static_cast<double>(o.connections) /
                                   static_cast<double>(o.max_pending_connects * o.threads));
    const auto setup_deadline =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(pacing_s)) +
        o.connect_timeout * static_cast<long>(std::max(1.0, waves)) + std::chrono::seconds(5);
    wait_until([&] { return sum(&Counters::settled) >= o.connections; }, setup_deadline);
    const auto setup_end = Clock::now();
    setup_s_ = std::chrono::duration<double>(setup_end - t0_).count();

    // Nothing to measure when nothing connected: report at once (exit status 1).
    const bool nobody = sum(&Counters::established) == 0;
    if (o.start_at && o.scenario != Scenario::kConnectStorm && !nobody) {
        const auto now_s =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        if (now_s > *o.start_at) {
            if (progress_ != nullptr) {
                *progress_ << R"({"warning":"connected after --start-at: started late","late_s":)"
                           << round3(now_s - *o.start_at) << "}" << std::endl;
            }
        } else {
            phase_ = "wait-start";
            sleep_for(std::chrono::duration_cast<Clock::duration>(
                std::chrono::duration<double>(*o.start_at - now_s)));
        }
    }

    const bool publishes = plan_.publishes() && !nobody;
    switch (nobody ? Scenario::kConnectStorm : o.scenario) {
        case Scenario::kConnectStorm:
            measure_start_ = t0_;
            measure_end_ = setup_end;
            break;
        case Scenario::kIdle:
        case Scenario::kFanout:
        case Scenario::kLatency:
        case Scenario::kChurn: {
            if (publishes) {
                post_all([](Worker& w) { w.start_publishing(); });
            }
            phase_ = "warmup";
            sleep_for(o.warmup);
            phase_ = "measure";
            sync_all([](Worker& w) { w.set_measuring(true); });
            if (o.scenario == Scenario::kChurn) {
                post_all([](Worker& w) { w.start_churn(); });
            }
            measure_start_ = Clock::now();
            sleep_for(o.duration);
            sync_all([](Worker& w) {
                w.set_measuring(false);
                w.stop_publishing();
                w.stop_churn();
            });
            measure_end_ = Clock::now();
            break;
        }
    }

    if (o.scenario == Scenario::kChurn && !nobody) {
        phase_ = "churn-drain";
        wait_until(
            [&] {
                std::uint64_t n = 0;
                for (const auto& w : workers_) {
                    n += w->churn_in_flight();
                }
                return n == 0;
            },
            o.connect_timeout + plan_.close_linger + std::chrono::seconds(1));
    }
    if (publishes) {
        // Every ack answered (or timed out) before the end markers, so that they carry exact
        // counts; then every receiver waits (bounded) for the end marker of every publisher.
        phase_ = "acks";
        wait_until([&] { return sum(&Counters::pending_acks) == 0; },
                   o.ack_timeout + std::chrono::seconds(1));
        post_all([](Worker& w) { w.send_end_markers(); });
        phase_ = "end-markers";
        const auto deadline = Clock::now() + o.end_wait;
        while (true) {
            sync_all([](Worker& w) { w.update_missing_ends(); });
            std::uint64_t missing = 0;
            for (const auto& w : workers_) {
                missing += w->missing_ends();
            }
            if (missing == 0 || Clock::now() >= deadline) {
                break;
            }
            sleep_for(std::chrono::milliseconds(100));
        }
    }

    result_.rss_bytes = proc_status_kb("VmRSS:") * 1024;
    phase_ = "close";
    report(true);
    post_all([](Worker& w) { w.close_all(); });
    wait_until([&] { return sum(&Counters::live) == 0; },
               plan_.close_linger + std::chrono::seconds(1));
    pool_.stop();
    result_.cpu_seconds = cpu_seconds() - cpu_start;
    return collect();
}

RunResult Orchestrator::collect() {
    const Options& o = plan_.options;
    RunResult& r = result_;
    r.id = o.id;
    r.scenario = o.scenario;
    r.ephemeral = o.ephemeral;
    r.threads = o.threads;
    r.target = o.connections;
    r.established = sum(&Counters::established);
    r.failed = sum(&Counters::failed);
    r.disconnected = sum(&Counters::disconnected);
    r.joins_ok = sum(&Counters::joined);
    r.joins_failed = sum(&Counters::join_failed);
    r.sent = sum(&Counters::sent);
    r.acked = sum(&Counters::acked);
    r.publish_errors = sum(&Counters::pub_errors);
    r.deliveries = sum(&Counters::deliveries);
    r.measured_deliveries = sum(&Counters::measured_deliveries);
    r.foreign = sum(&Counters::foreign);
    r.without_offset = sum(&Counters::without_offset);
    r.churn_cycles = sum(&Counters::churn_cycles);
    r.churn_completed = sum(&Counters::churn_completed);
    r.churn_failed = sum(&Counters::churn_failed);
    r.connects_per_second = setup_s_ > 0 ? static_cast<double>(r.established) / setup_s_ : 0;
    r.duration_s = std::chrono::duration<double>(measure_end_ - measure_start_).count();
    if (o.scenario != Scenario::kConnectStorm && r.duration_s > 0) {
        r.deliveries_per_second = static_cast<double>(r.measured_deliveries) / r.duration_s;
    }
    r.rss_peak_bytes = proc_status_kb("VmHWM:") * 1024;
    for (std::size_t i = 0; i < kWhyCount; ++i) {
        std::uint64_t f = 0;
        std::uint64_t d = 0;
        for (const auto& w : workers_) {
            f += w->counters.fail_reasons[i].get();
            d += w->counters.disconnect_reasons[i].get();
        }
        const std::string name(to_string(static_cast<Why>(i)));
        if (f != 0) {
            r.failure_reasons[name] = f;
        }
        if (d != 0) {
            r.disconnect_reasons[name] = d;
        }
    }
    for (const auto& w : workers_) {
        for (const auto& [status, n] : w->upgrade_statuses()) {
            r.upgrade_refused_statuses[status] += n;
        }
        r.connect_us.merge(w->connect_us());
        r.connect_join_us.merge(w->connect_join_us());
        r.latency_us.merge(w->latency_us());
    }

    // Loss accounting over the whole process: for every room, the publishers anybody here saw
    // (or that publish from here, with their exact counts), and for every client that was in
    // the room, its account of each of them.
    if (o.rooms > 0) {
        using Known = std::unordered_map<std::string, std::optional<PublisherEnd>>;
        std::unordered_map<std::uint64_t, Known> rooms;
        for (const auto& w : workers_) {
            for (const Publisher& p : w->publishers()) {
                rooms[p.client->index() % o.rooms][p.id] = PublisherEnd{p.sent, p.refused};
            }
        }
        for (const auto& w : workers_) {
            for (const auto& c : w->clients()) {
                if (!c->ever_joined()) {
                    continue;
                }
                Known& known = rooms[c->index() % o.rooms];
                for (const auto& rec : c->received()) {
                    auto& slot = known[w->publisher_name(rec.publisher)];
                    if (!slot && rec.tracker.end()) {
                        slot = *rec.tracker.end();
                    }
                }
            }
        }
        std::unordered_map<std::string, bool> seen;
        for (const auto& [room, known] : rooms) {
            for (const auto& [name, end] : known) {
                seen[name] = true;
            }
        }
        r.publishers_seen = seen.size();
        for (const auto& w : workers_) {
            for (const auto& c : w->clients()) {
                if (!c->ever_joined()) {
                    continue;
                }
                const Known& known = rooms[c->index() % o.rooms];
                const std::string own =
                    c->publisher() != nullptr ? c->publisher()->id : std::string();
                for (const auto& [name, end] : known) {
                    if (name == own) {
                        continue;
                    }
                    const SeqTracker* tracker = nullptr;
                    for (const auto& rec : c->received()) {
                        if (w->publisher_name(rec.publisher) == name) {
                            tracker = &rec.tracker;
                            break;
                        }
                    }
                    account(r.loss, tracker, end);
                }
            }
        }
    }
    return r;
}

}  // namespace

json::object RunResult::to_json() const {
    json::object out;
    out["id"] = id;
    out["scenario"] = std::string(to_string(scenario));
    out["delivery"] = ephemeral ? "ephemeral" : "stored";

    json::object conn;
    conn["target"] = target;
    conn["established"] = established;
    conn["failed"] = failed;
    conn["disconnected"] = disconnected;
    conn["connect_ms"] = ms_percentiles(connect_us);
    conn["connect_join_ms"] = ms_percentiles(connect_join_us);
    conn["connects_per_second"] = round3(connects_per_second);
    json::object fr;
    for (const auto& [k, v] : failure_reasons) {
        fr[k] = v;
    }
    conn["failure_reasons"] = std::move(fr);
    json::object dr;
    for (const auto& [k, v] : disconnect_reasons) {
        dr[k] = v;
    }
    conn["disconnect_reasons"] = std::move(dr);
    json::object statuses;
    for (const auto& [k, v] : upgrade_refused_statuses) {
        statuses[std::to_string(k)] = v;
    }
    conn["upgrade_refused_statuses"] = std::move(statuses);
    out["connections"] = std::move(conn);

    json::object joins;
    joins["ok"] = joins_ok;
    joins["failed"] = joins_failed;
    out["joins"] = std::move(joins);

    json::object pub;
    pub["sent"] = sent;
    pub["acked"] = acked;
    pub["errors"] = publish_errors;
    out["publish"] = std::move(pub);

    json::object recv;
    recv["deliveries"] = deliveries;
    recv["per_second"] = round3(deliveries_per_second);
    recv["lost"] = loss.lost;
    recv["duplicated"] = loss.duplicated;
    recv["out_of_order"] = loss.out_of_order;
    recv["publishers_seen"] = publishers_seen;
    recv["end_markers_missing"] = loss.end_markers_missing;
    recv["foreign"] = foreign;
    recv["without_offset"] = without_offset;
    out["receive"] = std::move(recv);

    json::object lat;
    lat["count"] = latency_us.count();
    lat["p50"] = latency_us.percentile(50);
    lat["p90"] = latency_us.percentile(90);
    lat["p99"] = latency_us.percentile(99);
    lat["p999"] = latency_us.percentile(99.9);
    lat["max"] = latency_us.max();
    out["latency_us"] = std::move(lat);

    if (scenario == Scenario::kChurn) {
        json::object churn;
        churn["cycles"] = churn_cycles;
        churn["completed"] = churn_completed;
        churn["failed"] = churn_failed;
        out["churn"] = std::move(churn);
    }
    out["duration_s"] = round3(duration_s);
    out["threads"] = threads;
    out["rss_bytes"] = rss_bytes;
    out["rss_start_bytes"] = rss_start_bytes;
    out["rss_peak_bytes"] = rss_peak_bytes;
    out["cpu_seconds"] = round3(cpu_seconds);
    return out;
}

RunResult run(const Options& options, std::ostream* progress) {
    const Plan plan = make_plan(options);
    raise_open_files_limit();
    Orchestrator orchestrator(plan, progress);
    return orchestrator.run();
}

}  // namespace roomcast::loadgen
