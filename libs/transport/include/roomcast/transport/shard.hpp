#pragma once
// The edge's threading model: one io_context per core ("shard"), each run by exactly one
// thread. A connection, its Engine.IO session, its Socket.IO sockets and the shard's slice of
// every room index live on one shard and are only touched by that thread, so the per-message
// path takes no lock. Work for another shard is posted to its io_context (a broadcast is
// encoded once and the shared buffer posted to every shard).
//
// Thread-safety: Shard's accessors are for its own thread, except ioc() (post to it from
// anywhere) and index().

#include "roomcast/transport/timer_list.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace roomcast::transport {

// A counter written by one thread (its shard) and read by any: increments are a plain load and
// store, no locked instruction, and readers see a recent value.
class LocalCounter {
public:
    void add(std::uint64_t n = 1) noexcept {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void sub(std::uint64_t n = 1) noexcept {
        value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

class Shard {
public:
    Shard(unsigned index, unsigned count);
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;

    unsigned index() const noexcept { return index_; }
    boost::asio::io_context& ioc() noexcept { return ioc_; }

    // A TimerList for `delay`, created on first use and owned by the shard.
    TimerList& timers(std::chrono::milliseconds delay);

    // Read buffer shared by every connection of this shard: a connection reads into it and
    // keeps only the bytes it cannot parse yet, so idle connections hold no read buffer.
    std::span<char> scratch() noexcept { return {scratch_.get(), kScratchSize}; }
    static constexpr std::size_t kScratchSize = 64 * 1024;

    // Where a WebSocket write that is tried at once is built (WsConnection): most complete
    // synchronously, so a connection keeps no frame headers or buffer list between writes; the
    // rest of one that does not is copied to the connection.
    std::vector<std::uint8_t>& write_headers() noexcept { return write_headers_; }
    std::vector<boost::asio::const_buffer>& write_buffers() noexcept { return write_buffers_; }

    // Unpredictable bytes (getrandom, refilled in blocks) for session ids.
    void random_bytes(std::span<std::uint8_t> out);
    // A random id of `length` characters from the URL-safe base64 alphabet.
    std::string random_id(std::size_t length);

    // The shard running on the calling thread, or nullptr on other threads.
    static Shard* current() noexcept;

private:
    friend class ShardPool;
    unsigned index_;
    boost::asio::io_context ioc_;
    std::map<std::chrono::milliseconds, std::unique_ptr<TimerList>> timer_lists_;
    std::unique_ptr<char[]> scratch_;
    std::vector<std::uint8_t> write_headers_;
    std::vector<boost::asio::const_buffer> write_buffers_;
    std::vector<std::uint8_t> random_pool_;
    std::size_t random_used_ = 0;
};

class ShardPool {
public:
    explicit ShardPool(unsigned count);
    ~ShardPool();
    ShardPool(const ShardPool&) = delete;
    ShardPool& operator=(const ShardPool&) = delete;

    unsigned size() const noexcept { return static_cast<unsigned>(shards_.size()); }
    Shard& shard(unsigned i) noexcept { return *shards_[i]; }

    // Starts one thread per shard. Each io_context runs until stop().
    void start();
    // Stops every io_context (pending handlers are abandoned) and joins the threads.
    void stop();
    // Blocks until every shard thread has exited (after stop() from elsewhere).
    void join();

private:
    std::vector<std::unique_ptr<Shard>> shards_;
    std::vector<
        std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>>
        guards_;
    std::vector<std::thread> threads_;
};

// Default number of shards: one per available core.
unsigned default_shard_count() noexcept;

}  // namespace roomcast::transport
