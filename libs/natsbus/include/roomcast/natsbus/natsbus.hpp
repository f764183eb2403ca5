#pragma once
// RAII over cnats (nats.c 3.4): the only code in Roomcast that touches the NATS C API.
//
// Threading contract (STYLE.md, nats.c): every callback given to this library runs on a
// library thread (NATS delivery thread, JetStream ack thread, request timer via the worker pool,
// a KV watch's own thread, or the bus worker pool), never on the caller's. Callbacks must copy
// what they need and post it to their own executor; they must not block. Message callbacks
// receive `Message` values that own their bytes. The one exception: once a Connection has shut
// down, *_async calls on objects that outlive it (KeyValue) complete inline with kClosed.
//
// Connection, JetStream and KeyValue methods are thread-safe. Destroying a Connection must not
// race with calls on it, happen inside one of its own callbacks (its bounded drain would wait
// on the very thread it blocks) or while holding a lock its callbacks take. After ~Connection
// returns none of its callbacks runs any more: pending requests and async publishes complete
// with kClosed first, subscriptions and watches are silenced.
//
// Blocking operations (KV, stream management, history reads) have synchronous forms for
// start-up code, tools and tests, and `*_async` forms that report through a callback, for
// event-loop code that must never block: KV writes and JetStream publishes are asynchronous
// publishes whose ack arrives through cnats' ack handler; reads and the rest run on a small
// internal worker pool.
//
// Ordering: all subscriptions of one Connection share one delivery thread
// (natsOptions_UseGlobalMessageDelivery with a pool of one), so messages are delivered in the
// order the connection received them, across subscriptions. The edge relies on this: room
// events of different rooms reach a socket in stream-sequence order. The pool is per process:
// every subscription of every Connection in the process shares that one thread, so one slow
// callback delays all of them (another reason callbacks must only copy and post). Replies to
// request_async complete on that thread too, in receive order (timeouts and immediate errors
// complete on the worker pool).

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace roomcast::natsbus {

// Errors: a category wrapping natsStatus (and JetStream error codes where known).
enum class Errc {
    kOk = 0,
    kTimeout = 1,
    kNotConnected,
    kNotFound,         // KV key / stream message / stream absent
    kAlreadyExists,    // KV create on an existing key
    kWrongRevision,    // KV update with a stale revision
    kInvalidArgument,  // bad subject, bucket or key
    kNoResponders,     // request to a subject nobody serves
    kClosed,           // connection closed
    kNotPermitted,     // the server refused the credentials (or the role lacks a permission)
    kStorageFull,      // a write past a stream's or bucket's byte budget (max_bytes), or past
                       // the server's JetStream store: "maximum bytes exceeded"
    kOther,            // any other NATS error (message in the log)
};
const boost::system::error_category& natsbus_category() noexcept;
inline boost::system::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), natsbus_category()};
}
template <class T>
using Result = boost::system::result<T, boost::system::error_code>;

// A JetStream cluster that has just formed may leave its first requests unanswered: an edge was
// seen exiting with "cannot create the room stream: timed out" in about 2 of 25 starts on a fresh
// local 3-node cluster. Start-up steps that only create or bind JetStream assets (safe to repeat)
// go through again_on_timeout: tried again on kTimeout, 500 ms apart, for up to `retry_for`; then
// the last result is returned. Every service's main uses it for its streams and buckets.
inline constexpr std::chrono::seconds kStartupRetryFor{30};

// True (after logging and a pause) when a start-up step that failed with `error` is to be tried
// again before `until`.
bool try_again_after(std::string_view what, const boost::system::error_code& error,
                     std::chrono::steady_clock::time_point until);

template <typename Step>
auto again_on_timeout(std::string_view what, Step&& step,
                      std::chrono::milliseconds retry_for = kStartupRetryFor) -> decltype(step()) {
    const auto until = std::chrono::steady_clock::now() + retry_for;
    for (;;) {
        auto r = step();
        if (r || !try_again_after(what, r.error(), until)) {
            return r;
        }
    }
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// A received message; owns its bytes (copied out of the natsMsg).
struct Message {
    std::string subject;
    std::string reply;
    std::string data;
    Headers headers;
    // First value of header `name`, compared case-insensitively.
    std::optional<std::string_view> header(std::string_view name) const noexcept;
};

enum class ConnectionState : std::uint8_t { kConnected, kDisconnected, kReconnected, kClosed };

struct Options {
    // nats:// or tls:// URLs; a URL may carry credentials (nats://user:password@host:4222),
    // which cnats sends instead of `user` and `password`.
    std::vector<std::string> servers{"nats://127.0.0.1:4222"};
    std::string name;   // shown in NATS monitoring (connz)
    std::string token;  // optional auth token
    std::string user;   // the role's user (docs/operations.md, "NATS roles")
    std::string password;
    // TLS: on when `tls` is set, a CA file is given or a URL is tls://. The server's
    // certificate is verified against `tls_ca_file`; `tls_cert_file` and `tls_key_file` are the
    // client's certificate chain and key, for servers that require mutual TLS.
    bool tls = false;
    std::string tls_ca_file;
    std::string tls_cert_file;
    std::string tls_key_file;
    std::chrono::milliseconds connect_timeout{2000};
    // Initial connection: attempts until this deadline, backing off from 100 ms to 2 s with
    // jitter; zero means one attempt.
    std::chrono::milliseconds initial_connect_deadline{30000};
    // After a disconnect: reconnect forever, waiting `reconnect_wait` ± `reconnect_jitter`.
    std::chrono::milliseconds reconnect_wait{250};
    std::chrono::milliseconds reconnect_jitter{250};
    // Bytes published while disconnected that are buffered and sent on reconnect.
    std::int64_t reconnect_buffer_bytes = 8 * 1024 * 1024;
    std::chrono::milliseconds ping_interval{10000};
    int max_pings_out = 3;
    // Worker threads for the *_async blocking operations.
    unsigned workers = 2;
    // Bound on the drain done by ~Connection (subscriptions stop, pending messages are
    // delivered, buffered publishes flushed); the connection is closed when it runs out.
    std::chrono::milliseconds drain_timeout{2000};
};

using StateCallback = std::function<void(ConnectionState)>;
using MessageCallback = std::function<void(Message&&)>;

// Unsubscribes when destroyed (or on reset()). Move-only.
//
// Lifetime: when destruction returns, the callback is not running and will not run again,
// unless the destruction happens inside that callback (then it returns at once and the
// callback finishes normally). So a callback may capture objects that outlive its
// Subscription; do not destroy a Subscription while holding a lock its callback takes. A
// Subscription may outlive its Connection: the Connection silences it when it shuts down, and
// destroying it later only releases memory. Destroying it from any thread is safe.
class Subscription {
public:
    // Out of line: a constructor potentially destroys `impl_`, whose type is incomplete here.
    Subscription() noexcept;
    ~Subscription();
    Subscription(Subscription&&) noexcept;
    Subscription& operator=(Subscription&&) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    void reset() noexcept;
    explicit operator bool() const noexcept { return impl_ != nullptr; }

    struct Impl;
    explicit Subscription(std::unique_ptr<Impl> impl) noexcept;

private:
    std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// JetStream

enum class Storage : std::uint8_t { kFile, kMemory };
// What a stream at one of its limits (max_bytes, max_msgs) does with a new message: drop its
// oldest (kOld: the limit is retention) or refuse the new one with kStorageFull (kNew).
enum class Discard : std::uint8_t { kOld, kNew };

struct StreamConfig {
    std::string name;
    std::vector<std::string> subjects;
    Storage storage = Storage::kFile;
    int replicas = 1;
    std::chrono::milliseconds max_age{0};    // 0: unlimited
    std::int64_t max_msgs_per_subject = -1;  // -1: unlimited
    std::int64_t max_bytes = -1;             // -1: unlimited
    Discard discard = Discard::kOld;
    std::int32_t max_msg_size = -1;
    std::chrono::milliseconds duplicate_window{0};  // 0: server default (2 min)
    bool allow_direct = true;
    // RePublish: every stored message is also published (with headers Nats-Stream,
    // Nats-Subject, Nats-Sequence, Nats-Last-Sequence) to `republish_destination`, a subject
    // mapping of `republish_source` (e.g. "room.>" → "fanout.>").
    std::string republish_source;
    std::string republish_destination;
};

struct PubAck {
    std::string stream;
    std::uint64_t sequence = 0;
    bool duplicate = false;
};

// A message read back from a stream.
struct StoredMessage {
    std::uint64_t sequence = 0;
    std::string subject;
    std::string data;
    Headers headers;
    std::int64_t time_ns = 0;  // store time, Unix epoch
};

// What a stream holds (stream_state). Limits that discard old messages (max_age, max_bytes)
// remove them from the front: every stored message with a sequence >= first_sequence is still
// there unless a per-subject limit or a delete removed it.
struct StreamState {
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t first_sequence = 0;  // the oldest message kept (last_sequence + 1 when empty)
    std::int64_t first_time_ns = 0;    // its store time, Unix epoch (0 when empty)
    std::uint64_t last_sequence = 0;
};

// A stream's (or KV bucket's: stream KV_<bucket>) fill and cluster state, for monitoring
// (stream_health).
struct StreamHealth {
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::int64_t max_bytes = -1;  // the configured budget; -1: unlimited
    std::uint64_t consumers = 0;
    // A leader answers for the stream. A single server always leads its streams; in a cluster
    // the stream's RAFT group must have elected one (the info request itself fails or times out
    // while none is: the caller reports that as no leader too).
    bool has_leader = false;
    int replicas = 1;          // configured
    int replicas_current = 0;  // the leader plus the followers that are caught up
};

// Messages read under a byte budget (read_subject_bounded, read_last_bounded).
struct StoredBatch {
    std::vector<StoredMessage> messages;
    bool cut = false;  // the budget left messages out
};

// How a process opens a bucket (JetStream::key_value). Each bucket has one owner role, whose
// settings are the contract's (libs/contract/storage.hpp); the NATS permissions
// (docs/operations.md, "NATS roles") let only the owner update the bucket's stream. A process
// that only uses another role's bucket creates it when it is missing (so start order does not
// matter) and otherwise binds to it as it is, never rewriting its settings.
enum class BucketRole : std::uint8_t { kOwner, kUser };

struct KvConfig {
    std::string bucket;
    int history = 1;
    std::chrono::milliseconds ttl{0};  // 0: entries never expire
    Storage storage = Storage::kFile;
    int replicas = 1;
    std::int32_t max_value_size = -1;
    // The bucket's bytes in all (-1: unlimited). When full, writes fail (KV buckets discard new).
    std::int64_t max_bytes = -1;
};

struct KvEntry {
    std::string key;
    std::string value;
    std::uint64_t revision = 0;
    bool deleted = false;  // a delete or purge marker (watch only)
};

class Connection;

// A bucket handle (JetStream::key_value). Thread-safe. It may outlive its Connection: calls
// then fail with kClosed.
class KeyValue {
public:
    KeyValue(const KeyValue&) = delete;
    KeyValue& operator=(const KeyValue&) = delete;
    ~KeyValue();

    const std::string& bucket() const noexcept { return bucket_; }

    // nullopt when the key does not exist (or was deleted).
    Result<std::optional<KvEntry>> get(std::string_view key);
    Result<std::uint64_t> put(std::string_view key, std::string_view value);
    // Fails with kAlreadyExists when the key exists.
    Result<std::uint64_t> create(std::string_view key, std::string_view value);
    // Compare-and-set: fails with kWrongRevision unless the key's revision is `last_revision`.
    Result<std::uint64_t> update(std::string_view key, std::string_view value,
                                 std::uint64_t last_revision);
    Result<void> erase(std::string_view key);
    // Compare-and-delete: writes the delete marker only while the key's revision is
    // `last_revision` (> 0), else fails with kWrongRevision (also when the key is already gone).
    // For deletes decided on a value read earlier, which must not remove a newer one.
    Result<void> erase(std::string_view key, std::uint64_t last_revision);
    // Keys matching a NATS wildcard filter ("rooms.>"), or all keys for an empty filter. The
    // server filters (a headers-only read of the last message of each matching key).
    Result<std::vector<std::string>> keys(std::string_view filter = {});

    void get_async(std::string key, std::function<void(Result<std::optional<KvEntry>>)> done);
    void put_async(std::string key, std::string value,
                   std::function<void(Result<std::uint64_t>)> done);
    // As create() and update(), without blocking a library thread on the ack.
    void create_async(std::string key, std::string value,
                      std::function<void(Result<std::uint64_t>)> done);
    void update_async(std::string key, std::string value, std::uint64_t last_revision,
                      std::function<void(Result<std::uint64_t>)> done);
    void erase_async(std::string key, std::function<void(Result<void>)> done);

    // Watches keys matching `filter` (">" for all): first every current value (unless
    // `updates_only`), then `on_initial_done`, then every change (deleted=true for deletes).
    // Callbacks run on a thread owned by the watch. The watch stops when the Subscription is
    // destroyed. Delete markers among the initial values are skipped (they describe absent
    // keys); with `updates_only` the server sends only later changes and `on_initial_done`
    // runs first. The watch survives reconnects and server restarts.
    Result<Subscription> watch(std::string_view filter, std::function<void(KvEntry&&)> on_entry,
                               std::function<void()> on_initial_done, bool updates_only = false);

    struct Impl;
    KeyValue(std::string bucket, std::unique_ptr<Impl> impl);

private:
    std::string bucket_;
    std::unique_ptr<Impl> impl_;
};

class JetStream {
public:
    explicit JetStream(Connection& conn) : conn_(conn) {}

    // Creates the stream, or updates it to `config` when it exists (limits, max_bytes and
    // discard included; lowering max_bytes below what the stream holds drops its oldest).
    Result<void> ensure_stream(const StreamConfig& config);
    Result<void> delete_stream(std::string_view name);

    // Publishes with an awaited PubAck (blocking, for tools/tests).
    Result<PubAck> publish(std::string_view subject, std::string_view data,
                           const Headers& headers = {},
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
    // Publishes without blocking; `done` runs on a library thread with the PubAck or an error
    // (kTimeout after `timeout`, kNoResponders when no stream holds the subject, kClosed when
    // the Connection shuts down first). A `Nats-Msg-Id` header de-duplicates.
    void publish_async(std::string subject, std::string data, Headers headers,
                       std::function<void(Result<PubAck>)> done,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

    // Stored messages on `subject` with sequence >= `start_sequence`, in order, at most `max`.
    Result<std::vector<StoredMessage>> read_subject(std::string_view stream,
                                                    std::string_view subject,
                                                    std::uint64_t start_sequence, std::size_t max,
                                                    std::chrono::milliseconds timeout);
    // The last `count` stored messages on `subject`, in ascending order. Reads the whole
    // subject and keeps the tail while the subject holds at most 4096 messages (Roomcast's
    // streams cap subjects with max_msgs_per_subject); beyond that it first finds the start
    // sequence with O(log stream size) consumer probes.
    Result<std::vector<StoredMessage>> read_last(std::string_view stream, std::string_view subject,
                                                 std::size_t count,
                                                 std::chrono::milliseconds timeout);
    // As read_subject, with no more than `max_bytes` of message data in all (the first message
    // always, so a paging reader makes progress); `cut` tells that the budget left some out.
    // Memory stays near the budget: it reads in small batches.
    Result<StoredBatch> read_subject_bounded(std::string_view stream, std::string_view subject,
                                             std::uint64_t start_sequence, std::size_t max,
                                             std::uint64_t max_bytes,
                                             std::chrono::milliseconds timeout);
    // The newest messages on `subject`, at most `count`, that fit in `max_bytes` together (at
    // least the newest one), ascending. The sizes are read first (headers only), so the data
    // read is the budget's, not the subject's.
    Result<StoredBatch> read_last_bounded(std::string_view stream, std::string_view subject,
                                          std::size_t count, std::uint64_t max_bytes,
                                          std::chrono::milliseconds timeout);
    // Sequence of the last message on `subject`, 0 when it has none.
    Result<std::uint64_t> last_sequence(std::string_view stream, std::string_view subject);
    // Store time (Unix epoch, ns) of the last message on `subject`, nullopt when it has none:
    // one get-last request, whatever the subject holds. kNotFound when the stream is missing.
    Result<std::optional<std::int64_t>> last_message_time(std::string_view stream,
                                                          std::string_view subject,
                                                          std::chrono::milliseconds timeout);
    // The stream's counts and its oldest kept message (one stream info request).
    Result<StreamState> stream_state(std::string_view stream);
    // Fill, budget and leader of the stream (one stream info request, waiting at most
    // `timeout`). Blocks the caller: for a monitoring thread, not a NATS callback.
    Result<StreamHealth> stream_health(std::string_view stream, std::chrono::milliseconds timeout);

    void read_subject_async(std::string stream, std::string subject, std::uint64_t start_sequence,
                            std::size_t max, std::chrono::milliseconds timeout,
                            std::function<void(Result<std::vector<StoredMessage>>)> done);
    void read_last_async(std::string stream, std::string subject, std::size_t count,
                         std::chrono::milliseconds timeout,
                         std::function<void(Result<std::vector<StoredMessage>>)> done);
    void last_sequence_async(std::string stream, std::string subject,
                             std::function<void(Result<std::uint64_t>)> done);

    // Creates or binds to a KV bucket. As its owner (the default), applies `config`'s history,
    // ttl, value size and max_bytes to an existing bucket; as a user, binds to an existing one
    // as it is. A write to a full bucket fails with kStorageFull. A max_bytes below what the
    // bucket holds is raised to that (logged) rather than letting the server drop entries.
    Result<std::unique_ptr<KeyValue>> key_value(const KvConfig& config,
                                                BucketRole role = BucketRole::kOwner);

private:
    Connection& conn_;
};

// ---------------------------------------------------------------------------------------------

class Connection {
public:
    // Connects (retrying per Options) and returns the connection, or the last error.
    // `on_state` runs on a library thread for every later state change.
    static Result<std::unique_ptr<Connection>> connect(const Options& options,
                                                       StateCallback on_state = {});
    ~Connection();  // drains (bounded) and closes
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool connected() const noexcept;
    // Reconnections since connect().
    std::uint64_t reconnects() const noexcept;
    // Writes (JetStream publishes, KV writes) refused with kStorageFull since connect(): a
    // stream or bucket at its byte budget, or the JetStream store full.
    std::uint64_t storage_full() const noexcept;
    // The server's URL, without credentials (redact_urls): safe to log.
    std::string connected_url() const;

    Result<void> publish(std::string_view subject, std::string_view data,
                         const Headers& headers = {}, std::string_view reply = {});
    // `queue` non-empty: a queue subscription (one member of the group gets each message).
    Result<Subscription> subscribe(std::string_view subject, MessageCallback on_message,
                                   std::string_view queue = {});

    // Request/reply without blocking: one shared inbox subscription ("_INBOX.<id>.*") routes
    // replies; `done` runs on a library thread with the reply, kTimeout or kNoResponders.
    void request_async(std::string_view subject, std::string data,
                       std::chrono::milliseconds timeout, std::function<void(Result<Message>)> done,
                       const Headers& headers = {});
    Result<Message> request(std::string_view subject, std::string_view data,
                            std::chrono::milliseconds timeout, const Headers& headers = {});

    Result<void> flush(std::chrono::milliseconds timeout);
    // Stops subscriptions, delivers what is pending, flushes publishes, closes. Bounded.
    void drain(std::chrono::milliseconds timeout);
    // Drains (unless done), completes everything still pending with kClosed and stops the
    // library's threads: once it returns no callback of this connection runs again, so objects
    // whose callbacks capture `this` may be destroyed. Idempotent; the destructor calls it.
    void close();

    JetStream& jetstream() noexcept { return jetstream_; }

    // Runs `work` on the worker pool (used by the *_async operations).
    void run_async(std::function<void()> work);

    struct Impl;
    Impl& impl() noexcept { return *impl_; }

private:
    explicit Connection(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
    JetStream jetstream_{*this};
};

// `urls` (one URL or a comma-separated list) with the credentials of each URL masked:
// nats://user:secret@host:4222 → nats://user:***@host:4222, nats://token@host → nats://***@host.
// Everything that logs a NATS URL logs it through this.
std::string redact_urls(std::string_view urls);
// Whether a URL carries credentials (user:password@ or token@).
bool url_has_credentials(std::string_view url) noexcept;

// Subject-safe token check: non-empty, no whitespace or control characters, no '.', '*', '>'
// (room ids and edge ids are validated with this before they become part of a subject).
bool valid_subject_token(std::string_view token) noexcept;

}  // namespace roomcast::natsbus

namespace boost::system {
template <>
struct is_error_code_enum<roomcast::natsbus::Errc> : std::true_type {};
}  // namespace boost::system
