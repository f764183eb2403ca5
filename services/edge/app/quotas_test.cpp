// Per-user quotas with a fake clock: token buckets refill over time, a refusal by one bucket
// charges nothing, full buckets are swept away, and a full table refuses new users.
#include "app/quotas.hpp"

#include <gtest/gtest.h>

namespace roomcast::edge {
namespace {

using namespace std::chrono_literals;

class QuotasTest : public ::testing::Test {
protected:
    QuotaOptions options(std::size_t max_users = 100) {
        QuotaOptions o;
        o.publish_rate = 2;
        o.publish_burst = 2;
        o.publish_bytes_rate = 100;
        o.publish_bytes_burst = 100;
        o.auto_create_per_minute = 60;
        o.auto_create_burst = 1;
        o.max_users = max_users;
        return o;
    }
    std::chrono::steady_clock::time_point now_{};
};

TEST_F(QuotasTest, PublishesRefillAtTheirRate) {
    Quotas q(options(), [this] { return now_; });
    EXPECT_EQ(q.charge_publish("u", 10), Quotas::Result::kOk);
    EXPECT_EQ(q.charge_publish("u", 10), Quotas::Result::kOk);
    EXPECT_EQ(q.charge_publish("u", 10), Quotas::Result::kRate);
    EXPECT_EQ(q.charge_publish("v", 10), Quotas::Result::kOk) << "per user";
    now_ += 500ms;
    EXPECT_EQ(q.charge_publish("u", 10), Quotas::Result::kOk);
    EXPECT_EQ(q.charge_publish("u", 10), Quotas::Result::kRate);
    EXPECT_EQ(q.stats().publish_rate.load(), 2u);
}

TEST_F(QuotasTest, BytesAreChargedOnlyWhenTheWholePublishIsAllowed) {
    Quotas q(options(), [this] { return now_; });
    EXPECT_EQ(q.charge_publish("u", 90), Quotas::Result::kOk);
    EXPECT_EQ(q.charge_publish("u", 20), Quotas::Result::kBytes);
    // The refused publish took no publish token: one is left.
    EXPECT_EQ(q.charge_publish("u", 10), Quotas::Result::kOk);
    EXPECT_EQ(q.stats().publish_bytes.load(), 1u);
}

TEST_F(QuotasTest, AutoCreatesPerMinute) {
    Quotas q(options(), [this] { return now_; });
    EXPECT_EQ(q.charge_auto_create("u"), Quotas::Result::kOk);
    EXPECT_EQ(q.charge_auto_create("u"), Quotas::Result::kRate);
    now_ += 1s;  // 60 a minute: one a second
    EXPECT_EQ(q.charge_auto_create("u"), Quotas::Result::kOk);
}

TEST_F(QuotasTest, FullBucketsAreSweptAndTheTableIsCapped) {
    Quotas q(options(2), [this] { return now_; });
    EXPECT_EQ(q.charge_publish("a", 1), Quotas::Result::kOk);
    EXPECT_EQ(q.charge_publish("b", 1), Quotas::Result::kOk);
    EXPECT_EQ(q.charge_publish("c", 1), Quotas::Result::kFull) << "fails closed";
    EXPECT_EQ(q.stats().table_full.load(), 1u);
    q.sweep();
    EXPECT_EQ(q.users(), 2u) << "still refilling";
    now_ += 10s;
    q.sweep();
    EXPECT_EQ(q.users(), 0u);
    EXPECT_EQ(q.charge_publish("c", 1), Quotas::Result::kOk);
}

TEST(Quotas, ZeroMeansNoLimit) {
    QuotaOptions o;
    o.publish_rate = 0;
    o.publish_bytes_rate = 0;
    o.auto_create_per_minute = 0;
    o.max_users = 0;
    Quotas q(o);
    for (int i = 0; i < 1000; ++i) {
        EXPECT_EQ(q.charge_publish("u", 1 << 20), Quotas::Result::kOk);
        EXPECT_EQ(q.charge_auto_create("u"), Quotas::Result::kOk);
    }
}

}  // namespace
}  // namespace roomcast::edge
