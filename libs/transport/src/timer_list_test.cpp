#include "roomcast/transport/timer_list.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace roomcast::transport {
namespace {

using namespace std::chrono_literals;

struct Probe {
    std::vector<int>* log;
    int id;
    static void fire(void* self) {
        auto* p = static_cast<Probe*>(self);
        p->log->push_back(p->id);
    }
};

TEST(TimerList, FiresInArmingOrderAfterTheDelay) {
    boost::asio::io_context ioc;
    TimerList list(ioc, 20ms);
    std::vector<int> log;
    Probe a{&log, 1}, b{&log, 2}, c{&log, 3};
    Timer ta(&Probe::fire, &a), tb(&Probe::fire, &b), tc(&Probe::fire, &c);
    const auto start = Timer::Clock::now();
    ta.arm(list);
    tb.arm(list);
    tc.arm(list);
    ioc.run_for(200ms);
    EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
    EXPECT_GE(Timer::Clock::now() - start, 20ms);
    EXPECT_FALSE(ta.armed());
    EXPECT_TRUE(list.empty());
}

TEST(TimerList, CancelAndRearmMoveTheDeadline) {
    boost::asio::io_context ioc;
    TimerList list(ioc, 30ms);
    std::vector<int> log;
    Probe a{&log, 1}, b{&log, 2};
    Timer ta(&Probe::fire, &a), tb(&Probe::fire, &b);
    ta.arm(list);
    tb.arm(list);
    tb.cancel();
    ioc.run_for(10ms);
    ta.arm(list);  // re-armed: now after where b was
    tb.arm(list);
    ioc.run_for(200ms);
    EXPECT_EQ(log, (std::vector<int>{1, 2}));
}

TEST(TimerList, CallbackMayDestroyOtherTimers) {
    boost::asio::io_context ioc;
    TimerList list(ioc, 5ms);
    std::vector<int> log;
    auto second = std::make_unique<Timer>(&Probe::fire, nullptr);
    struct Killer {
        std::unique_ptr<Timer>* victim;
        std::vector<int>* log;
        static void fire(void* self) {
            auto* k = static_cast<Killer*>(self);
            k->victim->reset();  // unlinks itself in its destructor
            k->log->push_back(0);
        }
    } killer{&second, &log};
    Timer first(&Killer::fire, &killer);
    first.arm(list);
    second->arm(list);
    ioc.run_for(100ms);
    EXPECT_EQ(log, (std::vector<int>{0}));
    EXPECT_TRUE(list.empty());
}

TEST(TimerList, DestroyedTimerNeverFires) {
    boost::asio::io_context ioc;
    TimerList list(ioc, 5ms);
    std::vector<int> log;
    Probe a{&log, 1};
    {
        Timer ta(&Probe::fire, &a);
        ta.arm(list);
    }
    ioc.run_for(50ms);
    EXPECT_TRUE(log.empty());
}

}  // namespace
}  // namespace roomcast::transport
