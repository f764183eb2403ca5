#include "roomcast/transport/shard.hpp"

#include <sys/random.h>

#include <cerrno>
#include <stdexcept>

namespace roomcast::transport {

namespace {
thread_local Shard* t_current = nullptr;
constexpr std::size_t kRandomBlock = 4096;
constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}  // namespace

// A concurrency hint of 1 lets Asio skip scheduler locking meant for many threads per
// io_context, while posting from other threads stays safe.
Shard::Shard(unsigned index, unsigned /*count*/)
    : index_(index), ioc_(1), scratch_(std::make_unique<char[]>(kScratchSize)) {}

TimerList& Shard::timers(std::chrono::milliseconds delay) {
    auto& slot = timer_lists_[delay];
    if (!slot) {
        slot = std::make_unique<TimerList>(ioc_, delay);
    }
    return *slot;
}

void Shard::random_bytes(std::span<std::uint8_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
        if (random_used_ == random_pool_.size()) {
            random_pool_.resize(kRandomBlock);
            std::size_t filled = 0;
            while (filled < kRandomBlock) {
                const ssize_t n =
                    ::getrandom(random_pool_.data() + filled, kRandomBlock - filled, 0);
                if (n < 0) {
                    if (errno == EINTR) {
                        continue;
                    }
                    throw std::runtime_error("getrandom failed");
                }
                filled += static_cast<std::size_t>(n);
            }
            random_used_ = 0;
        }
        const std::size_t take = std::min(out.size() - done, random_pool_.size() - random_used_);
        std::copy_n(random_pool_.data() + random_used_, take, out.data() + done);
        // Used bytes are wiped so a memory disclosure cannot reveal issued ids.
        std::fill_n(random_pool_.data() + random_used_, take, std::uint8_t{0});
        random_used_ += take;
        done += take;
    }
}

std::string Shard::random_id(std::size_t length) {
    std::string id(length, '\0');
    std::vector<std::uint8_t> bytes(length);
    random_bytes(bytes);
    for (std::size_t i = 0; i < length; ++i) {
        id[i] = kUrlAlphabet[bytes[i] & 63];
    }
    return id;
}

Shard* Shard::current() noexcept {
    return t_current;
}

ShardPool::ShardPool(unsigned count) {
    if (count == 0 || count > 64) {
        throw std::invalid_argument("shard count must be 1..64");
    }
    for (unsigned i = 0; i < count; ++i) {
        shards_.push_back(std::make_unique<Shard>(i, count));
    }
}

ShardPool::~ShardPool() {
    stop();
}

void ShardPool::start() {
    for (auto& s : shards_) {
        guards_.push_back(std::make_unique<
                          boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
            s->ioc().get_executor()));
    }
    for (auto& s : shards_) {
        Shard* shard = s.get();
        threads_.emplace_back([shard] {
            t_current = shard;
            shard->ioc().run();
            t_current = nullptr;
        });
    }
}

void ShardPool::stop() {
    guards_.clear();
    for (auto& s : shards_) {
        s->ioc().stop();
    }
    join();
}

void ShardPool::join() {
    for (auto& t : threads_) {
        if (t.joinable() && t.get_id() != std::this_thread::get_id()) {
            t.join();
        }
    }
    threads_.clear();
}

unsigned default_shard_count() noexcept {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : std::min(n, 64U);
}

}  // namespace roomcast::transport
