// Which threading model for the edge: one io_context per core ("shards", every connection owned
// by one thread, broadcasts walk local recipients directly) or one shared io_context with a
// strand per connection (every delivery is a post to the recipient's strand)?
//
// Both variants deliver one shared, already-encoded message to N recipients, each with its own
// small outbound queue, the step every room broadcast repeats. Run:
//   build/bench/micro/dispatch_bench --benchmark_min_time=0.5
// Results and the decision are in docs/design.md.

#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using Message = std::shared_ptr<const std::string>;

struct Recipient {
    std::deque<Message> queue;
    void deliver(const Message& m) {
        queue.push_back(m);
        if (queue.size() > 64) {
            queue.clear();  // stands in for the write that drains it
        }
    }
};

// Shard model: the recipients live on the calling thread; delivery is a loop.
void BM_ShardDirect(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<Recipient> recipients(n);
    auto message = std::make_shared<const std::string>(64, 'x');
    for (auto _ : state) {
        for (auto& r : recipients) {
            r.deliver(message);
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// Strand model: a shared io_context run by two threads; each recipient has a strand and every
// delivery is posted to it (what "a strand per connection" needs for thread safety).
void BM_StrandPerConnection(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    asio::io_context ioc(2);
    auto guard = asio::make_work_guard(ioc);
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&] { ioc.run(); });
    }
    struct Conn {
        explicit Conn(asio::io_context& c) : strand(asio::make_strand(c)) {}
        asio::strand<asio::io_context::executor_type> strand;
        Recipient r;
    };
    std::vector<std::unique_ptr<Conn>> conns;
    for (std::size_t i = 0; i < n; ++i) {
        conns.push_back(std::make_unique<Conn>(ioc));
    }
    auto message = std::make_shared<const std::string>(64, 'x');
    std::atomic<std::size_t> done{0};
    for (auto _ : state) {
        done.store(0);
        for (auto& c : conns) {
            asio::post(c->strand, [&c, message, &done] {
                c->r.deliver(message);
                done.fetch_add(1, std::memory_order_release);
            });
        }
        while (done.load(std::memory_order_acquire) != n) {
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
    guard.reset();
    ioc.stop();
    for (auto& t : threads) {
        t.join();
    }
}

BENCHMARK(BM_ShardDirect)->Arg(100)->Arg(10000);
BENCHMARK(BM_StrandPerConnection)->Arg(100)->Arg(10000)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
