#include "roomcast/transport/timer_list.hpp"

namespace roomcast::transport {

void Timer::arm(TimerList& list) {
    cancel();
    deadline_ = Clock::now() + list.delay();
    list.push_back(*this);
}

void Timer::cancel() noexcept {
    if (list_ != nullptr) {
        list_->unlink(*this);
    }
}

TimerList::TimerList(boost::asio::io_context& ioc, std::chrono::milliseconds delay)
    : wakeup_(ioc), delay_(delay) {}

TimerList::~TimerList() {
    *alive_ = false;
    while (head_ != nullptr) {
        unlink(*head_);
    }
}

void TimerList::push_back(Timer& t) {
    t.list_ = this;
    t.prev_ = tail_;
    t.next_ = nullptr;
    if (tail_ != nullptr) {
        tail_->next_ = &t;
    } else {
        head_ = &t;
    }
    tail_ = &t;
    schedule();
}

void TimerList::unlink(Timer& t) noexcept {
    if (t.prev_ != nullptr) {
        t.prev_->next_ = t.next_;
    } else {
        head_ = t.next_;
    }
    if (t.next_ != nullptr) {
        t.next_->prev_ = t.prev_;
    } else {
        tail_ = t.prev_;
    }
    t.prev_ = nullptr;
    t.next_ = nullptr;
    t.list_ = nullptr;
    // The wakeup stays as it is: when it fires early it finds nothing due and re-arms.
}

void TimerList::schedule() {
    if (head_ == nullptr) {
        return;
    }
    if (waiting_ && wakeup_at_ <= head_->deadline_) {
        return;
    }
    wakeup_at_ = head_->deadline_;
    wakeup_.expires_at(wakeup_at_);  // cancels a pending wait, whose handler then returns
    waiting_ = true;
    wakeup_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
        if (!*alive || ec) {
            return;
        }
        waiting_ = false;
        on_wakeup();
    });
}

void TimerList::on_wakeup() {
    const auto now = Timer::Clock::now();
    // Callbacks may arm, cancel or destroy any timer (including the list's other members), so
    // the head is re-read after every call.
    while (head_ != nullptr && head_->deadline_ <= now) {
        Timer& t = *head_;
        unlink(t);
        t.callback_(t.context_);
        if (!*alive_) {
            return;
        }
    }
    schedule();
}

}  // namespace roomcast::transport
