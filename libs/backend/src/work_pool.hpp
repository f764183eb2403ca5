#pragma once
// A fixed set of threads running posted work, with a bound on the work waiting or running.
// Thread-safe. try_post never blocks: NATS' delivery thread posts here and must not wait.
// stop() drops what has not started, waits for what runs, and is idempotent; the destructor
// calls it. Work must not call stop() (it would wait for itself).

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace roomcast::backend::detail {

class WorkPool {
public:
    WorkPool(unsigned threads, std::size_t capacity);
    ~WorkPool();
    WorkPool(const WorkPool&) = delete;
    WorkPool& operator=(const WorkPool&) = delete;

    // False when `capacity` pieces of work are already waiting or running, or after stop().
    bool try_post(std::function<void()> work);
    void stop();

private:
    void run();

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> queue_;
    std::size_t in_flight_ = 0;  // queued + running
    std::size_t capacity_;
    bool stopped_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace roomcast::backend::detail
