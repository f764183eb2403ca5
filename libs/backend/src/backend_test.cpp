// Backend against a real nats-server, with the test playing the edge: raw CustomEvent and hook
// requests, lifecycle batches, and subscribers that decode what the backend emits.
#include "roomcast/backend/backend.hpp"

#include "roomcast/backend/v1/backend.pb.h"
#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/clock.hpp"
#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

namespace roomcast::backend {
namespace {

using namespace std::chrono_literals;
using natsbus::testing::Collector;
using natsbus::testing::connect_or_fail;
using natsbus::testing::shared_server;
using natsbus::testing::test_options;
using natsbus::testing::unique_name;
namespace pb = roomcast::backend::v1;

pb::Client client(std::string user = "alice") {
    pb::Client c;
    c.set_user_id(user);
    c.set_user_name("Alice");
    c.set_claims_json(R"({"role":"admin"})");
    c.set_socket_id("sock-1");
    c.set_edge_id("edge-a");
    c.set_namespace_("/");
    c.add_rooms("lobby");
    c.set_remote_address("10.0.0.7");
    return c;
}

std::int64_t in_ms(std::int64_t ms) {
    return core::unix_ms() + ms;
}

class BackendTest : public ::testing::Test {
protected:
    void SetUp() override {
        edge_ = connect_or_fail(test_options(shared_server().url()));
        backend_conn_ = connect_or_fail(test_options(shared_server().url()));
        ASSERT_TRUE(edge_ && backend_conn_);
        options_.queue_group = unique_name("q");
    }

    Backend& backend() {
        if (!backend_) {
            backend_ = std::make_unique<Backend>(*backend_conn_, options_);
        }
        return *backend_;
    }

    void start() {
        auto r = backend().start();
        ASSERT_TRUE(r) << r.error().code << ": " << r.error().message;
    }

    pb::CustomEventReply call(std::string_view nsp, std::string_view event, std::string args_json,
                              std::vector<std::string> attachments = {}) {
        pb::CustomEvent request;
        *request.mutable_client() = client();
        request.mutable_client()->set_namespace_(std::string(nsp));
        request.set_event(std::string(event));
        request.set_args_json(std::move(args_json));
        for (auto& a : attachments) {
            request.add_attachments(a);
        }
        request.set_deadline_ms(in_ms(5000));
        auto reply =
            edge_->request(contract::rpc_subject(nsp, event), request.SerializeAsString(), 5s);
        pb::CustomEventReply out;
        EXPECT_TRUE(reply) << reply.error().message();
        if (reply) {
            EXPECT_TRUE(out.ParseFromString(reply->data));
        }
        return out;
    }

    pb::JoinHookReply join(std::string room, std::string user = "alice") {
        pb::JoinHook request;
        *request.mutable_client() = client(std::move(user));
        request.set_room(std::move(room));
        request.set_deadline_ms(in_ms(5000));
        auto reply = edge_->request(contract::kHookJoinSubject, request.SerializeAsString(), 5s);
        pb::JoinHookReply out;
        EXPECT_TRUE(reply) << reply.error().message();
        if (reply) {
            EXPECT_TRUE(out.ParseFromString(reply->data));
        }
        return out;
    }

    pb::PublishHookReply publish(std::string room, std::string data_json) {
        pb::PublishHook request;
        *request.mutable_client() = client();
        request.set_room(std::move(room));
        request.set_event("message");
        request.set_data_json(std::move(data_json));
        request.set_deadline_ms(in_ms(5000));
        auto reply = edge_->request(contract::kHookPublishSubject, request.SerializeAsString(), 5s);
        pb::PublishHookReply out;
        EXPECT_TRUE(reply) << reply.error().message();
        if (reply) {
            EXPECT_TRUE(out.ParseFromString(reply->data));
        }
        return out;
    }

    std::unique_ptr<natsbus::Connection> edge_;
    std::unique_ptr<natsbus::Connection> backend_conn_;
    Options options_;
    std::unique_ptr<Backend> backend_;  // destroyed before the connections
};

TEST_F(BackendTest, CustomEventGetsTheClientAndReturnsItsResult) {
    Collector<Context> seen;
    const std::string event = unique_name("echo");
    backend().handle(event, [&](const Context& ctx, const boost::json::array& args) {
        seen.push(ctx);
        return args;
    });
    start();
    const auto reply = call("/", event, R"([1,"two",{"three":3}])");
    EXPECT_TRUE(reply.ok());
    EXPECT_EQ(reply.result_json(), R"([1,"two",{"three":3}])");
    ASSERT_TRUE(seen.wait_for(1));
    const Context ctx = seen.items().at(0);
    EXPECT_EQ(ctx.user_id, "alice");
    EXPECT_EQ(ctx.user_name, "Alice");
    EXPECT_EQ(ctx.claims.at("role"), "admin");
    EXPECT_EQ(ctx.socket_id, "sock-1");
    EXPECT_EQ(ctx.edge, "edge-a");
    EXPECT_EQ(ctx.nsp, "/");
    EXPECT_EQ(ctx.rooms, std::vector<std::string>{"lobby"});
    EXPECT_EQ(ctx.address, "10.0.0.7");
    EXPECT_EQ(ctx.event, event);
    EXPECT_TRUE(ctx.expects_reply());
}

TEST_F(BackendTest, ErrorsAndExceptionsBecomeErrorReplies) {
    const std::string failing = unique_name("fail");
    const std::string throwing = unique_name("throw");
    const std::string empty_code = unique_name("empty");
    backend().handle(failing, [](const Context&, const boost::json::array&) -> Result {
        return Error{"bad_request", "numbers only"};
    });
    backend().handle(throwing, [](const Context&, const boost::json::array&) -> Result {
        throw std::runtime_error("boom");
    });
    backend().handle(empty_code, [](const Context&, const boost::json::array&) -> Result {
        return Error{"", "no code"};
    });
    start();
    auto reply = call("/", failing, "[]");
    EXPECT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code(), "bad_request");
    EXPECT_EQ(reply.error().message(), "numbers only");
    reply = call("/", throwing, "[]");
    EXPECT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code(), "internal");
    EXPECT_EQ(reply.error().message().find("boom"), std::string::npos) << "no internals leak";
    reply = call("/", empty_code, "[]");
    EXPECT_EQ(reply.error().code(), "internal");
    EXPECT_EQ(backend().stats().handler_errors, 1u);
}

TEST_F(BackendTest, ArgumentsThatAreNotAnArrayAreABadRequest) {
    const std::string event = unique_name("args");
    backend().handle(event, [](const Context&, const boost::json::array&) { return 1; });
    start();
    const auto reply = call("/", event, R"({"not":"an array"})");
    EXPECT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code(), "bad_request");
    EXPECT_TRUE(call("/", event, "").ok()) << "no arguments is an empty array";
}

TEST_F(BackendTest, BinaryAttachmentsGoBothWays) {
    const std::string event = unique_name("bin");
    backend().handle(event,
                     [](const Context&, const boost::json::array& args,
                        const std::vector<std::string>& attachments) -> Result {
                         std::string reversed(attachments.at(0).rbegin(), attachments.at(0).rend());
                         return Result(boost::json::object{{"echo", args.at(0)}}, {reversed});
                     });
    start();
    const std::string bytes("\x00\x01\xff", 3);
    const auto reply = call("/", event, R"([{"_placeholder":true,"num":0}])", {bytes});
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply.result_json(), R"({"echo":{"_placeholder":true,"num":0}})");
    ASSERT_EQ(reply.attachments_size(), 1);
    EXPECT_EQ(reply.attachments(0), std::string("\xff\x01\x00", 3));
}

TEST_F(BackendTest, FireAndForgetRunsTheHandlerWithoutAReply) {
    Collector<Context> seen;
    const std::string event = unique_name("ff");
    backend().handle(event, [&](const Context& ctx, const boost::json::array&) {
        seen.push(ctx);
        return nullptr;
    });
    start();
    pb::CustomEvent request;
    *request.mutable_client() = client();
    request.set_event(event);
    request.set_args_json("[]");
    ASSERT_TRUE(edge_->publish(contract::rpc_subject("/", event), request.SerializeAsString()));
    ASSERT_TRUE(seen.wait_for(1));
    EXPECT_FALSE(seen.items().at(0).expects_reply());
}

TEST_F(BackendTest, NamespacesHaveTheirOwnSubjects) {
    const std::string event = unique_name("ban");
    backend().of("/admin").handle(event, [](const Context& ctx, const boost::json::array&) {
        return boost::json::value(ctx.nsp);
    });
    start();
    const auto reply = call("/admin", event, "[]");
    EXPECT_TRUE(reply.ok());
    EXPECT_EQ(reply.result_json(), R"("/admin")");
    pb::CustomEvent request;
    request.set_event(event);
    request.set_deadline_ms(in_ms(1000));
    const auto on_root =
        edge_->request(contract::rpc_subject("/", event), request.SerializeAsString(), 1s);
    ASSERT_FALSE(on_root);
    EXPECT_EQ(on_root.error(), natsbus::make_error_code(natsbus::Errc::kNoResponders));
}

TEST_F(BackendTest, RegistrationRulesAreEnforced) {
    EXPECT_THROW(
        backend().handle("join", [](const Context&, const boost::json::array&) { return 1; }),
        std::invalid_argument);
    EXPECT_THROW(backend().handle("", [](const Context&, const boost::json::array&) { return 1; }),
                 std::invalid_argument);
    // On another namespace only Socket.IO's reserved names are taken.
    EXPECT_NO_THROW(backend().of("/x").handle(
        "join", [](const Context&, const boost::json::array&) { return 1; }));
    EXPECT_THROW(backend().of("/x").handle(
                     "disconnect", [](const Context&, const boost::json::array&) { return 1; }),
                 std::invalid_argument);
    backend().handle("once", [](const Context&, const boost::json::array&) { return 1; });
    EXPECT_THROW(
        backend().handle("once", [](const Context&, const boost::json::array&) { return 1; }),
        std::logic_error);
    start();
    EXPECT_THROW(
        backend().handle("late", [](const Context&, const boost::json::array&) { return 1; }),
        std::logic_error);
}

TEST_F(BackendTest, FullPoolAnswersUnavailableAtOnce) {
    options_.workers = 1;
    options_.max_in_flight = 1;
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    Collector<int> entered;
    const std::string event = unique_name("block");
    backend().handle(event, [&](const Context&, const boost::json::array&) {
        entered.push(1);
        std::unique_lock lock(mu);
        cv.wait_for(lock, 10s, [&] { return release; });
        return 1;
    });
    start();
    pb::CustomEvent request;
    request.set_event(event);
    request.set_deadline_ms(in_ms(10000));
    Collector<natsbus::Result<natsbus::Message>> first;
    edge_->request_async(contract::rpc_subject("/", event), request.SerializeAsString(), 10s,
                         [&](natsbus::Result<natsbus::Message> r) { first.push(std::move(r)); });
    ASSERT_TRUE(entered.wait_for(1));
    const auto second = call("/", event, "[]");
    EXPECT_FALSE(second.ok());
    EXPECT_EQ(second.error().code(), "unavailable");
    EXPECT_EQ(backend().stats().overloaded, 1u);
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    ASSERT_TRUE(first.wait_for(1, 10s));
    pb::CustomEventReply reply;
    ASSERT_TRUE(first.items().at(0));
    ASSERT_TRUE(reply.ParseFromString(first.items().at(0)->data));
    EXPECT_TRUE(reply.ok());
}

TEST_F(BackendTest, ExpiredRequestsAreDroppedUnanswered) {
    std::atomic<int> calls{0};
    const std::string event = unique_name("late");
    backend().handle(event, [&](const Context&, const boost::json::array&) { return ++calls; });
    start();
    pb::CustomEvent request;
    request.set_event(event);
    request.set_deadline_ms(core::unix_ms() - 1);
    const auto reply =
        edge_->request(contract::rpc_subject("/", event), request.SerializeAsString(), 300ms);
    ASSERT_FALSE(reply);
    EXPECT_EQ(reply.error(), natsbus::make_error_code(natsbus::Errc::kTimeout));
    EXPECT_EQ(calls.load(), 0);
    EXPECT_EQ(backend().stats().expired, 1u);
}

TEST_F(BackendTest, JoinHookLongestPrefixWinsAndUnmatchedRoomsAreAllowed) {
    backend().on_join("team:", [](const Context& ctx, const std::string&) {
        return ctx.user_id.starts_with("staff-") ? JoinDecision::accept()
                                                 : JoinDecision::deny("forbidden", "staff only");
    });
    backend().on_join("team:open-",
                      [](const Context&, const std::string&) { return JoinDecision::accept(); });
    backend().on_join("team:void-",
                      [](const Context&, const std::string&) { return JoinDecision::deny(""); });
    start();
    EXPECT_TRUE(join("team:1", "staff-bob").allow());
    auto reply = join("team:1", "alice");
    EXPECT_FALSE(reply.allow());
    EXPECT_EQ(reply.error().code(), "forbidden");
    EXPECT_EQ(reply.error().message(), "staff only");
    EXPECT_TRUE(join("team:open-1", "alice").allow());
    reply = join("team:void-1");
    EXPECT_FALSE(reply.allow());
    EXPECT_EQ(reply.error().code(), "forbidden") << "an empty code is sent as forbidden";
    EXPECT_TRUE(join("lobby", "alice").allow());
}

TEST_F(BackendTest, PublishHookAllowsDeniesAndReplaces) {
    backend().on_publish("mod:", [](const Context&, const PublishRequest& p) {
        const auto& text = p.data.as_object().at("text").as_string();
        if (text == "bad") {
            return PublishDecision::deny("forbidden", "no");
        }
        if (text == "edit") {
            return PublishDecision::replace(
                boost::json::object{{"text", "edited"}, {"room", p.room}});
        }
        return PublishDecision::accept();
    });
    backend().on_publish("mod:throw", [](const Context&, const PublishRequest&) -> PublishDecision {
        throw std::runtime_error("x");
    });
    start();
    auto reply = publish("mod:1", R"({"text":"fine"})");
    EXPECT_TRUE(reply.allow());
    EXPECT_FALSE(reply.replace());
    reply = publish("mod:1", R"({"text":"bad"})");
    EXPECT_FALSE(reply.allow());
    EXPECT_EQ(reply.error().code(), "forbidden");
    reply = publish("mod:1", R"({"text":"edit"})");
    EXPECT_TRUE(reply.allow());
    EXPECT_TRUE(reply.replace());
    EXPECT_EQ(reply.data_json(), R"({"text":"edited","room":"mod:1"})");
    reply = publish("mod:throw", R"({"text":"fine"})");
    EXPECT_FALSE(reply.allow());
    EXPECT_EQ(reply.error().code(), "internal");
    reply = publish("other", R"({"text":"bad"})");
    EXPECT_TRUE(reply.allow());
}

TEST_F(BackendTest, ConnectHookMapsACredentialToAUser) {
    backend().on_connect([](const ConnectRequest& req) {
        if (req.header("cookie") == "sid=42") {
            return ConnectDecision::accept("user-42", "Forty-Two", {{"plan", "pro"}});
        }
        if (req.auth.contains("ticket")) {
            return ConnectDecision::deny("forbidden", "bad ticket");
        }
        return ConnectDecision::deny();
    });
    start();
    auto ask = [&](std::string auth, std::string cookie) {
        pb::ConnectHook request;
        request.set_namespace_("/");
        request.set_auth_json(std::move(auth));
        auto* h = request.add_headers();
        h->set_name("cookie");
        h->set_value(std::move(cookie));
        request.set_deadline_ms(in_ms(5000));
        auto reply = edge_->request(contract::kHookConnectSubject, request.SerializeAsString(), 5s);
        pb::ConnectHookReply out;
        EXPECT_TRUE(reply && out.ParseFromString(reply->data));
        return out;
    };
    auto reply = ask("{}", "sid=42");
    EXPECT_TRUE(reply.allow());
    EXPECT_EQ(reply.user_id(), "user-42");
    EXPECT_EQ(reply.user_name(), "Forty-Two");
    EXPECT_EQ(reply.claims_json(), R"({"plan":"pro"})");
    reply = ask(R"({"ticket":"x"})", "");
    EXPECT_FALSE(reply.allow());
    EXPECT_EQ(reply.error().code(), "forbidden");
    reply = ask("{}", "");
    EXPECT_FALSE(reply.allow());
    EXPECT_EQ(reply.error().code(), "unauthorized");
}

TEST_F(BackendTest, LifecycleEventsAreDispatchedByKindInOrder) {
    Collector<LifecycleEvent> events;
    backend().on(LifecycleKind::kConnect, [&](const LifecycleEvent& e) { events.push(e); });
    backend().on(LifecycleKind::kDisconnect, [&](const LifecycleEvent& e) { events.push(e); });
    start();
    auto add = [](pb::LifecycleBatch& batch, pb::LifecycleEvent::Kind kind, std::string socket) {
        auto* e = batch.add_events();
        e->set_kind(kind);
        e->set_at_ms(1000);
        e->set_user_id("alice");
        e->set_socket_id(std::move(socket));
        e->set_namespace_("/");
        e->set_room("lobby");
        e->set_reason(kind == pb::LifecycleEvent::KIND_DISCONNECT ? "transport close" : "");
    };
    const std::string edge = unique_name("edge");
    pb::LifecycleBatch first;
    first.set_edge_id(edge);
    add(first, pb::LifecycleEvent::KIND_CONNECT, "s1");
    add(first, pb::LifecycleEvent::KIND_JOIN, "s1");
    pb::LifecycleBatch second;
    second.set_edge_id(edge);
    add(second, pb::LifecycleEvent::KIND_DISCONNECT, "s1");
    add(second, static_cast<pb::LifecycleEvent::Kind>(42), "s1");  // newer than this library
    add(second, pb::LifecycleEvent::KIND_CONNECT, "s2");
    ASSERT_TRUE(edge_->publish(contract::lifecycle_subject(edge), first.SerializeAsString()));
    ASSERT_TRUE(edge_->publish(contract::lifecycle_subject(edge), second.SerializeAsString()));
    ASSERT_TRUE(events.wait_for(3));
    const auto seen = events.items();
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].kind, LifecycleKind::kConnect);
    EXPECT_EQ(seen[0].socket_id, "s1");
    EXPECT_EQ(seen[0].edge, edge);
    EXPECT_EQ(seen[1].kind, LifecycleKind::kDisconnect);
    EXPECT_EQ(seen[1].reason, "transport close");
    EXPECT_EQ(seen[2].kind, LifecycleKind::kConnect);
    EXPECT_EQ(seen[2].socket_id, "s2");
    EXPECT_TRUE(
        natsbus::testing::eventually([&] { return backend().stats().lifecycle_events == 4; }));
}

TEST_F(BackendTest, ReplicasInOneQueueGroupAnswerEachRequestOnce) {
    const std::string event = unique_name("shared");
    std::atomic<int> calls_a{0};
    std::atomic<int> calls_b{0};
    backend().handle(event, [&](const Context&, const boost::json::array&) { return ++calls_a; });
    start();
    Backend replica(*backend_conn_, options_);
    replica.handle(event, [&](const Context&, const boost::json::array&) { return ++calls_b; });
    ASSERT_TRUE(replica.start());
    constexpr int kCalls = 40;
    for (int i = 0; i < kCalls; ++i) {
        ASSERT_TRUE(call("/", event, "[]").ok());
    }
    EXPECT_EQ(calls_a + calls_b, kCalls);
    // NATS picks a member at random: 40 in a row on one of two has odds of 2^-39.
    EXPECT_GT(calls_a.load(), 0);
    EXPECT_GT(calls_b.load(), 0);
}

TEST_F(BackendTest, UnsharedLifecycleReachesEveryReplica) {
    options_.share_lifecycle = false;
    Collector<std::string> seen;
    backend().on(LifecycleKind::kJoin, [&](const LifecycleEvent& e) { seen.push("a:" + e.room); });
    start();
    Backend replica(*backend_conn_, options_);
    replica.on(LifecycleKind::kJoin, [&](const LifecycleEvent& e) { seen.push("b:" + e.room); });
    ASSERT_TRUE(replica.start());
    pb::LifecycleBatch batch;
    batch.set_edge_id("edge-x");
    auto* e = batch.add_events();
    e->set_kind(pb::LifecycleEvent::KIND_JOIN);
    e->set_room("r1");
    ASSERT_TRUE(edge_->publish(contract::lifecycle_subject("edge-x"), batch.SerializeAsString()));
    ASSERT_TRUE(seen.wait_for(2));
    auto items = seen.items();
    std::sort(items.begin(), items.end());
    EXPECT_EQ(items, (std::vector<std::string>{"a:r1", "b:r1"}));
}

TEST_F(BackendTest, ConnectFailsAsAValue) {
    natsbus::Options nats = test_options("nats://127.0.0.1:1");
    nats.initial_connect_deadline = 0ms;
    auto backend = Backend::connect(nats);
    ASSERT_FALSE(backend);
    EXPECT_EQ(backend.error().code, "unavailable");
}

TEST(LifecycleKindTest, NamesRoundTrip) {
    for (auto kind : {LifecycleKind::kConnect, LifecycleKind::kDisconnect, LifecycleKind::kJoin,
                      LifecycleKind::kLeave, LifecycleKind::kKicked}) {
        EXPECT_EQ(parse_lifecycle_kind(to_string(kind)), kind);
    }
    EXPECT_FALSE(parse_lifecycle_kind("Connect"));
}

TEST_F(BackendTest, EmitsToUsersAndSocketsAreDecodable) {
    Collector<pb::Emit> emits;
    auto sub = edge_->subscribe(contract::kEmitSubject, [&](natsbus::Message&& m) {
        pb::Emit e;
        if (e.ParseFromString(m.data)) {
            emits.push(std::move(e));
        }
    });
    ASSERT_TRUE(sub);
    ASSERT_TRUE(edge_->flush(2s));
    auto r = backend().to_user("alice").emit("notice", boost::json::object{{"text", "hi"}});
    ASSERT_TRUE(r) << r.error().message;
    r = backend().to_socket("sock-1").in("/admin").emit("ping", nullptr);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(emits.wait_for(2));
    const auto seen = emits.items();
    EXPECT_EQ(seen[0].user_id(), "alice");
    EXPECT_EQ(seen[0].namespace_(), "/");
    EXPECT_EQ(seen[0].event(), "notice");
    EXPECT_EQ(seen[0].args_json(), R"([{"text":"hi"}])");
    EXPECT_EQ(seen[1].socket_id(), "sock-1");
    EXPECT_EQ(seen[1].namespace_(), "/admin");
    EXPECT_EQ(seen[1].args_json(), "[null]");

    EXPECT_EQ(backend().to_user("alice").emit("publish", 1).error().code, "bad_request");
    EXPECT_EQ(backend().to_user("").emit("notice", 1).error().code, "bad_request");
    EXPECT_EQ(backend().to_socket("a.b").emit("notice", 1).error().code, "bad_request");
    EXPECT_EQ(backend().to_user("alice").in("nope").emit("notice", 1).error().code, "bad_request");
    options_.max_payload_bytes = 100;
    backend_.reset();
    EXPECT_EQ(backend().to_user("alice").emit("notice", boost::json::string(200, 'x')).error().code,
              "payload_too_large");
}

TEST_F(BackendTest, RoomEmitsAreStoredWithIncreasingOffsets) {
    natsbus::StreamConfig stream;
    stream.name = unique_name("ROOMS");
    stream.subjects = {std::string(contract::kRoomSubjects)};
    stream.storage = natsbus::Storage::kMemory;
    ASSERT_TRUE(backend_conn_->jetstream().ensure_stream(stream));
    const std::string room = unique_name("post:");
    std::uint64_t last = 0;
    for (int i = 0; i < 3; ++i) {
        auto offset = backend().to(room).emit("comment", boost::json::object{{"n", i}});
        ASSERT_TRUE(offset) << offset.error().message;
        EXPECT_GT(*offset, last);
        last = *offset;
    }
    auto stored =
        edge_->jetstream().read_subject(stream.name, contract::room_subject(room), 1, 10, 5s);
    ASSERT_TRUE(stored);
    ASSERT_EQ(stored->size(), 3u);
    bus::v1::RoomEvent event;
    ASSERT_TRUE(event.ParseFromString(stored->back().data));
    EXPECT_EQ(stored->back().sequence, last);
    EXPECT_EQ(event.room(), room);
    EXPECT_EQ(event.event(), "comment");
    EXPECT_EQ(event.data_json(), R"({"n":2})");
    EXPECT_EQ(event.from(), "server");
    EXPECT_GT(event.published_at_ms(), 0);
    EXPECT_EQ(backend().to("bad room").emit("comment", 1).error().code, "bad_request");
    EXPECT_EQ(backend().to(room).emit("join", 1).error().code, "bad_request");
    ASSERT_TRUE(backend_conn_->jetstream().delete_stream(stream.name));
}

TEST_F(BackendTest, EphemeralRoomEventsAreCoreRoomEventsAndNeverStored) {
    // The room stream exists, as in production: an ephemeral event must not land in it.
    natsbus::StreamConfig stream;
    stream.name = unique_name("ROOMS");
    stream.subjects = {std::string(contract::kRoomSubjects)};
    stream.storage = natsbus::Storage::kMemory;
    ASSERT_TRUE(backend_conn_->jetstream().ensure_stream(stream));
    const std::string room = unique_name("doc:");
    struct Seen {
        std::string subject;
        bus::v1::RoomEvent event;
    };
    Collector<Seen> seen;
    auto sub = edge_->subscribe(contract::kEphemeralSubjects, [&](natsbus::Message&& m) {
        Seen s{m.subject, {}};
        if (s.event.ParseFromString(m.data)) {
            seen.push(std::move(s));
        }
    });
    ASSERT_TRUE(sub);
    ASSERT_TRUE(edge_->flush(2s));

    const std::int64_t before = core::unix_ms();
    auto r = backend().to(room).emit_ephemeral(
        "cursor", boost::json::object{{"x", 1}, {"img", {{"_placeholder", true}, {"num", 0}}}},
        {std::string("\x01\x02", 2)});
    ASSERT_TRUE(r) << r.error().message;
    // Refused before anything is sent, as stored events are: had one been published, it would
    // arrive (in order) before the last one below.
    EXPECT_EQ(backend().to("bad room").emit_ephemeral("cursor", 1).error().code, "bad_request");
    EXPECT_EQ(backend().to("a.b").emit_ephemeral("cursor", 1).error().code, "bad_request");
    EXPECT_EQ(backend().to(room).emit_ephemeral("join", 1).error().code, "bad_request");
    EXPECT_EQ(backend().to(room).emit_ephemeral("", 1).error().code, "bad_request");
    r = backend().to(room).emit_ephemeral("typing", true);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(seen.wait_for(2));
    ASSERT_TRUE(edge_->flush(2s));
    const auto got = seen.items();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].subject, contract::ephemeral_subject(room));
    EXPECT_EQ(got[0].event.room(), room);
    EXPECT_EQ(got[0].event.event(), "cursor");
    EXPECT_EQ(got[0].event.data_json(), R"({"x":1,"img":{"_placeholder":true,"num":0}})");
    ASSERT_EQ(got[0].event.attachments_size(), 1);
    EXPECT_EQ(got[0].event.attachments(0), std::string("\x01\x02", 2));
    EXPECT_EQ(got[0].event.from(), "server");
    EXPECT_GE(got[0].event.published_at_ms(), before);
    EXPECT_LE(got[0].event.published_at_ms(), core::unix_ms());
    EXPECT_EQ(got[1].subject, contract::ephemeral_subject(room));
    EXPECT_EQ(got[1].event.event(), "typing");
    EXPECT_EQ(got[1].event.data_json(), "true");

    auto state = edge_->jetstream().stream_state(stream.name);
    ASSERT_TRUE(state);
    EXPECT_EQ(state->messages, 0u) << "an ephemeral event was stored";
    ASSERT_TRUE(backend_conn_->jetstream().delete_stream(stream.name));

    // No stream is needed at all, and the payload cap applies as to stored events.
    EXPECT_TRUE(backend().to(room).emit_ephemeral("cursor", 2));
    options_.max_payload_bytes = 100;
    backend_.reset();
    EXPECT_EQ(
        backend().to(room).emit_ephemeral("cursor", boost::json::string(200, 'x')).error().code,
        "payload_too_large");
}

}  // namespace
}  // namespace roomcast::backend
