// JetStream health over a real nats-server: a stream and a KV bucket report their bytes, their
// budget and a leader; a missing stream has no series and is not an error; the poller thread
// stops promptly; a server that went away leaves the last bytes and reports no leader, counting
// the failed request.
#include "roomcast/observability/jetstream_health.hpp"

#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <map>

namespace roomcast::observability {
namespace {

using namespace std::chrono_literals;
using natsbus::testing::connect_or_fail;
using natsbus::testing::shared_server;
using natsbus::testing::test_options;
using natsbus::testing::unique_name;

// "metric{name}" -> value.
std::map<std::string, double> scrape(const JetStreamHealth& h) {
    std::map<std::string, double> out;
    for (const auto& f : h.Collect()) {
        for (const auto& m : f.metric) {
            std::string key = f.name;
            for (const auto& l : m.label) {
                key += "{" + l.value + "}";
            }
            out[key] = f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
        }
    }
    return out;
}

TEST(JetStreamHealth, StreamsAndBucketsReportBytesBudgetAndLeader) {
    auto nats = connect_or_fail(test_options(shared_server().url()));
    ASSERT_NE(nats, nullptr);
    const std::string stream = unique_name("JSH");
    const std::string bucket = unique_name("jsh");
    JetStreamHealth health(*nats, {{"s", stream}, {"b", "KV_" + bucket}},
                           {.interval = 50ms, .timeout = 2s});

    health.poll_once();
    auto before = scrape(health);
    EXPECT_FALSE(before.contains("roomcast_jetstream_bytes{s}")) << "no stream yet: no series";
    EXPECT_EQ(before.at("roomcast_jetstream_info_errors_total"), 0)
        << "a missing stream is no error";

    natsbus::StreamConfig config;
    config.name = stream;
    config.subjects = {stream + ".>"};
    config.max_bytes = 1024 * 1024;
    ASSERT_TRUE(nats->jetstream().ensure_stream(config));
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(nats->jetstream().publish(stream + ".x", std::string(1000, 'x')));
    }
    natsbus::KvConfig kv;
    kv.bucket = bucket;
    kv.max_bytes = 2 * 1024 * 1024;
    auto store = nats->jetstream().key_value(kv);
    ASSERT_TRUE(store) << store.error().message();
    ASSERT_TRUE((*store)->put("k", "v"));

    health.start();  // polls at once, then every 50 ms
    ASSERT_TRUE(natsbus::testing::eventually([&] {
        auto s = scrape(health);
        return s.contains("roomcast_jetstream_messages{b}") &&
               s.at("roomcast_jetstream_messages{s}") == 10;
    }));
    health.stop();
    auto s = scrape(health);
    EXPECT_GT(s.at("roomcast_jetstream_bytes{s}"), 10000);
    EXPECT_EQ(s.at("roomcast_jetstream_max_bytes{s}"), 1024 * 1024);
    EXPECT_EQ(s.at("roomcast_jetstream_has_leader{s}"), 1);
    EXPECT_GT(s.at("roomcast_jetstream_bytes{b}"), 0);
    EXPECT_EQ(s.at("roomcast_jetstream_max_bytes{b}"), 2 * 1024 * 1024);
    EXPECT_EQ(s.at("roomcast_jetstream_messages{b}"), 1);
    EXPECT_EQ(s.at("roomcast_jetstream_has_leader{b}"), 1);

    ASSERT_TRUE(nats->jetstream().delete_stream(stream));
    health.poll_once();
    s = scrape(health);
    EXPECT_FALSE(s.contains("roomcast_jetstream_bytes{s}")) << "deleted: its series go";
    EXPECT_TRUE(s.contains("roomcast_jetstream_bytes{b}"));
    store->reset();
    (void)nats->jetstream().delete_stream("KV_" + bucket);
}

TEST(JetStreamHealth, AnUnansweredRequestMeansNoLeaderAndKeepsTheLastBytes) {
    // A server of its own, to take away.
    auto server = natsbus::testing::NatsServer::start();
    ASSERT_NE(server, nullptr);
    auto nats = connect_or_fail(test_options(server->url()));
    ASSERT_NE(nats, nullptr);
    natsbus::StreamConfig config;
    config.name = "JSH_GONE";
    config.subjects = {"jshgone.>"};
    config.max_bytes = 1024 * 1024;
    ASSERT_TRUE(nats->jetstream().ensure_stream(config));
    ASSERT_TRUE(nats->jetstream().publish("jshgone.x", "hello"));
    JetStreamHealth health(*nats, {{"g", "JSH_GONE"}}, {.interval = 1h, .timeout = 300ms});
    health.poll_once();
    ASSERT_EQ(scrape(health).at("roomcast_jetstream_has_leader{g}"), 1);

    server->kill();
    health.poll_once();
    auto s = scrape(health);
    EXPECT_GT(s.at("roomcast_jetstream_bytes{g}"), 0) << "the last known bytes stay";
    EXPECT_EQ(s.at("roomcast_jetstream_info_errors_total"), 1);
    EXPECT_EQ(s.at("roomcast_jetstream_has_leader{g}"), 0) << "no answer: no leader";
}

}  // namespace
}  // namespace roomcast::observability
