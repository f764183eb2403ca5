// KeyValue against a real nats-server: CRUD, compare-and-set, keys, watches, ttl.
#include "roomcast/natsbus/natsbus.hpp"

#include "internal.hpp"
#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>

namespace roomcast::natsbus {
namespace {

using namespace std::chrono_literals;
using testing::Collector;
using testing::connect_or_fail;
using testing::eventually;
using testing::shared_server;
using testing::test_options;
using testing::unique_name;

class KeyValueTest : public ::testing::Test {
protected:
    void SetUp() override {
        conn_ = connect_or_fail(test_options(shared_server().url()));
        ASSERT_NE(conn_, nullptr);
        bucket_ = unique_name("B");
        auto kv = conn_->jetstream().key_value({.bucket = bucket_, .storage = Storage::kMemory});
        ASSERT_TRUE(kv) << kv.error().message();
        kv_ = std::move(*kv);
    }
    void TearDown() override {
        kv_.reset();
        if (conn_) {
            (void)conn_->jetstream().delete_stream("KV_" + bucket_);
        }
    }
    std::unique_ptr<Connection> conn_;
    std::string bucket_;
    std::unique_ptr<KeyValue> kv_;
};

// A watch's callbacks, as one ordered log ("initial-done" marks the end of initial values).
struct WatchLog {
    Collector<std::string> events;
    Subscription start(KeyValue& kv, const std::string& filter, bool updates_only = false) {
        auto sub = kv.watch(
            filter,
            [this](KvEntry&& e) {
                events.push(e.deleted ? "del " + e.key : e.key + "=" + e.value);
            },
            [this] { events.push("initial-done"); }, updates_only);
        EXPECT_TRUE(sub) << sub.error().message();
        return sub ? std::move(*sub) : Subscription();
    }
};

// The asynchronous writes publish without blocking a pool thread; they must keep the
// synchronous ones' semantics exactly.
Result<std::uint64_t> wait_async(
    const std::function<void(std::function<void(Result<std::uint64_t>)>)>& op) {
    std::promise<Result<std::uint64_t>> p;
    op([&p](Result<std::uint64_t> r) { p.set_value(r); });
    auto f = p.get_future();
    if (f.wait_for(5s) != std::future_status::ready) {
        return make_error_code(Errc::kTimeout);
    }
    return f.get();
}

TEST_F(KeyValueTest, GetOfAMissingKeyIsEmpty) {
    auto got = kv_->get("missing");
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_FALSE(got->has_value());
    EXPECT_EQ(kv_->bucket(), bucket_);
}

TEST_F(KeyValueTest, AFullBucketRefusesWritesAndKeepsWhatItHas) {
    const std::string name = unique_name("Full");
    auto kv = conn_->jetstream().key_value(
        {.bucket = name, .storage = Storage::kMemory, .max_bytes = 4096});
    ASSERT_TRUE(kv) << kv.error().message();
    const std::string value(500, 'v');
    int written = 0;
    bool refused = false;
    for (int i = 0; i < 40 && !refused; ++i) {
        auto r = (*kv)->put("k" + std::to_string(i), value);
        if (r) {
            ++written;
        } else {
            refused = true;
        }
    }
    EXPECT_TRUE(refused) << "a 4 KiB bucket cannot take 40 values of 500 bytes";
    EXPECT_GT(written, 0);
    EXPECT_LT(written, 9);
    // Every kind of write of a new key tells a full bucket apart from any other failure. (A
    // value replacing a key's only revision may still be taken: it does not grow the bucket.)
    const auto full = make_error_code(Errc::kStorageFull);
    EXPECT_EQ((*kv)->put("another", value).error(), full);
    EXPECT_EQ((*kv)->create("another", value).error(), full);
    EXPECT_EQ(wait_async([&](auto done) { (*kv)->put_async("another", value, done); }).error(),
              full);
    EXPECT_EQ(wait_async([&](auto done) { (*kv)->create_async("another", value, done); }).error(),
              full);
    EXPECT_EQ(full.message(), "storage full (JetStream maximum bytes exceeded)");
    // Each refusal is counted (the first, in the loop above, too).
    EXPECT_EQ(conn_->storage_full(), 5u);
    auto first = (*kv)->get("k0");
    ASSERT_TRUE(first && *first) << "what was written stays (KV discards new, not old)";
    EXPECT_EQ((*first)->value, value);
    // Binding again with another budget applies it.
    auto bigger = conn_->jetstream().key_value(
        {.bucket = name, .storage = Storage::kMemory, .max_bytes = 1 << 20});
    ASSERT_TRUE(bigger);
    EXPECT_TRUE((*bigger)->put("more", value));
    (void)conn_->jetstream().delete_stream("KV_" + name);
}

TEST_F(KeyValueTest, TheOwnerAppliesABudgetToABucketCreatedWithoutOne) {
    // kv_ was created without a budget.
    const std::string value(1000, 'v');
    for (int i = 0; i < 8; ++i) {
        ASSERT_TRUE(kv_->put("old" + std::to_string(i), value));
    }
    // The bucket's stream as the server has it: bytes held and budget.
    const auto info = [&]() -> std::pair<std::uint64_t, std::int64_t> {
        auto& core = *conn_->impl().core;
        jsStreamInfo* raw = nullptr;
        const std::string stream = "KV_" + bucket_;
        if (js_GetStreamInfo(&raw, core.js, stream.c_str(), nullptr, nullptr) != NATS_OK) {
            ADD_FAILURE() << "no stream info";
            return {0, 0};
        }
        const detail::StreamInfoPtr info(raw);
        EXPECT_EQ(info->Config->Discard, js_DiscardNew);  // still a KV bucket
        return {info->State.Bytes, info->Config->MaxBytes};
    };
    const auto stream_bytes = [&] { return info().first; };
    const auto stream_max_bytes = [&] { return info().second; };
    // A user leaves the settings alone; the owner applies its budget.
    ASSERT_TRUE(conn_->jetstream().key_value(
        {.bucket = bucket_, .storage = Storage::kMemory, .max_bytes = 4096}, BucketRole::kUser));
    EXPECT_EQ(stream_max_bytes(), -1) << "a user does not impose its budget";
    EXPECT_TRUE(kv_->put("still", value));
    auto owner = conn_->jetstream().key_value(
        {.bucket = bucket_, .storage = Storage::kMemory, .max_bytes = 64 * 1024});
    ASSERT_TRUE(owner) << owner.error().message();
    EXPECT_EQ(stream_max_bytes(), 64 * 1024);
    const std::string big(3000, 'b');
    bool refused = false;
    for (int i = 0; i < 40 && !refused; ++i) {
        auto r = (*owner)->put("new" + std::to_string(i), big);
        refused = !r && r.error() == make_error_code(Errc::kStorageFull);
    }
    EXPECT_TRUE(refused) << "40 values of 3000 bytes exceed 64 KiB";
    EXPECT_LE(stream_bytes(), 64u * 1024);
    EXPECT_EQ((*owner)->get("old0").value()->value, value) << "the oldest entries stay";

    // A budget below what the bucket holds: raised to what it holds, so nothing is dropped, and
    // the bucket is full.
    const auto before = stream_bytes();
    auto smaller = conn_->jetstream().key_value(
        {.bucket = bucket_, .storage = Storage::kMemory, .max_bytes = 4096});
    ASSERT_TRUE(smaller) << smaller.error().message();
    EXPECT_EQ(stream_bytes(), before);
    EXPECT_EQ(stream_max_bytes(), static_cast<std::int64_t>(before));
    EXPECT_EQ((*smaller)->get("old0").value()->value, value);
    EXPECT_EQ((*smaller)->put("more", big).error(), make_error_code(Errc::kStorageFull));
}

TEST_F(KeyValueTest, PutThenGet) {
    auto r1 = kv_->put("room.1", "alpha");
    ASSERT_TRUE(r1) << r1.error().message();
    EXPECT_GT(*r1, 0u);
    auto got = kv_->get("room.1");
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->key, "room.1");
    EXPECT_EQ((*got)->value, "alpha");
    EXPECT_EQ((*got)->revision, *r1);
    EXPECT_FALSE((*got)->deleted);
    auto r2 = kv_->put("room.1", std::string("b\0eta", 5));
    ASSERT_TRUE(r2);
    EXPECT_GT(*r2, *r1);
    got = kv_->get("room.1");
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->value, std::string("b\0eta", 5));
}

TEST_F(KeyValueTest, CreateConflictsWithAnExistingKey) {
    auto r = kv_->create("k", "1");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(kv_->create("k", "2").error(), make_error_code(Errc::kAlreadyExists));
    ASSERT_TRUE(kv_->erase("k"));
    auto again = kv_->create("k", "3");  // over a delete marker
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_GT(*again, *r);
    EXPECT_EQ(kv_->get("k").value()->value, "3");
}

TEST_F(KeyValueTest, UpdateIsCompareAndSet) {
    auto r1 = kv_->put("k", "1");
    ASSERT_TRUE(r1);
    auto r2 = kv_->update("k", "2", *r1);
    ASSERT_TRUE(r2) << r2.error().message();
    EXPECT_EQ(kv_->update("k", "3", *r1).error(), make_error_code(Errc::kWrongRevision));
    EXPECT_EQ(kv_->update("k", "3", 0).error(), make_error_code(Errc::kWrongRevision));
    EXPECT_EQ(kv_->get("k").value()->value, "2");
    auto fresh = kv_->update("fresh", "x", 0);  // revision 0: "the key does not exist"
    ASSERT_TRUE(fresh) << fresh.error().message();
}

TEST_F(KeyValueTest, EraseWithARevisionIsCompareAndDelete) {
    auto r1 = kv_->put("k", "1");
    ASSERT_TRUE(r1);
    auto r2 = kv_->put("k", "2");
    ASSERT_TRUE(r2);
    // A delete decided on the first value must not remove the second.
    EXPECT_EQ(kv_->erase("k", *r1).error(), make_error_code(Errc::kWrongRevision));
    EXPECT_EQ(kv_->get("k").value()->value, "2");
    ASSERT_TRUE(kv_->erase("k", *r2));
    EXPECT_FALSE(kv_->get("k").value().has_value());
    // Gone already: the marker is the last revision now, so the same delete fails again.
    EXPECT_EQ(kv_->erase("k", *r2).error(), make_error_code(Errc::kWrongRevision));
    EXPECT_EQ(kv_->erase("k", 0).error(), make_error_code(Errc::kInvalidArgument));
    // A key created again over the marker can be read and deleted as usual.
    auto r3 = kv_->create("k", "3");
    ASSERT_TRUE(r3) << r3.error().message();
    ASSERT_TRUE(kv_->erase("k", *r3));
}

TEST_F(KeyValueTest, EraseHidesTheKey) {
    ASSERT_TRUE(kv_->put("k", "1"));
    ASSERT_TRUE(kv_->erase("k"));
    auto got = kv_->get("k");
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->has_value());
    auto keys = kv_->keys();
    ASSERT_TRUE(keys);
    EXPECT_TRUE(keys->empty());
}

TEST_F(KeyValueTest, KeysWithAFilter) {
    ASSERT_TRUE(kv_->put("rooms.a", "1"));
    ASSERT_TRUE(kv_->put("rooms.b", "2"));
    ASSERT_TRUE(kv_->put("users.x", "3"));
    ASSERT_TRUE(kv_->put("rooms.c", "4"));
    ASSERT_TRUE(kv_->erase("rooms.c"));
    auto rooms = kv_->keys("rooms.>");
    ASSERT_TRUE(rooms) << rooms.error().message();
    std::sort(rooms->begin(), rooms->end());
    EXPECT_EQ(*rooms, (std::vector<std::string>{"rooms.a", "rooms.b"}));
    auto all = kv_->keys();
    ASSERT_TRUE(all);
    EXPECT_EQ(all->size(), 3u);
    auto none = kv_->keys("nothing.>");
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
}

TEST_F(KeyValueTest, RejectsInvalidKeys) {
    EXPECT_EQ(kv_->get("bad key").error(), make_error_code(Errc::kInvalidArgument));
    EXPECT_EQ(kv_->put("a*", "x").error(), make_error_code(Errc::kInvalidArgument));
    EXPECT_EQ(kv_->create(".a", "x").error(), make_error_code(Errc::kInvalidArgument));
    EXPECT_EQ(kv_->update("a.", "x", 1).error(), make_error_code(Errc::kInvalidArgument));
}

TEST_F(KeyValueTest, WatchDeliversInitialValuesThenChanges) {
    ASSERT_TRUE(kv_->put("a", "1"));
    ASSERT_TRUE(kv_->put("b", "2"));
    ASSERT_TRUE(kv_->put("a", "3"));
    ASSERT_TRUE(kv_->put("gone", "x"));
    ASSERT_TRUE(kv_->erase("gone"));
    WatchLog log;
    auto sub = log.start(*kv_, ">");
    ASSERT_TRUE(log.events.wait_for(3));
    auto initial = log.events.items();
    EXPECT_EQ(initial.back(), "initial-done");
    initial.pop_back();
    std::sort(initial.begin(), initial.end());
    EXPECT_EQ(initial, (std::vector<std::string>{"a=3", "b=2"}));  // latest values, no markers

    ASSERT_TRUE(kv_->put("c", "4"));
    ASSERT_TRUE(kv_->erase("b"));
    ASSERT_TRUE(log.events.wait_for(5));
    const auto events = log.events.items();
    EXPECT_EQ(events[3], "c=4");
    EXPECT_EQ(events[4], "del b");
}

TEST_F(KeyValueTest, WatchWithAFilterAndUpdatesOnly) {
    ASSERT_TRUE(kv_->put("rooms.a", "1"));
    ASSERT_TRUE(kv_->put("users.a", "1"));
    WatchLog log;
    auto sub = log.start(*kv_, "rooms.>", true);
    ASSERT_TRUE(log.events.wait_for(1));
    EXPECT_EQ(log.events.items().front(), "initial-done");
    ASSERT_TRUE(kv_->put("users.b", "2"));
    ASSERT_TRUE(kv_->put("rooms.b", "2"));
    ASSERT_TRUE(log.events.wait_for(2));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(log.events.items(), (std::vector<std::string>{"initial-done", "rooms.b=2"}));
}

TEST_F(KeyValueTest, WatchOfAnEmptyBucketSignalsInitialDone) {
    WatchLog log;
    auto sub = log.start(*kv_, ">");
    ASSERT_TRUE(log.events.wait_for(1));
    EXPECT_EQ(log.events.items(), (std::vector<std::string>{"initial-done"}));
}

TEST_F(KeyValueTest, WatchStopsWhenItsSubscriptionIsDestroyed) {
    WatchLog log;
    auto sub = log.start(*kv_, ">");
    ASSERT_TRUE(log.events.wait_for(1));
    ASSERT_TRUE(kv_->put("a", "1"));
    ASSERT_TRUE(log.events.wait_for(2));
    sub.reset();
    ASSERT_TRUE(kv_->put("a", "2"));
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(log.events.size(), 2u);
}

TEST_F(KeyValueTest, WatchMayStopItselfFromItsCallback) {
    Subscription sub;
    std::mutex mu;
    std::atomic<int> calls{0};
    auto made = kv_->watch(">",
                           [&](KvEntry&&) {
                               ++calls;
                               std::lock_guard lock(mu);
                               sub.reset();
                           },
                           {});
    ASSERT_TRUE(made);
    {
        std::lock_guard lock(mu);
        sub = std::move(*made);
    }
    ASSERT_TRUE(kv_->put("a", "1"));
    ASSERT_TRUE(eventually([&] { return calls == 1; }));
    ASSERT_TRUE(kv_->put("a", "2"));
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(calls, 1);
}

TEST_F(KeyValueTest, WatchOutlivingItsConnectionIsSilenced) {
    auto conn = connect_or_fail(test_options(shared_server().url()));
    ASSERT_NE(conn, nullptr);
    auto kv = conn->jetstream().key_value({.bucket = bucket_, .storage = Storage::kMemory});
    ASSERT_TRUE(kv);
    std::atomic<int> calls{0};
    auto sub = (*kv)->watch(">", [&](KvEntry&&) { ++calls; }, {});
    ASSERT_TRUE(sub);
    ASSERT_TRUE(kv_->put("a", "1"));
    ASSERT_TRUE(eventually([&] { return calls == 1; }));
    conn.reset();
    ASSERT_TRUE(kv_->put("a", "2"));
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ((*kv)->get("a").error(), make_error_code(Errc::kClosed));
    sub->reset();
    kv->reset();
}

TEST_F(KeyValueTest, TtlExpiresEntries) {
    auto kv = conn_->jetstream().key_value(
        {.bucket = bucket_ + "_ttl", .ttl = 1000ms, .storage = Storage::kMemory});
    ASSERT_TRUE(kv) << kv.error().message();
    ASSERT_TRUE((*kv)->put("k", "v"));
    ASSERT_TRUE((*kv)->get("k").value().has_value());
    EXPECT_TRUE(eventually([&] { return !(*kv)->get("k").value().has_value(); }, 5s));
    kv->reset();
    (void)conn_->jetstream().delete_stream("KV_" + bucket_ + "_ttl");
}

TEST_F(KeyValueTest, AsyncCreateUpdateAndPutKeepTheirSemantics) {
    auto created = wait_async([&](auto done) { kv_->create_async("k", "1", done); });
    ASSERT_TRUE(created) << created.error().message();
    EXPECT_EQ(wait_async([&](auto done) { kv_->create_async("k", "2", done); }).error(),
              make_error_code(Errc::kAlreadyExists));
    auto updated = wait_async([&](auto done) { kv_->update_async("k", "3", *created, done); });
    ASSERT_TRUE(updated) << updated.error().message();
    EXPECT_GT(*updated, *created);
    EXPECT_EQ(wait_async([&](auto done) { kv_->update_async("k", "4", *created, done); }).error(),
              make_error_code(Errc::kWrongRevision));
    EXPECT_EQ(kv_->get("k").value()->value, "3");
    ASSERT_TRUE(kv_->erase("k"));
    auto over_marker = wait_async([&](auto done) { kv_->create_async("k", "5", done); });
    ASSERT_TRUE(over_marker) << over_marker.error().message();
    auto put = wait_async([&](auto done) { kv_->put_async("k", "6", done); });
    ASSERT_TRUE(put);
    EXPECT_GT(*put, *over_marker);
    EXPECT_EQ(kv_->get("k").value()->value, "6");
    EXPECT_EQ(kv_->get("k").value()->revision, *put);
    EXPECT_EQ(wait_async([&](auto done) { kv_->put_async("bad key", "x", done); }).error(),
              make_error_code(Errc::kInvalidArgument));
}

TEST_F(KeyValueTest, AsyncOperationsCompleteOnTheWorkerPool) {
    std::promise<Result<std::uint64_t>> put;
    kv_->put_async("k", "v", [&](Result<std::uint64_t> r) { put.set_value(r); });
    auto pf = put.get_future();
    ASSERT_EQ(pf.wait_for(5s), std::future_status::ready);
    auto revision = pf.get();
    ASSERT_TRUE(revision);

    std::promise<std::pair<Result<std::optional<KvEntry>>, std::thread::id>> get;
    kv_->get_async("k", [&](Result<std::optional<KvEntry>> r) {
        get.set_value({r, std::this_thread::get_id()});
    });
    auto gf = get.get_future();
    ASSERT_EQ(gf.wait_for(5s), std::future_status::ready);
    auto [got, thread] = gf.get();
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->revision, *revision);
    EXPECT_NE(thread, std::this_thread::get_id());

    std::promise<Result<void>> erased;
    kv_->erase_async("k", [&](Result<void> r) { erased.set_value(r); });
    auto ef = erased.get_future();
    ASSERT_EQ(ef.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(ef.get());
    EXPECT_FALSE(kv_->get("k").value().has_value());
}

TEST_F(KeyValueTest, BindingAgainAppliesNewLimits) {
    // history 1 → 3: the bucket's stream then keeps three revisions per key.
    auto again = conn_->jetstream().key_value(
        {.bucket = bucket_, .history = 3, .storage = Storage::kMemory});
    ASSERT_TRUE(again) << again.error().message();
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE((*again)->put("k", std::to_string(i)));
    }
    auto history =
        conn_->jetstream().read_subject("KV_" + bucket_, "$KV." + bucket_ + ".k", 1, 100, 5s);
    ASSERT_TRUE(history) << history.error().message();
    ASSERT_EQ(history->size(), 3u);
    EXPECT_EQ(history->front().data, "2");
    EXPECT_EQ(kv_->get("k").value()->value, "4");  // the first handle sees the same bucket
}

TEST_F(KeyValueTest, AUserBindsToTheOwnersBucketAsItIs) {
    // Another role's settings (history 3) leave the owner's bucket (history 1) unchanged.
    auto user = conn_->jetstream().key_value(
        {.bucket = bucket_, .history = 3, .storage = Storage::kMemory}, BucketRole::kUser);
    ASSERT_TRUE(user) << user.error().message();
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE((*user)->put("k", std::to_string(i)));
    }
    auto history =
        conn_->jetstream().read_subject("KV_" + bucket_, "$KV." + bucket_ + ".k", 1, 100, 5s);
    ASSERT_TRUE(history) << history.error().message();
    ASSERT_EQ(history->size(), 1u);
    EXPECT_EQ(kv_->get("k").value()->value, "2");

    // A missing bucket is created with the user's settings, so start order does not matter.
    const std::string fresh = unique_name("kvuser");
    auto created = conn_->jetstream().key_value(
        {.bucket = fresh, .history = 2, .storage = Storage::kMemory}, BucketRole::kUser);
    ASSERT_TRUE(created) << created.error().message();
    ASSERT_TRUE((*created)->put("k", "v"));
    EXPECT_EQ((*created)->get("k").value()->value, "v");
    (void)conn_->jetstream().delete_stream("KV_" + fresh);
}

TEST_F(KeyValueTest, RejectsBadConfigs) {
    auto& js = conn_->jetstream();
    EXPECT_EQ(js.key_value({.bucket = "x", .history = 0}).error(),
              make_error_code(Errc::kInvalidArgument));
    EXPECT_EQ(js.key_value({.bucket = "x", .history = 65}).error(),
              make_error_code(Errc::kInvalidArgument));
    EXPECT_EQ(js.key_value({.bucket = "a.b"}).error(), make_error_code(Errc::kInvalidArgument));
}

}  // namespace
}  // namespace roomcast::natsbus
