// Client request metrics: a metered Reply counts its first answer once, by request and result
// (unknown codes as "other"), with its latency in the right bucket; moved-from and unanswered
// Replies count nothing; answers on shard threads land in the per-shard counters and are summed.
#include "app/request_metrics.hpp"
#include "app/reply.hpp"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>

#include <future>
#include <map>
#include <string>

namespace roomcast::edge {
namespace {

using namespace std::chrono_literals;

// requests_total by "request/result", and the histogram's count per request.
struct Scrape {
    std::map<std::string, double> requests;
    std::map<std::string, std::uint64_t> latency_count;
    std::map<std::string, std::vector<std::uint64_t>> buckets;
};

Scrape scrape(const RequestMetrics& m) {
    Scrape out;
    for (const auto& family : m.Collect()) {
        for (const auto& metric : family.metric) {
            std::map<std::string, std::string> labels;
            for (const auto& l : metric.label) {
                labels[l.name] = l.value;
            }
            if (family.name == "roomcast_edge_client_requests_total") {
                out.requests[labels["request"] + "/" + labels["result"]] = metric.counter.value;
            } else if (family.name == "roomcast_edge_client_request_seconds") {
                out.latency_count[labels["request"]] = metric.histogram.sample_count;
                for (const auto& b : metric.histogram.bucket) {
                    out.buckets[labels["request"]].push_back(b.cumulative_count);
                }
            }
        }
    }
    return out;
}

Reply recorder(int& answers) {
    return Reply(
        std::function<void(const sio::Args&)>([&answers](const sio::Args&) { ++answers; }));
}

TEST(RequestMetrics, EveryRequestAndResultIsExportedFromZero) {
    RequestMetrics m(2);
    const auto s = scrape(m);
    EXPECT_EQ(s.requests.size(), std::size(kClientRequestNames) * RequestMetrics::kResultCount);
    EXPECT_EQ(s.requests.at("join/ok"), 0);
    EXPECT_EQ(s.requests.at("refresh/unauthorized"), 0);
    EXPECT_EQ(s.latency_count.size(), std::size(kClientRequestNames));
}

TEST(RequestMetrics, AMeteredReplyCountsItsFirstAnswerByResult) {
    RequestMetrics m(1);
    int answers = 0;
    {
        auto r = recorder(answers);
        r.meter(&m, ClientRequest::kJoin);
        r.ok();
        r.error("forbidden", "late second answer");  // neither sent nor counted
    }
    {
        auto r = recorder(answers);
        r.meter(&m, ClientRequest::kPublish);
        r.error("forbidden", "no");
    }
    {
        auto r = recorder(answers);
        r.meter(&m, ClientRequest::kPublish);
        r.error("rate_limited", "slow down");
    }
    {
        // A hook's own code is not a label value.
        auto r = recorder(answers);
        r.meter(&m, ClientRequest::kJoin);
        r.error("banned-by-" + std::string(100, 'x'), "no");
    }
    {
        // No ack asked for: still a request with a result.
        Reply r;
        r.meter(&m, ClientRequest::kLeave);
        r.ok();
    }
    EXPECT_EQ(answers, 4);
    const auto s = scrape(m);
    EXPECT_EQ(s.requests.at("join/ok"), 1);
    EXPECT_EQ(s.requests.at("join/forbidden"), 0);
    EXPECT_EQ(s.requests.at("join/other"), 1);
    EXPECT_EQ(s.requests.at("publish/forbidden"), 1);
    EXPECT_EQ(s.requests.at("publish/rate_limited"), 1);
    EXPECT_EQ(s.requests.at("leave/ok"), 1);
    EXPECT_EQ(s.latency_count.at("join"), 2u);
    EXPECT_EQ(s.latency_count.at("publish"), 2u);
    EXPECT_EQ(s.latency_count.at("history"), 0u);
}

TEST(RequestMetrics, MovedFromAndUnansweredRepliesCountNothing) {
    RequestMetrics m(1);
    int answers = 0;
    {
        auto r = recorder(answers);
        r.meter(&m, ClientRequest::kHistory);
        Reply moved(std::move(r));
        r.ok();  // moved-from: nothing
        Reply assigned;
        assigned = std::move(moved);
        moved.error("internal", "moved-from");  // nothing
        assigned.ok();
    }
    {
        auto r = recorder(answers);
        r.meter(&m, ClientRequest::kPresence);
        // Destroyed unanswered (the socket left first).
    }
    EXPECT_EQ(answers, 1);
    const auto s = scrape(m);
    EXPECT_EQ(s.requests.at("history/ok"), 1);
    EXPECT_EQ(s.requests.at("history/internal"), 0);
    EXPECT_EQ(s.latency_count.at("presence"), 0u);
}

TEST(RequestMetrics, LatencyLandsInItsBucket) {
    RequestMetrics m(1);
    m.record(ClientRequest::kHistory, "", 3ms);  // le 0.005
    m.record(ClientRequest::kHistory, "", 5ms);  // le 0.005 (bounds are inclusive)
    m.record(ClientRequest::kHistory, "", 20s);  // +Inf only
    const auto s = scrape(m);
    const auto& b = s.buckets.at("history");
    ASSERT_EQ(b.size(), RequestMetrics::kBucketCount + 1);
    EXPECT_EQ(b[5], 0u) << "le 0.0025";
    EXPECT_EQ(b[6], 2u) << "le 0.005";
    EXPECT_EQ(b[RequestMetrics::kBucketCount - 1], 2u) << "le 10";
    EXPECT_EQ(b[RequestMetrics::kBucketCount], 3u) << "+Inf";
    EXPECT_EQ(s.latency_count.at("history"), 3u);
}

TEST(RequestMetrics, ShardThreadsCountInTheirOwnSlotsAndScrapesSumThem) {
    transport::ShardPool pool(2);
    RequestMetrics m(pool.size());
    pool.start();
    std::vector<std::future<void>> done;
    for (unsigned i = 0; i < pool.size(); ++i) {
        auto p = std::make_shared<std::promise<void>>();
        done.push_back(p->get_future());
        boost::asio::post(pool.shard(i).ioc(), [&m, p] {
            for (int n = 0; n < 1000; ++n) {
                m.record(ClientRequest::kPublish, n % 2 == 0 ? "" : "unavailable", 1ms);
            }
            p->set_value();
        });
    }
    for (auto& f : done) {
        ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    }
    pool.stop();
    m.record(ClientRequest::kPublish, "", 1ms);  // off the shards
    const auto s = scrape(m);
    EXPECT_EQ(s.requests.at("publish/ok"), 1001);
    EXPECT_EQ(s.requests.at("publish/unavailable"), 1000);
    EXPECT_EQ(s.latency_count.at("publish"), 2001u);
}

TEST(RequestMetrics, EventNamesMapToRequests) {
    EXPECT_EQ(client_request("join"), ClientRequest::kJoin);
    EXPECT_EQ(client_request("refresh"), ClientRequest::kRefresh);
    EXPECT_EQ(client_request("chat"), std::nullopt);
    EXPECT_EQ(client_request(""), std::nullopt);
}

}  // namespace
}  // namespace roomcast::edge
