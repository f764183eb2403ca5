#include "work_pool.hpp"

#include <algorithm>

namespace roomcast::backend::detail {

WorkPool::WorkPool(unsigned threads, std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)) {
    threads = std::max(threads, 1u);
    threads_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) {
        threads_.emplace_back([this] { run(); });
    }
}

WorkPool::~WorkPool() {
    stop();
}

bool WorkPool::try_post(std::function<void()> work) {
    {
        std::lock_guard lock(mu_);
        if (stopped_ || in_flight_ >= capacity_) {
            return false;
        }
        ++in_flight_;
        queue_.push_back(std::move(work));
    }
    cv_.notify_one();
    return true;
}

void WorkPool::stop() {
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(mu_);
        stopped_ = true;
        in_flight_ -= queue_.size();
        queue_.clear();
        threads.swap(threads_);
    }
    cv_.notify_all();
    for (auto& t : threads) {
        t.join();
    }
}

void WorkPool::run() {
    for (;;) {
        std::function<void()> work;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
            if (stopped_) {
                return;
            }
            work = std::move(queue_.front());
            queue_.pop_front();
        }
        work();
        // Released after the work (and what it captured) is gone, so the bound covers memory
        // held by running work too.
        work = nullptr;
        std::lock_guard lock(mu_);
        --in_flight_;
    }
}

}  // namespace roomcast::backend::detail
