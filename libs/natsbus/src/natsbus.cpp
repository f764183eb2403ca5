// Errors, message conversion, callback plumbing and message subscriptions. The contract is in
// natsbus.hpp; the lifetime rules for cnats closures are at the top of internal.hpp.
#include "internal.hpp"

#include "roomcast/core/log.hpp"

#include <cstdlib>
#include <limits>
#include <thread>

namespace roomcast::natsbus {
namespace {

namespace log = roomcast::core::log;
using detail::HandleTable;
using detail::MessageSink;

class Category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "natsbus"; }
    std::string message(int value) const override {
        switch (static_cast<Errc>(value)) {
            case Errc::kOk:
                return "ok";
            case Errc::kTimeout:
                return "timed out";
            case Errc::kNotConnected:
                return "not connected to NATS";
            case Errc::kNotFound:
                return "not found";
            case Errc::kAlreadyExists:
                return "already exists";
            case Errc::kWrongRevision:
                return "wrong revision";
            case Errc::kInvalidArgument:
                return "invalid argument";
            case Errc::kNoResponders:
                return "no responders";
            case Errc::kClosed:
                return "connection closed";
            case Errc::kNotPermitted:
                return "not permitted (NATS credentials or permissions)";
            case Errc::kStorageFull:
                return "storage full (JetStream maximum bytes exceeded)";
            case Errc::kOther:
                return "NATS error";
        }
        return "unknown natsbus error";
    }
};

bool is_control(unsigned char c) noexcept {
    return c <= ' ' || c == 0x7f;
}

char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

// Header names are HTTP-like tokens; values must not break the header block.
bool valid_header(std::string_view key, std::string_view value) noexcept {
    if (key.empty()) {
        return false;
    }
    for (const char c : key) {
        if (is_control(static_cast<unsigned char>(c)) || c == ':') {
            return false;
        }
    }
    return value.find_first_of("\r\n") == std::string_view::npos;
}

// cnats closure: a HandleTable<MessageSink> id.
void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    detail::MsgPtr owned(msg);
    if (auto sink = HandleTable<MessageSink>::instance().find(closure)) {
        sink->deliver(msg);
    }
}

class MessageSubscription final : public Subscription::Impl {
public:
    MessageSubscription(std::weak_ptr<detail::Core> core, std::shared_ptr<MessageSink> sink,
                        natsSubscription* sub, void* handle)
        : core_(std::move(core)), sink_(std::move(sink)), sub_(sub), handle_(handle) {}

    ~MessageSubscription() override {
        // Unsubscribe first so cnats drops what is queued, then wait out a callback in
        // progress. Once the connection is closed the unsubscribe fails harmlessly: the
        // subscription holds a reference on the natsConnection, so it is still valid memory.
        natsSubscription_Unsubscribe(sub_);
        sink_->cancel();
        HandleTable<MessageSink>::instance().remove(handle_);
        natsConnection* nc = nullptr;
        if (auto core = core_.lock()) {
            core->remove_live(sink_.get());
            nc = core->nc;  // nullptr once shut down (and its retirees reaped)
        }
        detail::retire_subscription(nc, sub_, false);  // unsubscribed above
    }
    MessageSubscription(const MessageSubscription&) = delete;
    MessageSubscription& operator=(const MessageSubscription&) = delete;

private:
    std::weak_ptr<detail::Core> core_;
    std::shared_ptr<MessageSink> sink_;
    natsSubscription* sub_;
    void* handle_;
};

}  // namespace

const boost::system::error_category& natsbus_category() noexcept {
    static const Category category;
    return category;
}

bool try_again_after(std::string_view what, const boost::system::error_code& error,
                     std::chrono::steady_clock::time_point until) {
    constexpr std::chrono::milliseconds kPause{500};
    if (error != Errc::kTimeout || std::chrono::steady_clock::now() + kPause >= until) {
        return false;
    }
    log::warn("start-up step timed out, trying again", {{"step", what}});
    std::this_thread::sleep_for(kPause);
    return true;
}

std::optional<std::string_view> Message::header(std::string_view name) const noexcept {
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) {
            return std::string_view(value);
        }
    }
    return std::nullopt;
}

bool valid_subject_token(std::string_view token) noexcept {
    if (token.empty()) {
        return false;
    }
    for (const char c : token) {
        if (is_control(static_cast<unsigned char>(c)) || c == '.' || c == '*' || c == '>') {
            return false;
        }
    }
    return true;
}

namespace {

// The userinfo of a URL ("user:password" of nats://user:password@host:4222), as offsets into
// `url`; npos when there is none. The authority runs from after "://" (or the start) to the
// first '/'; its userinfo ends at the last '@', so an unescaped '@' in a password stays inside.
std::pair<std::size_t, std::size_t> userinfo_span(std::string_view url) noexcept {
    const std::size_t scheme = url.find("://");
    const std::size_t begin = scheme == std::string_view::npos ? 0 : scheme + 3;
    const std::size_t end = std::min(url.find('/', begin), url.size());
    const std::size_t at = url.substr(begin, end - begin).rfind('@');
    if (at == std::string_view::npos) {
        return {std::string_view::npos, std::string_view::npos};
    }
    return {begin, begin + at};
}

}  // namespace

bool url_has_credentials(std::string_view url) noexcept {
    return userinfo_span(url).first != std::string_view::npos;
}

std::string redact_urls(std::string_view urls) {
    std::string out;
    out.reserve(urls.size());
    while (true) {
        const std::size_t comma = urls.find(',');
        const std::string_view url = urls.substr(0, comma);
        const auto [begin, end] = userinfo_span(url);
        if (begin == std::string_view::npos) {
            out += url;
        } else {
            // Keep the user name (it names the role); a token alone (no ':') is the secret.
            const std::string_view userinfo = url.substr(begin, end - begin);
            const std::size_t colon = userinfo.find(':');
            out += url.substr(0, begin);
            if (colon != std::string_view::npos) {
                out += userinfo.substr(0, colon + 1);
            }
            out += "***";
            out += url.substr(end);
        }
        if (comma == std::string_view::npos) {
            return out;
        }
        out += ',';
        urls.remove_prefix(comma + 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Subscription

Subscription::Subscription() noexcept = default;
Subscription::Subscription(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Subscription::~Subscription() = default;
Subscription::Subscription(Subscription&&) noexcept = default;
Subscription& Subscription::operator=(Subscription&& other) noexcept {
    if (this != &other) {
        reset();
        impl_ = std::move(other.impl_);
    }
    return *this;
}
void Subscription::reset() noexcept {
    impl_.reset();
}

namespace detail {

natsStatus ensure_library() noexcept {
    // One delivery thread for every subscription of the process: the ordering guarantee of
    // natsbus.hpp. The pool only ever grows, and only this library sets it.
    static const natsStatus status = [] {
        // No spinning on cnats' mutexes (nats_Open(-1) spins 2,000 trylocks before blocking):
        // on a few cores shared by many threads the spin burns the CPU the lock owner needs;
        // it was 13 % of an edge's CPU in a connect storm (perf), for no latency gain.
        natsStatus s = nats_Open(0);
        if (s == NATS_OK) {
            s = nats_SetMessageDeliveryPoolSize(1);
        }
        return s;
    }();
    return status;
}

Errc errc_from(natsStatus status, jsErrCode js_error) noexcept {
    switch (static_cast<int>(js_error)) {
        case JSStreamNotFoundErr:
        case JSNoMessageFoundErr:
        case JSConsumerNotFoundErr:
        case JSSequenceNotFoundErr:
            return Errc::kNotFound;
        case JSStreamWrongLastSequenceErr:
            return Errc::kWrongRevision;
        // A stream or bucket at its max_bytes with discard-new answers "maximum bytes exceeded"
        // as a store failure (10077, whose other causes are the store's limits or its disk, full
        // as well); the server's or the account's store, full, answers with the others.
        case JSStreamStoreFailedErr:
        case JSStorageResourcesExceededErr:
        case JSMemoryResourcesExceededErr:
        case JSInsufficientResourcesErr:
        case JSAccountResourcesExceededErr:
            return Errc::kStorageFull;
        case JSStreamInvalidConfig:
        case JSBadRequestErr:
        case JSStreamMessageExceedsMaximumErr:
        case JSStreamSubjectOverlapErr:
        case JSStreamReplicasNotSupportedErr:
            return Errc::kInvalidArgument;
        default:
            break;
    }
    switch (status) {
        case NATS_OK:
            return Errc::kOk;
        case NATS_TIMEOUT:
            return Errc::kTimeout;
        case NATS_NO_RESPONDERS:
            return Errc::kNoResponders;
        case NATS_NOT_FOUND:
            return Errc::kNotFound;
        case NATS_CONNECTION_CLOSED:
        case NATS_DRAINING:
            return Errc::kClosed;
        case NATS_CONNECTION_AUTH_FAILED:
        case NATS_NOT_PERMITTED:
            return Errc::kNotPermitted;
        case NATS_CONNECTION_DISCONNECTED:
        case NATS_NO_SERVER:
        case NATS_NOT_YET_CONNECTED:
        case NATS_STALE_CONNECTION:
        case NATS_IO_ERROR:
            return Errc::kNotConnected;
        case NATS_INVALID_SUBJECT:
        case NATS_INVALID_ARG:
        case NATS_INVALID_QUEUE_NAME:
        case NATS_INVALID_TIMEOUT:
        case NATS_MAX_PAYLOAD:
        case NATS_ADDRESS_MISSING:
            return Errc::kInvalidArgument;
        default:
            return Errc::kOther;
    }
}

boost::system::error_code to_error(natsStatus status, jsErrCode js_error, std::string_view op) {
    const Errc errc = errc_from(status, js_error);
    if (errc == Errc::kOther) {
        // nats_GetLastError is per thread: it describes the call that just failed here.
        const char* text = nats_GetLastError(nullptr);
        log::warn("nats operation failed", {{"op", op},
                                            {"status", natsStatus_GetText(status)},
                                            {"js_code", static_cast<std::int64_t>(js_error)},
                                            {"error", text != nullptr ? text : ""}});
    }
    return make_error_code(errc);
}

bool valid_subject(std::string_view subject, bool allow_wildcards) noexcept {
    if (subject.empty()) {
        return false;
    }
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = subject.find('.', start);
        const bool last = dot == std::string_view::npos;
        const std::string_view token = subject.substr(start, last ? subject.npos : dot - start);
        if (token.empty()) {
            return false;
        }
        for (const char c : token) {
            if (is_control(static_cast<unsigned char>(c))) {
                return false;
            }
        }
        if ((token == "*" || token == ">") && !allow_wildcards) {
            return false;
        }
        if (token == ">" && !last) {
            return false;
        }
        if (last) {
            return true;
        }
        start = dot + 1;
    }
}

std::int64_t to_nanos(std::chrono::milliseconds d) noexcept {
    if (d.count() <= 0) {
        return 0;
    }
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 1'000'000;
    return d.count() > kMax ? std::numeric_limits<std::int64_t>::max() : d.count() * 1'000'000;
}

std::int64_t to_millis(std::chrono::milliseconds d, bool at_least_one) noexcept {
    const std::int64_t ms = d.count() < 0 ? 0 : static_cast<std::int64_t>(d.count());
    return (at_least_one && ms == 0) ? 1 : ms;
}

Headers copy_headers(natsMsg* msg) {
    Headers out;
    const char** keys = nullptr;
    int key_count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &key_count) != NATS_OK) {
        return out;
    }
    for (int i = 0; i < key_count; ++i) {
        const char** values = nullptr;
        int value_count = 0;
        if (natsMsgHeader_Values(msg, keys[i], &values, &value_count) != NATS_OK) {
            continue;
        }
        for (int j = 0; j < value_count; ++j) {
            out.emplace_back(keys[i], values[j]);
        }
        // cnats owns the strings but the caller frees the arrays (nats.h).
        std::free(static_cast<void*>(values));
    }
    std::free(static_cast<void*>(keys));
    return out;
}

Message copy_message(natsMsg* msg) {
    Message m;
    const char* subject = natsMsg_GetSubject(msg);
    const char* reply = natsMsg_GetReply(msg);
    const char* data = natsMsg_GetData(msg);
    const int length = natsMsg_GetDataLength(msg);
    m.subject = subject != nullptr ? subject : "";
    m.reply = reply != nullptr ? reply : "";
    if (data != nullptr && length > 0) {
        m.data.assign(data, static_cast<std::size_t>(length));
    }
    m.headers = copy_headers(msg);
    return m;
}

Result<MsgPtr> make_msg(std::string_view subject, std::string_view reply, std::string_view data,
                        const Headers& headers) {
    if (data.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        return make_error_code(Errc::kInvalidArgument);
    }
    for (const auto& [key, value] : headers) {
        if (!valid_header(key, value)) {
            return make_error_code(Errc::kInvalidArgument);
        }
    }
    const std::string subj(subject);
    const std::string rep(reply);
    natsMsg* raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, subj.c_str(), rep.empty() ? nullptr : rep.c_str(),
                                  data.data(), static_cast<int>(data.size()));
    if (s != NATS_OK) {
        return to_error(s, "natsMsg_Create");
    }
    MsgPtr msg(raw);
    for (const auto& [key, value] : headers) {
        s = natsMsgHeader_Add(msg.get(), key.c_str(), value.c_str());
        if (s != NATS_OK) {
            return to_error(s, "natsMsgHeader_Add");
        }
    }
    return msg;
}

void log_callback_exception(std::string_view what, const char* message) noexcept {
    log::error("natsbus callback threw", {{"callback", what}, {"error", message}});
}

// ---------------------------------------------------------------------------------------------
// CallbackGate

void CallbackGate::close() noexcept {
    const auto self = std::this_thread::get_id();
    std::unique_lock lock(mu_);
    closed_ = true;
    // A call on this thread (the callback is closing its own gate) cannot be waited for.
    cv_.wait(lock, [&] {
        return std::all_of(running_.begin(), running_.end(),
                           [&](std::thread::id id) { return id == self; });
    });
}

bool CallbackGate::closed() const noexcept {
    std::lock_guard lock(mu_);
    return closed_;
}

// ---------------------------------------------------------------------------------------------
// WorkerPool

struct WorkerPool::State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
    std::vector<std::thread> threads;

    void run() {
        std::unique_lock lock(mu);
        while (true) {
            cv.wait(lock, [&] { return stopping || !queue.empty(); });
            if (queue.empty()) {
                return;  // stopping, and everything queued has run
            }
            auto work = std::move(queue.front());
            queue.pop_front();
            lock.unlock();
            guarded("worker task", work);
            work = nullptr;  // release captures before taking the lock again
            lock.lock();
        }
    }
};

std::shared_ptr<WorkerPool> WorkerPool::start(unsigned threads) {
    auto state = std::make_shared<State>();
    const unsigned count = threads == 0 ? 1 : threads;
    std::lock_guard lock(state->mu);
    for (unsigned i = 0; i < count; ++i) {
        // Each thread co-owns the state, so a worker that stops its own pool can detach.
        state->threads.emplace_back([state] { state->run(); });
    }
    // The constructor is private (start() is the only way to get a running pool).
    return std::shared_ptr<WorkerPool>(new WorkerPool(std::move(state)));
}

WorkerPool::~WorkerPool() {
    stop();
}

bool WorkerPool::post(std::function<void()> work) {
    {
        std::lock_guard lock(state_->mu);
        if (state_->stopping) {
            return false;
        }
        state_->queue.push_back(std::move(work));
    }
    state_->cv.notify_one();
    return true;
}

void WorkerPool::stop() noexcept {
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(state_->mu);
        state_->stopping = true;
        threads.swap(state_->threads);
    }
    state_->cv.notify_all();
    for (auto& t : threads) {
        if (t.get_id() == std::this_thread::get_id()) {
            t.detach();
        } else {
            t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Message subscriptions

void MessageSink::deliver(natsMsg* msg) {
    if (gate_.closed()) {
        return;  // skip the copy
    }
    Message m = copy_message(msg);
    gate_.run([&] { cb_(std::move(m)); });
}

namespace {

struct Retired {
    natsSubscription* sub;
    natsConnection* nc;
    std::chrono::steady_clock::time_point due;
};

// Retired subscriptions, oldest first (the delay is constant, so `due` is ordered).
struct RetiredList {
    std::mutex mu;
    std::deque<Retired> list;
};

RetiredList& retired() {
    static auto* r = new RetiredList;  // never destroyed: retirements may happen during exit
    return *r;
}

}  // namespace

void retire_subscription(natsConnection* nc, natsSubscription* sub, bool unsubscribe) noexcept {
    if (sub == nullptr) {
        return;
    }
    if (nc == nullptr) {
        natsSubscription_Destroy(sub);  // its connection's read loop has stopped
        return;
    }
    if (unsubscribe) {
        natsSubscription_Unsubscribe(sub);  // fails harmlessly once closed
    }
    const auto now = std::chrono::steady_clock::now();
    std::vector<natsSubscription*> due;
    {
        auto& r = retired();
        std::lock_guard lock(r.mu);
        while (!r.list.empty() && r.list.front().due <= now) {
            due.push_back(r.list.front().sub);
            r.list.pop_front();
        }
        r.list.push_back({sub, nc, now + kRetireDelay});
    }
    for (auto* s : due) {
        natsSubscription_Destroy(s);
    }
}

void reap_subscriptions(natsConnection* nc) noexcept {
    std::vector<natsSubscription*> mine;
    {
        auto& r = retired();
        std::lock_guard lock(r.mu);
        for (auto it = r.list.begin(); it != r.list.end();) {
            if (it->nc == nc) {
                mine.push_back(it->sub);
                it = r.list.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto* s : mine) {
        natsSubscription_Destroy(s);
    }
}

Result<Subscription> subscribe_messages(const std::shared_ptr<Core>& core, std::string_view subject,
                                        std::string_view queue, MessageCallback cb, bool track) {
    if (!valid_subject(subject, true) || !cb) {
        return make_error_code(Errc::kInvalidArgument);
    }
    if (core->closing) {
        return make_error_code(Errc::kClosed);
    }
    auto sink = std::make_shared<MessageSink>(std::move(cb));
    void* handle = HandleTable<MessageSink>::instance().add(sink);
    const std::string subj(subject);
    const std::string group(queue);
    natsSubscription* sub = nullptr;
    const natsStatus s =
        group.empty() ? natsConnection_Subscribe(&sub, core->nc, subj.c_str(), on_message, handle)
                      : natsConnection_QueueSubscribe(&sub, core->nc, subj.c_str(), group.c_str(),
                                                      on_message, handle);
    if (s != NATS_OK) {
        HandleTable<MessageSink>::instance().remove(handle);
        return to_error(s, "subscribe");
    }
    if (track) {
        core->add_live(sink);
    }
    return Subscription(std::make_unique<MessageSubscription>(core, std::move(sink), sub, handle));
}

}  // namespace detail
}  // namespace roomcast::natsbus
