// Connection: connect/reconnect, publish/subscribe, request/reply, shutdown. The contract is in
// natsbus.hpp; the lifetime rules for cnats closures are at the top of internal.hpp.
#include "internal.hpp"

#include "roomcast/core/log.hpp"

#include <charconv>
#include <climits>
#include <random>

namespace roomcast::natsbus {
namespace {

namespace log = roomcast::core::log;
using detail::Core;
using detail::HandleTable;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Initial connect back-off (natsbus.hpp: "from 100 ms to 2 s with jitter").
constexpr milliseconds kFirstBackoff{100};
constexpr milliseconds kMaxBackoff{2000};
// How long shutdown waits for cnats' closed callback beyond the drain bound; the callback only
// needs the async-callback thread, so this covers a slow user state callback ahead of it.
constexpr milliseconds kClosedCallbackGrace{1000};

// "Equal jitter": half the delay fixed, half random, so retries of many processes spread out
// but still back off.
milliseconds jittered(milliseconds delay) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const auto half = delay.count() / 2;
    std::uniform_int_distribution<long long> dist(0, half);
    return milliseconds(delay.count() - half + dist(rng));
}

// Errors that another attempt cannot fix.
bool retryable(natsStatus s) {
    switch (s) {
        case NATS_CONNECTION_AUTH_FAILED:
        case NATS_NOT_PERMITTED:
        case NATS_INVALID_ARG:
        case NATS_ADDRESS_MISSING:
        case NATS_SECURE_CONNECTION_WANTED:
        case NATS_SECURE_CONNECTION_REQUIRED:
        case NATS_NO_MEMORY:
            return false;
        default:
            return true;
    }
}

// cnats closures below are HandleTable<Core> ids (see internal.hpp).
void on_disconnected(natsConnection*, void* closure) {
    if (auto core = HandleTable<Core>::instance().find(closure)) {
        core->on_state(ConnectionState::kDisconnected);
    }
}

void on_reconnected(natsConnection*, void* closure) {
    if (auto core = HandleTable<Core>::instance().find(closure)) {
        core->reconnects.fetch_add(1);
        core->on_state(ConnectionState::kReconnected);
    }
}

void on_closed(natsConnection*, void* closure) {
    if (auto core = HandleTable<Core>::instance().find(closure)) {
        core->on_state(ConnectionState::kClosed);
    }
}

// Asynchronous errors (slow consumer, missed heartbeats, permission violations): nothing to
// return them to, so they are logged.
void on_async_error(natsConnection*, natsSubscription* sub, natsStatus err, void*) {
    if (err == NATS_CONNECTION_CLOSED) {
        return;  // reported through the state callback; expected at shutdown
    }
    const char* subject = sub != nullptr ? natsSubscription_GetSubject(sub) : nullptr;
    log::warn("nats asynchronous error", {{"status", natsStatus_GetText(err)},
                                          {"subject", subject != nullptr ? subject : ""}});
}

void on_inbox_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    detail::MsgPtr owned(msg);
    if (auto core = HandleTable<Core>::instance().find(closure)) {
        core->requests.gate.run([&] { core->requests.on_reply(msg); });
    }
}

void on_pub_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* err, void* closure) {
    detail::MsgPtr owned(msg);  // the ack handler owns the published message (nats.h)
    auto core = HandleTable<Core>::instance().find(closure);
    if (!core) {
        return;
    }
    core->acks.gate.run([&] {
        auto done = core->acks.take(msg);
        if (!done) {
            return;
        }
        if (ack != nullptr) {
            done(PubAck{ack->Stream != nullptr ? ack->Stream : "", ack->Sequence, ack->Duplicate});
            return;
        }
        const natsStatus status = err != nullptr ? err->Err : NATS_ERR;
        const jsErrCode code = err != nullptr ? err->ErrCode : static_cast<jsErrCode>(0);
        if (detail::errc_from(status, code) == Errc::kOther) {
            log::warn("jetstream async publish failed",
                      {{"status", natsStatus_GetText(status)},
                       {"js_code", static_cast<std::int64_t>(code)},
                       {"error", err != nullptr && err->ErrText != nullptr ? err->ErrText : ""}});
        }
        done(core->note(make_error_code(detail::errc_from(status, code))));
    });
}

Result<detail::OptionsPtr> build_options(const Options& o, void* closure) {
    natsOptions* raw = nullptr;
    natsStatus s = natsOptions_Create(&raw);
    if (s != NATS_OK) {
        return detail::to_error(s, "natsOptions_Create");
    }
    detail::OptionsPtr opts(raw);
    std::vector<const char*> servers;
    servers.reserve(o.servers.size());
    for (const auto& url : o.servers) {
        servers.push_back(url.c_str());
    }
    const auto buffer =
        std::min<std::int64_t>(std::max<std::int64_t>(o.reconnect_buffer_bytes, 0), INT_MAX);
    s = natsOptions_SetServers(opts.get(), servers.data(), static_cast<int>(servers.size()));
    if (s == NATS_OK && !o.name.empty()) {
        s = natsOptions_SetName(opts.get(), o.name.c_str());
    }
    if (s == NATS_OK && !o.token.empty()) {
        s = natsOptions_SetToken(opts.get(), o.token.c_str());
    }
    if (s == NATS_OK && !o.user.empty()) {
        s = natsOptions_SetUserInfo(opts.get(), o.user.c_str(), o.password.c_str());
    }
    const bool tls_url =
        std::any_of(o.servers.begin(), o.servers.end(),
                    [](const std::string& url) { return url.starts_with("tls://"); });
    if (s == NATS_OK && (o.tls || tls_url || !o.tls_ca_file.empty())) {
        s = natsOptions_SetSecure(opts.get(), true);
    }
    if (s == NATS_OK && !o.tls_ca_file.empty()) {
        s = natsOptions_LoadCATrustedCertificates(opts.get(), o.tls_ca_file.c_str());
    }
    if (s == NATS_OK && !o.tls_cert_file.empty()) {
        s = natsOptions_LoadCertificatesChain(opts.get(), o.tls_cert_file.c_str(),
                                              o.tls_key_file.c_str());
    }
    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(opts.get(), detail::to_millis(o.connect_timeout));
    }
    if (s == NATS_OK) {
        s = natsOptions_SetMaxReconnect(opts.get(), -1);  // forever: the bus is the backbone
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectWait(opts.get(), detail::to_millis(o.reconnect_wait, false));
    }
    if (s == NATS_OK) {
        const auto jitter = detail::to_millis(o.reconnect_jitter, false);
        s = natsOptions_SetReconnectJitter(opts.get(), jitter, jitter);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectBufSize(opts.get(), static_cast<int>(buffer));
    }
    if (s == NATS_OK) {
        s = natsOptions_SetPingInterval(opts.get(), detail::to_millis(o.ping_interval));
    }
    if (s == NATS_OK) {
        s = natsOptions_SetMaxPingsOut(opts.get(), std::max(1, o.max_pings_out));
    }
    if (s == NATS_OK) {
        // With the process-wide pool of one delivery thread (ensure_library), messages of all
        // subscriptions are delivered in the order the connection received them.
        s = natsOptions_UseGlobalMessageDelivery(opts.get(), true);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetDisconnectedCB(opts.get(), on_disconnected, closure);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectedCB(opts.get(), on_reconnected, closure);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetClosedCB(opts.get(), on_closed, closure);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetErrorHandler(opts.get(), on_async_error, nullptr);
    }
    if (s != NATS_OK) {
        return detail::to_error(s, "natsOptions");
    }
    return opts;
}

}  // namespace

namespace detail {

// ---------------------------------------------------------------------------------------------
// RequestRouter

void RequestRouter::start(std::string prefix, std::function<void(Done)> on_expired) {
    prefix_ = std::move(prefix);
    on_expired_ = std::move(on_expired);
    timer_ = std::thread([this] { run_timer(); });
}

std::uint64_t RequestRouter::add(Done done, steady_clock::time_point deadline) {
    bool earliest = false;
    std::uint64_t token = 0;
    {
        std::lock_guard lock(mu_);
        if (stopping_) {
            return 0;
        }
        token = next_token_++;
        pending_.emplace(token, Pending{std::move(done), deadline});
        deadlines_.emplace(deadline, token);
        earliest = deadlines_.begin()->second == token;
    }
    if (earliest) {
        cv_.notify_one();
    }
    return token;
}

RequestRouter::Done RequestRouter::take(std::uint64_t token) {
    std::lock_guard lock(mu_);
    const auto it = pending_.find(token);
    if (it == pending_.end()) {
        return {};
    }
    Done done = std::move(it->second.done);
    deadlines_.erase({it->second.deadline, token});
    pending_.erase(it);
    return done;
}

void RequestRouter::on_reply(natsMsg* msg) {
    const char* subject = natsMsg_GetSubject(msg);
    const std::string_view subj = subject != nullptr ? subject : "";
    if (subj.size() <= prefix_.size() || subj.substr(0, prefix_.size()) != prefix_) {
        return;
    }
    const std::string_view tail = subj.substr(prefix_.size());
    std::uint64_t token = 0;
    const auto [end, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), token);
    if (ec != std::errc() || end != tail.data() + tail.size()) {
        return;
    }
    Done done = take(token);
    if (!done) {
        return;  // a late reply to an expired request
    }
    if (natsMsg_IsNoResponders(msg)) {
        done(make_error_code(Errc::kNoResponders));
    } else {
        done(copy_message(msg));
    }
}

void RequestRouter::run_timer() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
        if (deadlines_.empty()) {
            cv_.wait(lock);
            continue;
        }
        const auto first = deadlines_.begin()->first;
        if (steady_clock::now() < first) {
            cv_.wait_until(lock, first);
            continue;
        }
        std::vector<Done> expired;
        const auto now = steady_clock::now();
        while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
            const auto token = deadlines_.begin()->second;
            deadlines_.erase(deadlines_.begin());
            const auto it = pending_.find(token);
            expired.push_back(std::move(it->second.done));
            pending_.erase(it);
        }
        lock.unlock();
        for (auto& done : expired) {
            on_expired_(std::move(done));
        }
        lock.lock();
    }
}

std::vector<RequestRouter::Done> RequestRouter::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (timer_.joinable()) {
        timer_.join();  // the timer thread runs no user code, so it is never the caller
    }
    std::vector<Done> out;
    std::lock_guard lock(mu_);
    for (auto& [token, pending] : pending_) {
        out.push_back(std::move(pending.done));
    }
    pending_.clear();
    deadlines_.clear();
    return out;
}

// ---------------------------------------------------------------------------------------------
// AckRouter

void AckRouter::add(const natsMsg* msg, Done done) {
    std::lock_guard lock(mu_);
    pending_[msg] = std::move(done);
}

AckRouter::Done AckRouter::take(const natsMsg* msg) {
    std::lock_guard lock(mu_);
    const auto it = pending_.find(msg);
    if (it == pending_.end()) {
        return {};
    }
    Done done = std::move(it->second);
    pending_.erase(it);
    return done;
}

std::vector<AckRouter::Done> AckRouter::take_all() {
    std::lock_guard lock(mu_);
    std::vector<Done> out;
    out.reserve(pending_.size());
    for (auto& [msg, done] : pending_) {
        out.push_back(std::move(done));
    }
    pending_.clear();
    return out;
}

// ---------------------------------------------------------------------------------------------
// Core

Core::Core(Options options_in, StateCallback on_state)
    : options(std::move(options_in)), on_state_(std::move(on_state)) {}

Core::~Core() {
    shutdown();
}

void Core::on_state(ConnectionState state) {
    if (on_state_) {
        state_gate_.run([&] { on_state_(state); });
    }
    if (state == ConnectionState::kClosed) {
        std::lock_guard lock(closed_mu_);
        closed_seen_ = true;
        // Notified under the lock: the waiter may destroy the Core as soon as it returns.
        closed_cv_.notify_all();
    }
}

bool Core::wait_closed(milliseconds timeout) {
    std::unique_lock lock(closed_mu_);
    return closed_cv_.wait_for(lock, timeout, [&] { return closed_seen_; });
}

void Core::drain(milliseconds timeout) {
    if (nc == nullptr) {
        return;
    }
    cancel_live(false);
    if (!natsConnection_IsClosed(nc)) {
        // Draining needs a live connection; while reconnecting there is nothing to flush to.
        if (natsConnection_DrainTimeout(nc, to_millis(timeout)) != NATS_OK) {
            natsConnection_Close(nc);
        }
    }
    if (!wait_closed(timeout + kClosedCallbackGrace)) {
        natsConnection_Close(nc);
        if (!wait_closed(kClosedCallbackGrace)) {
            log::warn("nats closed callback did not arrive in time", {});
        }
    }
}

void Core::shutdown() noexcept {
    {
        std::lock_guard lock(shutdown_mu_);
        if (shut_down_) {
            return;
        }
        shut_down_ = true;
    }
    closing = true;
    drain(options.drain_timeout);
    state_gate_.close();

    // Nothing can answer pending requests or acks any more.
    requests.gate.close();
    for (auto& done : requests.stop()) {
        complete<Message>(std::move(done), make_error_code(Errc::kClosed));
    }
    acks.gate.close();
    for (auto& done : acks.take_all()) {
        complete<PubAck>(std::move(done), make_error_code(Errc::kClosed));
    }

    // Silence subscriptions and watches that outlive the Connection.
    cancel_live(true);

    // Tasks still queued see `closing` and report kClosed; those in flight fail fast because
    // the connection is closed. After this no pool thread touches nc or js.
    if (pool) {
        pool->stop();
    }
    if (inbox != nullptr) {
        natsSubscription_Destroy(inbox);
        inbox = nullptr;
    }
    if (js != nullptr) {
        jsCtx_Destroy(js);  // drops unacknowledged messages without calling the handler
        js = nullptr;
    }
    for (auto& done : acks.take_all()) {
        complete<PubAck>(std::move(done), make_error_code(Errc::kClosed));
    }
    if (handle != nullptr) {
        HandleTable<Core>::instance().remove(handle);
        handle = nullptr;
    }
    if (nc != nullptr) {
        natsConnection* closed = nc;
        natsConnection_Destroy(nc);  // the read loop has stopped: retired subscriptions can go
        nc = nullptr;
        reap_subscriptions(closed);
    }
}

void Core::add_live(const std::shared_ptr<Cancellable>& c) {
    std::lock_guard lock(live_mu_);
    live_[c.get()] = c;
}

void Core::remove_live(const Cancellable* c) noexcept {
    std::lock_guard lock(live_mu_);
    live_.erase(c);
}

void Core::cancel_live(bool all) noexcept {
    std::vector<std::shared_ptr<Cancellable>> victims;
    {
        std::lock_guard lock(live_mu_);
        for (auto it = live_.begin(); it != live_.end();) {
            auto c = it->second.lock();
            if (c && !all && c->drains()) {
                ++it;
                continue;
            }
            if (c) {
                victims.push_back(std::move(c));
            }
            it = live_.erase(it);
        }
    }
    // Outside the lock: cancel() waits for callbacks, which may create or drop subscriptions.
    for (auto& c : victims) {
        c->cancel();
    }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() {
    impl_->core->shutdown();
}

Result<std::unique_ptr<Connection>> Connection::connect(const Options& options,
                                                        StateCallback on_state) {
    if (const natsStatus s = detail::ensure_library(); s != NATS_OK) {
        return detail::to_error(s, "nats_Open");
    }
    if (options.servers.empty()) {
        return make_error_code(Errc::kInvalidArgument);
    }
    auto core = std::make_shared<Core>(options, std::move(on_state));
    core->handle = HandleTable<Core>::instance().add(core);
    auto opts = build_options(options, core->handle);
    if (!opts) {
        return opts.error();
    }

    // Our own retry loop rather than natsOptions_SetRetryOnFailedConnect: it follows the
    // documented schedule (100 ms doubling to 2 s, jittered) instead of reconnect_wait, stops
    // at a deadline with the last real error (auth failures at once), and never hands out a
    // connection that is not connected yet.
    const auto deadline = steady_clock::now() + options.initial_connect_deadline;
    milliseconds backoff = kFirstBackoff;
    natsStatus s = NATS_OK;
    while (true) {
        s = natsConnection_Connect(&core->nc, opts->get());
        if (s == NATS_OK) {
            break;
        }
        core->nc = nullptr;
        const auto now = steady_clock::now();
        if (!retryable(s) || now >= deadline) {
            break;
        }
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
        std::this_thread::sleep_for(std::min(jittered(backoff), left));
        backoff = std::min(backoff * 2, kMaxBackoff);
    }
    if (s != NATS_OK) {
        auto ec = detail::to_error(s, "connect");
        core->shutdown();
        return ec;
    }

    core->pool = detail::WorkerPool::start(options.workers);

    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.AckHandler = on_pub_ack;  // also receives errors and timeouts
    jo.PublishAsync.AckHandlerClosure = core->handle;
    s = natsConnection_JetStream(&core->js, core->nc, &jo);
    if (s != NATS_OK) {
        auto ec = detail::to_error(s, "natsConnection_JetStream");
        core->shutdown();
        return ec;
    }

    natsInbox* inbox = nullptr;
    s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
        const std::string prefix = std::string(inbox) + ".";
        natsInbox_Destroy(inbox);
        // The timer thread runs no user code: expiries are completed on the pool.
        core->requests.start(prefix, [c = core.get()](detail::RequestRouter::Done done) {
            c->complete<Message>(std::move(done), make_error_code(Errc::kTimeout));
        });
        const std::string subject = prefix + "*";
        s = natsConnection_Subscribe(&core->inbox, core->nc, subject.c_str(), on_inbox_message,
                                     core->handle);
    }
    if (s != NATS_OK) {
        auto ec = detail::to_error(s, "request inbox");
        core->shutdown();
        return ec;
    }
    auto impl = std::make_unique<Impl>();
    impl->core = std::move(core);
    // The constructor is private: connect() is the only way to obtain a Connection.
    return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

bool Connection::connected() const noexcept {
    const auto* core = impl_->core.get();
    return core->nc != nullptr && !core->closing &&
           natsConnection_Status(core->nc) == NATS_CONN_STATUS_CONNECTED;
}

std::uint64_t Connection::storage_full() const noexcept {
    return impl_->core->storage_full.load(std::memory_order_relaxed);
}

std::uint64_t Connection::reconnects() const noexcept {
    return impl_->core->reconnects.load();
}

std::string Connection::connected_url() const {
    char buffer[512] = {};
    if (natsConnection_GetConnectedUrl(impl_->core->nc, buffer, sizeof(buffer)) != NATS_OK) {
        return {};
    }
    // cnats keeps the URL as given, credentials included.
    return redact_urls(buffer);
}

Result<void> Connection::publish(std::string_view subject, std::string_view data,
                                 const Headers& headers, std::string_view reply) {
    if (!detail::valid_subject(subject, false) ||
        (!reply.empty() && !detail::valid_subject(reply, false))) {
        return make_error_code(Errc::kInvalidArgument);
    }
    auto& core = *impl_->core;
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    natsStatus s = NATS_OK;
    if (headers.empty()) {
        if (data.size() > static_cast<std::size_t>(INT_MAX)) {
            return make_error_code(Errc::kInvalidArgument);
        }
        const std::string subj(subject);
        const std::string rep(reply);
        const int length = static_cast<int>(data.size());
        s = rep.empty() ? natsConnection_Publish(core.nc, subj.c_str(), data.data(), length)
                        : natsConnection_PublishRequest(core.nc, subj.c_str(), rep.c_str(),
                                                        data.data(), length);
    } else {
        auto msg = detail::make_msg(subject, reply, data, headers);
        if (!msg) {
            return msg.error();
        }
        s = natsConnection_PublishMsg(core.nc, msg->get());
    }
    if (s != NATS_OK) {
        return detail::to_error(s, "publish");
    }
    return {};
}

Result<Subscription> Connection::subscribe(std::string_view subject, MessageCallback on_message,
                                           std::string_view queue) {
    return detail::subscribe_messages(impl_->core, subject, queue, std::move(on_message), true);
}

void Connection::request_async(std::string_view subject, std::string data, milliseconds timeout,
                               std::function<void(Result<Message>)> done, const Headers& headers) {
    auto& core = *impl_->core;
    if (!detail::valid_subject(subject, false)) {
        core.complete<Message>(std::move(done), make_error_code(Errc::kInvalidArgument));
        return;
    }
    if (core.closing) {
        core.complete<Message>(std::move(done), make_error_code(Errc::kClosed));
        return;
    }
    const auto deadline = steady_clock::now() + std::max(timeout, milliseconds(0));
    const std::uint64_t token = core.requests.add(std::move(done), deadline);
    if (token == 0) {
        return;  // stopped between the check and the add: cannot happen before shutdown
    }
    const std::string reply = core.requests.prefix() + std::to_string(token);
    auto msg = detail::make_msg(subject, reply, data, headers);
    const natsStatus s = msg ? natsConnection_PublishMsg(core.nc, msg->get()) : NATS_OK;
    if (!msg || s != NATS_OK) {
        // Completed here unless the reply already raced in (possible only after a publish
        // that reported failure yet went out).
        if (auto pending = core.requests.take(token)) {
            core.complete<Message>(std::move(pending),
                                   msg ? detail::to_error(s, "request_async") : msg.error());
        }
    }
}

Result<Message> Connection::request(std::string_view subject, std::string_view data,
                                    milliseconds timeout, const Headers& headers) {
    if (!detail::valid_subject(subject, false)) {
        return make_error_code(Errc::kInvalidArgument);
    }
    auto& core = *impl_->core;
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    auto msg = detail::make_msg(subject, {}, data, headers);
    if (!msg) {
        return msg.error();
    }
    // cnats' own request path (its reply mux has its own thread, not the delivery pool).
    natsMsg* reply = nullptr;
    const natsStatus s =
        natsConnection_RequestMsg(&reply, core.nc, msg->get(), detail::to_millis(timeout));
    detail::MsgPtr owned(reply);
    if (s != NATS_OK) {
        return detail::to_error(s, "request");
    }
    return detail::copy_message(reply);
}

Result<void> Connection::flush(milliseconds timeout) {
    const natsStatus s = natsConnection_FlushTimeout(impl_->core->nc, detail::to_millis(timeout));
    if (s != NATS_OK) {
        return detail::to_error(s, "flush");
    }
    return {};
}

void Connection::drain(milliseconds timeout) {
    impl_->core->drain(timeout);
}

void Connection::close() {
    impl_->core->shutdown();
}

void Connection::run_async(std::function<void()> work) {
    if (!impl_->core->post(work)) {
        log::warn("natsbus: run_async after shutdown; work dropped", {});
    }
}

}  // namespace roomcast::natsbus
