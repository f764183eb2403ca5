// KeyValue buckets and watches. The contract is in natsbus.hpp.
#include "internal.hpp"

#include "roomcast/core/log.hpp"

#include <algorithm>
#include <cctype>
#include <climits>

namespace roomcast::natsbus {
namespace {

namespace log = roomcast::core::log;
using detail::Core;
using std::chrono::milliseconds;

// Wait of every KV request (cnats' JetStream default); keys() gathers within it too.
constexpr milliseconds kKvTimeout{5000};
// A watch thread wakes at least this often to notice a stop. A stop wakes it at once as soon
// as the watch has delivered anything (see Watch::cancel), so this only bounds the stop of a
// watch that has seen nothing yet.
constexpr std::int64_t kWatchPollMs = 100;
// Pause after an unexpected watch error before trying again, so a persistent error does not spin.
constexpr milliseconds kWatchErrorPause{100};
// cnats' kvMaxHistory.
constexpr int kMaxHistory = 64;

constexpr const char* kOperationHeader = "KV-Operation";

bool key_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '/' || c == '_' ||
           c == '=' || c == '.';
}

// cnats' key rule (kv.c validKey), checked here for the operations we publish ourselves.
bool valid_key(std::string_view key) {
    if (key.empty() || key.front() == '.' || key.back() == '.') {
        return false;
    }
    return std::all_of(key.begin(), key.end(), key_char);
}

// A key filter: key characters plus wildcard tokens ("rooms.*", "rooms.>").
bool valid_key_filter(std::string_view filter) {
    return detail::valid_subject(filter, true) &&
           std::all_of(filter.begin(), filter.end(),
                       [](char c) { return key_char(c) || c == '*' || c == '>'; });
}

KvEntry to_entry(kvEntry* e) {
    KvEntry out;
    const char* key = kvEntry_Key(e);
    out.key = key != nullptr ? key : "";
    const auto* value = static_cast<const char*>(kvEntry_Value(e));
    const int length = kvEntry_ValueLen(e);
    if (value != nullptr && length > 0) {
        out.value.assign(value, static_cast<std::size_t>(length));
    }
    out.revision = kvEntry_Revision(e);
    return out;
}

// Whether a bucket message is a delete or purge marker.
bool is_marker(natsMsg* msg) {
    const char* op = nullptr;
    if (natsMsgHeader_Get(msg, kOperationHeader, &op) != NATS_OK || op == nullptr) {
        return false;
    }
    const std::string_view operation(op);
    return operation == "DEL" || operation == "PURGE";
}

struct PublishOutcome {
    natsStatus status = NATS_OK;
    jsErrCode js_error = static_cast<jsErrCode>(0);
    std::uint64_t revision = 0;
};

}  // namespace

namespace detail {

// The cnats handles of one bucket. Shared by the KeyValue and its pool tasks and watches, so
// none of them outlives the handles. Thread-safe (cnats' kvStore and jsCtx are).
class KvState {
public:
    KvState(const std::string& bucket, jsCtx* js, kvStore* kv)
        : stream_("KV_" + bucket), prefix_("$KV." + bucket + "."), js_(js), kv_(kv) {}
    ~KvState() {
        kvStore_Destroy(kv_);
        jsCtx_Destroy(js_);
    }

    // The subject a key's values are published on.
    std::string subject(std::string_view key) const { return prefix_ + std::string(key); }
    KvState(const KvState&) = delete;
    KvState& operator=(const KvState&) = delete;

    kvStore* kv() const noexcept { return kv_; }

    Result<std::optional<KvEntry>> get(const std::string& key) const {
        kvEntry* raw = nullptr;
        const natsStatus s = kvStore_Get(&raw, kv_, key.c_str());
        const KvEntryPtr entry(raw);
        if (s == NATS_NOT_FOUND) {
            return std::optional<KvEntry>{};  // absent or deleted
        }
        if (s != NATS_OK) {
            return to_error(s, "kv get");
        }
        return std::optional<KvEntry>(to_entry(entry.get()));
    }

    Result<std::uint64_t> put(const std::string& key, std::string_view value) const {
        if (value.size() > static_cast<std::size_t>(INT_MAX)) {
            return make_error_code(Errc::kInvalidArgument);
        }
        // Published here rather than with kvStore_Put, which drops the JetStream error code
        // (the code tells a full bucket, kStorageFull, from any other failure).
        if (!valid_key(key)) {
            return make_error_code(Errc::kInvalidArgument);
        }
        const PublishOutcome out = publish_expecting(key, value, std::nullopt);
        if (out.status != NATS_OK) {
            return to_error(out.status, out.js_error, "kv put");
        }
        return out.revision;
    }

    // kvStore_Create/Update do not surface the JetStream error code, which is what tells a
    // stale revision from any other failure, so these publish with expectations themselves.
    Result<std::uint64_t> create(const std::string& key, std::string_view value) const {
        if (!valid_key(key)) {
            return make_error_code(Errc::kInvalidArgument);
        }
        PublishOutcome out = publish_expecting(key, value, 0);
        if (out.js_error == JSStreamWrongLastSequenceErr) {
            // Allowed over a delete or purge marker: retry against the marker's revision.
            const auto marker = deletion_marker(key);
            if (marker != 0) {
                out = publish_expecting(key, value, marker);
            }
            if (out.js_error == JSStreamWrongLastSequenceErr) {
                return make_error_code(Errc::kAlreadyExists);
            }
        }
        if (out.status != NATS_OK) {
            return to_error(out.status, out.js_error, "kv create");
        }
        return out.revision;
    }

    Result<std::uint64_t> update(const std::string& key, std::string_view value,
                                 std::uint64_t last_revision) const {
        if (!valid_key(key)) {
            return make_error_code(Errc::kInvalidArgument);
        }
        const PublishOutcome out = publish_expecting(key, value, last_revision);
        if (out.status != NATS_OK) {
            return to_error(out.status, out.js_error, "kv update");
        }
        return out.revision;
    }

    Result<void> erase(const std::string& key) const {
        const natsStatus s = kvStore_Delete(kv_, key.c_str());
        if (s != NATS_OK) {
            return to_error(s, "kv erase");
        }
        return {};
    }

    // kvStore_Delete takes no expectation: the delete marker (the header kvStore_Delete writes)
    // published with one, so a stale revision fails with the JetStream error code.
    Result<void> erase_expecting(const std::string& key, std::uint64_t last_revision) const {
        if (!valid_key(key) || last_revision == 0) {
            return make_error_code(Errc::kInvalidArgument);
        }
        const std::string subject = prefix_ + key;
        natsMsg* raw = nullptr;
        natsStatus s = natsMsg_Create(&raw, subject.c_str(), nullptr, nullptr, 0);
        const MsgPtr msg(raw);
        if (s == NATS_OK) {
            s = natsMsgHeader_Set(msg.get(), "KV-Operation", "DEL");
        }
        if (s != NATS_OK) {
            return to_error(s, "kv erase");
        }
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.ExpectLastSubjectSeq = last_revision;
        jsPubAck* ack_raw = nullptr;
        jsErrCode js_error = static_cast<jsErrCode>(0);
        s = js_PublishMsg(&ack_raw, js_, msg.get(), &po, &js_error);
        const PubAckPtr ack(ack_raw);
        if (s != NATS_OK) {
            return to_error(s, js_error, "kv erase");
        }
        return {};
    }

    // The keys of the current (non-deleted) values matching `filter`, read from a headers-only
    // ordered consumer over the last message of each subject: the server filters, which cnats
    // 3.4's kvStore_Keys (all keys) cannot.
    Result<std::vector<std::string>> keys(const std::string& filter) const {
        const auto deadline = std::chrono::steady_clock::now() + kKvTimeout;
        auto reader = open_ordered(filter, js_DeliverLastPerSubject, true);
        if (!reader) {
            return reader.error();
        }
        std::vector<std::string> out;
        if (reader->empty) {
            return out;
        }
        while (true) {
            const auto left = std::chrono::duration_cast<milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return make_error_code(Errc::kTimeout);
            }
            natsMsg* raw = nullptr;
            const natsStatus s = natsSubscription_NextMsg(&raw, reader->sub.get(), left.count());
            const MsgPtr msg(raw);
            if (s != NATS_OK) {
                return to_error(s, "kv keys");
            }
            auto entry = decode(msg.get());
            if (!entry) {
                return entry.error();
            }
            if (!entry->entry.deleted) {
                out.push_back(std::move(entry->entry.key));
            }
            if (entry->pending == 0) {
                return out;
            }
        }
    }

    // An ordered push consumer on a synchronous subscription, for keys() and watches.
    //
    // It is released with natsSubscription_Destroy (SubPtr), never natsSubscription_Unsubscribe
    // or kvWatcher_Stop: on Unsubscribe, cnats 3.4 deletes the consumer using its name read
    // outside the subscription lock, while the thread that recreates an ordered consumer after
    // a reconnect may free that name (a use-after-free that ASan caught in the reconnect test).
    // Destroy skips the deletion; the server drops the ephemeral consumer once its delivery
    // subject has no interest.
    struct OrderedReader {
        SubPtr sub;
        bool empty = false;  // nothing to deliver when it was created
    };
    Result<OrderedReader> open_ordered(const std::string& filter, jsDeliverPolicy policy,
                                       bool headers_only) const {
        if (!valid_key_filter(filter)) {
            return make_error_code(Errc::kInvalidArgument);
        }
        const std::string subject = prefix_ + filter;
        OrderedReader out;
        if (policy == js_DeliverNew) {
            out.empty = true;
        } else {
            // Whether anything matches, from the stream's per-subject counts (not from the
            // consumer's info, whose request has the same unlocked-name problem as above).
            jsOptions jo;
            jsOptions_Init(&jo);
            jo.Stream.Info.SubjectsFilter = subject.c_str();
            jsStreamInfo* raw_info = nullptr;
            jsErrCode jerr = static_cast<jsErrCode>(0);
            const natsStatus s = js_GetStreamInfo(&raw_info, js_, stream_.c_str(), &jo, &jerr);
            if (s != NATS_OK) {
                return to_error(s, jerr, "kv subjects");
            }
            const StreamInfoPtr info(raw_info);
            out.empty = info->State.Subjects == nullptr || info->State.Subjects->Count == 0;
        }
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = stream_.c_str();
        so.Ordered = true;
        so.Config.DeliverPolicy = policy;
        so.Config.HeadersOnly = headers_only;
        natsSubscription* raw = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_SubscribeSync(&raw, js_, subject.c_str(), nullptr, &so, &jerr);
        if (s != NATS_OK) {
            return to_error(s, jerr, "kv consumer");
        }
        out.sub.reset(raw);
        // No slow-consumer drops: a watch must see every change (as cnats' own KV watcher).
        s = natsSubscription_SetPendingLimits(raw, -1, -1);
        if (s != NATS_OK) {
            return to_error(s, "kv consumer limits");
        }
        return out;
    }

    struct Decoded {
        KvEntry entry;
        std::uint64_t pending = 0;  // messages the consumer had left after this one
    };
    Result<Decoded> decode(natsMsg* msg) const {
        jsMsgMetaData* raw = nullptr;
        const natsStatus s = natsMsg_GetMetaData(&raw, msg);
        if (s != NATS_OK) {
            return to_error(s, "kv metadata");
        }
        const MetaPtr meta(raw);
        Decoded out;
        const std::string_view subject = natsMsg_GetSubject(msg);
        out.entry.key = std::string(subject.substr(std::min(prefix_.size(), subject.size())));
        const char* data = natsMsg_GetData(msg);
        const int length = natsMsg_GetDataLength(msg);
        if (data != nullptr && length > 0) {
            out.entry.value.assign(data, static_cast<std::size_t>(length));
        }
        out.entry.revision = meta->Sequence.Stream;
        out.entry.deleted = is_marker(msg);
        out.pending = meta->NumPending;
        return out;
    }

private:
    // `last` 0 expects no message on the key's subject at all; nullopt expects nothing (a put).
    PublishOutcome publish_expecting(const std::string& key, std::string_view value,
                                     std::optional<std::uint64_t> last) const {
        PublishOutcome out;
        if (value.size() > static_cast<std::size_t>(INT_MAX)) {
            out.status = NATS_INVALID_ARG;
            return out;
        }
        jsPubOptions po;
        jsPubOptions_Init(&po);
        if (last == 0) {
            po.ExpectNoMessage = true;
        } else if (last) {
            po.ExpectLastSubjectSeq = *last;
        }
        const std::string subject = prefix_ + key;
        jsPubAck* raw = nullptr;
        out.status = js_Publish(&raw, js_, subject.c_str(), value.data(),
                                static_cast<int>(value.size()), &po, &out.js_error);
        const PubAckPtr ack(raw);
        if (out.status == NATS_OK) {
            out.revision = ack->Sequence;
        }
        return out;
    }

    // The revision of the key's last entry when that entry is a delete/purge marker, else 0.
    std::uint64_t deletion_marker(const std::string& key) const {
        const std::string subject = prefix_ + key;
        natsMsg* raw = nullptr;
        const natsStatus s =
            js_GetLastMsg(&raw, js_, stream_.c_str(), subject.c_str(), nullptr, nullptr);
        const MsgPtr msg(raw);
        if (s != NATS_OK) {
            return 0;
        }
        return is_marker(msg.get()) ? natsMsg_GetSequence(msg.get()) : 0;
    }

    const std::string stream_;
    const std::string prefix_;
    jsCtx* const js_;
    kvStore* const kv_;
};

namespace {

// A watch: its own thread reads an ordered consumer and runs the callbacks. Stopped (and
// joined, unless stopped from its own callback) by cancel().
class Watch final : public Cancellable, public std::enable_shared_from_this<Watch> {
public:
    Watch(std::shared_ptr<KvState> state, KvState::OrderedReader reader,
          std::function<void(KvEntry&&)> on_entry, std::function<void()> on_initial_done)
        : state_(std::move(state)),
          reader_(std::move(reader)),
          on_entry_(std::move(on_entry)),
          on_initial_done_(std::move(on_initial_done)) {}
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    void start() {
        std::lock_guard lock(mu_);
        thread_ = std::thread([self = shared_from_this()] { self->run(); });
    }

    bool drains() const noexcept override { return false; }

    void cancel() noexcept override {
        std::thread thread;
        {
            std::lock_guard lock(mu_);
            thread.swap(thread_);
        }
        stop_ = true;
        if (!thread.joinable()) {
            return;
        }
        if (thread.get_id() == std::this_thread::get_id()) {
            thread.detach();  // a callback stopping its own watch; the thread owns `this`
            return;
        }
        // Wakes the thread at once when the subscription has delivered a message (it is then
        // past its limit and closes), without the consumer deletion of Unsubscribe (see
        // OrderedReader). Otherwise the thread notices `stop_` within kWatchPollMs.
        natsSubscription_AutoUnsubscribe(reader_.sub.get(), 1);
        thread.join();
    }

private:
    void run() {
        bool initial = true;
        if (reader_.empty) {
            initial = false;
            if (on_initial_done_) {
                guarded("kv watch initial done", on_initial_done_);
            }
        }
        while (!stop_) {
            natsMsg* raw = nullptr;
            const natsStatus s = natsSubscription_NextMsg(&raw, reader_.sub.get(), kWatchPollMs);
            const MsgPtr msg(raw);
            if (stop_) {
                return;
            }
            if (s == NATS_TIMEOUT) {
                continue;
            }
            if (s == NATS_INVALID_SUBSCRIPTION || s == NATS_CONNECTION_CLOSED ||
                s == NATS_MAX_DELIVERED_MSGS) {
                return;  // stopped, or the connection is gone
            }
            if (s != NATS_OK) {
                // Missed heartbeats and the like: cnats recreates the ordered consumer itself.
                log::warn("kv watch error", {{"status", natsStatus_GetText(s)}});
                std::this_thread::sleep_for(kWatchErrorPause);
                continue;
            }
            auto decoded = state_->decode(msg.get());
            if (!decoded) {
                continue;  // not a bucket message (kOther is logged)
            }
            // Markers among the initial values describe keys that do not exist: skipped.
            if (!initial || !decoded->entry.deleted) {
                guarded("kv watch entry", [&] { on_entry_(std::move(decoded->entry)); });
            }
            if (initial && decoded->pending == 0) {
                initial = false;
                if (on_initial_done_) {
                    guarded("kv watch initial done", on_initial_done_);
                }
            }
        }
    }

    const std::shared_ptr<KvState> state_;  // keeps the bucket's handles alive
    KvState::OrderedReader reader_;         // destroyed after the thread is gone
    const std::function<void(KvEntry&&)> on_entry_;
    const std::function<void()> on_initial_done_;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::thread thread_;
};

class WatchSubscription final : public Subscription::Impl {
public:
    WatchSubscription(std::weak_ptr<Core> core, std::shared_ptr<Watch> watch)
        : core_(std::move(core)), watch_(std::move(watch)) {}
    ~WatchSubscription() override {
        watch_->cancel();
        if (auto core = core_.lock()) {
            core->remove_live(watch_.get());
        }
    }
    WatchSubscription(const WatchSubscription&) = delete;
    WatchSubscription& operator=(const WatchSubscription&) = delete;

private:
    std::weak_ptr<Core> core_;
    std::shared_ptr<Watch> watch_;
};

}  // namespace
}  // namespace detail

struct KeyValue::Impl {
    std::shared_ptr<Core> core;
    std::shared_ptr<detail::KvState> state;
};

KeyValue::KeyValue(std::string bucket, std::unique_ptr<Impl> impl)
    : bucket_(std::move(bucket)), impl_(std::move(impl)) {}

KeyValue::~KeyValue() = default;

Result<std::optional<KvEntry>> KeyValue::get(std::string_view key) {
    if (impl_->core->closing) {
        return make_error_code(Errc::kClosed);
    }
    return impl_->state->get(std::string(key));
}

Result<std::uint64_t> KeyValue::put(std::string_view key, std::string_view value) {
    if (impl_->core->closing) {
        return make_error_code(Errc::kClosed);
    }
    return impl_->core->note(impl_->state->put(std::string(key), value));
}

Result<std::uint64_t> KeyValue::create(std::string_view key, std::string_view value) {
    if (impl_->core->closing) {
        return make_error_code(Errc::kClosed);
    }
    return impl_->core->note(impl_->state->create(std::string(key), value));
}

Result<std::uint64_t> KeyValue::update(std::string_view key, std::string_view value,
                                       std::uint64_t last_revision) {
    if (impl_->core->closing) {
        return make_error_code(Errc::kClosed);
    }
    return impl_->core->note(impl_->state->update(std::string(key), value, last_revision));
}

Result<void> KeyValue::erase(std::string_view key) {
    if (impl_->core->closing) {
        return make_error_code(Errc::kClosed);
    }
    return impl_->state->erase(std::string(key));
}

Result<void> KeyValue::erase(std::string_view key, std::uint64_t last_revision) {
    if (impl_->core->closing) {
        return make_error_code(Errc::kClosed);
    }
    return impl_->state->erase_expecting(std::string(key), last_revision);
}

Result<std::vector<std::string>> KeyValue::keys(std::string_view filter) {
    if (impl_->core->closing) {
        return make_error_code(Errc::kClosed);
    }
    return impl_->state->keys(filter.empty() ? std::string(">") : std::string(filter));
}

void KeyValue::get_async(std::string key,
                         std::function<void(Result<std::optional<KvEntry>>)> done) {
    impl_->core->run_op<std::optional<KvEntry>>(
        std::move(done), [state = impl_->state, key = std::move(key)] { return state->get(key); });
}

namespace {

constexpr const char* kExpectedLastSubjectSequence = "Nats-Expected-Last-Subject-Sequence";

// The revision a KV write got, from its PubAck.
std::function<void(Result<PubAck>)> to_revision(std::function<void(Result<std::uint64_t>)> done) {
    return [done = std::move(done)](Result<PubAck> ack) {
        if (!ack) {
            done(ack.error());
            return;
        }
        done(ack->sequence);
    };
}

}  // namespace

// The asynchronous writes publish to the key's subject themselves (as put and
// create/update do, synchronously) with an asynchronous JetStream publish: no pool thread waits
// for the ack. On a connect + join the edge makes three of them.
void KeyValue::put_async(std::string key, std::string value,
                         std::function<void(Result<std::uint64_t>)> done) {
    if (!valid_key(key) || value.size() > static_cast<std::size_t>(INT_MAX)) {
        impl_->core->complete<std::uint64_t>(std::move(done), make_error_code(Errc::kInvalidArgument));
        return;
    }
    detail::publish_async(*impl_->core, impl_->state->subject(key), std::move(value), {},
                          to_revision(std::move(done)), kKvTimeout);
}

void KeyValue::create_async(std::string key, std::string value,
                            std::function<void(Result<std::uint64_t>)> done) {
    if (!valid_key(key) || value.size() > static_cast<std::size_t>(INT_MAX)) {
        impl_->core->complete<std::uint64_t>(std::move(done), make_error_code(Errc::kInvalidArgument));
        return;
    }
    std::string subject = impl_->state->subject(key);
    // The common case (no entry yet) in one publish; an existing entry, or a delete marker that
    // create may write over, takes the synchronous path on the pool, which tells them apart.
    detail::publish_async(
        *impl_->core, std::move(subject), value, {{kExpectedLastSubjectSequence, "0"}},
        [core = impl_->core, state = impl_->state, key = std::move(key), value,
         done = std::move(done)](Result<PubAck> ack) mutable {
            if (ack) {
                done(ack->sequence);
                return;
            }
            if (ack.error() != make_error_code(Errc::kWrongRevision)) {
                done(ack.error());
                return;
            }
            core->run_op<std::uint64_t>(
                std::move(done),
                [c = core.get(), state, key = std::move(key), value = std::move(value)] {
                    return c->note(state->create(key, value));
                });
        },
        kKvTimeout);
}

void KeyValue::update_async(std::string key, std::string value, std::uint64_t last_revision,
                            std::function<void(Result<std::uint64_t>)> done) {
    if (!valid_key(key) || value.size() > static_cast<std::size_t>(INT_MAX)) {
        impl_->core->complete<std::uint64_t>(std::move(done), make_error_code(Errc::kInvalidArgument));
        return;
    }
    detail::publish_async(*impl_->core, impl_->state->subject(key), std::move(value),
                          {{kExpectedLastSubjectSequence, std::to_string(last_revision)}},
                          to_revision(std::move(done)), kKvTimeout);
}

void KeyValue::erase_async(std::string key, std::function<void(Result<void>)> done) {
    impl_->core->run_op<void>(std::move(done), [state = impl_->state, key = std::move(key)] {
        return state->erase(key);
    });
}

Result<Subscription> KeyValue::watch(std::string_view filter,
                                     std::function<void(KvEntry&&)> on_entry,
                                     std::function<void()> on_initial_done, bool updates_only) {
    if (!on_entry) {
        return make_error_code(Errc::kInvalidArgument);
    }
    auto& core = impl_->core;
    if (core->closing) {
        return make_error_code(Errc::kClosed);
    }
    // The last value of each key, or only what changes from now on.
    auto reader =
        impl_->state->open_ordered(filter.empty() ? std::string(">") : std::string(filter),
                                   updates_only ? js_DeliverNew : js_DeliverLastPerSubject, false);
    if (!reader) {
        return reader.error();
    }
    auto watch = std::make_shared<detail::Watch>(impl_->state, std::move(*reader),
                                                 std::move(on_entry), std::move(on_initial_done));
    watch->start();
    core->add_live(watch);
    return Subscription(std::make_unique<detail::WatchSubscription>(core, std::move(watch)));
}

Result<std::unique_ptr<KeyValue>> JetStream::key_value(const KvConfig& config, BucketRole role) {
    if (config.history < 1 || config.history > kMaxHistory) {
        return make_error_code(Errc::kInvalidArgument);
    }
    const auto& core = conn_.impl().core;
    if (core->closing) {
        return make_error_code(Errc::kClosed);
    }
    // A context of its own, so the bucket's handles do not depend on the Connection's.
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = kKvTimeout.count();
    jsCtx* js = nullptr;
    natsStatus s = natsConnection_JetStream(&js, core->nc, &jo);
    if (s != NATS_OK) {
        return detail::to_error(s, "kv context");
    }
    std::unique_ptr<jsCtx, detail::Deleter<jsCtx_Destroy>> js_owner(js);

    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = config.bucket.c_str();
    kc.History = static_cast<std::uint8_t>(config.history);
    kc.TTL = detail::to_nanos(config.ttl);
    kc.StorageType = config.storage == Storage::kMemory ? js_MemoryStorage : js_FileStorage;
    kc.Replicas = config.replicas;
    kc.MaxValueSize = config.max_value_size;
    kc.MaxBytes = config.max_bytes;
    kvStore* kv = nullptr;
    s = js_CreateKeyValue(&kv, js, &kc);
    if (s != NATS_OK && role == BucketRole::kUser) {
        // It exists with other settings (or appeared meanwhile): the owner's, used as they are.
        s = js_KeyValue(&kv, js, config.bucket.c_str());
        if (s != NATS_OK) {
            return detail::to_error(s, "key_value");
        }
    } else if (s != NATS_OK && detail::errc_from(s) == Errc::kOther) {
        // cnats refuses to create over a bucket whose limits differ: bind to it and apply
        // ours (history, ttl, value size, byte budget) to its stream.
        const std::string stream = "KV_" + config.bucket;
        jsStreamInfo* raw = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        s = js_GetStreamInfo(&raw, js, stream.c_str(), nullptr, &jerr);
        detail::StreamInfoPtr info(raw);
        if (s == NATS_OK) {
            info->Config->MaxMsgsPerSubject = config.history;
            info->Config->MaxAge = kc.TTL;
            info->Config->MaxMsgSize = config.max_value_size;
            info->Config->MaxBytes = config.max_bytes;
            // A budget below what the bucket holds would make the server drop its oldest
            // entries (room rights, say): the bucket keeps what it has and is full until entries
            // expire or are deleted; each later start applies the budget again.
            const auto held = static_cast<std::int64_t>(info->State.Bytes);
            if (config.max_bytes > 0 && held > config.max_bytes) {
                log::warn(
                    "kv bucket holds more than its byte budget: budget raised to what it holds",
                    {{"bucket", config.bucket}, {"bytes", held}, {"budget", config.max_bytes}});
                info->Config->MaxBytes = held;
            }
            info->Config->Duplicates = 0;  // the server derives it from the (new) max age
            jsStreamInfo* updated = nullptr;
            s = js_UpdateStream(&updated, js, info->Config, nullptr, &jerr);
            jsStreamInfo_Destroy(updated);
        }
        if (s == NATS_OK) {
            s = js_KeyValue(&kv, js, config.bucket.c_str());
        }
        if (s != NATS_OK) {
            return detail::to_error(s, jerr, "key_value");
        }
    } else if (s != NATS_OK) {
        return detail::to_error(s, "key_value");
    }
    auto impl = std::make_unique<KeyValue::Impl>();
    impl->core = core;
    impl->state = std::make_shared<detail::KvState>(config.bucket, js_owner.release(), kv);
    return std::make_unique<KeyValue>(config.bucket, std::move(impl));
}

}  // namespace roomcast::natsbus
