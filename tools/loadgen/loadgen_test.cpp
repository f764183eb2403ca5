// Unit tests of the load generator's pure parts: the histogram, loss accounting, the message
// codec, the HTTP helpers and the command line.
#include "accounting.hpp"
#include "histogram.hpp"
#include "http.hpp"
#include "message.hpp"
#include "options.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace roomcast::loadgen {
namespace {

using std::chrono::milliseconds;

// --- Histogram ----------------------------------------------------------------------------------

// Nearest-rank percentile of a sorted reference.
std::uint64_t reference_percentile(const std::vector<std::uint64_t>& sorted, double p) {
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

void expect_close_to_reference(const Histogram& h, std::vector<std::uint64_t> values) {
    std::sort(values.begin(), values.end());
    for (const double p : {0.0, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
        const std::uint64_t ref = reference_percentile(values, p);
        const std::uint64_t got = h.percentile(p);
        // Reported as the top of the reference value's bucket: never below it, and above it
        // by less than the bucket width (exact below 2048, else under 1/1024 of the value).
        EXPECT_GE(got, ref) << "p" << p;
        EXPECT_LE(got - ref, ref / 1024) << "p" << p << " ref " << ref;
    }
    EXPECT_EQ(h.max(), values.back());
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.count(), values.size());
}

TEST(Histogram, EmptyReportsZero) {
    Histogram h;
    EXPECT_EQ(h.count(), 0U);
    EXPECT_EQ(h.percentile(50), 0U);
    EXPECT_EQ(h.percentile(99.9), 0U);
    EXPECT_EQ(h.max(), 0U);
}

TEST(Histogram, ExactBelowLinearLimit) {
    Histogram h;
    std::vector<std::uint64_t> values;
    for (std::uint64_t v = 0; v < 2048; ++v) {
        h.record(v);
        values.push_back(v);
    }
    for (const double p : {1.0, 25.0, 50.0, 75.0, 99.0, 100.0}) {
        EXPECT_EQ(h.percentile(p), reference_percentile(values, p)) << p;
    }
}

TEST(Histogram, BucketsCoverEveryValueContiguously) {
    // Every bucket's high end + 1 is the next bucket's first value.
    for (std::size_t b = 0; b + 1 < Histogram::kBuckets; b += 97) {
        const std::uint64_t high = Histogram::bucket_high(b);
        EXPECT_EQ(Histogram::bucket_of(high), b);
        EXPECT_EQ(Histogram::bucket_of(high + 1), b + 1);
    }
    EXPECT_EQ(Histogram::bucket_of(~0ULL), Histogram::kBuckets - 1);
}

TEST(Histogram, PercentilesMatchSortedReferenceForSkewedData) {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(7.0, 1.5);  // µs: median ~1 ms, long tail
    Histogram h;
    std::vector<std::uint64_t> values;
    for (int i = 0; i < 200000; ++i) {
        const auto v = static_cast<std::uint64_t>(dist(rng));
        h.record(v);
        values.push_back(v);
    }
    expect_close_to_reference(h, values);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::uint64_t> dist(0, 50'000'000);
    Histogram a;
    Histogram b;
    Histogram all;
    std::vector<std::uint64_t> values;
    for (int i = 0; i < 50000; ++i) {
        const auto v = dist(rng);
        (i % 3 == 0 ? a : b).record(v);
        all.record(v);
        values.push_back(v);
    }
    a.merge(b);
    for (const double p : {50.0, 90.0, 99.0, 99.9}) {
        EXPECT_EQ(a.percentile(p), all.percentile(p));
    }
    EXPECT_EQ(a.max(), all.max());
    expect_close_to_reference(a, values);
}

TEST(Histogram, MaxIsExactAndCapsThePercentile) {
    Histogram h;
    h.record(1'000'001);  // in a bucket whose top is above the value
    EXPECT_EQ(h.max(), 1'000'001U);
    EXPECT_EQ(h.percentile(100), 1'000'001U);
    EXPECT_EQ(h.percentile(50), 1'000'001U);
}

// --- Loss accounting --------------------------------------------------------------------------

TEST(SeqTracker, InOrderStreamKeepsNoGaps) {
    SeqTracker t;
    for (std::uint64_t s = 0; s < 1000; ++s) {
        EXPECT_EQ(t.on_message(s), SeqTracker::Outcome::kInOrder);
    }
    EXPECT_EQ(t.distinct(), 1000U);
    EXPECT_EQ(t.gaps(), 0U);
    LossTotals totals;
    t.on_end({1000, 0});
    account(totals, &t, std::nullopt);
    EXPECT_EQ(totals.lost, 0U);
    EXPECT_EQ(totals.duplicated, 0U);
    EXPECT_EQ(totals.out_of_order, 0U);
    EXPECT_EQ(totals.end_markers_missing, 0U);
}

TEST(SeqTracker, LossDuplicatesAndReorderingAreCountedExactly) {
    // Sent 0..9; received: 0 1 3 2 2 5 9 1, end marker says 10.
    SeqTracker t;
    for (const std::uint64_t s : {0, 1, 3, 2, 2, 5, 9, 1}) {
        t.on_message(s);
    }
    EXPECT_EQ(t.distinct(), 6U);  // 0 1 2 3 5 9
    EXPECT_EQ(t.duplicates(), 2U);
    EXPECT_EQ(t.out_of_order(), 1U);  // 2 after 3 (the second 2 is a duplicate)
    t.on_end({10, 0});
    LossTotals totals;
    account(totals, &t, std::nullopt);
    EXPECT_EQ(totals.lost, 4U);  // 4 6 7 8
    EXPECT_EQ(totals.duplicated, 2U);
    EXPECT_EQ(totals.out_of_order, 1U);
}

TEST(SeqTracker, FillingGapsInAnyOrderSplitsAndClosesThem) {
    SeqTracker t;
    t.on_message(0);
    t.on_message(10);  // gap 1..9
    EXPECT_EQ(t.gaps(), 1U);
    t.on_message(5);  // splits it
    EXPECT_EQ(t.gaps(), 2U);
    for (const std::uint64_t s : {1, 9, 2, 8, 3, 7, 4, 6}) {
        EXPECT_EQ(t.on_message(s), SeqTracker::Outcome::kOutOfOrder) << s;
    }
    EXPECT_EQ(t.gaps(), 0U);
    EXPECT_EQ(t.distinct(), 11U);
    EXPECT_EQ(t.out_of_order(), 9U);
    EXPECT_EQ(t.on_message(4), SeqTracker::Outcome::kDuplicate);
}

TEST(SeqTracker, RefusedMessagesAreNotLost) {
    SeqTracker t;
    for (std::uint64_t s = 0; s < 8; ++s) {
        t.on_message(s);
    }
    t.on_end({10, 2});  // two publishes were refused by the server: never delivered
    LossTotals totals;
    account(totals, &t, std::nullopt);
    EXPECT_EQ(totals.lost, 0U);
}

TEST(SeqTracker, MissingEndMarkerUsesKnownEndOrHighestSeen) {
    SeqTracker t;
    for (const std::uint64_t s : {0, 1, 2, 4}) {
        t.on_message(s);
    }
    LossTotals without;
    account(without, &t, std::nullopt);  // nobody saw the end: 0..4 assumed
    EXPECT_EQ(without.lost, 1U);
    EXPECT_EQ(without.end_markers_missing, 1U);

    LossTotals with;
    account(with, &t, PublisherEnd{8, 0});  // another receiver saw end 8
    EXPECT_EQ(with.lost, 4U);
    EXPECT_EQ(with.end_markers_missing, 1U);
}

TEST(SeqTracker, ReceiverThatGotNothingLosesEverything) {
    LossTotals totals;
    account(totals, nullptr, PublisherEnd{25, 1});
    EXPECT_EQ(totals.lost, 24U);
    EXPECT_EQ(totals.end_markers_missing, 1U);
}

TEST(SeqTracker, RandomStreamsAgreeWithASetBasedReference) {
    std::mt19937_64 rng(1234);
    for (int round = 0; round < 50; ++round) {
        const std::uint64_t sent = 1 + rng() % 500;
        std::vector<std::uint64_t> stream;
        for (std::uint64_t s = 0; s < sent; ++s) {
            const auto r = rng() % 100;
            if (r < 10) {
                continue;  // lost
            }
            stream.push_back(s);
            if (r < 15) {
                stream.push_back(s);  // duplicated
            }
        }
        // Local reordering.
        for (std::size_t i = 1; i < stream.size(); ++i) {
            if (rng() % 10 == 0) {
                std::swap(stream[i - 1], stream[i]);
            }
        }
        SeqTracker t;
        std::vector<bool> got(sent, false);
        std::uint64_t max_seen = 0;
        bool any = false;
        std::uint64_t dup = 0;
        std::uint64_t ooo = 0;
        for (const auto s : stream) {
            t.on_message(s);
            if (got[s]) {
                ++dup;
            } else {
                if (any && s < max_seen) {
                    ++ooo;
                }
                got[s] = true;
            }
            if (!any || s > max_seen) {
                max_seen = s;
                any = true;
            }
        }
        t.on_end({sent, 0});
        LossTotals totals;
        account(totals, &t, std::nullopt);
        const auto received = static_cast<std::uint64_t>(std::count(got.begin(), got.end(), true));
        EXPECT_EQ(totals.lost, sent - received);
        EXPECT_EQ(totals.duplicated, dup);
        EXPECT_EQ(totals.out_of_order, ooo);
    }
}

// --- Messages -----------------------------------------------------------------------------------

TEST(Message, PublishGolden) {
    std::string data;
    append_data(data, "lg1-0", 17, 1732745000123456789, 4);
    EXPECT_EQ(data, R"({"p":"lg1-0","s":17,"t":"1732745000123456789","pad":"xxxx"})");
    std::string packet;
    append_publish(packet, "lg-0", "\"lg\"", data);
    EXPECT_EQ(
        packet,
        R"(["publish",{"room":"lg-0","event":"lg","data":{"p":"lg1-0","s":17,"t":"1732745000123456789","pad":"xxxx"}}])");
    std::string end;
    append_end(end, "lg1-0", 100, 2);
    EXPECT_EQ(end, R"({"p":"lg1-0","end":100,"refused":2})");
}

TEST(Message, DecodesWhatTheEdgeDelivers) {
    const std::string event =
        R"(["lg",{"p":"lg1-0","s":17,"t":"1732745000123456789","pad":"xxxx"},{"room":"lg-0","from":"lg1-0","offset":"42"},"42"])";
    LgMessage m;
    std::string storage;
    ASSERT_EQ(decode_event(event, "\"lg\"", m, storage), EventMatch::kMessage);
    EXPECT_EQ(m.kind, LgMessage::Kind::kData);
    EXPECT_EQ(m.publisher, "lg1-0");
    EXPECT_EQ(m.seq, 17U);
    ASSERT_TRUE(m.sent_ns);
    EXPECT_EQ(*m.sent_ns, 1732745000123456789);
    EXPECT_TRUE(m.offset);

    const std::string end = R"(["lg",{"p":"lg1-0","end":100,"refused":2},{"room":"lg-0"},"43"])";
    ASSERT_EQ(decode_event(end, "\"lg\"", m, storage), EventMatch::kMessage);
    EXPECT_EQ(m.kind, LgMessage::Kind::kEnd);
    EXPECT_EQ(m.end, 100U);
    EXPECT_EQ(m.refused, 2U);
}

TEST(Message, EphemeralPublishGolden) {
    std::string packet;
    append_publish(packet, "lg-0", "\"lg\"", R"({"p":"lg1-0","s":1})", Delivery::kEphemeral);
    EXPECT_EQ(
        packet,
        R"(["publish",{"room":"lg-0","event":"lg","data":{"p":"lg1-0","s":1},"ephemeral":true}])");
    // Written in place, as the client does: open, data, close.
    std::string in_place;
    append_publish_open(in_place, "lg-0", "\"lg\"");
    append_data(in_place, "lg1-0", 17, 5, 0);
    append_publish_close(in_place, Delivery::kEphemeral);
    EXPECT_EQ(
        in_place,
        R"(["publish",{"room":"lg-0","event":"lg","data":{"p":"lg1-0","s":17,"t":"5","pad":""},"ephemeral":true}])");
}

// True when `m.publisher` points into `payload`: the scanner's fast path, not the JSON
// fallback (which copies the id into its storage).
bool decoded_in_place(std::string_view payload, const LgMessage& m) {
    return m.publisher.data() >= payload.data() &&
           m.publisher.data() + m.publisher.size() <= payload.data() + payload.size();
}

TEST(Message, EphemeralEventWithoutOffsetTakesTheFastPath) {
    // What the edge writes for an ephemeral event: meta without offset, no trailing offset.
    const std::string event =
        R"(["lg",{"p":"lg1-0","s":17,"t":"1732745000123456789","pad":"xxxx"},{"room":"lg-0","from":"lg1-0"}])";
    LgMessage m;
    std::string storage;
    ASSERT_EQ(decode_event(event, "\"lg\"", m, storage), EventMatch::kMessage);
    EXPECT_EQ(m.kind, LgMessage::Kind::kData);
    EXPECT_EQ(m.publisher, "lg1-0");
    EXPECT_EQ(m.seq, 17U);
    ASSERT_TRUE(m.sent_ns);
    EXPECT_EQ(*m.sent_ns, 1732745000123456789);
    EXPECT_TRUE(decoded_in_place(event, m));
    EXPECT_TRUE(storage.empty());
    EXPECT_FALSE(m.offset);

    // The same event as stored (meta with offset, the trailing offset) decodes the same way.
    const std::string stored =
        R"(["lg",{"p":"lg1-0","s":17,"t":"1732745000123456789","pad":"xxxx"},{"room":"lg-0","from":"lg1-0","offset":"42"},"42"])";
    LgMessage s;
    ASSERT_EQ(decode_event(stored, "\"lg\"", s, storage), EventMatch::kMessage);
    EXPECT_EQ(s.kind, m.kind);
    EXPECT_EQ(s.publisher, m.publisher);
    EXPECT_EQ(s.seq, m.seq);
    EXPECT_EQ(s.sent_ns, m.sent_ns);
    EXPECT_TRUE(decoded_in_place(stored, s));
    EXPECT_TRUE(s.offset);

    // An ephemeral churn message, and one in another layout (the JSON fallback).
    const std::string churn =
        R"(["lg",{"p":"lg1-3","churn":2,"t":"9"},{"room":"lg-0","from":"lg1-3"}])";
    ASSERT_EQ(decode_event(churn, "\"lg\"", m, storage), EventMatch::kMessage);
    EXPECT_EQ(m.kind, LgMessage::Kind::kChurn);
    EXPECT_EQ(m.seq, 2U);
    const std::string spaced =
        R"([ "lg", {"s": 3, "p": "x-1", "t": "5"}, {"room": "r", "from": "x-1"}])";
    ASSERT_EQ(decode_event(spaced, "\"lg\"", m, storage), EventMatch::kMessage);
    EXPECT_EQ(m.publisher, "x-1");
    EXPECT_EQ(m.seq, 3U);
    EXPECT_FALSE(m.offset);
}

TEST(Message, AcksWithAndWithoutOffset) {
    EXPECT_TRUE(is_ok_ack(R"([{"ok":true,"offset":"42"}])"));               // stored publish
    EXPECT_TRUE(is_ok_ack(R"([{"ok":true}])"));                             // ephemeral publish
    EXPECT_TRUE(is_ok_ack(R"([{"ok":true,"room":"lg-0","offset":"0"}])"));  // join
    EXPECT_FALSE(is_ok_ack(R"([{"ok":false,"error":{"code":"not_joined","message":"m"}}])"));
    EXPECT_FALSE(is_ok_ack(R"([{"ok":false}])"));
    EXPECT_FALSE(is_ok_ack("[]"));
    EXPECT_FALSE(is_ok_ack(""));
}

TEST(Message, FallsBackToJsonForOtherLayouts) {
    // Same fields, other key order and spacing: still understood.
    const std::string event = R"([ "lg", {"s": 3, "p": "x-1", "t": "5"}, {}, "1"])";
    LgMessage m;
    std::string storage;
    ASSERT_EQ(decode_event(event, "\"lg\"", m, storage), EventMatch::kMessage);
    EXPECT_EQ(m.publisher, "x-1");
    EXPECT_EQ(m.seq, 3U);
    EXPECT_EQ(m.sent_ns.value_or(0), 5);
    EXPECT_TRUE(m.offset);
}

TEST(Message, OtherEventsAndForeignDataAreNotCounted) {
    LgMessage m;
    std::string storage;
    EXPECT_EQ(
        decode_event(R"(["presence",{"room":"lg-0","joined":[],"left":[]}])", "\"lg\"", m, storage),
        EventMatch::kOther);
    EXPECT_EQ(decode_event(R"(["lgx",{"p":"a","s":1,"t":"1"}])", "\"lg\"", m, storage),
              EventMatch::kOther);
    EXPECT_EQ(decode_event(R"(["lg",{"text":"hi"},{},"1"])", "\"lg\"", m, storage),
              EventMatch::kForeign);
    EXPECT_EQ(decode_event(R"(["lg","hi",{},"1"])", "\"lg\"", m, storage), EventMatch::kForeign);
    EXPECT_EQ(decode_event("not json", "\"lg\"", m, storage), EventMatch::kOther);
}

// --- HTTP -------------------------------------------------------------------------------------

TEST(Http, ParsesContentLengthResponsesIncrementally) {
    const std::string full =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n\r\nhello";
    for (std::size_t cut = 0; cut < full.size(); ++cut) {
        EXPECT_EQ(http::parse_response(full.substr(0, cut), 1000).state,
                  http::Response::State::kIncomplete)
            << cut;
    }
    const auto r = http::parse_response(full, 1000);
    ASSERT_EQ(r.state, http::Response::State::kComplete);
    EXPECT_EQ(r.status, 200U);
    EXPECT_EQ(r.body(full), "hello");
    EXPECT_FALSE(r.close);
}

TEST(Http, RefusesWhatItCannotDelimit) {
    EXPECT_EQ(
        http::parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 100).state,
        http::Response::State::kError);
    EXPECT_EQ(http::parse_response("HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 100).state,
              http::Response::State::kError);
    EXPECT_EQ(http::parse_response("garbage\r\n\r\n", 100).state, http::Response::State::kError);
    const auto r = http::parse_response(
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno", 100);
    EXPECT_EQ(r.status, 400U);
    EXPECT_TRUE(r.close);
}

TEST(Http, UpgradeNeedsTheRightAccept) {
    const std::string head =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    EXPECT_TRUE(http::upgrade_accepted(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    EXPECT_FALSE(http::upgrade_accepted(head, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    EXPECT_FALSE(
        http::upgrade_accepted("HTTP/1.1 400 Bad Request\r\n\r\n", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

TEST(Http, StatusOfAResponseHead) {
    EXPECT_EQ(http::status_of("HTTP/1.1 503 Service Unavailable\r\n\r\n"), 503U);
    EXPECT_EQ(http::status_of("HTTP/1.0 429 Too Many Requests\r\n"), 429U);
    EXPECT_EQ(http::status_of("HTTP/1.1 101 Switching Protocols\r\n"), 101U);
    EXPECT_EQ(http::status_of("garbage"), std::nullopt);
    EXPECT_EQ(http::status_of("HTTP/1.1 5x3 Nope\r\n"), std::nullopt);
}

// --- Command line -----------------------------------------------------------------------------

ParseOutcome parse(std::vector<const char*> args, std::vector<const char*> env = {}) {
    args.insert(args.begin(), "roomcast_loadgen");
    env.push_back(nullptr);
    return parse_options(static_cast<int>(args.size()), args.data(), env.data());
}

TEST(Cli, FullCommandLine) {
    const auto r = parse({"--scenario",
                          "fanout",
                          "--url",
                          "http://127.0.0.1:18081,http://localhost:18082/rc/",
                          "--url=http://[::1]:9",
                          "--source-addresses",
                          "127.0.0.2,127.0.0.3",
                          "--connections",
                          "1000",
                          "--rooms",
                          "4",
                          "--room-prefix",
                          "bench-",
                          "--transport",
                          "mixed",
                          "--polling-share",
                          "0.25",
                          "--connect-rate",
                          "500",
                          "--publishers",
                          "2",
                          "--rate",
                          "100",
                          "--payload-bytes",
                          "128",
                          "--ephemeral",
                          "--duration",
                          "1.5s",
                          "--warmup",
                          "250ms",
                          "--jwt-secret",
                          "s",
                          "--event",
                          "tick",
                          "--id",
                          "p1",
                          "--threads",
                          "2",
                          "--json",
                          "--ping-timeout-grace",
                          "2s",
                          "--start-at",
                          "1764000000.5"});
    ASSERT_EQ(r.kind, ParseOutcome::Kind::kRun) << r.error;
    const Options& o = r.options;
    EXPECT_EQ(o.scenario, Scenario::kFanout);
    ASSERT_EQ(o.urls.size(), 3U);
    EXPECT_EQ(o.urls[0].host, "127.0.0.1");
    EXPECT_EQ(o.urls[0].port, 18081);
    EXPECT_EQ(o.urls[0].path, "/socket.io/");
    EXPECT_EQ(o.urls[1].host, "localhost");
    EXPECT_EQ(o.urls[1].path, "/rc/");
    EXPECT_EQ(o.urls[1].host_header, "localhost:18082");
    EXPECT_EQ(o.urls[2].host, "::1");
    EXPECT_EQ(o.urls[2].port, 9);
    EXPECT_EQ(o.source_addresses, (std::vector<std::string>{"127.0.0.2", "127.0.0.3"}));
    EXPECT_EQ(o.connections, 1000U);
    EXPECT_EQ(o.rooms, 4U);
    EXPECT_EQ(o.room_prefix, "bench-");
    EXPECT_EQ(o.transport, TransportMode::kMixed);
    EXPECT_DOUBLE_EQ(o.polling_share, 0.25);
    EXPECT_DOUBLE_EQ(o.connect_rate.value_or(0), 500);
    EXPECT_EQ(o.publishers, 2U);
    EXPECT_DOUBLE_EQ(o.rate, 100);
    EXPECT_EQ(o.payload_bytes, 128U);
    EXPECT_TRUE(o.ephemeral);
    EXPECT_EQ(o.duration, milliseconds(1500));
    EXPECT_EQ(o.warmup, milliseconds(250));
    EXPECT_EQ(o.jwt_secret, "s");
    EXPECT_EQ(o.event, "tick");
    EXPECT_EQ(o.id, "p1");
    EXPECT_EQ(o.threads, 2U);
    EXPECT_TRUE(o.json);
    EXPECT_EQ(o.ping_timeout_grace, milliseconds(2000));
    EXPECT_DOUBLE_EQ(o.start_at.value_or(0), 1764000000.5);
}

TEST(Cli, Defaults) {
    const auto r = parse({"--url", "http://127.0.0.1:1", "--connections", "5"});
    ASSERT_EQ(r.kind, ParseOutcome::Kind::kRun) << r.error;
    const Options& o = r.options;
    EXPECT_EQ(o.scenario, Scenario::kIdle);
    EXPECT_EQ(o.rooms, 0U);
    EXPECT_EQ(o.room_prefix, "lg-");
    EXPECT_EQ(o.transport, TransportMode::kWebSocket);
    EXPECT_DOUBLE_EQ(o.polling_share, 0.05);
    EXPECT_DOUBLE_EQ(o.connect_rate.value_or(0), 1000);
    EXPECT_EQ(o.payload_bytes, 64U);
    EXPECT_EQ(o.duration, milliseconds(30000));
    EXPECT_EQ(o.warmup, milliseconds(5000));
    EXPECT_EQ(o.event, "lg");
    EXPECT_TRUE(o.id.starts_with("lg"));
    EXPECT_EQ(o.threads, 1U);
    EXPECT_FALSE(o.json);
    EXPECT_FALSE(o.no_auth);
    EXPECT_FALSE(o.ephemeral);
}

TEST(Cli, EnvironmentUnderLoadgenPrefixAndFlagsWin) {
    const auto r = parse({"--connections", "7"},
                         {"ROOMCAST_LOADGEN_URL=http://h:1", "ROOMCAST_LOADGEN_CONNECTIONS=3",
                          "ROOMCAST_LOADGEN_SCENARIO=latency", "ROOMCAST_LOADGEN_ROOMS=2",
                          "ROOMCAST_LOADGEN_NO_AUTH=true", "ROOMCAST_THREADS=9",
                          "ROOMCAST_JWT_SECRET=server-secret"});
    ASSERT_EQ(r.kind, ParseOutcome::Kind::kRun) << r.error;
    EXPECT_EQ(r.options.connections, 7U);
    EXPECT_EQ(r.options.scenario, Scenario::kLatency);
    EXPECT_EQ(r.options.urls.at(0).host, "h");
    EXPECT_TRUE(r.options.no_auth);
    EXPECT_EQ(r.options.threads, 1U);           // a server's ROOMCAST_THREADS is not ours
    EXPECT_TRUE(r.options.jwt_secret.empty());  // nor its ROOMCAST_JWT_SECRET
}

TEST(Cli, ConnectStormIsUnpacedUnlessARateIsGiven) {
    auto r = parse({"--scenario", "connect-storm", "--url", "http://h:1", "--connections", "5"});
    ASSERT_EQ(r.kind, ParseOutcome::Kind::kRun) << r.error;
    EXPECT_FALSE(r.options.connect_rate);
    r = parse({"--scenario", "connect-storm", "--url", "http://h:1", "--connections", "5",
               "--connect-rate", "50"});
    ASSERT_EQ(r.kind, ParseOutcome::Kind::kRun) << r.error;
    EXPECT_DOUBLE_EQ(r.options.connect_rate.value_or(0), 50);
}

TEST(Cli, UsageErrors) {
    EXPECT_EQ(parse({"--connections", "5"}).kind, ParseOutcome::Kind::kError);   // no --url
    EXPECT_EQ(parse({"--url", "http://h:1"}).kind, ParseOutcome::Kind::kError);  // no --connections
    EXPECT_EQ(parse({"--url", "https://h:1", "--connections", "5"}).kind,
              ParseOutcome::Kind::kError);
    EXPECT_EQ(parse({"--url", "http://h:1", "--connections", "5", "--scenario", "x"}).kind,
              ParseOutcome::Kind::kError);
    EXPECT_EQ(parse({"--url", "http://h:1", "--connections", "5", "--bogus", "1"}).kind,
              ParseOutcome::Kind::kError);
    EXPECT_EQ(parse({"--url", "http://h:1", "--connections", "5", "--scenario", "fanout"}).kind,
              ParseOutcome::Kind::kError);  // fanout needs rooms
    EXPECT_EQ(parse({"--url", "http://h:1", "--connections", "5", "--publishers", "6"}).kind,
              ParseOutcome::Kind::kError);
    EXPECT_EQ(parse({"--url", "http://h:1", "--connections", "5", "--polling-share", "2"}).kind,
              ParseOutcome::Kind::kError);
    EXPECT_EQ(parse({"--url", "http://h:1", "--connections", "5", "--duration", "soon"}).kind,
              ParseOutcome::Kind::kError);
    EXPECT_EQ(parse({"--url", "http://h:1", "--connections", "5", "--id", "has space"}).kind,
              ParseOutcome::Kind::kError);
    EXPECT_EQ(parse({"--url", "http://h:1", "--connections", "5", "--threads"}).kind,
              ParseOutcome::Kind::kError);
    EXPECT_EQ(parse({"--help"}).kind, ParseOutcome::Kind::kHelp);
}

TEST(Cli, Durations) {
    EXPECT_EQ(parse_duration("30s"), milliseconds(30000));
    EXPECT_EQ(parse_duration("30"), milliseconds(30000));
    EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
    EXPECT_EQ(parse_duration("2m"), milliseconds(120000));
    EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
    EXPECT_EQ(parse_duration("0.5s"), milliseconds(500));
    EXPECT_FALSE(parse_duration("-1s"));
    EXPECT_FALSE(parse_duration("s"));
    EXPECT_FALSE(parse_duration("5 s"));
}

}  // namespace
}  // namespace roomcast::loadgen
