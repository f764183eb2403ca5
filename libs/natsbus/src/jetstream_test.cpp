// JetStream against a real nats-server: streams, acks, RePublish, history reads.
#include "roomcast/natsbus/natsbus.hpp"

#include "internal.hpp"
#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <future>
#include <set>

namespace roomcast::natsbus {
namespace {

using namespace std::chrono_literals;
using testing::Collector;
using testing::connect_or_fail;
using testing::eventually;
using testing::shared_server;
using testing::test_options;
using testing::unique_name;

class JetStreamTest : public ::testing::Test {
protected:
    void SetUp() override {
        conn_ = connect_or_fail(test_options(shared_server().url()));
        ASSERT_NE(conn_, nullptr);
        name_ = unique_name("S");
        base_ = "js." + name_;
    }
    JetStream& js() { return conn_->jetstream(); }
    // A memory stream over "<base_>.>" (each test has its own).
    StreamConfig stream_config() const {
        StreamConfig c;
        c.name = name_;
        c.subjects = {base_ + ".>"};
        c.storage = Storage::kMemory;
        return c;
    }
    void make_stream() { ASSERT_TRUE(js().ensure_stream(stream_config())); }
    std::uint64_t publish(const std::string& subject, const std::string& data,
                          const Headers& headers = {}) {
        auto ack = js().publish(subject, data, headers);
        EXPECT_TRUE(ack) << ack.error().message();
        return ack ? ack->sequence : 0;
    }
    static std::vector<std::string> datas(const std::vector<StoredMessage>& msgs) {
        std::vector<std::string> out;
        for (const auto& m : msgs) {
            out.push_back(m.data);
        }
        return out;
    }

    std::unique_ptr<Connection> conn_;
    std::string name_;
    std::string base_;
};

TEST_F(JetStreamTest, EnsureStreamCreatesThenUpdates) {
    auto config = stream_config();
    ASSERT_TRUE(js().ensure_stream(config));
    ASSERT_TRUE(js().ensure_stream(config));  // same config again: fine
    for (int i = 0; i < 5; ++i) {
        publish(base_ + ".a", std::to_string(i));
    }
    config.max_msgs_per_subject = 2;  // a changed config updates the stream
    ASSERT_TRUE(js().ensure_stream(config));
    publish(base_ + ".a", "5");
    auto msgs = js().read_subject(name_, base_ + ".a", 1, 100, 5s);
    ASSERT_TRUE(msgs) << msgs.error().message();
    EXPECT_EQ(datas(*msgs), (std::vector<std::string>{"4", "5"}));
}

// What the server holds for the stream: its configured budget, discard policy and bytes.
struct StreamFacts {
    std::int64_t max_bytes = 0;
    jsDiscardPolicy discard = js_DiscardOld;
    std::uint64_t bytes = 0;
    std::uint64_t first_sequence = 0;
};
StreamFacts stream_facts(Connection& conn, const std::string& name) {
    jsStreamInfo* raw = nullptr;
    StreamFacts out;
    if (js_GetStreamInfo(&raw, conn.impl().core->js, name.c_str(), nullptr, nullptr) != NATS_OK) {
        ADD_FAILURE() << "no stream info for " << name;
        return out;
    }
    const detail::StreamInfoPtr info(raw);
    out.max_bytes = info->Config->MaxBytes;
    out.discard = info->Config->Discard;
    out.bytes = info->State.Bytes;
    out.first_sequence = info->State.FirstSeq;
    return out;
}

TEST_F(JetStreamTest, AStreamAtItsBudgetDropsItsOldestAndKeepsAccepting) {
    auto config = stream_config();
    config.max_bytes = 8192;
    ASSERT_TRUE(js().ensure_stream(config));
    const std::string data(1000, 'd');
    std::uint64_t last = 0;
    for (int i = 0; i < 40; ++i) {
        last = publish(base_ + ".a", data + std::to_string(i));  // every publish is acked
        ASSERT_NE(last, 0u) << "publish " << i;
    }
    const auto facts = stream_facts(*conn_, name_);
    EXPECT_EQ(facts.max_bytes, 8192);
    EXPECT_EQ(facts.discard, js_DiscardOld);
    EXPECT_LE(facts.bytes, 8192u);
    EXPECT_GT(facts.first_sequence, 1u) << "the oldest messages made room";
    auto state = js().stream_state(name_);
    ASSERT_TRUE(state) << state.error().message();
    EXPECT_EQ(state->first_sequence, facts.first_sequence);
    EXPECT_EQ(state->last_sequence, last);
    EXPECT_EQ(state->bytes, facts.bytes);
    EXPECT_EQ(state->messages, last - state->first_sequence + 1);
    const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    EXPECT_GT(state->first_time_ns, now_ns - 60'000'000'000LL);
    EXPECT_LE(state->first_time_ns, now_ns + 60'000'000'000LL);
    EXPECT_EQ(js().stream_state("nope_" + name_).error(), make_error_code(Errc::kNotFound));
    auto kept = js().read_last(name_, base_ + ".a", 100, 5s);
    ASSERT_TRUE(kept) << kept.error().message();
    ASSERT_FALSE(kept->empty());
    EXPECT_LT(kept->size(), 40u);
    EXPECT_EQ(kept->back().sequence, last);
    EXPECT_EQ(kept->back().data, data + "39");
}

TEST_F(JetStreamTest, EnsureStreamAppliesABudgetToAStreamCreatedWithoutOne) {
    auto config = stream_config();
    ASSERT_TRUE(js().ensure_stream(config));
    const std::string data(1000, 'd');
    for (int i = 0; i < 20; ++i) {
        publish(base_ + ".a", data);
    }
    EXPECT_EQ(stream_facts(*conn_, name_).max_bytes, -1);
    config.max_bytes = 8192;
    ASSERT_TRUE(js().ensure_stream(config));
    auto facts = stream_facts(*conn_, name_);
    EXPECT_EQ(facts.max_bytes, 8192);
    EXPECT_EQ(facts.discard, js_DiscardOld);
    EXPECT_LE(facts.bytes, 8192u) << "the update trims what is past the new budget";
    // And the discard policy is applied on update too: discard-new refuses past the budget.
    config.discard = Discard::kNew;
    ASSERT_TRUE(js().ensure_stream(config));
    EXPECT_EQ(stream_facts(*conn_, name_).discard, js_DiscardNew);
    Result<PubAck> refused = PubAck{};
    for (int i = 0; i < 20 && refused; ++i) {
        refused = js().publish(base_ + ".a", data);
    }
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), make_error_code(Errc::kStorageFull));
    std::promise<Result<PubAck>> async;
    js().publish_async(base_ + ".a", data, {}, [&](Result<PubAck> r) { async.set_value(r); });
    auto f = async.get_future();
    ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(f.get().error(), make_error_code(Errc::kStorageFull));
}

TEST_F(JetStreamTest, EnsureStreamRejectsBadConfigs) {
    auto config = stream_config();
    config.name = "bad.name";
    EXPECT_EQ(js().ensure_stream(config).error(), make_error_code(Errc::kInvalidArgument));
    config = stream_config();
    config.subjects = {};
    EXPECT_EQ(js().ensure_stream(config).error(), make_error_code(Errc::kInvalidArgument));
    config = stream_config();
    config.storage = Storage::kFile;
    ASSERT_TRUE(js().ensure_stream(stream_config()));
    // Storage cannot change on update: the server refuses.
    EXPECT_FALSE(js().ensure_stream(config));
}

TEST_F(JetStreamTest, PublishAcksCarryIncreasingSequences) {
    make_stream();
    std::uint64_t last = 0;
    for (int i = 0; i < 3; ++i) {
        auto ack = js().publish(base_ + ".x", "v");
        ASSERT_TRUE(ack) << ack.error().message();
        EXPECT_EQ(ack->stream, name_);
        EXPECT_GT(ack->sequence, last);
        EXPECT_FALSE(ack->duplicate);
        last = ack->sequence;
    }
    constexpr int kAsync = 100;
    Collector<Result<PubAck>> acks;
    for (int i = 0; i < kAsync; ++i) {
        js().publish_async(base_ + ".y", std::to_string(i), {},
                           [&](Result<PubAck> r) { acks.push(std::move(r)); });
    }
    ASSERT_TRUE(acks.wait_for(kAsync));
    std::set<std::uint64_t> seqs;
    for (const auto& r : acks.items()) {
        ASSERT_TRUE(r) << r.error().message();
        seqs.insert(r->sequence);
    }
    ASSERT_EQ(seqs.size(), static_cast<std::size_t>(kAsync));
    EXPECT_EQ(*seqs.begin(), last + 1);
    EXPECT_EQ(*seqs.rbegin(), last + kAsync);
}

TEST_F(JetStreamTest, PublishDeduplicatesByMsgId) {
    make_stream();
    auto first = js().publish(base_ + ".d", "1", {{"Nats-Msg-Id", "m-1"}});
    auto second = js().publish(base_ + ".d", "1", {{"Nats-Msg-Id", "m-1"}});
    ASSERT_TRUE(first && second);
    EXPECT_TRUE(second->duplicate);
    EXPECT_EQ(second->sequence, first->sequence);
}

TEST_F(JetStreamTest, PublishWithoutAStreamHasNoResponders) {
    const std::string subject = "nostream." + unique_name("t");
    EXPECT_EQ(js().publish(subject, "x").error(), make_error_code(Errc::kNoResponders));
    std::promise<Result<PubAck>> done;
    js().publish_async(subject, "x", {}, [&](Result<PubAck> r) { done.set_value(r); });
    auto future = done.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(future.get().error(), make_error_code(Errc::kNoResponders));
}

TEST_F(JetStreamTest, PublishAsyncTimesOut) {
    // A plain subscriber and no stream: the message is delivered but nobody acknowledges it.
    const std::string subject = "noack." + unique_name("t");
    auto mute = conn_->subscribe(subject, [](Message&&) {});
    ASSERT_TRUE(mute);
    ASSERT_TRUE(conn_->flush(2s));
    std::promise<Result<PubAck>> done;
    const auto start = std::chrono::steady_clock::now();
    js().publish_async(
        subject, "x", {}, [&](Result<PubAck> r) { done.set_value(r); }, 200ms);
    auto future = done.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(future.get().error(), make_error_code(Errc::kTimeout));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 190ms);
}

TEST_F(JetStreamTest, PendingAsyncPublishesFailWithClosedAtShutdown) {
    auto conn = connect_or_fail(test_options(shared_server().url()));
    ASSERT_NE(conn, nullptr);
    const std::string subject = "noack." + unique_name("t");
    auto mute = conn_->subscribe(subject, [](Message&&) {});
    ASSERT_TRUE(conn_->flush(2s));
    std::promise<Result<PubAck>> done;
    conn->jetstream().publish_async(
        subject, "x", {}, [&](Result<PubAck> r) { done.set_value(r); }, 30s);
    ASSERT_TRUE(conn->flush(2s));
    conn.reset();
    auto future = done.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(future.get().error(), make_error_code(Errc::kClosed));
}

TEST_F(JetStreamTest, RePublishAddsSequenceHeaders) {
    auto config = stream_config();
    config.republish_source = base_ + ".>";
    config.republish_destination = "fan." + name_ + ".>";
    ASSERT_TRUE(js().ensure_stream(config));
    Collector<Message> got;
    auto sub = conn_->subscribe("fan." + name_ + ".>", [&](Message&& m) { got.push(m); });
    ASSERT_TRUE(sub);
    ASSERT_TRUE(conn_->flush(2s));
    const auto s1 = publish(base_ + ".a", "1", {{"X-App", "v"}});
    const auto s2 = publish(base_ + ".b", "2");
    const auto s3 = publish(base_ + ".a", "3");
    ASSERT_TRUE(got.wait_for(3));
    const auto msgs = got.items();
    EXPECT_EQ(msgs[0].subject, "fan." + name_ + ".a");
    EXPECT_EQ(msgs[0].data, "1");
    EXPECT_EQ(msgs[0].header("X-App"), "v");
    EXPECT_EQ(msgs[0].header("Nats-Stream"), name_);
    EXPECT_EQ(msgs[0].header("Nats-Subject"), base_ + ".a");
    EXPECT_EQ(msgs[0].header("Nats-Sequence"), std::to_string(s1));
    EXPECT_EQ(msgs[0].header("Nats-Last-Sequence"), "0");
    EXPECT_EQ(msgs[1].header("Nats-Sequence"), std::to_string(s2));
    EXPECT_EQ(msgs[1].header("Nats-Last-Sequence"), "0");  // first on its subject
    EXPECT_EQ(msgs[2].header("Nats-Sequence"), std::to_string(s3));
    EXPECT_EQ(msgs[2].header("Nats-Last-Sequence"), std::to_string(s1));
}

TEST_F(JetStreamTest, ReadSubjectFromAStartSequenceSkipsOtherSubjects) {
    make_stream();
    std::vector<std::uint64_t> a_seqs;
    for (int i = 0; i < 6; ++i) {
        a_seqs.push_back(
            publish(base_ + ".a", "a" + std::to_string(i), {{"X-I", std::to_string(i)}}));
        publish(base_ + ".b", "b" + std::to_string(i));
    }
    auto msgs = js().read_subject(name_, base_ + ".a", a_seqs[2], 100, 5s);
    ASSERT_TRUE(msgs) << msgs.error().message();
    EXPECT_EQ(datas(*msgs), (std::vector<std::string>{"a2", "a3", "a4", "a5"}));
    for (std::size_t i = 0; i < msgs->size(); ++i) {
        const auto& m = (*msgs)[i];
        EXPECT_EQ(m.sequence, a_seqs[i + 2]);
        EXPECT_EQ(m.subject, base_ + ".a");
        EXPECT_GT(m.time_ns, 1'600'000'000'000'000'000);
        ASSERT_EQ(m.headers.size(), 1u);
        EXPECT_EQ(m.headers[0],
                  (std::pair<std::string, std::string>{"X-I", std::to_string(i + 2)}));
    }
    // A start between two messages of the subject begins at the next one.
    msgs = js().read_subject(name_, base_ + ".a", a_seqs[2] + 1, 2, 5s);
    ASSERT_TRUE(msgs);
    EXPECT_EQ(datas(*msgs), (std::vector<std::string>{"a3", "a4"}));

    msgs = js().read_subject(name_, base_ + ".a", a_seqs.back() + 100, 10, 5s);
    ASSERT_TRUE(msgs);
    EXPECT_TRUE(msgs->empty());
    msgs = js().read_subject(name_, base_ + ".none", 1, 10, 5s);
    ASSERT_TRUE(msgs);
    EXPECT_TRUE(msgs->empty());
    msgs = js().read_subject(name_, base_ + ".a", 1, 0, 5s);
    ASSERT_TRUE(msgs);
    EXPECT_TRUE(msgs->empty());
    EXPECT_EQ(js().read_subject("missing_" + name_, "x.y", 1, 10, 5s).error(),
              make_error_code(Errc::kNotFound));
}

// The fallback of a read whose consumer is not created in time (a cluster node down): direct
// gets return what the consumer read returns (messages, sequences, times, the messages' own
// headers), stop at the byte budget and can send sizes instead of data.
TEST_F(JetStreamTest, DirectReadsReturnWhatConsumerReadsReturn) {
    make_stream();
    for (int i = 0; i < 6; ++i) {
        publish(base_ + ".a", std::string(10 * (i + 1), static_cast<char>('a' + i)), {{"X-I", std::to_string(i)}});
        publish(base_ + ".b", "b");
    }
    auto& core = *conn_->impl().core;
    auto via_consumer = js().read_subject(name_, base_ + ".a", 4, 100, 5s);
    auto direct = detail::read_subject_direct(core, name_, base_ + ".a", 4, 100, 5s, 0, false);
    ASSERT_TRUE(via_consumer) << via_consumer.error().message();
    ASSERT_TRUE(direct) << direct.error().message();
    ASSERT_EQ(direct->messages.size(), via_consumer->size());
    ASSERT_EQ(direct->messages.size(), 4u);
    for (std::size_t i = 0; i < direct->messages.size(); ++i) {
        const auto& d = direct->messages[i];
        const auto& c = (*via_consumer)[i];
        EXPECT_EQ(d.sequence, c.sequence);
        EXPECT_EQ(d.subject, c.subject);
        EXPECT_EQ(d.data, c.data);
        EXPECT_EQ(d.time_ns, c.time_ns);
        EXPECT_EQ(d.headers, c.headers);
    }
    EXPECT_FALSE(direct->cut);

    auto capped = detail::read_subject_direct(core, name_, base_ + ".a", 1, 100, 5s, 35, false);
    ASSERT_TRUE(capped);
    ASSERT_EQ(capped->messages.size(), 2u) << "10 + 20 bytes fit in 35, 30 more do not";
    EXPECT_TRUE(capped->cut);
    auto few = detail::read_subject_direct(core, name_, base_ + ".a", 1, 3, 5s, 0, false);
    ASSERT_TRUE(few);
    EXPECT_EQ(datas(few->messages), (std::vector<std::string>{"aaaaaaaaaa", std::string(20, 'b'), std::string(30, 'c')}));

    auto sizes = detail::read_subject_direct(core, name_, base_ + ".a", 1, 100, 5s, 0, true);
    ASSERT_TRUE(sizes);
    ASSERT_EQ(sizes->messages.size(), 6u);
    for (std::size_t i = 0; i < 6; ++i) {
        EXPECT_TRUE(sizes->messages[i].data.empty());
        EXPECT_NE(std::find(sizes->messages[i].headers.begin(), sizes->messages[i].headers.end(),
                            std::pair<std::string, std::string>{"Nats-Msg-Size", std::to_string(10 * (i + 1))}),
                  sizes->messages[i].headers.end());
    }
    auto none = detail::read_subject_direct(core, name_, base_ + ".none", 1, 10, 5s, 0, false);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->messages.empty());
}

TEST_F(JetStreamTest, ReadSubjectSpansSeveralFetches) {
    make_stream();
    constexpr int kCount = 700;  // more than two fetch batches
    Collector<Result<PubAck>> acks;
    for (int i = 0; i < kCount; ++i) {
        js().publish_async(base_ + ".many", std::to_string(i), {},
                           [&](Result<PubAck> r) { acks.push(std::move(r)); });
    }
    ASSERT_TRUE(acks.wait_for(kCount, 10s));
    auto msgs = js().read_subject(name_, base_ + ".many", 1, 10000, 10s);
    ASSERT_TRUE(msgs) << msgs.error().message();
    ASSERT_EQ(msgs->size(), static_cast<std::size_t>(kCount));
    for (int i = 0; i < kCount; ++i) {
        EXPECT_EQ((*msgs)[i].data, std::to_string(i));
    }
    msgs = js().read_subject(name_, base_ + ".many", 1, 300, 10s);
    ASSERT_TRUE(msgs);
    ASSERT_EQ(msgs->size(), 300u);
    EXPECT_EQ(msgs->back().data, "299");
}

TEST_F(JetStreamTest, ReadLastReturnsTheTailInAscendingOrder) {
    make_stream();
    for (int i = 0; i < 10; ++i) {
        publish(base_ + ".a", std::to_string(i));
        publish(base_ + ".b", "b");
    }
    auto msgs = js().read_last(name_, base_ + ".a", 3, 5s);
    ASSERT_TRUE(msgs) << msgs.error().message();
    EXPECT_EQ(datas(*msgs), (std::vector<std::string>{"7", "8", "9"}));
    EXPECT_LT((*msgs)[0].sequence, (*msgs)[1].sequence);
    msgs = js().read_last(name_, base_ + ".a", 50, 5s);
    ASSERT_TRUE(msgs);
    EXPECT_EQ(msgs->size(), 10u);
    EXPECT_EQ(msgs->front().data, "0");
    msgs = js().read_last(name_, base_ + ".empty", 5, 5s);
    ASSERT_TRUE(msgs);
    EXPECT_TRUE(msgs->empty());
    msgs = js().read_last(name_, base_ + ".a", 0, 5s);
    ASSERT_TRUE(msgs);
    EXPECT_TRUE(msgs->empty());
}

TEST_F(JetStreamTest, ReadLastOnALargeSubjectSearchesTheStart) {
    // White box: a scan limit of 4 sends a 30-message subject down the binary-search path.
    make_stream();
    for (int i = 0; i < 30; ++i) {
        publish(base_ + ".big", std::to_string(i));
        if (i % 3 == 0) {
            publish(base_ + ".other", "o");
        }
    }
    auto& core = *conn_->impl().core;
    for (const std::size_t count : {1u, 3u, 7u, 29u}) {
        auto read = detail::read_last_impl(core, name_, base_ + ".big", count, 5s, 4, 0);
        ASSERT_TRUE(read) << read.error().message();
        const auto& msgs = read->messages;
        ASSERT_EQ(msgs.size(), count);
        for (std::size_t i = 0; i < count; ++i) {
            EXPECT_EQ(msgs[i].data, std::to_string(30 - count + i));
        }
    }
}

TEST_F(JetStreamTest, BoundedReadsStopAtTheBudgetButAlwaysMakeProgress) {
    make_stream();
    // Ten messages of 100 bytes on "a", others interleaved.
    std::vector<std::uint64_t> seqs;
    for (int i = 0; i < 10; ++i) {
        auto ack = js().publish(base_ + ".a", std::string(100, static_cast<char>('0' + i)));
        ASSERT_TRUE(ack);
        seqs.push_back(ack->sequence);
        ASSERT_TRUE(js().publish(base_ + ".b", "other"));
    }
    auto first = js().read_subject_bounded(name_, base_ + ".a", 1, 100, 350, 5s);
    ASSERT_TRUE(first) << first.error().message();
    ASSERT_EQ(first->messages.size(), 3u) << "300 bytes fit in 350, the fourth does not";
    EXPECT_TRUE(first->cut);
    EXPECT_EQ(first->messages[2].sequence, seqs[2]);
    // The next page starts after the last one read.
    auto next = js().read_subject_bounded(name_, base_ + ".a", seqs[2] + 1, 100, 10000, 5s);
    ASSERT_TRUE(next);
    EXPECT_EQ(next->messages.size(), 7u);
    EXPECT_FALSE(next->cut);
    // A budget below one message still returns one (a reader never gets stuck).
    auto one = js().read_subject_bounded(name_, base_ + ".a", 1, 100, 10, 5s);
    ASSERT_TRUE(one);
    EXPECT_EQ(one->messages.size(), 1u);
    EXPECT_TRUE(one->cut);

    // The newest that fit: 450 bytes of budget keep the last four of the last six.
    auto last = js().read_last_bounded(name_, base_ + ".a", 6, 450, 5s);
    ASSERT_TRUE(last) << last.error().message();
    ASSERT_EQ(last->messages.size(), 4u);
    EXPECT_TRUE(last->cut);
    EXPECT_EQ(last->messages.front().sequence, seqs[6]);
    EXPECT_EQ(last->messages.back().sequence, seqs[9]);
    EXPECT_EQ(last->messages.back().data, std::string(100, '9'));
    auto all = js().read_last_bounded(name_, base_ + ".a", 6, 100000, 5s);
    ASSERT_TRUE(all);
    EXPECT_EQ(all->messages.size(), 6u);
    EXPECT_FALSE(all->cut);
    auto tiny = js().read_last_bounded(name_, base_ + ".a", 6, 1, 5s);
    ASSERT_TRUE(tiny);
    ASSERT_EQ(tiny->messages.size(), 1u) << "at least the newest";
    EXPECT_EQ(tiny->messages[0].sequence, seqs[9]);
}

TEST_F(JetStreamTest, LastSequence) {
    make_stream();
    auto none = js().last_sequence(name_, base_ + ".a");
    ASSERT_TRUE(none) << none.error().message();
    EXPECT_EQ(*none, 0u);
    publish(base_ + ".a", "1");
    const auto seq = publish(base_ + ".a", "2");
    publish(base_ + ".b", "3");
    auto last = js().last_sequence(name_, base_ + ".a");
    ASSERT_TRUE(last);
    EXPECT_EQ(*last, seq);
    EXPECT_EQ(js().last_sequence("missing_" + name_, "x").error(),
              make_error_code(Errc::kNotFound));
}

TEST_F(JetStreamTest, LastMessageTime) {
    make_stream();
    auto none = js().last_message_time(name_, base_ + ".a", 2s);
    ASSERT_TRUE(none) << none.error().message();
    EXPECT_FALSE(none->has_value());
    const auto before = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    publish(base_ + ".a", "1");
    publish(base_ + ".b", "2");
    const auto after = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    auto last = js().last_message_time(name_, base_ + ".a", 2s);
    ASSERT_TRUE(last) << last.error().message();
    ASSERT_TRUE(last->has_value());
    // The server's store time: within the publish, give or take a second of clock difference.
    EXPECT_GE(**last, before - 1'000'000'000);
    EXPECT_LE(**last, after + 1'000'000'000);
    EXPECT_EQ(js().last_message_time("missing_" + name_, "x", 2s).error(),
              make_error_code(Errc::kNotFound));
}

TEST_F(JetStreamTest, MaxMsgsPerSubjectKeepsTheNewest) {
    auto config = stream_config();
    config.max_msgs_per_subject = 3;
    ASSERT_TRUE(js().ensure_stream(config));
    for (int i = 0; i < 5; ++i) {
        publish(base_ + ".a", std::to_string(i));
    }
    publish(base_ + ".b", "x");
    publish(base_ + ".b", "y");
    auto a = js().read_subject(name_, base_ + ".a", 1, 100, 5s);
    auto b = js().read_subject(name_, base_ + ".b", 1, 100, 5s);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(datas(*a), (std::vector<std::string>{"2", "3", "4"}));
    EXPECT_EQ(datas(*b), (std::vector<std::string>{"x", "y"}));
}

TEST_F(JetStreamTest, AsyncReadsCompleteOnTheWorkerPool) {
    make_stream();
    const auto s1 = publish(base_ + ".a", "1");
    const auto s2 = publish(base_ + ".a", "2");
    std::promise<Result<std::vector<StoredMessage>>> read;
    std::promise<Result<std::vector<StoredMessage>>> last;
    std::promise<Result<std::uint64_t>> seq;
    js().read_subject_async(name_, base_ + ".a", s1, 10, 5s,
                            [&](auto r) { read.set_value(std::move(r)); });
    js().read_last_async(name_, base_ + ".a", 1, 5s, [&](auto r) { last.set_value(std::move(r)); });
    js().last_sequence_async(name_, base_ + ".a", [&](auto r) { seq.set_value(r); });
    auto rf = read.get_future();
    auto lf = last.get_future();
    auto sf = seq.get_future();
    ASSERT_EQ(rf.wait_for(5s), std::future_status::ready);
    ASSERT_EQ(lf.wait_for(5s), std::future_status::ready);
    ASSERT_EQ(sf.wait_for(5s), std::future_status::ready);
    auto r = rf.get();
    auto l = lf.get();
    auto s = sf.get();
    ASSERT_TRUE(r && l && s);
    EXPECT_EQ(datas(*r), (std::vector<std::string>{"1", "2"}));
    EXPECT_EQ(datas(*l), (std::vector<std::string>{"2"}));
    EXPECT_EQ(*s, s2);
}

TEST_F(JetStreamTest, DeleteStream) {
    make_stream();
    publish(base_ + ".a", "1");
    ASSERT_TRUE(js().delete_stream(name_));
    EXPECT_EQ(js().delete_stream(name_).error(), make_error_code(Errc::kNotFound));
    EXPECT_EQ(js().last_sequence(name_, base_ + ".a").error(), make_error_code(Errc::kNotFound));
}

}  // namespace
}  // namespace roomcast::natsbus
