#pragma once
// roomcastctl as a function: parse, call, print. main() passes the process's streams,
// environment and Ctrl-C; tests pass string streams, a made-up environment and their own
// cancellation, and run it against in-process fake servers.

#include "command_line.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <span>
#include <string>

namespace roomcast::ctl {

// Ctrl-C for a command that runs until stopped (presence watch). One-shot: once cancelled it
// stays cancelled. Thread-safe: cancel() comes from a signal-handling thread while the command's
// thread registers and clears its handler.
class Cancellation {
public:
    // Runs the registered handler (at once if cancel() already happened). Returns false when no
    // handler was registered, so the caller knows nothing will stop by itself (main then exits).
    bool cancel();
    bool cancelled() const;

    // While alive, cancel() calls `handler` (from cancel()'s thread). The destructor waits for a
    // handler call in progress, so what the handler touches may die right after the guard.
    class Registration {
    public:
        Registration(Cancellation* owner, std::function<void()> handler);
        ~Registration();
        Registration(const Registration&) = delete;
        Registration& operator=(const Registration&) = delete;

    private:
        Cancellation* owner_;
    };

private:
    mutable std::mutex mutex_;
    std::function<void()> handler_;
    bool cancelled_ = false;
};

struct Io {
    std::istream& in;
    std::ostream& out;
    std::ostream& err;
    // Null: nothing cancels (a watch then runs until the server ends the stream).
    Cancellation* cancellation = nullptr;
    // When a watched event arrived; injectable so tests get stable lines.
    std::function<std::chrono::system_clock::time_point()> now = std::chrono::system_clock::now;
};

// Runs one command line (`args` without the program name). Returns the exit status: kExitOk,
// kExitUsage (the problem and a --help hint on io.err), or the class of the error status
// (exit_code_for_status; the error is on io.err as "roomcastctl: <method>: <CODE>: <message>").
int run(std::span<const std::string> args, const Environment& env, Io& io);

}  // namespace roomcast::ctl
