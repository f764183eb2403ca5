// roomcastctl: wires the process (argv, environ, stdio, Ctrl-C) to ctl::run().
#include "cli.hpp"

#include <pthread.h>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace {

// Only ROOMCAST_* variables (and HOME, XDG_CONFIG_HOME to find the config file) are read;
// copying just those keeps unrelated secrets out of the process's data structures.
roomcast::ctl::Environment roomcast_environment() {
    roomcast::ctl::Environment env;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const std::size_t equals = text.find('=');
        if (equals == std::string_view::npos) {
            continue;
        }
        const std::string_view name = text.substr(0, equals);
        if (name.starts_with("ROOMCAST_") || name == "HOME" || name == "XDG_CONFIG_HOME") {
            env.emplace(text.substr(0, equals), text.substr(equals + 1));
        }
    }
    return env;
}

}  // namespace

int main(int argc, char** argv) {
    // SIGINT/SIGTERM are taken by one thread with sigwait(), not by a handler: what they do
    // (cancel a gRPC call) is not async-signal-safe. They are blocked before gRPC starts threads
    // so every thread inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    static roomcast::ctl::Cancellation cancellation;
    std::thread([signals] {
        int signal = 0;
        sigwait(&signals, &signal);
        // A running watch stops cleanly; anything else just ends, as Ctrl-C would end it.
        if (!cancellation.cancel()) {
            std::_Exit(128 + signal);
        }
        // A second Ctrl-C does not wait for the first to take effect.
        sigwait(&signals, &signal);
        std::_Exit(128 + signal);
    }).detach();

    const std::vector<std::string> args(argv + 1, argv + argc);
    roomcast::ctl::Io io{std::cin, std::cout, std::cerr, &cancellation};
    const int code = roomcast::ctl::run(args, roomcast_environment(), io);
    std::cout.flush();
    return code;
}
