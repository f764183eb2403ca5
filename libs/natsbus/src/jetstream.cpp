// JetStream: streams, publishes with acks, history reads. The contract is in natsbus.hpp.
#include "internal.hpp"

#include "roomcast/core/log.hpp"

#include <algorithm>
#include <charconv>
#include <climits>

namespace roomcast::natsbus {
namespace {

namespace log = roomcast::core::log;
using detail::Core;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// read_last reads the whole subject and keeps the tail while the subject holds at most this
// many messages (Roomcast's streams cap subjects with max_msgs_per_subject well below it);
// larger subjects cost O(log stream size) consumer probes instead (see read_last_impl).
constexpr std::uint64_t kReadLastScanLimit = 4096;
// Messages per pull request of read_subject: bounds what one request buffers.
constexpr std::size_t kFetchBatch = 256;
// The same under a byte budget (read_subject_bounded): it bounds what arrives past the budget.
constexpr std::size_t kBudgetFetchBatch = 16;
// How long the server keeps an ephemeral consumer we failed to delete (its backstop).
constexpr milliseconds kEphemeralInactiveThreshold{30000};
// How long a read waits for its ephemeral consumer to be created before it reads through
// direct gets instead. Creation takes milliseconds; with a node of a cluster down, nats-server
// 2.9 may place the consumer on that node and never answer (seen in about half the creations
// while a node of three was down: tests/e2e nats-cluster.test.mjs).
constexpr milliseconds kConsumerCreateBudget{1500};

class Deadline {
public:
    explicit Deadline(milliseconds timeout) : end_(steady_clock::now() + timeout) {}
    // Milliseconds left, at least 1 (cnats rejects 0); expired() says whether time is up.
    std::int64_t left_ms() const {
        const auto left =
            std::chrono::duration_cast<milliseconds>(end_ - steady_clock::now()).count();
        return left < 1 ? 1 : static_cast<std::int64_t>(left);
    }
    // The same, at most `cap` (a step that gets only part of the whole budget).
    std::int64_t left_ms(milliseconds cap) const { return std::min<std::int64_t>(left_ms(), cap.count()); }
    bool expired() const { return steady_clock::now() >= end_; }

private:
    steady_clock::time_point end_;
};

jsOptions api_options(std::int64_t wait_ms) {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = wait_ms;
    return jo;
}

bool valid_stream_name(std::string_view name) {
    return valid_subject_token(name);
}

StoredMessage to_stored(natsMsg* msg, std::uint64_t sequence, std::int64_t time_ns) {
    Message m = detail::copy_message(msg);
    StoredMessage out;
    out.sequence = sequence;
    out.subject = std::move(m.subject);
    out.data = std::move(m.data);
    out.headers = std::move(m.headers);
    out.time_ns = time_ns;
    return out;
}

// A throw-away consumer on `stream` (AckNone, pull, filtered); deleted when destroyed, with
// the server's inactivity threshold as the backstop.
class EphemeralConsumer {
public:
    EphemeralConsumer(jsCtx* js, std::string stream) : js_(js), stream_(std::move(stream)) {}
    ~EphemeralConsumer() {
        if (!name_.empty()) {
            js_DeleteConsumer(js_, stream_.c_str(), name_.c_str(), nullptr, nullptr);
        }
    }
    EphemeralConsumer(const EphemeralConsumer&) = delete;
    EphemeralConsumer& operator=(const EphemeralConsumer&) = delete;

    // Creates it; returns its pending count (messages matching the filter from the start).
    Result<std::uint64_t> create(const std::string& filter, std::uint64_t start_sequence,
                                 std::int64_t wait_ms, bool headers_only = false) {
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.AckPolicy = js_AckNone;
        // Headers only: each message comes with Nats-Msg-Size instead of its data.
        cc.HeadersOnly = headers_only;
        cc.FilterSubject = filter.c_str();
        cc.DeliverPolicy = js_DeliverAll;
        if (start_sequence > 1) {
            cc.DeliverPolicy = js_DeliverByStartSequence;
            cc.OptStartSeq = start_sequence;
        }
        cc.InactiveThreshold = detail::to_nanos(kEphemeralInactiveThreshold);
        cc.MemoryStorage = true;
        jsOptions jo = api_options(wait_ms);
        jsConsumerInfo* raw = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        const natsStatus s = js_AddConsumer(&raw, js_, stream_.c_str(), &cc, &jo, &jerr);
        if (s != NATS_OK) {
            return detail::to_error(s, jerr, "ephemeral consumer");
        }
        const detail::ConsumerInfoPtr info(raw);
        name_ = info->Name;
        return info->NumPending;
    }
    const std::string& name() const noexcept { return name_; }

private:
    jsCtx* js_;
    std::string stream_;
    std::string name_;
};

// Reads `subject` from `start_sequence`: at most `max` messages and, when `max_bytes` is not 0,
// no more data than that (the first message always, so a reader makes progress); `cut` tells
// that the byte budget left messages out. With `headers_only` messages carry no data, only
// their headers (Nats-Msg-Size among them).
Result<StoredBatch> read_subject_impl(Core& core, std::string_view stream, std::string_view subject,
                                      std::uint64_t start_sequence, std::size_t max,
                                      milliseconds timeout, std::uint64_t max_bytes = 0,
                                      bool headers_only = false) {
    if (!valid_stream_name(stream) || !detail::valid_subject(subject, true)) {
        return make_error_code(Errc::kInvalidArgument);
    }
    StoredBatch batch_out;
    auto& out = batch_out.messages;
    if (max == 0) {
        return batch_out;
    }
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    const Deadline deadline(timeout);
    EphemeralConsumer consumer(core.js, std::string(stream));
    auto pending = consumer.create(std::string(subject), start_sequence,
                                   deadline.left_ms(kConsumerCreateBudget),
                                   headers_only);
    if (!pending && pending.error() == Errc::kTimeout && !deadline.expired()) {
        log::warn("read_subject: no consumer in time, reading through direct gets",
                  {{"stream", stream}, {"subject", subject}});
        return detail::read_subject_direct(core, std::string(stream), std::string(subject),
                                           start_sequence, max, milliseconds(deadline.left_ms()),
                                           max_bytes, headers_only);
    }
    if (!pending) {
        return pending.error();
    }
    if (*pending == 0) {
        return batch_out;
    }
    // Under a byte budget, small pull batches: what arrives past the budget (and is dropped
    // with the subscription) is at most a batch.
    const std::size_t fetch_batch = max_bytes > 0 ? kBudgetFetchBatch : kFetchBatch;
    std::uint64_t bytes = 0;

    // The pull protocol by hand: cnats 3.4's fetch cannot send "no_wait" without "expires",
    // and nats-server 2.9 holds a no_wait request that has an expiry until it expires when
    // nothing is pending. A plain no_wait request answers at once: the messages available (up
    // to the batch), then a 404/408 status when it had fewer.
    natsInbox* raw_inbox = nullptr;
    natsStatus s = natsInbox_Create(&raw_inbox);
    if (s != NATS_OK) {
        return detail::to_error(s, "read_subject: inbox");
    }
    const std::string inbox(raw_inbox);
    natsInbox_Destroy(raw_inbox);
    natsSubscription* raw_sub = nullptr;
    s = natsConnection_SubscribeSync(&raw_sub, core.nc, inbox.c_str());
    if (s != NATS_OK) {
        return detail::to_error(s, "read_subject: subscribe");
    }
    // Retired, not destroyed, when the read ends: a status or message may still be on its way.
    struct Retire {
        natsConnection* nc;
        natsSubscription* sub;
        ~Retire() { detail::retire_subscription(nc, sub); }
    } const retire{core.nc, raw_sub};
    const std::string next_subject =
        "$JS.API.CONSUMER.MSG.NEXT." + std::string(stream) + "." + consumer.name();

    bool more = true;
    while (more && out.size() < max) {
        const std::size_t batch = std::min(max - out.size(), fetch_batch);
        const std::string request = "{\"batch\":" + std::to_string(batch) + ",\"no_wait\":true}";
        s = natsConnection_PublishRequest(core.nc, next_subject.c_str(), inbox.c_str(),
                                          request.data(), static_cast<int>(request.size()));
        if (s != NATS_OK) {
            return detail::to_error(s, "read_subject: next");
        }
        for (std::size_t received = 0; received < batch;) {
            if (deadline.expired()) {
                return make_error_code(Errc::kTimeout);
            }
            natsMsg* raw = nullptr;
            s = natsSubscription_NextMsg(&raw, raw_sub, deadline.left_ms());
            if (s != NATS_OK) {
                return detail::to_error(s, "read_subject: receive");
            }
            const detail::MsgPtr msg(raw);
            if (inbox == natsMsg_GetSubject(msg.get())) {
                // A status: 404/408 mean "nothing more for now"; anything else is an error.
                const char* status = nullptr;
                natsMsgHeader_Get(msg.get(), "Status", &status);
                const std::string_view code = status != nullptr ? status : "";
                if (code == "404" || code == "408") {
                    more = false;
                    break;
                }
                const char* description = nullptr;
                natsMsgHeader_Get(msg.get(), "Description", &description);
                log::warn(
                    "read_subject: unexpected pull status",
                    {{"status", code}, {"description", description != nullptr ? description : ""}});
                return make_error_code(Errc::kOther);
            }
            jsMsgMetaData* raw_meta = nullptr;
            s = natsMsg_GetMetaData(&raw_meta, msg.get());
            if (s != NATS_OK) {
                return detail::to_error(s, "read_subject: metadata");
            }
            const detail::MetaPtr meta(raw_meta);
            const auto size = static_cast<std::uint64_t>(natsMsg_GetDataLength(msg.get()));
            if (max_bytes > 0 && !out.empty() && bytes + size > max_bytes) {
                batch_out.cut = true;
                return batch_out;
            }
            bytes += size;
            out.push_back(to_stored(msg.get(), meta->Sequence.Stream, meta->Timestamp));
            ++received;
            if (meta->NumPending == 0) {
                more = false;  // the end of the subject (as of this message)
                break;
            }
        }
    }
    return batch_out;
}

// Number of messages on `subject` (a filter) with sequence >= `start`, from the pending count
// of a throw-away consumer.
Result<std::uint64_t> count_from(Core& core, const std::string& stream, const std::string& subject,
                                 std::uint64_t start, const Deadline& deadline) {
    // A creation that is not answered in time may have been placed on a node that is down:
    // another try is another placement.
    for (;;) {
        EphemeralConsumer probe(core.js, stream);
        auto n = probe.create(subject, start,
                              deadline.left_ms(kConsumerCreateBudget));
        if (n || n.error() != Errc::kTimeout || deadline.expired()) {
            return n;
        }
    }
}

Result<std::uint64_t> last_sequence_impl(Core& core, std::string_view stream,
                                         std::string_view subject) {
    if (!valid_stream_name(stream) || !detail::valid_subject(subject, false)) {
        return make_error_code(Errc::kInvalidArgument);
    }
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    const std::string stream_name(stream);
    const std::string subj(subject);
    natsMsg* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s =
        js_GetLastMsg(&raw, core.js, stream_name.c_str(), subj.c_str(), nullptr, &jerr);
    const detail::MsgPtr msg(raw);
    if (s == NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
        return std::uint64_t{0};  // the subject has no message
    }
    if (s != NATS_OK) {
        return detail::to_error(s, jerr, "last_sequence");
    }
    return natsMsg_GetSequence(msg.get());
}

Result<std::optional<std::int64_t>> last_message_time_impl(Core& core, std::string_view stream,
                                                           std::string_view subject,
                                                           milliseconds timeout) {
    if (!valid_stream_name(stream) || !detail::valid_subject(subject, false)) {
        return make_error_code(Errc::kInvalidArgument);
    }
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    const std::string stream_name(stream);
    const std::string subj(subject);
    jsOptions jo = api_options(std::max<std::int64_t>(timeout.count(), 1));
    natsMsg* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s =
        js_GetLastMsg(&raw, core.js, stream_name.c_str(), subj.c_str(), &jo, &jerr);
    const detail::MsgPtr msg(raw);
    if (s == NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
        return std::optional<std::int64_t>();  // the subject has no message
    }
    if (s != NATS_OK) {
        return detail::to_error(s, jerr, "last_message_time");
    }
    return std::optional<std::int64_t>(natsMsg_GetTime(msg.get()));
}

}  // namespace

namespace detail {

// read_subject_impl without a consumer: one direct get per message ($JS.API.DIRECT.GET, the
// next message of the subject from a sequence), answered by any replica of the stream (it
// allows direct gets), so it works while the node a consumer would be placed on is down. One
// round trip per message: the fallback, not the way.
Result<StoredBatch> read_subject_direct(Core& core, const std::string& stream, const std::string& subject,
                                        std::uint64_t start_sequence, std::size_t max,
                                        milliseconds timeout, std::uint64_t max_bytes,
                                        bool headers_only) {
    const Deadline deadline(timeout);
    StoredBatch batch_out;
    auto& out = batch_out.messages;
    std::uint64_t bytes = 0;
    std::uint64_t next = std::max<std::uint64_t>(start_sequence, 1);
    while (out.size() < max) {
        if (deadline.expired()) {
            return make_error_code(Errc::kTimeout);
        }
        jsOptions jo = api_options(deadline.left_ms());
        jsDirectGetMsgOptions dg;
        jsDirectGetMsgOptions_Init(&dg);
        dg.Sequence = next;
        dg.NextBySubject = subject.c_str();
        natsMsg* raw = nullptr;
        const natsStatus s = js_DirectGetMsg(&raw, core.js, stream.c_str(), &jo, &dg);
        const MsgPtr msg(raw);
        if (s == NATS_NOT_FOUND) {
            break;  // nothing more on the subject
        }
        if (s != NATS_OK) {
            return to_error(s, "read_subject: direct get");
        }
        const auto size = static_cast<std::uint64_t>(natsMsg_GetDataLength(msg.get()));
        if (max_bytes > 0 && !out.empty() && bytes + size > max_bytes) {
            batch_out.cut = true;
            return batch_out;
        }
        bytes += size;
        const std::uint64_t seq = natsMsg_GetSequence(msg.get());
        if (seq < next) {
            return make_error_code(Errc::kOther);  // not the next one: never loop
        }
        out.push_back(to_stored(msg.get(), seq, natsMsg_GetTime(msg.get())));
        // The direct get's own headers (where the message is) are not the message's.
        std::erase_if(out.back().headers, [](const auto& h) {
            return h.first == "Nats-Stream" || h.first == "Nats-Subject" || h.first == "Nats-Sequence" ||
                   h.first == "Nats-Time-Stamp";
        });
        if (headers_only) {
            // What a headers-only consumer would have sent: the size instead of the data.
            out.back().headers.emplace_back("Nats-Msg-Size", std::to_string(size));
            out.back().data.clear();
        }
        next = seq + 1;
    }
    return batch_out;
}

Result<StoredBatch> read_last_impl(Core& core, std::string_view stream, std::string_view subject,
                                   std::size_t count, milliseconds timeout, std::uint64_t scan_limit,
                                   std::uint64_t max_bytes) {
    if (!valid_stream_name(stream) || !valid_subject(subject, true)) {
        return make_error_code(Errc::kInvalidArgument);
    }
    if (count == 0) {
        return StoredBatch{};
    }
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    const Deadline deadline(timeout);
    const std::string stream_name(stream);
    const std::string subj(subject);

    // The subject's size (and the stream's sequence range) without reading messages.
    jsOptions jo = api_options(deadline.left_ms());
    jo.Stream.Info.SubjectsFilter = subj.c_str();
    jsStreamInfo* raw_info = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetStreamInfo(&raw_info, core.js, stream_name.c_str(), &jo, &jerr);
    if (s != NATS_OK) {
        return to_error(s, jerr, "read_last: stream info");
    }
    const StreamInfoPtr info(raw_info);
    std::uint64_t total = 0;
    if (info->State.Subjects != nullptr) {
        for (int i = 0; i < info->State.Subjects->Count; ++i) {
            total += info->State.Subjects->List[i].Msgs;
        }
    }
    if (total == 0) {
        return StoredBatch{};
    }

    std::uint64_t start = 1;
    std::size_t max = 0;
    if (total <= scan_limit || count >= total) {
        // Read it all (plus what arrives meanwhile, capped) and keep the tail.
        max = static_cast<std::size_t>(total + scan_limit);
    } else {
        // Largest start sequence with at least `count` messages at or after it: the pending
        // count of a consumer starting there is monotone in the start sequence.
        std::uint64_t lo = std::max<std::uint64_t>(info->State.FirstSeq, 1);
        std::uint64_t hi = std::max(info->State.LastSeq, lo);
        while (lo < hi) {
            const std::uint64_t mid = lo + (hi - lo + 1) / 2;
            auto n = count_from(core, stream_name, subj, mid, deadline);
            if (!n) {
                return n.error();
            }
            if (*n >= count) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        start = lo;
        max = count + static_cast<std::size_t>(scan_limit);
    }
    if (max_bytes == 0) {
        auto all = read_subject_impl(core, stream, subject, start, max, milliseconds(deadline.left_ms()));
        if (!all) {
            return all.error();
        }
        auto& msgs = all->messages;
        if (msgs.size() > count) {
            msgs.erase(msgs.begin(), msgs.end() - static_cast<std::ptrdiff_t>(count));
        }
        return std::move(*all);
    }
    // Under a budget: the sizes first (headers only), then the data of the newest messages
    // that fit.
    auto heads = read_subject_impl(core, stream, subject, start, max, milliseconds(deadline.left_ms()),
                                   0, /*headers_only=*/true);
    if (!heads) {
        return heads.error();
    }
    auto& tail = heads->messages;
    if (tail.size() > count) {
        tail.erase(tail.begin(), tail.end() - static_cast<std::ptrdiff_t>(count));
    }
    if (tail.empty()) {
        return StoredBatch{};
    }
    std::uint64_t bytes = 0;
    std::size_t fit = 0;
    for (auto it = tail.rbegin(); it != tail.rend(); ++it) {
        std::uint64_t size = 0;
        for (const auto& [name, value] : it->headers) {
            if (name == "Nats-Msg-Size") {
                std::from_chars(value.data(), value.data() + value.size(), size);
            }
        }
        if (fit > 0 && bytes + size > max_bytes) {
            break;
        }
        bytes += size;
        ++fit;
    }
    const std::uint64_t first = tail[tail.size() - fit].sequence;
    const std::uint64_t last = tail.back().sequence;
    auto data = read_subject_impl(core, stream, subject, first, fit, milliseconds(deadline.left_ms()));
    if (!data) {
        return data.error();
    }
    // Messages stored after the size read (past `last`) are not part of this answer.
    std::erase_if(data->messages, [last](const StoredMessage& m) { return m.sequence > last; });
    data->cut = fit < tail.size();
    return std::move(*data);
}

}  // namespace detail

Result<void> JetStream::ensure_stream(const StreamConfig& config) {
    // A RePublish source without a destination is meaningless; a destination alone maps ">".
    if (!valid_stream_name(config.name) || config.subjects.empty() ||
        (!config.republish_source.empty() && config.republish_destination.empty())) {
        return make_error_code(Errc::kInvalidArgument);
    }
    for (const auto& subject : config.subjects) {
        if (!detail::valid_subject(subject, true)) {
            return make_error_code(Errc::kInvalidArgument);
        }
    }
    auto& core = *conn_.impl().core;
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    std::vector<const char*> subjects;
    subjects.reserve(config.subjects.size());
    for (const auto& subject : config.subjects) {
        subjects.push_back(subject.c_str());
    }
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = config.name.c_str();
    sc.Subjects = subjects.data();
    sc.SubjectsLen = static_cast<int>(subjects.size());
    sc.Storage = config.storage == Storage::kMemory ? js_MemoryStorage : js_FileStorage;
    sc.Replicas = config.replicas;
    sc.MaxAge = detail::to_nanos(config.max_age);
    sc.MaxMsgsPerSubject = config.max_msgs_per_subject;
    sc.MaxBytes = config.max_bytes;
    // Set on create and on update alike: js_UpdateStream replaces the whole configuration.
    sc.Discard = config.discard == Discard::kNew ? js_DiscardNew : js_DiscardOld;
    sc.MaxMsgSize = config.max_msg_size;
    sc.Duplicates = detail::to_nanos(config.duplicate_window);
    sc.AllowDirect = config.allow_direct;
    jsRePublish republish;
    if (!config.republish_destination.empty()) {
        jsRePublish_Init(&republish);
        republish.Source = config.republish_source.empty() ? ">" : config.republish_source.c_str();
        republish.Destination = config.republish_destination.c_str();
        sc.RePublish = &republish;
    }
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&raw, core.js, &sc, nullptr, &jerr);
    detail::StreamInfoPtr info(raw);
    // Exists with another configuration: make it this one. Two processes creating the same
    // stream at once can also see "subjects overlap" (10065) for the loser, whose stream is the
    // winner's: the update settles it (and fails if another stream really owns the subjects).
    if (s != NATS_OK && (jerr == JSStreamNameExistErr || jerr == JSStreamSubjectOverlapErr)) {
        raw = nullptr;
        jerr = static_cast<jsErrCode>(0);
        s = js_UpdateStream(&raw, core.js, &sc, nullptr, &jerr);
        info.reset(raw);
    }
    if (s != NATS_OK) {
        return detail::to_error(s, jerr, "ensure_stream");
    }
    return {};
}

Result<void> JetStream::delete_stream(std::string_view name) {
    if (!valid_stream_name(name)) {
        return make_error_code(Errc::kInvalidArgument);
    }
    auto& core = *conn_.impl().core;
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    const std::string stream(name);
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_DeleteStream(core.js, stream.c_str(), nullptr, &jerr);
    if (s != NATS_OK) {
        return detail::to_error(s, jerr, "delete_stream");
    }
    return {};
}

Result<PubAck> JetStream::publish(std::string_view subject, std::string_view data,
                                  const Headers& headers, milliseconds timeout) {
    if (!detail::valid_subject(subject, false)) {
        return make_error_code(Errc::kInvalidArgument);
    }
    auto& core = *conn_.impl().core;
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    auto msg = detail::make_msg(subject, {}, data, headers);
    if (!msg) {
        return msg.error();
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = detail::to_millis(timeout);
    jsPubAck* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_PublishMsg(&raw, core.js, msg->get(), &po, &jerr);
    const detail::PubAckPtr ack(raw);
    if (s != NATS_OK) {
        return core.note(detail::to_error(s, jerr, "jetstream publish"));
    }
    return PubAck{ack->Stream != nullptr ? ack->Stream : "", ack->Sequence, ack->Duplicate};
}

namespace detail {

void publish_async(Core& core, std::string subject, std::string data, Headers headers,
                   std::function<void(Result<PubAck>)> done, milliseconds timeout) {
    if (!detail::valid_subject(subject, false)) {
        core.complete<PubAck>(std::move(done), make_error_code(Errc::kInvalidArgument));
        return;
    }
    if (core.closing) {
        core.complete<PubAck>(std::move(done), make_error_code(Errc::kClosed));
        return;
    }
    auto msg = detail::make_msg(subject, {}, data, headers);
    if (!msg) {
        core.complete<PubAck>(std::move(done), msg.error());
        return;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = detail::to_millis(timeout);  // cnats times the ack out and calls the handler
    natsMsg* raw = msg->release();
    const natsMsg* key = raw;
    // Registered before publishing: the ack may arrive before js_PublishMsgAsync returns.
    core.acks.add(key, std::move(done));
    const natsStatus s = js_PublishMsgAsync(core.js, &raw, &po);
    if (s != NATS_OK) {
        // Still ours (cnats only takes the message on success), and its handler never runs.
        natsMsg_Destroy(raw);
        if (auto pending = core.acks.take(key)) {
            core.complete<PubAck>(std::move(pending),
                                  detail::to_error(s, "jetstream publish_async"));
        }
    }
}

}  // namespace detail

void JetStream::publish_async(std::string subject, std::string data, Headers headers,
                              std::function<void(Result<PubAck>)> done, milliseconds timeout) {
    detail::publish_async(*conn_.impl().core, std::move(subject), std::move(data), std::move(headers),
                          std::move(done), timeout);
}

Result<std::vector<StoredMessage>> JetStream::read_subject(std::string_view stream,
                                                           std::string_view subject,
                                                           std::uint64_t start_sequence,
                                                           std::size_t max, milliseconds timeout) {
    auto r = read_subject_impl(*conn_.impl().core, stream, subject, start_sequence, max, timeout);
    if (!r) {
        return r.error();
    }
    return std::move(r->messages);
}

Result<StoredBatch> JetStream::read_subject_bounded(std::string_view stream, std::string_view subject,
                                                    std::uint64_t start_sequence, std::size_t max,
                                                    std::uint64_t max_bytes, milliseconds timeout) {
    return read_subject_impl(*conn_.impl().core, stream, subject, start_sequence, max, timeout,
                             max_bytes);
}

Result<StoredBatch> JetStream::read_last_bounded(std::string_view stream, std::string_view subject,
                                                 std::size_t count, std::uint64_t max_bytes,
                                                 milliseconds timeout) {
    return detail::read_last_impl(*conn_.impl().core, stream, subject, count, timeout,
                                  kReadLastScanLimit, max_bytes);
}

Result<std::vector<StoredMessage>> JetStream::read_last(std::string_view stream,
                                                        std::string_view subject, std::size_t count,
                                                        milliseconds timeout) {
    auto r = detail::read_last_impl(*conn_.impl().core, stream, subject, count, timeout,
                                    kReadLastScanLimit, 0);
    if (!r) {
        return r.error();
    }
    return std::move(r->messages);
}

Result<std::uint64_t> JetStream::last_sequence(std::string_view stream, std::string_view subject) {
    return last_sequence_impl(*conn_.impl().core, stream, subject);
}

Result<std::optional<std::int64_t>> JetStream::last_message_time(std::string_view stream,
                                                                 std::string_view subject,
                                                                 milliseconds timeout) {
    return last_message_time_impl(*conn_.impl().core, stream, subject, timeout);
}

void JetStream::read_subject_async(std::string stream, std::string subject,
                                   std::uint64_t start_sequence, std::size_t max,
                                   milliseconds timeout,
                                   std::function<void(Result<std::vector<StoredMessage>>)> done) {
    auto core = conn_.impl().core;
    core->run_op<std::vector<StoredMessage>>(
        std::move(done), [c = core.get(), stream = std::move(stream), subject = std::move(subject),
                          start_sequence, max, timeout] {
            auto r = read_subject_impl(*c, stream, subject, start_sequence, max, timeout);
            return r ? Result<std::vector<StoredMessage>>(std::move(r->messages))
                     : Result<std::vector<StoredMessage>>(r.error());
        });
}

void JetStream::read_last_async(std::string stream, std::string subject, std::size_t count,
                                milliseconds timeout,
                                std::function<void(Result<std::vector<StoredMessage>>)> done) {
    auto core = conn_.impl().core;
    core->run_op<std::vector<StoredMessage>>(
        std::move(done),
        [c = core.get(), stream = std::move(stream), subject = std::move(subject), count, timeout] {
            auto r = detail::read_last_impl(*c, stream, subject, count, timeout, kReadLastScanLimit, 0);
            return r ? Result<std::vector<StoredMessage>>(std::move(r->messages))
                     : Result<std::vector<StoredMessage>>(r.error());
        });
}

Result<StreamState> JetStream::stream_state(std::string_view stream) {
    if (!valid_stream_name(stream)) {
        return make_error_code(Errc::kInvalidArgument);
    }
    auto& core = *conn_.impl().core;
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    const std::string name(stream);
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetStreamInfo(&raw, core.js, name.c_str(), nullptr, &jerr);
    const detail::StreamInfoPtr info(raw);
    if (s != NATS_OK) {
        return detail::to_error(s, jerr, "stream_state");
    }
    const jsStreamState& st = info->State;
    return StreamState{.messages = st.Msgs,
                       .bytes = st.Bytes,
                       .first_sequence = st.FirstSeq,
                       .first_time_ns = st.Msgs > 0 ? st.FirstTime : 0,
                       .last_sequence = st.LastSeq};
}

Result<StreamHealth> JetStream::stream_health(std::string_view stream, milliseconds timeout) {
    if (!valid_stream_name(stream)) {
        return make_error_code(Errc::kInvalidArgument);
    }
    auto& core = *conn_.impl().core;
    if (core.closing) {
        return make_error_code(Errc::kClosed);
    }
    const std::string name(stream);
    jsOptions jo = api_options(std::max<std::int64_t>(timeout.count(), 1));
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetStreamInfo(&raw, core.js, name.c_str(), &jo, &jerr);
    const detail::StreamInfoPtr info(raw);
    if (s != NATS_OK) {
        return detail::to_error(s, jerr, "stream_health");
    }
    StreamHealth h;
    h.messages = info->State.Msgs;
    h.bytes = info->State.Bytes;
    h.consumers = info->State.Consumers > 0 ? static_cast<std::uint64_t>(info->State.Consumers) : 0;
    if (info->Config != nullptr) {
        h.max_bytes = info->Config->MaxBytes;
        h.replicas = static_cast<int>(std::max<int64_t>(info->Config->Replicas, 1));
    }
    // Without cluster info (older servers) the answering server is the stream's only copy.
    const jsClusterInfo* cluster = info->Cluster;
    h.has_leader = cluster == nullptr || (cluster->Leader != nullptr && cluster->Leader[0] != '\0');
    h.replicas_current = h.has_leader ? 1 : 0;
    if (cluster != nullptr) {
        for (int i = 0; i < cluster->ReplicasLen; ++i) {
            if (cluster->Replicas[i] != nullptr && cluster->Replicas[i]->Current) {
                ++h.replicas_current;
            }
        }
    }
    return h;
}

void JetStream::last_sequence_async(std::string stream, std::string subject,
                                    std::function<void(Result<std::uint64_t>)> done) {
    auto core = conn_.impl().core;
    core->run_op<std::uint64_t>(std::move(done), [c = core.get(), stream = std::move(stream),
                                                  subject = std::move(subject)] {
        return last_sequence_impl(*c, stream, subject);
    });
}

}  // namespace roomcast::natsbus
