#pragma once
// Internals shared by the natsbus translation units (and their tests). Not part of the public
// include path: only libs/natsbus/src includes this file.
//
// Lifetime rule for everything handed to cnats: a cnats closure is never a pointer to our
// objects. It is an opaque id that a trampoline looks up in a process-wide HandleTable of
// weak_ptrs, so a callback that races with (or arrives after) the destruction of its target
// finds nothing and returns. cnats does not join its delivery threads when a subscription or
// connection is closed, so this is the only ordering that is safe without waiting on them.

#include "roomcast/natsbus/natsbus.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace roomcast::natsbus::detail {

// ---------------------------------------------------------------------------------------------
// RAII for cnats handles.

template <auto Destroy>
struct Deleter {
    template <class T>
    void operator()(T* p) const noexcept {
        Destroy(p);
    }
};
using MsgPtr = std::unique_ptr<natsMsg, Deleter<natsMsg_Destroy>>;
using OptionsPtr = std::unique_ptr<natsOptions, Deleter<natsOptions_Destroy>>;
using SubPtr = std::unique_ptr<natsSubscription, Deleter<natsSubscription_Destroy>>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, Deleter<jsStreamInfo_Destroy>>;
using ConsumerInfoPtr = std::unique_ptr<jsConsumerInfo, Deleter<jsConsumerInfo_Destroy>>;
using PubAckPtr = std::unique_ptr<jsPubAck, Deleter<jsPubAck_Destroy>>;
using MetaPtr = std::unique_ptr<jsMsgMetaData, Deleter<jsMsgMetaData_Destroy>>;
using KvEntryPtr = std::unique_ptr<kvEntry, Deleter<kvEntry_Destroy>>;

// ---------------------------------------------------------------------------------------------
// Errors and conversions.

// Opens the library once per process and sizes the global delivery pool to one thread (see
// natsbus.hpp, "Ordering"). Returns the status of that one-time initialisation.
natsStatus ensure_library() noexcept;

Errc errc_from(natsStatus status, jsErrCode js_error = static_cast<jsErrCode>(0)) noexcept;
// Maps a failed status to an error code; kOther is logged with cnats' error text, since the
// code alone would lose it. `op` names the failed operation in the log line.
boost::system::error_code to_error(natsStatus status, jsErrCode js_error, std::string_view op);
inline boost::system::error_code to_error(natsStatus status, std::string_view op) {
    return to_error(status, static_cast<jsErrCode>(0), op);
}

// Subject syntax: non-empty dot-separated tokens without whitespace or control characters.
// Wildcard tokens ("*", and ">" as the last token) only when `allow_wildcards`.
bool valid_subject(std::string_view subject, bool allow_wildcards) noexcept;

std::int64_t to_nanos(std::chrono::milliseconds d) noexcept;
// cnats takes int64 milliseconds; negative durations become 0 and the result is at least 1
// where cnats rejects 0 (`at_least_one`).
std::int64_t to_millis(std::chrono::milliseconds d, bool at_least_one = true) noexcept;

Headers copy_headers(natsMsg* msg);
Message copy_message(natsMsg* msg);
Result<MsgPtr> make_msg(std::string_view subject, std::string_view reply, std::string_view data,
                        const Headers& headers);

void log_callback_exception(std::string_view what, const char* message) noexcept;

// Runs a user callback, logging (not propagating) an exception: the caller is a cnats thread,
// and an exception unwinding into C is undefined behaviour.
template <class F>
void guarded(std::string_view what, F&& fn) noexcept {
    try {
        std::forward<F>(fn)();
    } catch (const std::exception& e) {
        log_callback_exception(what, e.what());
    } catch (...) {
        log_callback_exception(what, "unknown exception");
    }
}

// ---------------------------------------------------------------------------------------------
// HandleTable: id → weak_ptr, see the lifetime rule at the top of this file.

template <class T>
class HandleTable {
public:
    static HandleTable& instance() {
        // Leaked on purpose: a cnats thread may run a late callback during static destruction.
        static HandleTable* const table = new HandleTable();
        return *table;
    }

    void* add(const std::shared_ptr<T>& target) {
        std::unique_lock lock(mu_);
        const std::uintptr_t id = next_id_++;
        targets_.emplace(id, target);
        return reinterpret_cast<void*>(id);
    }
    std::shared_ptr<T> find(void* handle) const {
        std::shared_lock lock(mu_);
        const auto it = targets_.find(reinterpret_cast<std::uintptr_t>(handle));
        return it == targets_.end() ? nullptr : it->second.lock();
    }
    void remove(void* handle) noexcept {
        std::unique_lock lock(mu_);
        targets_.erase(reinterpret_cast<std::uintptr_t>(handle));
    }

private:
    HandleTable() = default;
    mutable std::shared_mutex mu_;
    std::unordered_map<std::uintptr_t, std::weak_ptr<T>> targets_;
    std::uintptr_t next_id_ = 1;
};

// ---------------------------------------------------------------------------------------------
// Retiring subscriptions (a workaround for cnats 3.4, Debian's version).
//
// cnats before 3.6 (nats-io/nats.c#637, fixed by #638) looks a subscription up under the
// connection's lock in its read loop, lets go of that lock, then locks the subscription: if
// another thread destroys the subscription in between, the read loop locks freed memory and
// the process aborts ("pthread_mutex_lock.c: Assertion `e != ESRCH || !robust' failed"). Any
// subscription destroyed while messages for it may still arrive can hit it: a room
// subscription released under traffic, the inbox of a pull read whose last status is in
// flight. So a subscription is never destroyed at once: retire() unsubscribes it (the read loop
// no longer finds it) and keeps our reference for kRetireDelay, far beyond the read loop's
// window between the two locks, before natsSubscription_Destroy frees it. Thread-safe.
constexpr std::chrono::seconds kRetireDelay{5};
// `nc` is the subscription's connection (nullptr once that is destroyed: then it goes at once).
void retire_subscription(natsConnection* nc, natsSubscription* sub, bool unsubscribe = true) noexcept;
// Destroys at once every retired subscription of `nc`, whose read loop has stopped (called by
// Core::shutdown after natsConnection_Destroy; the subscriptions keep the memory alive).
void reap_subscriptions(natsConnection* nc) noexcept;

// ---------------------------------------------------------------------------------------------
// CallbackGate: lets a callback run until close(); close() waits for calls in progress on other
// threads (never for one on its own thread, so a callback may destroy its own subscription).
// Thread-safe.

class CallbackGate {
public:
    template <class F>
    void run(F&& fn) {
        const auto self = std::this_thread::get_id();
        {
            std::lock_guard lock(mu_);
            if (closed_) {
                return;
            }
            running_.push_back(self);
        }
        guarded("callback", std::forward<F>(fn));
        std::lock_guard lock(mu_);
        running_.erase(std::find(running_.begin(), running_.end(), self));
        cv_.notify_all();  // under the lock: close() may return and free the gate right after
    }
    void close() noexcept;
    bool closed() const noexcept;

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool closed_ = false;
    std::vector<std::thread::id> running_;
};

// Something the Connection must silence when it shuts down (message sinks, KV watches).
class Cancellable {
public:
    virtual ~Cancellable() = default;
    virtual void cancel() noexcept = 0;
    // Whether a drain should deliver its pending messages (message subscriptions) rather than
    // stop it first (KV watches: a synchronous subscription only completes its drain when the
    // watcher thread next polls, which would hold the drain for a poll interval).
    virtual bool drains() const noexcept { return true; }
};

// ---------------------------------------------------------------------------------------------
// WorkerPool: the threads behind run_async and the *_async operations. post() is thread-safe;
// after stop() it refuses work. stop() runs what is queued, then joins (a worker that stops
// its own pool is detached instead; the threads share ownership of the pool state).

class WorkerPool {
public:
    static std::shared_ptr<WorkerPool> start(unsigned threads);
    ~WorkerPool();
    bool post(std::function<void()> work);
    void stop() noexcept;

private:
    struct State;
    explicit WorkerPool(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

// ---------------------------------------------------------------------------------------------
// Core: the connection's shared state. Connection::Impl owns it; subscriptions, KeyValue
// handles, pool tasks and cnats trampolines (through HandleTable) refer to it, so it may
// outlive the Connection object, but after shutdown() every operation on it fails with
// kClosed and none of its callbacks runs any more.

// Routes the replies of request_async through one wildcard inbox subscription and expires
// requests on a timer thread. Thread-safe.
class RequestRouter {
public:
    using Done = std::function<void(Result<Message>)>;

    // `on_expired` runs on the timer thread for each expired request; it must not block (the
    // Core posts the kTimeout completion to its pool).
    void start(std::string prefix, std::function<void(Done)> on_expired);
    const std::string& prefix() const noexcept { return prefix_; }
    // Registers `done`; returns its token (0 once stopped).
    std::uint64_t add(Done done, std::chrono::steady_clock::time_point deadline);
    // Removes a pending request; empty when it already completed or expired.
    Done take(std::uint64_t token);
    // A message on the inbox (delivery thread): completes its request, if still pending.
    void on_reply(natsMsg* msg);
    // Stops the timer and returns every pending callback.
    std::vector<Done> stop();

    CallbackGate gate;  // closed by Core::shutdown before stop()

private:
    struct Pending {
        Done done;
        std::chrono::steady_clock::time_point deadline;
    };
    void run_timer();

    std::string prefix_;  // "_INBOX.<nuid>." (immutable after start)
    std::function<void(Done)> on_expired_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::unordered_map<std::uint64_t, Pending> pending_;
    std::set<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> deadlines_;
    std::uint64_t next_token_ = 1;
    bool stopping_ = false;
    std::thread timer_;
};

// Per-message completion of JetStream async publishes, keyed by the natsMsg that cnats hands
// back to the ack handler: cnats owns that message until our handler destroys it, so its
// address is unique for as long as the entry exists. Thread-safe.
class AckRouter {
public:
    using Done = std::function<void(Result<PubAck>)>;
    void add(const natsMsg* msg, Done done);
    Done take(const natsMsg* msg);
    std::vector<Done> take_all();

    CallbackGate gate;  // closed by Core::shutdown before take_all()

private:
    std::mutex mu_;
    std::unordered_map<const natsMsg*, Done> pending_;
};

class Core : public std::enable_shared_from_this<Core> {
public:
    Core(Options options, StateCallback on_state);
    ~Core();
    Core(const Core&) = delete;
    Core& operator=(const Core&) = delete;

    const Options options;

    // Set once by Connection::connect before the Core is shared, destroyed by shutdown() after
    // the pool has stopped; only the Connection (and pool tasks) use them.
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsSubscription* inbox = nullptr;  // request_async replies
    void* handle = nullptr;             // HandleTable<Core> id: closure of our cnats handlers

    std::atomic<bool> closing{false};
    std::atomic<std::uint64_t> reconnects{0};
    // Writes refused with kStorageFull (Connection::storage_full).
    std::atomic<std::uint64_t> storage_full{0};
    // Counts `error` when it is kStorageFull; returns it.
    const boost::system::error_code& note(const boost::system::error_code& error) noexcept {
        if (error == Errc::kStorageFull) {
            storage_full.fetch_add(1, std::memory_order_relaxed);
        }
        return error;
    }
    template <class T>
    Result<T> note(Result<T> r) noexcept {
        if (!r) {
            note(r.error());
        }
        return r;
    }

    std::shared_ptr<WorkerPool> pool;
    RequestRouter requests;
    AckRouter acks;

    // Lifecycle: called by the cnats async-callback thread.
    void on_state(ConnectionState state);

    // Drains (bounded) unless already closed, then waits for cnats' closed callback.
    void drain(std::chrono::milliseconds timeout);
    // Idempotent, bounded shutdown: drain, fail pending requests and acks with kClosed, silence
    // subscriptions and watches, stop the pool, destroy the cnats handles.
    void shutdown() noexcept;

    void add_live(const std::shared_ptr<Cancellable>& c);
    void remove_live(const Cancellable* c) noexcept;
    // Cancels (and forgets) the live subscriptions and watches; only those that do not drain
    // unless `all`.
    void cancel_live(bool all) noexcept;

    // Runs `work` on the pool; false when the pool is stopped.
    bool post(const std::function<void()>& work) { return pool && pool->post(work); }

    // Runs `op` on the pool and completes `done` with its result there (kClosed instead once
    // the connection is closing). Once the pool is gone, completes inline with kClosed.
    template <class T, class Op>
    void run_op(std::function<void(Result<T>)> done, Op op) {
        std::function<void()> task = [self = shared_from_this(), done = std::move(done),
                                      op = std::move(op)]() mutable {
            Result<T> result =
                self->closing.load() ? Result<T>(make_error_code(Errc::kClosed)) : Result<T>(op());
            if (done) {
                guarded("completion", [&] { done(std::move(result)); });
            }
        };
        if (!post(task)) {
            task();  // the pool only refuses work once `closing` is set: reports kClosed
        }
    }

    // Completes `done` with `result` on the pool (inline once the pool is gone).
    template <class T>
    void complete(std::function<void(Result<T>)> done, Result<T> result) {
        if (!done) {
            return;
        }
        std::function<void()> task = [done = std::move(done), result = std::move(result)] {
            guarded("completion", [&] { done(result); });
        };
        if (!post(task)) {
            task();
        }
    }

private:
    bool wait_closed(std::chrono::milliseconds timeout);

    const StateCallback on_state_;
    CallbackGate state_gate_;
    std::mutex closed_mu_;
    std::condition_variable closed_cv_;
    bool closed_seen_ = false;
    std::mutex shutdown_mu_;
    bool shut_down_ = false;
    std::mutex live_mu_;
    std::unordered_map<const Cancellable*, std::weak_ptr<Cancellable>> live_;
};

// A JetStream publish whose PubAck (or error: kWrongRevision for a failed expectation) completes
// `done` on the pool. Never blocks a pool thread: the ack arrives through cnats' async ack
// handler. Used by JetStream::publish_async and the KV's asynchronous writes.
void publish_async(Core& core, std::string subject, std::string data, Headers headers,
                   std::function<void(Result<PubAck>)> done, std::chrono::milliseconds timeout);

// ---------------------------------------------------------------------------------------------
// Message subscriptions.

class MessageSink : public Cancellable {
public:
    explicit MessageSink(MessageCallback cb) : cb_(std::move(cb)) {}
    void deliver(natsMsg* msg);
    void cancel() noexcept override { gate_.close(); }

private:
    CallbackGate gate_;
    MessageCallback cb_;
};

// Subscribes `cb` on `core`'s connection. `track` registers the sink with the core so that
// shutdown silences it (false for the core's own inbox, which the core owns).
Result<Subscription> subscribe_messages(const std::shared_ptr<Core>& core, std::string_view subject,
                                        std::string_view queue, MessageCallback cb, bool track);

// A subject read without a consumer (direct gets, one per message): what a read falls back to
// when its consumer is not created in time (a cluster node down). Shared with its test.
Result<StoredBatch> read_subject_direct(Core& core, const std::string& stream, const std::string& subject,
                                        std::uint64_t start_sequence, std::size_t max,
                                        std::chrono::milliseconds timeout, std::uint64_t max_bytes,
                                        bool headers_only);

// Shared by JetStream::read_last(_bounded) and its test: `scan_limit` is the subject size up to
// which the whole subject is read and its tail kept; beyond it the start sequence is found by a
// binary search on consumer pending counts. `max_bytes` (0: none) bounds the data returned.
Result<StoredBatch> read_last_impl(Core& core, std::string_view stream, std::string_view subject,
                                   std::size_t count, std::chrono::milliseconds timeout,
                                   std::uint64_t scan_limit, std::uint64_t max_bytes);

}  // namespace roomcast::natsbus::detail

namespace roomcast::natsbus {
struct Connection::Impl {
    std::shared_ptr<detail::Core> core;
};
// Implemented by message subscriptions (natsbus.cpp) and KV watches (kv.cpp).
struct Subscription::Impl {
    virtual ~Impl() = default;
};
}  // namespace roomcast::natsbus
