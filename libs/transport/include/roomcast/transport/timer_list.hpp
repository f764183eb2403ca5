#pragma once
// Cheap timers for fixed delays (ping interval, ping timeout, connect timeout, idle timeouts).
//
// Every timer in a TimerList has the same delay, so a timer armed later always expires later:
// the list is a FIFO and arming, re-arming and cancelling are O(1) pointer updates, with one
// asio::steady_timer per list instead of one per connection. A connection embeds its Timer
// objects (two pointers, a deadline and a callback), so a hundred thousand idle connections
// cost no timer-queue entries and no allocations.
//
// Thread-safety: a TimerList and its Timers belong to one shard thread.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

namespace roomcast::transport {

class TimerList;

class Timer {
public:
    using Clock = std::chrono::steady_clock;
    using Callback = void (*)(void* context);

    Timer(Callback callback, void* context) noexcept : callback_(callback), context_(context) {}
    ~Timer() { cancel(); }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    // (Re)arms the timer to fire after list.delay(). A timer is in at most one list.
    void arm(TimerList& list);
    void cancel() noexcept;
    bool armed() const noexcept { return list_ != nullptr; }
    Clock::time_point deadline() const noexcept { return deadline_; }

private:
    friend class TimerList;
    Callback callback_;
    void* context_;
    TimerList* list_ = nullptr;
    Timer* prev_ = nullptr;
    Timer* next_ = nullptr;
    Clock::time_point deadline_{};
};

class TimerList {
public:
    TimerList(boost::asio::io_context& ioc, std::chrono::milliseconds delay);
    ~TimerList();
    TimerList(const TimerList&) = delete;
    TimerList& operator=(const TimerList&) = delete;

    std::chrono::milliseconds delay() const noexcept { return delay_; }
    bool empty() const noexcept { return head_ == nullptr; }

private:
    friend class Timer;
    void push_back(Timer& t);
    void unlink(Timer& t) noexcept;
    void schedule();
    void on_wakeup();

    boost::asio::steady_timer wakeup_;
    std::chrono::milliseconds delay_;
    Timer* head_ = nullptr;
    Timer* tail_ = nullptr;
    bool waiting_ = false;
    // The deadline wakeup_ is set for while waiting_ (avoids re-arming it for every push).
    Timer::Clock::time_point wakeup_at_{};
    // Shared with pending waits so a wakeup after destruction is ignored.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// A Timer made on its first arm(), for timers most owners never arm (the quiet before a
// close, an upgrade's deadline): 8 bytes while unused instead of a Timer's 48, which matters
// per connection. `Fire` is called with the context given to arm().
template <Timer::Callback Fire>
class LazyTimer {
public:
    void arm(TimerList& list, void* context) {
        if (!timer_) {
            timer_ = std::make_unique<Timer>(Fire, context);
        }
        timer_->arm(list);
    }
    void cancel() noexcept {
        if (timer_) {
            timer_->cancel();
        }
    }
    bool armed() const noexcept { return timer_ && timer_->armed(); }

private:
    std::unique_ptr<Timer> timer_;
};

}  // namespace roomcast::transport
