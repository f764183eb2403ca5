#pragma once
// A BackendPort for unit tests: records what is sent, keeps each request's `done` until the
// test answers it (answer(), or at once with `auto_reply`), and counts answered() outcomes.
// Single-threaded.

#include "backends/backend_port.hpp"

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace roomcast::edge::backends::testing {

class FakePort final : public BackendPort {
public:
    struct Request {
        Kind kind;
        std::string subject;
        std::string payload;
        std::chrono::milliseconds timeout;
        std::function<void(natsbus::Result<std::string>)> done;
    };
    // Set: every request is answered with it at once.
    std::optional<natsbus::Result<std::string>> auto_reply;
    std::deque<Request> pending;
    std::vector<Request> sent;  // every request (without `done`)
    std::vector<std::pair<std::string, std::string>> published;
    std::map<std::pair<Kind, Result>, int> outcomes;
    bool publish_ok = true;

    void request(Kind kind, std::string subject, std::string payload, std::chrono::milliseconds timeout,
                 std::function<void(natsbus::Result<std::string>)> done) override {
        sent.push_back(Request{kind, subject, payload, timeout, nullptr});
        if (auto_reply) {
            done(*auto_reply);
            return;
        }
        pending.push_back(Request{kind, std::move(subject), std::move(payload), timeout, std::move(done)});
    }
    void answered(Kind kind, Result result) override { ++outcomes[{kind, result}]; }
    bool publish(Kind, std::string_view subject, std::string_view payload) override {
        if (!publish_ok) {
            return false;
        }
        published.emplace_back(std::string(subject), std::string(payload));
        return true;
    }

    // Answers the oldest pending request.
    void answer(natsbus::Result<std::string> reply) {
        auto r = std::move(pending.front());
        pending.pop_front();
        r.done(std::move(reply));
    }
};

}  // namespace roomcast::edge::backends::testing
