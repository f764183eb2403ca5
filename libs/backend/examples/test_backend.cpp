// roomcast_test_backend: an application backend written with roomcast::backend, for the e2e
// tests (tests/e2e/test/backend-cpp.test.mjs) and as a complete example. It handles
//   echo      → its arguments
//   add       → the sum of its arguments (bad_request unless all are numbers)
//   slow      → {slept: N} after N ms (its first argument, at most 30 s)
//   whoami    → the caller's user, socket, edge, namespace and rooms, and this replica's name
//   notify    → emits `notice` (its first argument, or {text: "hello"}) to the calling user
//   cursor    → {room, data}: an ephemeral `cursor` event with `data` to the room (no offset)
// a join hook for rooms "cpp-private:*" (users whose id starts with "ok-" only), a publish hook
// for rooms "cpp-mod:*" ("darn" in data.text becomes "****"; "forbidden-word" is refused with
// `forbidden`), and prints every lifecycle event as a JSON line on stdout. Prints "ready" on
// stdout once its subscriptions are in place. Logs go to stderr.
//
//   --nats-url  URL   ROOMCAST_BACKEND_NATS_URL (nats://backend:<password>@host:4222)
//   --queue     NAME  the queue group (default roomcast-backend)
//   --replica   NAME  this process's name in whoami (default test-backend-<pid>), so tests can
//                     see which replica of a queue group answered

#include "roomcast/backend/backend.hpp"
#include "roomcast/core/config.hpp"
#include "roomcast/core/log.hpp"

#include <boost/json.hpp>

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

namespace {

using namespace roomcast::backend;
namespace log = roomcast::core::log;

constexpr std::int64_t kMaxSlowMs = 30'000;

std::mutex stdout_mu;

void print_line(const std::string& line) {
    const std::lock_guard lock(stdout_mu);
    std::cout << line << '\n' << std::flush;
}

boost::json::value rooms_of(const Context& ctx) {
    boost::json::array rooms;
    for (const auto& r : ctx.rooms) {
        rooms.emplace_back(r);
    }
    return rooms;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
    for (auto pos = text.find(from); pos != std::string::npos;
         pos = text.find(from, pos + to.size())) {
        text.replace(pos, from.size(), to);
    }
    return text;
}

void register_handlers(Backend& rc, const std::string& replica) {
    rc.handle("echo",
              [](const Context&, const boost::json::array& args,
                 const std::vector<std::string>& attachments) -> Result {
                  // Binary arguments come back as they came: the placeholders with their
                  // attachments.
                  return Result(args, attachments);
              });
    rc.handle("add", [](const Context&, const boost::json::array& args) -> Result {
        double sum = 0;
        for (const auto& v : args) {
            if (!v.is_number()) {
                return Error{"bad_request", "add takes numbers only"};
            }
            sum += v.to_number<double>();
        }
        return sum;
    });
    rc.handle("slow", [](const Context& ctx, const boost::json::array& args) -> Result {
        if (args.empty() || !args[0].is_number()) {
            return Error{"bad_request", "slow takes a number of milliseconds"};
        }
        const auto ms = std::clamp<std::int64_t>(
            static_cast<std::int64_t>(args[0].to_number<double>()), 0, kMaxSlowMs);
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        (void)ctx;
        return boost::json::object{{"slept", ms}};
    });
    rc.handle("whoami", [replica](const Context& ctx, const boost::json::array&) -> Result {
        return boost::json::object{
            {"user", {{"id", ctx.user_id}, {"name", ctx.user_name}, {"claims", ctx.claims}}},
            {"socket", ctx.socket_id},
            {"edge", ctx.edge},
            {"nsp", ctx.nsp},
            {"rooms", rooms_of(ctx)},
            {"replica", replica}};
    });
    rc.handle("notify", [&rc](const Context& ctx, const boost::json::array& args) -> Result {
        const boost::json::value data =
            args.empty() ? boost::json::value(boost::json::object{{"text", "hello"}}) : args[0];
        if (auto r = rc.to_user(ctx.user_id).emit("notice", data); !r) {
            return r.error();
        }
        return boost::json::object{{"sent", true}};
    });
    rc.handle("cursor", [&rc](const Context&, const boost::json::array& args) -> Result {
        const auto* request = args.empty() ? nullptr : args[0].if_object();
        const auto* room = request ? request->if_contains("room") : nullptr;
        if (room == nullptr || !room->is_string()) {
            return Error{"bad_request", "cursor takes {room, data}"};
        }
        const auto* data = request->if_contains("data");
        if (auto r = rc.to(std::string(room->as_string()))
                         .emit_ephemeral("cursor", data ? *data : boost::json::value());
            !r) {
            return r.error();
        }
        return boost::json::object{{"sent", true}};
    });
    rc.on_join("cpp-private:", [](const Context& ctx, const std::string&) {
        return ctx.user_id.starts_with("ok-")
                   ? JoinDecision::accept()
                   : JoinDecision::deny("forbidden", "only ok-* users may join cpp-private rooms");
    });
    rc.on_publish("cpp-mod:", [](const Context&, const PublishRequest& p) {
        const auto* obj = p.data.if_object();
        const auto* text = obj ? obj->if_contains("text") : nullptr;
        if (text == nullptr || !text->is_string()) {
            return PublishDecision::accept();
        }
        const std::string s(text->as_string());
        if (s.find("forbidden-word") != std::string::npos) {
            return PublishDecision::deny("forbidden", "that word is not allowed here");
        }
        if (s.find("darn") == std::string::npos) {
            return PublishDecision::accept();
        }
        boost::json::object replaced = *obj;
        replaced["text"] = replace_all(s, "darn", "****");
        return PublishDecision::replace(std::move(replaced));
    });
    for (auto kind : {LifecycleKind::kConnect, LifecycleKind::kDisconnect, LifecycleKind::kJoin,
                      LifecycleKind::kLeave, LifecycleKind::kKicked}) {
        rc.on(kind, [](const LifecycleEvent& e) {
            print_line(boost::json::serialize(boost::json::object{{"lifecycle", to_string(e.kind)},
                                                                  {"edge", e.edge},
                                                                  {"at_ms", e.at_ms},
                                                                  {"user", e.user_id},
                                                                  {"name", e.user_name},
                                                                  {"socket", e.socket_id},
                                                                  {"nsp", e.nsp},
                                                                  {"room", e.room},
                                                                  {"reason", e.reason},
                                                                  {"recovered", e.recovered}}));
        });
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string nats_url;
    if (const char* env = std::getenv("ROOMCAST_BACKEND_NATS_URL"); env != nullptr) {
        nats_url = env;
    }
    std::string queue = "roomcast-backend";
    roomcast::core::Config config("roomcast_test_backend",
                                  "An application backend for the e2e tests (roomcast::backend)");
    config.add_string("nats-url", &nats_url,
                      "NATS server URL with the backend role's credentials "
                      "[ROOMCAST_BACKEND_NATS_URL]");
    config.add_string("queue", &queue, "The queue group shared by this backend's replicas");
    std::string replica = "test-backend-" + std::to_string(::getpid());
    config.add_string("replica", &replica, "This replica's name, as whoami reports it");
    config.parse_or_exit(argc, argv);
    log::init("test-backend", log::Level::kInfo);
    if (nats_url.empty()) {
        std::cerr << "roomcast_test_backend: --nats-url or ROOMCAST_BACKEND_NATS_URL is required\n";
        return 2;
    }

    // Blocked before any thread starts, so only sigwait below sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    roomcast::natsbus::Options nats;
    nats.servers = {nats_url};
    nats.name = "roomcast_test_backend";
    Options options;
    options.queue_group = queue;
    options.workers = 8;  // `slow` holds a worker for its whole wait
    auto rc = Backend::connect(nats, options);
    if (!rc) {
        log::error("cannot connect", {{"error", rc.error().message}});
        return 1;
    }
    register_handlers(**rc, replica);
    if (auto started = (*rc)->start(); !started) {
        log::error("cannot subscribe", {{"error", started.error().message}});
        return 1;
    }
    log::info("serving", {{"queue", queue}, {"nats", roomcast::natsbus::redact_urls(nats_url)}});
    print_line("ready");

    int sig = 0;
    sigwait(&signals, &sig);
    log::info("stopping", {{"signal", sig}});
    rc->reset();
    return 0;
}
