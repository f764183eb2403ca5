#include "worker.hpp"

#include "client.hpp"

#include "roomcast/protocol/json.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <sys/random.h>

#include <cmath>
#include <ctime>
#include <stdexcept>

namespace roomcast::loadgen {
namespace {

using boost::asio::ip::tcp;

// The worker's heartbeat: connection pacing, publishing, churn and ack deadlines are all
// driven from one timer at this period (instead of a timer per client or per publisher).
constexpr auto kTick = std::chrono::milliseconds(5);

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

std::int64_t realtime_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

std::string_view to_string(Why why) noexcept {
    switch (why) {
        case Why::kConnect:
            return "connect";
        case Why::kHandshake:
            return "handshake";
        case Why::kUpgradeRefused:
            return "upgrade_refused";
        case Why::kUnauthorized:
            return "unauthorized";
        case Why::kConnectError:
            return "connect_error";
        case Why::kTimeout:
            return "timeout";
        case Why::kTransportClose:
            return "transport_close";
        case Why::kPingTimeout:
            return "ping_timeout";
        case Why::kServerDisconnect:
            return "server_disconnect";
        case Why::kProtocolError:
            return "protocol_error";
        case Why::kCount:
            break;
    }
    return "?";
}

// --- Plan -------------------------------------------------------------------------------------

bool Plan::is_polling(std::uint64_t i) const noexcept {
    switch (options.transport) {
        case TransportMode::kWebSocket:
            return false;
        case TransportMode::kPolling:
            return true;
        case TransportMode::kMixed: {
            // Every client whose index crosses a multiple of 1/share: evenly spread, exact share.
            const double s = options.polling_share;
            return std::floor(static_cast<double>(i + 1) * s) >
                   std::floor(static_cast<double>(i) * s);
        }
    }
    return false;
}

std::string Plan::user_id(std::uint64_t i) const {
    return options.id + "-" + std::to_string(i);
}

std::string Plan::room(std::uint64_t i) const {
    if (options.rooms == 0) {
        return {};
    }
    return options.room_prefix + std::to_string(i % options.rooms);
}

Plan make_plan(Options options) {
    Plan plan;
    boost::asio::io_context ioc;
    tcp::resolver resolver(ioc);
    for (const Target& t : options.urls) {
        boost::system::error_code ec;
        const auto results = resolver.resolve(t.host, std::to_string(t.port), ec);
        if (ec || results.empty()) {
            throw std::runtime_error("cannot resolve " + t.host + ": " + ec.message());
        }
        // Prefer IPv4 (the edges listen on 127.0.0.1 by default).
        tcp::endpoint chosen = results.begin()->endpoint();
        for (const auto& r : results) {
            if (r.endpoint().address().is_v4()) {
                chosen = r.endpoint();
                break;
            }
        }
        plan.endpoints.push_back(chosen);
    }
    for (const std::string& s : options.source_addresses) {
        boost::system::error_code ec;
        const auto a = boost::asio::ip::make_address(s, ec);
        if (ec) {
            throw std::runtime_error("invalid source address '" + s + "'");
        }
        plan.sources.push_back(a);
    }
    plan.event_json.clear();
    protocol::write_json_string(plan.event_json, options.event);
    if (!options.jwt_secret.empty() && !options.no_auth) {
        plan.key = jwt::Key::hs256(options.jwt_secret);
    }
    plan.options = std::move(options);
    return plan;
}

// --- Worker -----------------------------------------------------------------------------------

Worker::Worker(transport::Shard& shard, const Plan& plan, unsigned index)
    : shard_(shard), plan_(plan), index_(index), ticker_(shard.ioc()) {
    std::uint64_t seed = 0;
    if (::getrandom(&seed, sizeof seed, 0) != sizeof seed) {
        seed = static_cast<std::uint64_t>(realtime_ns());
    }
    rng_ = seed | 1;
}

Worker::~Worker() {
    // Clients close their sockets while the io_context still exists (the runner destroys the
    // workers before the shards).
    clients_.clear();
}

void Worker::random_bytes(std::uint8_t* out, std::size_t n) noexcept {
    // xorshift64*: masks and WebSocket keys need to vary, not to be secret.
    for (std::size_t i = 0; i < n; i += 8) {
        rng_ ^= rng_ >> 12;
        rng_ ^= rng_ << 25;
        rng_ ^= rng_ >> 27;
        std::uint64_t v = rng_ * 0x2545F4914F6CDD1DULL;
        for (std::size_t j = 0; j < 8 && i + j < n; ++j) {
            out[i + j] = static_cast<std::uint8_t>(v);
            v >>= 8;
        }
    }
}

std::uint32_t Worker::intern(std::string_view publisher) {
    if (!names_.empty() && publisher == last_name_) {
        return last_id_;
    }
    std::string key(publisher);
    auto [it, inserted] = ids_.try_emplace(key, static_cast<std::uint32_t>(names_.size()));
    if (inserted) {
        names_.push_back(key);
    }
    last_name_ = std::move(key);
    last_id_ = it->second;
    return last_id_;
}

void Worker::start(Clock::time_point t0) {
    const std::uint64_t n = plan_.options.connections;
    const unsigned threads = plan_.options.threads;
    std::size_t publishers = 0;
    for (std::uint64_t i = index_; i < n; i += threads) {
        publishers += plan_.is_publisher(i) ? 1 : 0;
    }
    publishers_.reserve(publishers);  // clients point into it: no reallocation after this
    clients_.reserve(static_cast<std::size_t>(n / threads + 1));
    for (std::uint64_t i = index_; i < n; i += threads) {
        std::unique_ptr<Client> c;
        if (plan_.is_polling(i)) {
            c = std::make_unique<PollingClient>(*this, i);
        } else {
            c = std::make_unique<WsClient>(*this, i);
        }
        if (plan_.is_publisher(i)) {
            Publisher& p = publishers_.emplace_back();
            p.client = c.get();
            p.id = plan_.user_id(i);
            p.room = plan_.room(i);
            c->set_publisher(&p);
        }
        clients_.push_back(std::move(c));
    }
    t0_ = t0;
    tick();
}

void Worker::tick() {
    const auto now = Clock::now();
    if (!closing_) {
        launch_due(now);
        if (publishing_) {
            publish_due(now);
        }
        if (churning_) {
            churn_due(now);
        }
    }
    expire_acks(now);
    ticker_.expires_after(kTick);
    ticker_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
            tick();
        }
    });
}

void Worker::launch_due(Clock::time_point now) {
    const auto& o = plan_.options;
    const double elapsed = seconds_between(t0_, now);
    while (next_launch_ < clients_.size()) {
        if (pending_connects_ >= o.max_pending_connects) {
            return;
        }
        if (o.connect_rate) {
            const double allowed = *o.connect_rate / o.threads * elapsed + 1;
            if (static_cast<double>(next_launch_) >= allowed) {
                return;
            }
        }
        ++pending_connects_;
        counters.launched.add();
        clients_[next_launch_++]->start();
    }
}

void Worker::on_settled(bool /*ok*/) {
    if (pending_connects_ > 0) {
        --pending_connects_;
    }
}

void Worker::start_publishing() {
    publishing_ = true;
    publish_t0_ = Clock::now();
    // Stagger the publishers over the first interval so that they do not all send at once.
    const double interval = 1.0 / plan_.options.rate;
    for (std::size_t j = 0; j < publishers_.size(); ++j) {
        publishers_[j].next_due_s =
            interval * static_cast<double>(j) / static_cast<double>(publishers_.size());
    }
}

void Worker::publish_due(Clock::time_point now) {
    const double t = seconds_between(publish_t0_, now);
    const double interval = 1.0 / plan_.options.rate;
    // A publisher far behind (the thread was starved) skips ahead instead of bursting.
    constexpr int kMaxBurst = 1000;
    for (Publisher& p : publishers_) {
        int burst = 0;
        while (p.next_due_s <= t && burst < kMaxBurst) {
            p.client->publish_data();
            p.next_due_s += interval;
            ++burst;
        }
        if (p.next_due_s <= t) {
            p.next_due_s = t + interval;
        }
    }
}

void Worker::stop_publishing() {
    publishing_ = false;
}

void Worker::expire_acks(Clock::time_point now) {
    for (Publisher& p : publishers_) {
        while (!p.pending.empty() && p.pending.front().second <= now) {
            p.pending.pop_front();
            ++p.timed_out;
            counters.pub_errors.add();
            counters.pending_acks.sub();
        }
    }
}

void Worker::on_publish_ack(Publisher& p, std::uint64_t id, bool ok) {
    for (auto it = p.pending.begin(); it != p.pending.end(); ++it) {
        if (it->first != id) {
            continue;
        }
        p.pending.erase(it);
        counters.pending_acks.sub();
        if (ok) {
            ++p.acked;
            counters.acked.add();
        } else {
            ++p.refused;
            counters.pub_errors.add();
        }
        return;
    }
    // Not found: it already timed out and was counted as an error.
}

void Worker::send_end_markers() {
    for (Publisher& p : publishers_) {
        p.client->publish_end();
    }
}

void Worker::update_missing_ends() {
    const std::uint64_t rooms = plan_.options.rooms;
    std::vector<std::vector<std::uint32_t>> local(rooms);
    for (const Publisher& p : publishers_) {
        local[p.client->index() % rooms].push_back(intern(p.id));
    }
    std::uint64_t missing = 0;
    for (const auto& c : clients_) {
        if (c->in_room()) {
            missing += c->missing_ends(local[c->index() % rooms]);
        }
    }
    missing_ends_.store(missing, std::memory_order_relaxed);
}

void Worker::on_delivery(std::optional<std::int64_t> sent_ns, bool offset) {
    counters.deliveries.add();
    if (!offset) {
        counters.without_offset.add();
    }
    if (!measuring_) {
        return;
    }
    counters.measured_deliveries.add();
    if (sent_ns) {
        const std::int64_t d = realtime_ns() - *sent_ns;
        latency_us_.record(d > 0 ? static_cast<std::uint64_t>(d / 1000) : 0);
    }
}

void Worker::start_churn() {
    churning_ = true;
    churn_t0_ = Clock::now();
    churn_started_ = 0;
}

void Worker::churn_due(Clock::time_point now) {
    const auto& o = plan_.options;
    const double rate = o.connect_rate.value_or(1000.0) / o.threads;
    const double allowed = rate * seconds_between(churn_t0_, now);
    while (static_cast<double>(churn_started_) < allowed) {
        // The next connected client, round-robin; none free: try again next tick.
        Client* pick = nullptr;
        for (std::size_t tries = 0; tries < clients_.size(); ++tries) {
            Client* c = clients_[churn_cursor_].get();
            churn_cursor_ = (churn_cursor_ + 1) % clients_.size();
            if (c->ready() && c->in_room()) {
                pick = c;
                break;
            }
        }
        if (pick == nullptr) {
            return;
        }
        ++churn_started_;
        counters.churn_cycles.add();
        churn_in_flight_.add();
        pick->churn(churn_started_);
    }
}

void Worker::on_churn_done(Client& /*c*/, bool ok) {
    churn_in_flight_.sub();
    if (ok) {
        counters.churn_completed.add();
    } else {
        counters.churn_failed.add();
    }
}

void Worker::stop_churn() {
    churning_ = false;
}

void Worker::close_all() {
    closing_ = true;
    publishing_ = false;
    churning_ = false;
    for (auto& c : clients_) {
        c->close();
    }
}

void Worker::snapshot_latency() {
    std::lock_guard lock(snapshot_mu_);
    latency_snapshot_ = latency_us_;
}

Histogram Worker::latency_snapshot() const {
    std::lock_guard lock(snapshot_mu_);
    return latency_snapshot_;
}

}  // namespace roomcast::loadgen
