#pragma once
// A BackendPort for unit tests: records requests (with their `done`, which the test calls as
// the backend or NATS would), publishes and answered() results. Single-threaded.

#include "backends/backend_port.hpp"

#include <vector>

namespace roomcast::edge::backends::testing {

class FakeBackend final : public BackendPort {
public:
    struct Request {
        Kind kind;
        std::string subject;
        std::string payload;
        std::chrono::milliseconds timeout;
        std::function<void(natsbus::Result<std::string>)> done;
    };
    struct Publish {
        Kind kind;
        std::string subject;
        std::string payload;
    };

    void request(Kind kind, std::string subject, std::string payload, std::chrono::milliseconds timeout,
                 std::function<void(natsbus::Result<std::string>)> done) override {
        requests.push_back(Request{kind, std::move(subject), std::move(payload), timeout, std::move(done)});
    }
    void answered(Kind, Result result) override { answered_results.push_back(result); }
    bool publish(Kind kind, std::string_view subject, std::string_view payload) override {
        publishes.push_back(Publish{kind, std::string(subject), std::string(payload)});
        return publish_ok;
    }

    std::vector<Request> requests;
    std::vector<Publish> publishes;
    std::vector<Result> answered_results;
    bool publish_ok = true;
};

}  // namespace roomcast::edge::backends::testing
