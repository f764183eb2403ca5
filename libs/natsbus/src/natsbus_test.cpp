// Core NATS behaviour against a real nats-server: connect, publish/subscribe, ordering,
// request/reply, lifetimes, reconnect.
#include "roomcast/natsbus/natsbus.hpp"

#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <set>
#include <thread>

namespace roomcast::natsbus {
namespace {

using namespace std::chrono_literals;
using testing::Collector;
using testing::connect_or_fail;
using testing::eventually;
using testing::shared_server;
using testing::test_options;
using testing::unique_name;

class NatsBusTest : public ::testing::Test {
protected:
    void SetUp() override {
        conn_ = connect_or_fail(test_options(shared_server().url()));
        ASSERT_NE(conn_, nullptr);
    }
    std::unique_ptr<Connection> conn_;
};

TEST(ValidSubjectToken, AcceptsPlainTokensOnly) {
    EXPECT_TRUE(valid_subject_token("room-1"));
    EXPECT_TRUE(valid_subject_token("edge_7:abc"));
    EXPECT_TRUE(valid_subject_token("caf\xc3\xa9"));
    EXPECT_FALSE(valid_subject_token(""));
    EXPECT_FALSE(valid_subject_token("a.b"));
    EXPECT_FALSE(valid_subject_token("a*"));
    EXPECT_FALSE(valid_subject_token(">"));
    EXPECT_FALSE(valid_subject_token("a b"));
    EXPECT_FALSE(valid_subject_token("a\tb"));
    EXPECT_FALSE(valid_subject_token("a\r\nb"));
    EXPECT_FALSE(valid_subject_token(std::string_view("a\0b", 3)));
}

TEST(Errors, HaveCategoryAndMessages) {
    const boost::system::error_code ec = Errc::kTimeout;
    EXPECT_EQ(ec.category().name(), std::string("natsbus"));
    EXPECT_EQ(ec.message(), "timed out");
    EXPECT_EQ(make_error_code(Errc::kWrongRevision).message(), "wrong revision");
    EXPECT_TRUE(ec == Errc::kTimeout);
}

TEST(AgainOnTimeout, TriesATimedOutStepAgainUntilItSucceeds) {
    int calls = 0;
    Result<int> r = again_on_timeout("test step", [&]() -> Result<int> {
        return ++calls < 3 ? Result<int>(make_error_code(Errc::kTimeout)) : Result<int>(7);
    });
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 7);
    EXPECT_EQ(calls, 3);
}

TEST(AgainOnTimeout, ReturnsOtherErrorsAtOnce) {
    int calls = 0;
    Result<int> r = again_on_timeout("test step", [&]() -> Result<int> {
        ++calls;
        return make_error_code(Errc::kNotPermitted);
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Errc::kNotPermitted);
    EXPECT_EQ(calls, 1);
}

TEST(AgainOnTimeout, GivesUpAfterItsTime) {
    int calls = 0;
    const auto start = std::chrono::steady_clock::now();
    Result<int> r = again_on_timeout(
        "test step",
        [&]() -> Result<int> {
            ++calls;
            return make_error_code(Errc::kTimeout);
        },
        1200ms);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Errc::kTimeout);
    EXPECT_GE(calls, 2);  // tried again 500 ms apart: at 0 and 500 ms (a pause ending past 1.2 s is not taken)
    EXPECT_LE(calls, 3);
    EXPECT_LT(took, 5s);  // bounded by its time (a loose bound: no timing assertion)
}

TEST(Connect, GivesUpAtTheInitialDeadline) {
    // A port nobody listens on: a fresh server's port, after killing it.
    auto server = testing::NatsServer::start();
    ASSERT_NE(server, nullptr);
    const std::string url = server->url();
    server->kill();

    Options o = test_options(url);
    o.initial_connect_deadline = 400ms;
    const auto start = std::chrono::steady_clock::now();
    auto conn = Connection::connect(o);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(conn);
    EXPECT_EQ(conn.error(), make_error_code(Errc::kNotConnected));
    EXPECT_GE(elapsed, 350ms);  // it retried until the deadline
    EXPECT_LT(elapsed, 3s);

    o.initial_connect_deadline = 0ms;  // one attempt
    const auto once = std::chrono::steady_clock::now();
    EXPECT_FALSE(Connection::connect(o));
    EXPECT_LT(std::chrono::steady_clock::now() - once, 1s);
}

TEST(Connect, RetriesUntilTheServerComesUp) {
    auto server = testing::NatsServer::start();
    ASSERT_NE(server, nullptr);
    server->kill();
    Options o = test_options(server->url());
    o.initial_connect_deadline = 8000ms;
    auto pending = std::async(std::launch::async, [&] { return Connection::connect(o); });
    std::this_thread::sleep_for(300ms);
    ASSERT_TRUE(server->restart());
    ASSERT_EQ(pending.wait_for(8s), std::future_status::ready);
    auto conn = pending.get();
    ASSERT_TRUE(conn);
    EXPECT_TRUE((*conn)->connected());
    EXPECT_EQ((*conn)->connected_url(), server->url());
}

TEST_F(NatsBusTest, PublishSubscribeCopiesDataHeadersAndReply) {
    const std::string base = "ps." + unique_name("t");
    Collector<Message> got;
    auto sub = conn_->subscribe(base + ".>", [&](Message&& m) { got.push(std::move(m)); });
    ASSERT_TRUE(sub);
    const Headers headers{{"A-Key", "1"}, {"A-Key", "2"}, {"B", "x y"}};
    ASSERT_TRUE(conn_->publish(base + ".one", std::string("bin\0ary", 7), headers, "reply.to"));
    ASSERT_TRUE(conn_->publish(base + ".two", ""));
    ASSERT_TRUE(got.wait_for(2));
    const auto msgs = got.items();
    EXPECT_EQ(msgs[0].subject, base + ".one");
    EXPECT_EQ(msgs[0].reply, "reply.to");
    EXPECT_EQ(msgs[0].data, std::string("bin\0ary", 7));
    EXPECT_EQ(msgs[0].header("a-key"), "1");  // names compare case-insensitively
    EXPECT_EQ(msgs[0].header("B"), "x y");
    EXPECT_EQ(msgs[0].header("missing"), std::nullopt);
    EXPECT_EQ(std::count_if(msgs[0].headers.begin(), msgs[0].headers.end(),
                            [](const auto& h) { return h.first == "A-Key"; }),
              2);
    EXPECT_EQ(msgs[1].subject, base + ".two");
    EXPECT_TRUE(msgs[1].data.empty());
    EXPECT_TRUE(msgs[1].headers.empty());
}

TEST_F(NatsBusTest, QueueGroupDeliversEachMessageToOneMember) {
    const std::string subject = "q." + unique_name("t");
    std::atomic<int> a{0};
    std::atomic<int> b{0};
    Collector<int> all;
    auto sa = conn_->subscribe(
        subject, [&](Message&&) { ++a; }, "workers");
    auto sb = conn_->subscribe(
        subject, [&](Message&&) { ++b; }, "workers");
    auto plain = conn_->subscribe(subject, [&](Message&&) { all.push(1); });
    ASSERT_TRUE(sa && sb && plain);
    constexpr int kCount = 200;
    for (int i = 0; i < kCount; ++i) {
        ASSERT_TRUE(conn_->publish(subject, std::to_string(i)));
    }
    ASSERT_TRUE(conn_->flush(2s));
    ASSERT_TRUE(all.wait_for(kCount));
    ASSERT_TRUE(eventually([&] { return a + b == kCount; }));
    std::this_thread::sleep_for(50ms);  // nothing is delivered twice
    EXPECT_EQ(a + b, kCount);
    EXPECT_GT(a, 0);
    EXPECT_GT(b, 0);
}

TEST_F(NatsBusTest, DeliveryFollowsReceiveOrderAcrossSubscriptions) {
    // Two subscriptions, interleaved publishes from another connection: one delivery thread
    // means the callbacks see exactly the publication order.
    const std::string base = "ord." + unique_name("t");
    Collector<std::string> log;
    auto sa = conn_->subscribe(base + ".a", [&](Message&& m) { log.push("a" + m.data); });
    auto sb = conn_->subscribe(base + ".b", [&](Message&& m) { log.push("b" + m.data); });
    ASSERT_TRUE(sa && sb);
    ASSERT_TRUE(conn_->flush(2s));
    auto publisher = connect_or_fail(test_options(shared_server().url()));
    ASSERT_NE(publisher, nullptr);
    std::vector<std::string> expected;
    for (int i = 0; i < 1000; ++i) {
        // An irregular interleaving, so per-subscription FIFO alone would not produce it.
        const bool to_a = (i * 7 + i / 3) % 5 < 2;
        ASSERT_TRUE(publisher->publish(base + (to_a ? ".a" : ".b"), std::to_string(i)));
        expected.push_back((to_a ? "a" : "b") + std::to_string(i));
    }
    ASSERT_TRUE(publisher->flush(2s));
    ASSERT_TRUE(log.wait_for(expected.size()));
    EXPECT_EQ(log.items(), expected);
}

TEST_F(NatsBusTest, SubscriptionResetWaitsForARunningCallback) {
    const std::string subject = "rst." + unique_name("t");
    std::atomic<bool> in_callback{false};
    std::atomic<int> calls{0};
    auto sub = conn_->subscribe(subject, [&](Message&&) {
        in_callback = true;
        std::this_thread::sleep_for(200ms);
        ++calls;
        in_callback = false;
    });
    ASSERT_TRUE(sub);
    ASSERT_TRUE(conn_->publish(subject, "1"));
    ASSERT_TRUE(conn_->publish(subject, "2"));
    ASSERT_TRUE(eventually([&] { return in_callback.load(); }));
    sub->reset();
    EXPECT_FALSE(in_callback);  // the running call finished before reset() returned
    const int after_reset = calls;
    EXPECT_EQ(after_reset, 1);
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(calls, after_reset);  // the queued message was dropped
}

TEST_F(NatsBusTest, CallbackMayDestroyItsOwnSubscription) {
    const std::string subject = "self." + unique_name("t");
    Subscription sub;
    std::atomic<int> calls{0};
    std::mutex mu;
    auto made = conn_->subscribe(subject, [&](Message&&) {
        ++calls;
        std::lock_guard lock(mu);
        sub.reset();  // must not deadlock
    });
    ASSERT_TRUE(made);
    {
        std::lock_guard lock(mu);
        sub = std::move(*made);
    }
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(conn_->publish(subject, "x"));
    }
    ASSERT_TRUE(eventually([&] { return calls >= 1; }));
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(calls, 1);
    std::lock_guard lock(mu);
    EXPECT_FALSE(sub);
}

TEST_F(NatsBusTest, SubscriptionMayOutliveItsConnection) {
    const std::string subject = "outlive." + unique_name("t");
    auto other = connect_or_fail(test_options(shared_server().url()));
    ASSERT_NE(other, nullptr);
    std::atomic<int> calls{0};
    auto sub = other->subscribe(subject, [&](Message&&) { ++calls; });
    ASSERT_TRUE(sub);
    ASSERT_TRUE(other->flush(2s));
    // Flood from another connection while the owner goes away.
    std::atomic<bool> stop{false};
    std::thread flood([&] {
        for (int i = 0; !stop; ++i) {
            (void)conn_->publish(subject, "x");
            if (i % 100 == 0) {
                std::this_thread::sleep_for(1ms);  // a steady stream, not a slow-consumer test
            }
        }
    });
    const bool flowing = eventually([&] { return calls > 0; });
    other.reset();
    const int after = calls;  // no callback runs once the Connection is gone
    std::this_thread::sleep_for(100ms);
    stop = true;
    flood.join();
    ASSERT_TRUE(flowing);
    EXPECT_EQ(calls, after);
    sub->reset();  // after its Connection: only frees memory
}

TEST_F(NatsBusTest, RequestAsyncGetsTheReply) {
    const std::string subject = "svc." + unique_name("t");
    auto responder = conn_->subscribe(subject, [&](Message&& m) {
        const auto tag = m.header("X-Tag");
        (void)conn_->publish(m.reply, "echo:" + m.data, {{"X-Tag", std::string(tag.value_or(""))}});
    });
    ASSERT_TRUE(responder);
    ASSERT_TRUE(conn_->flush(2s));
    std::promise<Result<Message>> reply;
    const auto caller = std::this_thread::get_id();
    std::thread::id callback_thread;
    conn_->request_async(subject, "hi", 2s,
                         [&](Result<Message> r) {
                             callback_thread = std::this_thread::get_id();
                             reply.set_value(std::move(r));
                         },
                         {{"X-Tag", "t1"}});
    auto future = reply.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    auto r = future.get();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->data, "echo:hi");
    EXPECT_EQ(r->header("X-Tag"), "t1");
    EXPECT_NE(callback_thread, caller);
}

TEST_F(NatsBusTest, RequestAsyncTimesOut) {
    const std::string subject = "silent." + unique_name("t");
    auto mute = conn_->subscribe(subject, [](Message&&) {});  // present, never answers
    ASSERT_TRUE(mute);
    ASSERT_TRUE(conn_->flush(2s));
    std::promise<Result<Message>> reply;
    const auto start = std::chrono::steady_clock::now();
    conn_->request_async(subject, "hi", 200ms, [&](Result<Message> r) { reply.set_value(r); });
    auto future = reply.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    auto r = future.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(Errc::kTimeout));
    EXPECT_GE(elapsed, 190ms);
    EXPECT_LT(elapsed, 2s);
}

TEST_F(NatsBusTest, RequestAsyncWithoutRespondersFailsFast) {
    std::promise<Result<Message>> reply;
    const auto start = std::chrono::steady_clock::now();
    conn_->request_async("nobody." + unique_name("t"), "hi", 5s,
                         [&](Result<Message> r) { reply.set_value(r); });
    auto future = reply.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    auto r = future.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(Errc::kNoResponders));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(NatsBusTest, RequestAsyncRejectsABadSubjectOnALibraryThread) {
    std::promise<std::pair<Result<Message>, std::thread::id>> reply;
    conn_->request_async("bad subject", "x", 1s, [&](Result<Message> r) {
        reply.set_value({r, std::this_thread::get_id()});
    });
    auto future = reply.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    auto [r, thread] = future.get();
    EXPECT_EQ(r.error(), make_error_code(Errc::kInvalidArgument));
    EXPECT_NE(thread, std::this_thread::get_id());
}

TEST_F(NatsBusTest, ManyConcurrentRequestsAllComplete) {
    const std::string subject = "many." + unique_name("t");
    auto responder = conn_->subscribe(
        subject, [&](Message&& m) { (void)conn_->publish(m.reply, "r" + m.data); });
    ASSERT_TRUE(responder);
    ASSERT_TRUE(conn_->flush(2s));
    constexpr int kThreads = 4;
    constexpr int kPerThread = 250;
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                const std::string body = std::to_string(t * kPerThread + i);
                conn_->request_async(subject, body, 5s, [&, body](Result<Message> r) {
                    (r && r->data == "r" + body) ? ++ok : ++failed;
                });
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    ASSERT_TRUE(eventually([&] { return ok + failed == kThreads * kPerThread; }, 10s));
    EXPECT_EQ(ok, kThreads * kPerThread);
    EXPECT_EQ(failed, 0);
}

TEST_F(NatsBusTest, BlockingRequest) {
    const std::string subject = "sync." + unique_name("t");
    auto responder = conn_->subscribe(subject, [&](Message&& m) {
        if (m.data != "ignore") {
            (void)conn_->publish(m.reply, m.data + "!");
        }
    });
    ASSERT_TRUE(responder);
    ASSERT_TRUE(conn_->flush(2s));
    auto r = conn_->request(subject, "ping", 2s);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->data, "ping!");
    EXPECT_EQ(conn_->request(subject, "ignore", 150ms).error(), make_error_code(Errc::kTimeout));
    EXPECT_EQ(conn_->request("none." + unique_name("t"), "x", 2s).error(),
              make_error_code(Errc::kNoResponders));
}

TEST_F(NatsBusTest, RejectsInvalidSubjects) {
    EXPECT_EQ(conn_->publish("", "x").error(), make_error_code(Errc::kInvalidArgument));
    EXPECT_EQ(conn_->publish("a..b", "x").error(), make_error_code(Errc::kInvalidArgument));
    EXPECT_EQ(conn_->publish("a.*", "x").error(), make_error_code(Errc::kInvalidArgument));
    EXPECT_EQ(conn_->publish("a.b", "x", {{"Bad:Key", "v"}}).error(),
              make_error_code(Errc::kInvalidArgument));
    EXPECT_EQ(conn_->subscribe("a.>.b", [](Message&&) {}).error(),
              make_error_code(Errc::kInvalidArgument));
    EXPECT_EQ(conn_->subscribe("a b", [](Message&&) {}).error(),
              make_error_code(Errc::kInvalidArgument));
    EXPECT_TRUE(conn_->subscribe("a.*.>", [](Message&&) {}));
}

TEST_F(NatsBusTest, RunAsyncRunsOnAWorker) {
    std::promise<std::thread::id> ran;
    conn_->run_async([&] { ran.set_value(std::this_thread::get_id()); });
    auto future = ran.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_NE(future.get(), std::this_thread::get_id());
}

TEST_F(NatsBusTest, DrainDeliversPendingMessagesThenCloses) {
    Collector<ConnectionState> states;
    auto conn = connect_or_fail(test_options(shared_server().url()),
                                [&](ConnectionState s) { states.push(s); });
    ASSERT_NE(conn, nullptr);
    const std::string subject = "drain." + unique_name("t");
    std::atomic<int> calls{0};
    auto sub = conn->subscribe(subject, [&](Message&&) {
        std::this_thread::sleep_for(1ms);
        ++calls;
    });
    ASSERT_TRUE(sub);
    ASSERT_TRUE(conn->flush(2s));
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(conn_->publish(subject, "x"));
    }
    ASSERT_TRUE(conn_->flush(2s));
    ASSERT_TRUE(eventually([&] { return calls > 0; }));
    conn->drain(3s);
    EXPECT_EQ(calls, 50);  // everything received before the drain was delivered
    EXPECT_FALSE(conn->connected());
    EXPECT_EQ(conn->publish(subject, "late").error(), make_error_code(Errc::kClosed));
    ASSERT_TRUE(eventually([&] {
        const auto s = states.items();
        return std::find(s.begin(), s.end(), ConnectionState::kClosed) != s.end();
    }));
}

TEST_F(NatsBusTest, PendingRequestsFailWithClosedAtShutdown) {
    auto conn = connect_or_fail(test_options(shared_server().url()));
    ASSERT_NE(conn, nullptr);
    const std::string subject = "closing." + unique_name("t");
    auto mute = conn_->subscribe(subject, [](Message&&) {});
    ASSERT_TRUE(conn_->flush(2s));
    std::promise<Result<Message>> reply;
    conn->request_async(subject, "x", 30s, [&](Result<Message> r) { reply.set_value(r); });
    ASSERT_TRUE(conn->flush(2s));
    conn.reset();
    auto future = reply.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(future.get().error(), make_error_code(Errc::kClosed));
}

// ---------------------------------------------------------------------------------------------
// Reconnect: a server of its own, killed and restarted on the same port and store.

class ReconnectTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { server_ = testing::NatsServer::start(); }
    static void TearDownTestSuite() { server_.reset(); }
    void SetUp() override { ASSERT_NE(server_, nullptr); }
    static inline std::unique_ptr<testing::NatsServer> server_;
};

TEST_F(ReconnectTest, ReportsDisconnectAndReconnectAndSubscriptionsResume) {
    Collector<ConnectionState> states;
    auto conn =
        connect_or_fail(test_options(server_->url()), [&](ConnectionState s) { states.push(s); });
    ASSERT_NE(conn, nullptr);
    Collector<std::string> got;
    auto sub = conn->subscribe("re.x", [&](Message&& m) { got.push(m.data); });
    ASSERT_TRUE(sub);
    auto responder =
        conn->subscribe("re.svc", [&](Message&& m) { (void)conn->publish(m.reply, "pong"); });
    ASSERT_TRUE(responder);
    ASSERT_TRUE(conn->publish("re.x", "before"));
    ASSERT_TRUE(got.wait_for(1));

    server_->kill();
    ASSERT_TRUE(states.wait_for(1));
    EXPECT_EQ(states.items().front(), ConnectionState::kDisconnected);
    EXPECT_FALSE(conn->connected());
    ASSERT_TRUE(conn->publish("re.x", "buffered"));  // kept in the reconnect buffer

    ASSERT_TRUE(server_->restart());
    ASSERT_TRUE(states.wait_for(2, 10s));
    EXPECT_EQ(states.items()[1], ConnectionState::kReconnected);
    EXPECT_EQ(conn->reconnects(), 1u);
    EXPECT_TRUE(conn->connected());

    ASSERT_TRUE(conn->publish("re.x", "after"));
    ASSERT_TRUE(got.wait_for(3));
    EXPECT_EQ(got.items(), (std::vector<std::string>{"before", "buffered", "after"}));

    auto other = connect_or_fail(test_options(server_->url()));
    ASSERT_NE(other, nullptr);
    auto pong = other->request("re.svc", "ping", 2s);
    ASSERT_TRUE(pong) << pong.error().message();
    EXPECT_EQ(pong->data, "pong");
}

TEST_F(ReconnectTest, KeyValueWatchResumesAfterRestart) {
    auto conn = connect_or_fail(test_options(server_->url()));
    ASSERT_NE(conn, nullptr);
    auto kv = conn->jetstream().key_value({.bucket = "reconnect_kv"});
    ASSERT_TRUE(kv) << kv.error().message();
    Collector<std::string> got;
    std::atomic<bool> initial_done{false};
    auto watch = (*kv)->watch(
        ">", [&](KvEntry&& e) { got.push(e.key + "=" + e.value); }, [&] { initial_done = true; });
    ASSERT_TRUE(watch);
    ASSERT_TRUE(eventually([&] { return initial_done.load(); }));
    ASSERT_TRUE((*kv)->put("k", "1"));
    ASSERT_TRUE(got.wait_for(1));

    server_->kill();
    ASSERT_TRUE(eventually([&] { return !conn->connected(); }));
    ASSERT_TRUE(server_->restart());
    ASSERT_TRUE(eventually([&] { return conn->connected(); }, 10s));
    // The first puts may race the stream's recovery: retry until one is stored.
    ASSERT_TRUE(eventually([&] { return static_cast<bool>((*kv)->put("k", "2")); }, 10s));
    ASSERT_TRUE(got.wait_for(2, 10s));
    EXPECT_EQ(got.items().back(), "k=2");
}

}  // namespace
}  // namespace roomcast::natsbus
