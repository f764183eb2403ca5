#pragma once
// Test support: a real nats-server (JetStream on) in a child process, and bounded waits.
// Not thread-safe: one test thread drives a NatsServer.

#include "roomcast/natsbus/natsbus.hpp"

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace roomcast::natsbus::testing {

using namespace std::chrono_literals;

class NatsServer {
public:
    // Starts `nats-server -js` on 127.0.0.1 with a free port and a fresh store directory and
    // waits (bounded) until it accepts connections; nullptr when it does not come up. A
    // non-empty `config` (nats-server configuration text: users, permissions, TLS) is written
    // to the directory and given with -c; the flags above override its listen address.
    static std::unique_ptr<NatsServer> start(const std::string& config = {});
    ~NatsServer();  // kills the process by pid, reaps it, removes the store directory
    NatsServer(const NatsServer&) = delete;
    NatsServer& operator=(const NatsServer&) = delete;

    std::string url() const;
    // SIGKILL and reap: clients see the connection drop at once.
    void kill();
    // Starts again on the same port and store directory; false when it does not come up.
    bool restart();

private:
    NatsServer(int port, std::string dir) : port_(port), dir_(std::move(dir)) {}
    bool spawn();

    int port_;
    std::string dir_;
    std::string config_path_;  // empty: no -c
    pid_t pid_ = -1;
};

// The server shared by every suite of the binary (started by a gtest Environment).
NatsServer& shared_server();

// Options for a test connection to `url`: short reconnect waits, small pool.
Options test_options(const std::string& url);
// Connects or fails the current test (returns nullptr then).
std::unique_ptr<Connection> connect_or_fail(const Options& options, StateCallback on_state = {});

// A name unique to the running test, usable as a subject token or stream/bucket name.
std::string unique_name(const std::string& prefix);

// Polls `done` every few milliseconds until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s);

// Collects values from callbacks on library threads; every wait is bounded.
template <class T>
class Collector {
public:
    void push(T value) {
        std::lock_guard lock(mu_);
        items_.push_back(std::move(value));
        // Under the lock: a waiter that sees the count may destroy the collector on return.
        cv_.notify_all();
    }
    bool wait_for(std::size_t count, std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return items_.size() >= count; });
    }
    std::vector<T> items() const {
        std::lock_guard lock(mu_);
        return items_;
    }
    std::size_t size() const {
        std::lock_guard lock(mu_);
        return items_.size();
    }

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<T> items_;
};

}  // namespace roomcast::natsbus::testing
