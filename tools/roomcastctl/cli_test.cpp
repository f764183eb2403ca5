// roomcastctl end to end in one process: real command lines through ctl::run() against fake
// RoomAdmin, Presence and Auth servers on 127.0.0.1:0 (with gRPC server reflection switched on).
// The fakes record every request and its `authorization` metadata, check the bearer token as the
// real services do (grpcutil::authorize), and answer what each test tells them to. They stand in
// for services/rooms, presence and auth so the CLI's parsing, requests, output and exit codes are
// tested on their own; runs against the real services belong to the e2e suites.
#include "cli.hpp"

#include "roomcast/auth/v1/auth.grpc.pb.h"
#include "roomcast/grpcutil/grpcutil.hpp"
#include "roomcast/presence/v1/presence.grpc.pb.h"
#include "roomcast/rooms/v1/rooms.grpc.pb.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace roomcast::ctl {
namespace {

namespace pb = google::protobuf;
namespace rpb = roomcast::rooms::v1;
namespace ppb = roomcast::presence::v1;
namespace apb = roomcast::auth::v1;
using namespace std::chrono_literals;

constexpr std::string_view kToken = "s3cret-token";
constexpr std::string_view kBearer = "Bearer s3cret-token";

// One call as a fake server saw it.
struct Call {
    std::string method;
    std::shared_ptr<pb::Message> request;
    // The `authorization` header; nullopt when absent.
    std::optional<std::string> authorization;
};

// Shared by the three fakes: records calls and answers them. Thread-safe (gRPC calls the fakes
// on its own threads while the test thread reads the calls).
class Recorder {
public:
    using Handler = std::function<grpc::Status(const pb::Message&, pb::Message*)>;

    template <class Request, class Response>
    void on(const std::string& method,
            std::function<grpc::Status(const Request&, Response*)> handler) {
        const std::lock_guard lock(mutex_);
        handlers_[method] = [handler](const pb::Message& request, pb::Message* response) {
            return handler(dynamic_cast<const Request&>(request),
                           dynamic_cast<Response*>(response));
        };
    }

    grpc::Status handle(const std::string& method, const grpc::ServerContext& context,
                        const pb::Message& request, pb::Message* response) {
        Handler handler;
        {
            const std::lock_guard lock(mutex_);
            Call call{method, std::shared_ptr<pb::Message>(request.New()), std::nullopt};
            call.request->CopyFrom(request);
            const auto& metadata = context.client_metadata();
            if (const auto it = metadata.find("authorization"); it != metadata.end()) {
                call.authorization = std::string(it->second.data(), it->second.size());
            }
            calls_.push_back(std::move(call));
            if (const auto it = handlers_.find(method); it != handlers_.end()) {
                handler = it->second;
            }
        }
        // As the services do: every method but GetJwks needs the admin token.
        if (method != "GetJwks") {
            if (auto status = grpcutil::authorize(context, kToken); !status.ok()) {
                return status;
            }
        }
        return handler ? handler(request, response) : grpc::Status::OK;
    }

    std::vector<Call> calls() const {
        const std::lock_guard lock(mutex_);
        return calls_;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, Handler> handlers_;
    std::vector<Call> calls_;
};

class FakeRooms final : public rpb::RoomAdmin::Service {
public:
    explicit FakeRooms(Recorder& recorder) : recorder_(recorder) {}

    grpc::Status CreateRoom(grpc::ServerContext* c, const rpb::CreateRoomRequest* q,
                            rpb::CreateRoomResponse* r) override {
        return recorder_.handle("CreateRoom", *c, *q, r);
    }
    grpc::Status GetRoom(grpc::ServerContext* c, const rpb::GetRoomRequest* q,
                         rpb::GetRoomResponse* r) override {
        return recorder_.handle("GetRoom", *c, *q, r);
    }
    grpc::Status ListRooms(grpc::ServerContext* c, const rpb::ListRoomsRequest* q,
                           rpb::ListRoomsResponse* r) override {
        return recorder_.handle("ListRooms", *c, *q, r);
    }
    grpc::Status UpdateRoom(grpc::ServerContext* c, const rpb::UpdateRoomRequest* q,
                            rpb::UpdateRoomResponse* r) override {
        return recorder_.handle("UpdateRoom", *c, *q, r);
    }
    grpc::Status DeleteRoom(grpc::ServerContext* c, const rpb::DeleteRoomRequest* q,
                            rpb::DeleteRoomResponse* r) override {
        return recorder_.handle("DeleteRoom", *c, *q, r);
    }
    grpc::Status AddMember(grpc::ServerContext* c, const rpb::AddMemberRequest* q,
                           rpb::AddMemberResponse* r) override {
        return recorder_.handle("AddMember", *c, *q, r);
    }
    grpc::Status RemoveMember(grpc::ServerContext* c, const rpb::RemoveMemberRequest* q,
                              rpb::RemoveMemberResponse* r) override {
        return recorder_.handle("RemoveMember", *c, *q, r);
    }
    grpc::Status ListMembers(grpc::ServerContext* c, const rpb::ListMembersRequest* q,
                             rpb::ListMembersResponse* r) override {
        return recorder_.handle("ListMembers", *c, *q, r);
    }
    grpc::Status KickUser(grpc::ServerContext* c, const rpb::KickUserRequest* q,
                          rpb::KickUserResponse* r) override {
        return recorder_.handle("KickUser", *c, *q, r);
    }
    grpc::Status DisconnectUser(grpc::ServerContext* c, const rpb::DisconnectUserRequest* q,
                                rpb::DisconnectUserResponse* r) override {
        return recorder_.handle("DisconnectUser", *c, *q, r);
    }
    grpc::Status Publish(grpc::ServerContext* c, const rpb::PublishRequest* q,
                         rpb::PublishResponse* r) override {
        return recorder_.handle("Publish", *c, *q, r);
    }
    grpc::Status History(grpc::ServerContext* c, const rpb::HistoryRequest* q,
                         rpb::HistoryResponse* r) override {
        return recorder_.handle("History", *c, *q, r);
    }
    grpc::Status PublishToUser(grpc::ServerContext* c, const rpb::PublishToUserRequest* q,
                               rpb::PublishToUserResponse* r) override {
        return recorder_.handle("PublishToUser", *c, *q, r);
    }

private:
    Recorder& recorder_;
};

class FakePresence final : public ppb::Presence::Service {
public:
    explicit FakePresence(Recorder& recorder) : recorder_(recorder) {}

    grpc::Status GetPresence(grpc::ServerContext* c, const ppb::GetPresenceRequest* q,
                             ppb::GetPresenceResponse* r) override {
        return recorder_.handle("GetPresence", *c, *q, r);
    }
    grpc::Status GetPresenceStats(grpc::ServerContext* c, const ppb::GetPresenceStatsRequest* q,
                                  ppb::GetPresenceStatsResponse* r) override {
        return recorder_.handle("GetPresenceStats", *c, *q, r);
    }
    grpc::Status ListLiveRooms(grpc::ServerContext* c, const ppb::ListLiveRoomsRequest* q,
                               ppb::ListLiveRoomsResponse* r) override {
        return recorder_.handle("ListLiveRooms", *c, *q, r);
    }
    grpc::Status ListEdges(grpc::ServerContext* c, const ppb::ListEdgesRequest* q,
                           ppb::ListEdgesResponse* r) override {
        return recorder_.handle("ListEdges", *c, *q, r);
    }
    // Writes watch_events, then either ends with watch_status or, with watch_hold, reports
    // through watch_started and stays open until the client cancels.
    grpc::Status WatchPresence(grpc::ServerContext* c, const ppb::WatchPresenceRequest* q,
                               grpc::ServerWriter<ppb::PresenceEvent>* writer) override {
        ppb::WatchPresenceRequest unused;
        if (auto status = recorder_.handle("WatchPresence", *c, *q, &unused); !status.ok()) {
            return status;
        }
        for (const auto& event : watch_events) {
            writer->Write(event);
        }
        if (watch_hold) {
            watch_started.set_value();
            const auto give_up = std::chrono::steady_clock::now() + 20s;
            while (!c->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
                std::this_thread::sleep_for(5ms);
            }
            return grpc::Status::CANCELLED;
        }
        return watch_status;
    }

    std::vector<ppb::PresenceEvent> watch_events;
    grpc::Status watch_status;
    bool watch_hold = false;
    std::promise<void> watch_started;

private:
    Recorder& recorder_;
};

class FakeAuth final : public apb::Auth::Service {
public:
    explicit FakeAuth(Recorder& recorder) : recorder_(recorder) {}

    grpc::Status IssueToken(grpc::ServerContext* c, const apb::IssueTokenRequest* q,
                            apb::IssueTokenResponse* r) override {
        return recorder_.handle("IssueToken", *c, *q, r);
    }
    grpc::Status VerifyToken(grpc::ServerContext* c, const apb::VerifyTokenRequest* q,
                             apb::VerifyTokenResponse* r) override {
        return recorder_.handle("VerifyToken", *c, *q, r);
    }
    grpc::Status GetJwks(grpc::ServerContext* c, const apb::GetJwksRequest* q,
                         apb::GetJwksResponse* r) override {
        return recorder_.handle("GetJwks", *c, *q, r);
    }
    grpc::Status ListKeys(grpc::ServerContext* c, const apb::ListKeysRequest* q,
                          apb::ListKeysResponse* r) override {
        return recorder_.handle("ListKeys", *c, *q, r);
    }
    grpc::Status RotateKey(grpc::ServerContext* c, const apb::RotateKeyRequest* q,
                           apb::RotateKeyResponse* r) override {
        return recorder_.handle("RotateKey", *c, *q, r);
    }

private:
    Recorder& recorder_;
};

struct Outcome {
    int code = -1;
    std::string out;
    std::string err;
};

template <class Message>
Message parse_text(const std::string& text) {
    Message message;
    EXPECT_TRUE(pb::TextFormat::ParseFromString(text, &message)) << text;
    return message;
}

rpb::Room room(const std::string& id) {
    rpb::Room room;
    room.set_id(id);
    room.set_visibility(rpb::VISIBILITY_PUBLIC);
    room.mutable_create_time()->set_seconds(1'714'564'800);
    return room;
}

class CliTest : public ::testing::Test {
protected:
    void SetUp() override {
        // As grpcutil::Server does for the real services (both switches are process-wide).
        grpc::EnableDefaultHealthCheckService(true);
        grpc::reflection::InitProtoReflectionServerBuilderPlugin();
        grpc::ServerBuilder builder;
        builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
        builder.RegisterService(&rooms_);
        builder.RegisterService(&presence_);
        builder.RegisterService(&auth_);
        server_ = builder.BuildAndStart();
        ASSERT_TRUE(server_ != nullptr);
        ASSERT_NE(port_, 0);
        address_ = "127.0.0.1:" + std::to_string(port_);
    }

    void TearDown() override {
        if (server_) {
            server_->Shutdown(std::chrono::system_clock::now() + 2s);
        }
    }

    Environment env() const {
        return {{"ROOMCAST_ROOMS_ADDR", address_},
                {"ROOMCAST_PRESENCE_ADDR", address_},
                {"ROOMCAST_AUTH_ADDR", address_},
                {"ROOMCAST_ADMIN_TOKEN", std::string(kToken)}};
    }

    Outcome run_cli(const std::vector<std::string>& args, const std::string& input = "") {
        return run_with(args, env(), input);
    }

    Outcome run_with(const std::vector<std::string>& args, const Environment& environment,
                     const std::string& input = "") {
        std::istringstream in(input);
        std::ostringstream out;
        std::ostringstream err;
        Io io{in, out, err, &cancellation_, [] {
                  return std::chrono::system_clock::time_point(std::chrono::seconds(1'714'564'800));
              }};
        Outcome outcome;
        outcome.code = run(args, environment, io);
        outcome.out = out.str();
        outcome.err = err.str();
        return outcome;
    }

    // The one call the fakes saw; fails the test when there were more or fewer.
    Call only_call() {
        const auto calls = recorder_.calls();
        EXPECT_EQ(calls.size(), 1U);
        return calls.empty() ? Call{} : calls.front();
    }

    Recorder recorder_;
    FakeRooms rooms_{recorder_};
    FakePresence presence_{recorder_};
    FakeAuth auth_{recorder_};
    std::unique_ptr<grpc::Server> server_;
    int port_ = 0;
    std::string address_;
    Cancellation cancellation_;
};

TEST_F(CliTest, EveryCommandSendsItsRequestWithTheBearerToken) {
    recorder_.on<apb::GetJwksRequest, apb::GetJwksResponse>(
        "GetJwks", [](const auto&, apb::GetJwksResponse* r) {
            r->set_jwks_json(R"({"keys":[]})");
            return grpc::Status::OK;
        });
    struct Case {
        std::vector<std::string> args;
        std::string method;
        std::string request;  // text format
        bool authenticated = true;
    };
    const std::vector<Case> cases = {
        {{"rooms", "create", "lobby"},
         "CreateRoom",
         R"(room_id: "lobby" visibility: VISIBILITY_PUBLIC)"},
        {{"rooms", "create", "team:core", "--private", "--label", "team=core", "--label",
          "tier=gold"},
         "CreateRoom",
         R"(room_id: "team:core" visibility: VISIBILITY_PRIVATE
            labels { key: "team" value: "core" } labels { key: "tier" value: "gold" })"},
        {{"rooms", "get", "lobby"}, "GetRoom", R"(room_id: "lobby")"},
        {{"rooms", "list"}, "ListRooms", ""},
        {{"rooms", "list", "--prefix", "team:", "--page-size", "5", "--page-token", "abc"},
         "ListRooms",
         R"(prefix: "team:" page_size: 5 page_token: "abc")"},
        {{"rooms", "update", "lobby", "--private"},
         "UpdateRoom",
         R"(room_id: "lobby" visibility: VISIBILITY_PRIVATE update_mask: "visibility")"},
        {{"rooms", "update", "lobby", "--public", "--label", "a=1"},
         "UpdateRoom",
         R"(room_id: "lobby" visibility: VISIBILITY_PUBLIC labels { key: "a" value: "1" }
            update_mask: "visibility" update_mask: "labels")"},
        {{"rooms", "update", "lobby", "--clear-labels"},
         "UpdateRoom",
         R"(room_id: "lobby" update_mask: "labels")"},
        {{"rooms", "delete", "lobby"}, "DeleteRoom", R"(room_id: "lobby")"},
        {{"rooms", "members", "lobby", "--page-size", "2"},
         "ListMembers",
         R"(room_id: "lobby" page_size: 2)"},
        {{"rooms", "add", "lobby", "alice"},
         "AddMember",
         R"(room_id: "lobby" user_id: "alice" role: ROLE_MEMBER)"},
        {{"rooms", "add", "lobby", "bob", "--role", "viewer"},
         "AddMember",
         R"(room_id: "lobby" user_id: "bob" role: ROLE_VIEWER)"},
        {{"rooms", "remove", "lobby", "alice"},
         "RemoveMember",
         R"(room_id: "lobby" user_id: "alice")"},
        {{"rooms", "kick", "lobby", "alice", "--reason", "spam"},
         "KickUser",
         R"(room_id: "lobby" user_id: "alice" reason: "spam")"},
        {{"rooms", "publish", "lobby", "chat", R"({"text":"hi"})"},
         "Publish",
         R"(room_id: "lobby" event: "chat" data_json: "{\"text\":\"hi\"}")"},
        {{"rooms", "publish", "lobby", "count", "-1"},
         "Publish",
         R"(room_id: "lobby" event: "count" data_json: "-1")"},
        {{"rooms", "history", "lobby"}, "History", R"(room_id: "lobby")"},
        {{"rooms", "history", "lobby", "--since", "41", "--limit", "10"},
         "History",
         R"(room_id: "lobby" since: "41" limit: 10)"},
        {{"users", "disconnect", "alice", "--reason", "banned"},
         "DisconnectUser",
         R"(user_id: "alice" reason: "banned")"},
        {{"users", "emit", "alice", "notice", R"({"text":"mail"})"},
         "PublishToUser",
         R"(user_id: "alice" event: "notice" data_json: "{\"text\":\"mail\"}")"},
        {{"users", "emit", "--socket", "s-1", "ping", "--namespace", "/admin"},
         "PublishToUser",
         R"(socket_id: "s-1" event: "ping" namespace: "/admin")"},
        {{"presence", "get", "lobby", "--page-size", "50"},
         "GetPresence",
         R"(room_id: "lobby" page_size: 50)"},
        {{"presence", "stats", "lobby"}, "GetPresenceStats", R"(room_id: "lobby")"},
        {{"rooms", "list", "--live", "--prefix", "team:", "--page-size", "5"},
         "ListLiveRooms",
         R"(prefix: "team:" page_size: 5)"},
        {{"edges", "list", "--page-size", "2"}, "ListEdges", R"(page_size: 2)"},
        {{"token", "issue", "alice"}, "IssueToken", R"(user_id: "alice")"},
        {{"token", "issue", "alice", "--name", "Alice", "--ttl", "1h30m"},
         "IssueToken",
         R"(user_id: "alice" name: "Alice" ttl_seconds: 5400)"},
        {{"token", "verify", "eyJ.a.b"}, "VerifyToken", R"(token: "eyJ.a.b")"},
        {{"token", "jwks"}, "GetJwks", "", false},
        {{"keys", "list"}, "ListKeys", ""},
        {{"keys", "rotate"}, "RotateKey", ""},
        {{"keys", "rotate", "--algorithm", "RS256", "--kid", "2027-01"},
         "RotateKey",
         R"(algorithm: "RS256" kid: "2027-01")"},
    };
    std::size_t seen = 0;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.args[0] + " " + c.args[1] + " → " + c.method);
        const Outcome outcome = run_cli(c.args);
        EXPECT_EQ(outcome.code, kExitOk) << outcome.err;
        EXPECT_EQ(outcome.err, "");
        const auto calls = recorder_.calls();
        ASSERT_EQ(calls.size(), seen + 1);
        const Call& call = calls.back();
        ++seen;
        EXPECT_EQ(call.method, c.method);
        std::unique_ptr<pb::Message> expected(call.request->New());
        ASSERT_TRUE(pb::TextFormat::ParseFromString(c.request, expected.get())) << c.request;
        EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*call.request, *expected))
            << "sent: " << call.request->ShortDebugString();
        if (c.authenticated) {
            EXPECT_EQ(call.authorization, std::string(kBearer));
        } else {
            // GetJwks needs no token, so it is not sent.
            EXPECT_EQ(call.authorization, std::nullopt);
        }
    }
}

TEST_F(CliTest, PublishReadsDataFromStdinAndFiles) {
    {
        const Outcome outcome = run_cli({"rooms", "publish", "lobby", "chat", "-"}, "{\"a\":1}\n");
        EXPECT_EQ(outcome.code, kExitOk) << outcome.err;
    }
    {
        const Outcome outcome =
            run_cli({"rooms", "publish", "lobby", "chat", "--data-file", "-"}, "[1,2]");
        EXPECT_EQ(outcome.code, kExitOk) << outcome.err;
    }
    char path[] = "/tmp/roomcastctl_test_XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    std::ofstream(path) << R"({"from":"file"})";
    {
        const Outcome outcome = run_cli({"rooms", "publish", "lobby", "chat", "--data-file", path});
        EXPECT_EQ(outcome.code, kExitOk) << outcome.err;
    }
    std::remove(path);
    const auto calls = recorder_.calls();
    ASSERT_EQ(calls.size(), 3U);
    const auto data = [&](std::size_t i) {
        return dynamic_cast<const rpb::PublishRequest&>(*calls[i].request).data_json();
    };
    EXPECT_EQ(data(0), "{\"a\":1}\n");
    EXPECT_EQ(data(1), "[1,2]");
    EXPECT_EQ(data(2), R"({"from":"file"})");
}

TEST_F(CliTest, PublishPrintsTheOffset) {
    recorder_.on<rpb::PublishRequest, rpb::PublishResponse>(
        "Publish", [](const auto&, rpb::PublishResponse* r) {
            r->set_offset("18446744073709551615");
            return grpc::Status::OK;
        });
    const Outcome text = run_cli({"rooms", "publish", "lobby", "chat", "null"});
    EXPECT_EQ(text.out, "published chat to lobby at offset 18446744073709551615\n");
    const Outcome json = run_cli({"rooms", "publish", "lobby", "chat", "null", "--json"});
    EXPECT_EQ(json.out, "{\"offset\":\"18446744073709551615\"}\n");
}

TEST_F(CliTest, UsersEmitSendsNullWithoutDataAndSaysWhereItWent) {
    const Outcome user = run_cli({"users", "emit", "alice", "notice"});
    EXPECT_EQ(user.code, kExitOk) << user.err;
    EXPECT_EQ(user.out, "emitted notice to user alice\n");
    const Outcome socket = run_cli({"users", "emit", "--socket", "s1", "notice", "-"}, "[1]");
    EXPECT_EQ(socket.code, kExitOk) << socket.err;
    EXPECT_EQ(socket.out, "emitted notice to socket s1\n");
    recorder_.on<rpb::PublishToUserRequest, rpb::PublishToUserResponse>(
        "PublishToUser", [](const auto&, rpb::PublishToUserResponse*) {
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "event: reserved");
        });
    const Outcome refused = run_cli({"users", "emit", "alice", "publish"});
    EXPECT_EQ(refused.code, kExitInvalid);
    EXPECT_NE(refused.err.find("PublishToUser: INVALID_ARGUMENT: event: reserved"),
              std::string::npos)
        << refused.err;
    const auto calls = recorder_.calls();
    ASSERT_EQ(calls.size(), 3U);
    const auto& first = dynamic_cast<const rpb::PublishToUserRequest&>(*calls[0].request);
    EXPECT_EQ(first.data_json(), "");
    const auto& second = dynamic_cast<const rpb::PublishToUserRequest&>(*calls[1].request);
    EXPECT_EQ(second.socket_id(), "s1");
    EXPECT_EQ(second.data_json(), "[1]");
}

TEST_F(CliTest, UsageErrorsExitTwoWithAHintAndSendNothing) {
    struct Case {
        std::vector<std::string> args;
        std::string message;
        std::string hint;
    };
    const std::vector<Case> cases = {
        {{}, "roomcastctl: missing command", "Try 'roomcastctl --help'."},
        {{"rooms"},
         "roomcastctl: missing subcommand for 'rooms'",
         "Try 'roomcastctl rooms --help'."},
        {{"rooms", "frobnicate"},
         "unknown command 'rooms frobnicate'",
         "Try 'roomcastctl rooms --help'."},
        {{"rooms", "get"}, "rooms get: missing arguments", "Try 'roomcastctl rooms get --help'."},
        {{"rooms", "create", "a", "--public", "--private"},
         "roomcastctl: rooms create: --public and --private exclude each other",
         "Try 'roomcastctl rooms create --help'."},
        {{"rooms", "create", "a", "--label", "novalue"},
         "invalid --label: 'novalue' is not KEY=VALUE",
         "Try 'roomcastctl rooms create --help'."},
        {{"rooms", "create", "a", "--label", "k=1", "--label", "k=2"},
         "--label k given twice",
         "Try 'roomcastctl rooms create --help'."},
        {{"rooms", "update", "a"}, "nothing to update", "Try 'roomcastctl rooms update --help'."},
        {{"rooms", "update", "a", "--clear-labels", "--label", "k=v"},
         "--clear-labels and --label exclude each other",
         "Try 'roomcastctl rooms update --help'."},
        {{"rooms", "add", "a", "b", "--role", "owner"},
         "invalid --role 'owner': member or viewer",
         "Try 'roomcastctl rooms add --help'."},
        {{"rooms", "list", "--page-size", "0"},
         "invalid --page-size: '0' is out of range",
         "Try 'roomcastctl rooms list --help'."},
        {{"rooms", "members", "a", "--page-size", "many"},
         "invalid --page-size: 'many' is not a",
         "Try 'roomcastctl rooms members --help'."},
        {{"rooms", "history", "a", "--since", "abc"},
         "invalid --since 'abc'",
         "Try 'roomcastctl rooms history --help'."},
        {{"rooms", "history", "a", "--limit", "-5"},
         "invalid --limit: '-5' is out of range",
         "Try 'roomcastctl rooms history --help'."},
        {{"rooms", "publish", "a", "e"},
         "missing <json data> (or --data-file F",
         "Try 'roomcastctl rooms publish --help'."},
        {{"rooms", "publish", "a", "e", "{", "--data-file", "f"},
         "either as an argument or with",
         "Try 'roomcastctl rooms publish --help'."},
        {{"rooms", "publish", "a", "e", "{oops}"},
         "the data is not JSON",
         "Try 'roomcastctl rooms publish --help'."},
        {{"rooms", "publish", "a", "e", "--data-file", "/nonexistent/data.json"},
         "cannot open --data-file /nonexistent/data.json",
         "Try 'roomcastctl rooms publish --help'."},
        {{"users", "emit", "alice"},
         "missing <event> (after <user>)",
         "Try 'roomcastctl users emit --help'."},
        {{"users", "emit", "--socket", "s1", "ev", "{}", "extra"},
         "--socket replaces <user>",
         "Try 'roomcastctl users emit --help'."},
        {{"users", "emit", "alice", "ev", "{oops}"},
         "the data is not JSON",
         "Try 'roomcastctl users emit --help'."},
        {{"token", "issue", "alice", "--ttl", "1500ms"},
         "a token lives whole seconds",
         "Try 'roomcastctl token issue --help'."},
        {{"token", "issue", "alice", "--ttl", "60"},
         "'60' needs a unit",
         "Try 'roomcastctl token issue --help'."},
        {{"grpc", "list"}, "--addr is required", "Try 'roomcastctl grpc list --help'."},
        {{"presence", "watch", "a", "b"},
         "unexpected argument 'b'",
         "Try 'roomcastctl presence watch --help'."},
    };
    for (const Case& c : cases) {
        std::string joined;
        for (const auto& a : c.args) {
            joined += a + " ";
        }
        SCOPED_TRACE(joined);
        const Outcome outcome = run_cli(c.args);
        EXPECT_EQ(outcome.code, kExitUsage);
        EXPECT_EQ(outcome.out, "");
        EXPECT_TRUE(outcome.err.starts_with("roomcastctl: ")) << outcome.err;
        EXPECT_NE(outcome.err.find(c.message), std::string::npos) << outcome.err;
        EXPECT_TRUE(outcome.err.ends_with(c.hint + "\n")) << outcome.err;
    }
    EXPECT_TRUE(recorder_.calls().empty());
}

TEST_F(CliTest, HelpAndVersionExitZero) {
    for (const std::vector<std::string>& args : {std::vector<std::string>{"--help"},
                                                 {"rooms", "--help"},
                                                 {"rooms", "publish", "-h"},
                                                 {"grpc", "describe", "--help"}}) {
        const Outcome outcome = run_cli(args);
        EXPECT_EQ(outcome.code, kExitOk);
        EXPECT_NE(outcome.out.find("Usage: roomcastctl"), std::string::npos) << outcome.out;
        EXPECT_EQ(outcome.err, "");
    }
    const Outcome version = run_cli({"--version"});
    EXPECT_EQ(version.code, kExitOk);
    EXPECT_TRUE(version.out.starts_with("roomcastctl ")) << version.out;
    EXPECT_TRUE(recorder_.calls().empty());
}

TEST_F(CliTest, RoomsTablesAndJson) {
    recorder_.on<rpb::ListRoomsRequest, rpb::ListRoomsResponse>(
        "ListRooms", [](const auto&, rpb::ListRoomsResponse* r) {
            *r->add_rooms() = room("lobby");
            rpb::Room team = room("team:core");
            team.set_visibility(rpb::VISIBILITY_PRIVATE);
            (*team.mutable_labels())["team"] = "core";
            *r->add_rooms() = team;
            return grpc::Status::OK;
        });
    const Outcome table = run_cli({"rooms", "list"});
    EXPECT_EQ(table.code, kExitOk) << table.err;
    EXPECT_EQ(table.out,
              "ID          VISIBILITY   AUTO   LABELS      CREATED\n"
              "lobby       PUBLIC       no     <none>      2024-05-01T12:00:00Z\n"
              "team:core   PRIVATE      no     team=core   2024-05-01T12:00:00Z\n");

    const Outcome json = run_cli({"rooms", "list", "--json"});
    EXPECT_EQ(json.code, kExitOk) << json.err;
    ASSERT_TRUE(json.out.ends_with("}\n"));
    EXPECT_EQ(std::count(json.out.begin(), json.out.end(), '\n'), 1);
    const boost::json::value parsed = boost::json::parse(json.out);
    const auto& rooms = parsed.at("rooms").as_array();
    ASSERT_EQ(rooms.size(), 2U);
    EXPECT_EQ(rooms[0].at("id").as_string(), "lobby");
    EXPECT_EQ(rooms[0].at("visibility").as_string(), "VISIBILITY_PUBLIC");
    EXPECT_EQ(rooms[0].at("auto_created").as_bool(), false);
    EXPECT_EQ(rooms[0].at("create_time").as_string(), "2024-05-01T12:00:00Z");
    EXPECT_EQ(rooms[1].at("labels").at("team").as_string(), "core");
    EXPECT_EQ(parsed.at("next_page_token").as_string(), "");

    recorder_.on<rpb::GetRoomRequest, rpb::GetRoomResponse>(
        "GetRoom", [](const rpb::GetRoomRequest& q, rpb::GetRoomResponse* r) {
            *r->mutable_room() = room(q.room_id());
            return grpc::Status::OK;
        });
    const Outcome get = run_cli({"rooms", "get", "lobby"});
    EXPECT_EQ(get.out,
              "ID:          lobby\nVISIBILITY:  PUBLIC\nAUTO:        no\nLABELS:      <none>\n"
              "CREATED:     2024-05-01T12:00:00Z\nUPDATED:     -\n");
    const Outcome get_json = run_cli({"--json", "rooms", "get", "lobby"});
    EXPECT_EQ(boost::json::parse(get_json.out).at("room").at("id").as_string(), "lobby");
}

TEST_F(CliTest, ActionsPrintOneLineOrJson) {
    EXPECT_EQ(run_cli({"rooms", "delete", "lobby"}).out, "room lobby deleted\n");
    EXPECT_EQ(run_cli({"rooms", "remove", "lobby", "alice"}).out, "alice removed from lobby\n");
    EXPECT_EQ(run_cli({"rooms", "kick", "lobby", "alice"}).out, "alice kicked from lobby\n");
    EXPECT_EQ(run_cli({"users", "disconnect", "alice"}).out, "alice disconnected\n");
    EXPECT_EQ(run_cli({"rooms", "delete", "lobby", "--json"}).out, "{}\n");
}

TEST_F(CliTest, MembersPresenceHistoryAndTokens) {
    recorder_.on<rpb::AddMemberRequest, rpb::AddMemberResponse>(
        "AddMember", [](const rpb::AddMemberRequest& q, rpb::AddMemberResponse* r) {
            r->mutable_member()->set_user_id(q.user_id());
            r->mutable_member()->set_role(q.role());
            return grpc::Status::OK;
        });
    EXPECT_EQ(run_cli({"rooms", "add", "lobby", "bob", "--role", "VIEWER"}).out,
              "USER   ROLE     ADDED\nbob    VIEWER   -\n");

    recorder_.on<ppb::GetPresenceStatsRequest, ppb::GetPresenceStatsResponse>(
        "GetPresenceStats", [](const auto&, ppb::GetPresenceStatsResponse* r) {
            r->set_clients(12);
            r->set_users(9);
            return grpc::Status::OK;
        });
    EXPECT_EQ(run_cli({"presence", "stats", "lobby"}).out, "CLIENTS   USERS\n12        9\n");
    EXPECT_EQ(run_cli({"presence", "stats", "lobby", "--json"}).out,
              "{\"clients\":\"12\",\"users\":\"9\"}\n");

    recorder_.on<apb::ListKeysRequest, apb::ListKeysResponse>(
        "ListKeys", [](const auto&, apb::ListKeysResponse* r) {
            auto* secret = r->add_keys();
            secret->set_algorithm("HS256");
            auto* key = r->add_keys();
            key->set_kid("20270101-000000");
            key->set_algorithm("ES256");
            key->set_signing(true);
            key->set_published(true);
            return grpc::Status::OK;
        });
    EXPECT_EQ(run_cli({"keys", "list"}).out,
              "KID               ALGORITHM   SIGNING   PENDING   PUBLISHED\n"
              "(secret)          HS256       no        no        no\n"
              "20270101-000000   ES256       yes       no        yes\n");
    EXPECT_EQ(run_cli({"keys", "rotate", "--algorithm", "HS256"}).code, kExitUsage);

    recorder_.on<ppb::ListEdgesRequest, ppb::ListEdgesResponse>(
        "ListEdges", [](const auto&, ppb::ListEdgesResponse* r) {
            auto* e = r->add_edges();
            e->set_id("edge-1");
            e->set_connections(120);
            e->set_rooms(14);
            e->set_version("1.4.0");
            e->set_last_seen_ms(1'714'564'800'000);
            e->set_alive(true);
            auto* old = r->add_edges();
            old->set_id("edge-2");
            old->set_draining(true);
            old->set_last_seen_ms(1'714'564'799'000);
            return grpc::Status::OK;
        });
    EXPECT_EQ(run_cli({"edges", "list"}).out,
              "ID       CONNECTIONS   ROOMS   VERSION   DRAINING   ALIVE   LAST SEEN\n"
              "edge-1   120           14      1.4.0     no         yes     2024-05-01T12:00:00Z\n"
              "edge-2   0             0       -         yes        no      2024-05-01T11:59:59Z\n");
    recorder_.on<ppb::ListLiveRoomsRequest, ppb::ListLiveRoomsResponse>(
        "ListLiveRooms", [](const auto&, ppb::ListLiveRoomsResponse* r) {
            auto* room = r->add_rooms();
            room->set_room_id("lobby");
            room->set_clients(3);
            room->set_users(2);
            return grpc::Status::OK;
        });
    EXPECT_EQ(run_cli({"rooms", "list", "--live"}).out,
              "ROOM    CLIENTS   USERS\nlobby   3         2\n");
    recorder_.on<ppb::ListLiveRoomsRequest, ppb::ListLiveRoomsResponse>(
        "ListLiveRooms", [](const auto&, ppb::ListLiveRoomsResponse*) {
            return grpc::Status(grpc::StatusCode::UNAVAILABLE, "loading");
        });
    const Outcome loading = run_cli({"rooms", "list", "--live"});
    EXPECT_EQ(loading.code, kExitRetryable);
    EXPECT_TRUE(loading.err.starts_with(
        "roomcastctl: roomcast.presence.v1.Presence/ListLiveRooms: UNAVAILABLE: loading\n"))
        << loading.err;

    recorder_.on<rpb::HistoryRequest, rpb::HistoryResponse>(
        "History", [](const auto&, rpb::HistoryResponse* r) {
            auto* m = r->add_messages();
            m->set_offset("7");
            m->set_event("chat");
            m->set_from("alice");
            m->set_data_json(R"({"text":"hi"})");
            return grpc::Status::OK;
        });
    EXPECT_EQ(run_cli({"rooms", "history", "lobby"}).out,
              "OFFSET   EVENT   FROM    DATA\n7        chat    alice   {\"text\":\"hi\"}\n");

    recorder_.on<apb::IssueTokenRequest, apb::IssueTokenResponse>(
        "IssueToken", [](const auto&, apb::IssueTokenResponse* r) {
            r->set_token("eyJhbGciOiJIUzI1NiJ9.e30.sig");
            r->mutable_expires_at()->set_seconds(1'714'568'400);
            r->set_algorithm("HS256");
            return grpc::Status::OK;
        });
    EXPECT_EQ(run_cli({"token", "issue", "alice"}).out, "eyJhbGciOiJIUzI1NiJ9.e30.sig\n");
    const auto issued = boost::json::parse(run_cli({"token", "issue", "alice", "--json"}).out);
    EXPECT_EQ(issued.at("expires_at").as_string(), "2024-05-01T13:00:00Z");
    EXPECT_EQ(issued.at("algorithm").as_string(), "HS256");
    EXPECT_EQ(issued.at("kid").as_string(), "");

    recorder_.on<apb::VerifyTokenRequest, apb::VerifyTokenResponse>(
        "VerifyToken", [](const apb::VerifyTokenRequest& q, apb::VerifyTokenResponse* r) {
            r->set_valid(q.token() == "good");
            if (r->valid()) {
                r->set_user_id("alice");
            } else {
                r->set_error_code("token_invalid");
                r->set_error_message("bad signature");
            }
            return grpc::Status::OK;
        });
    const Outcome bad = run_cli({"token", "verify", "bad"});
    EXPECT_EQ(bad.code, kExitOk);
    EXPECT_EQ(bad.out, "VALID:   no\nERROR:   token_invalid\nREASON:  bad signature\n");
    // The token from stdin, trimmed: `echo $TOKEN | roomcastctl token verify -`.
    const Outcome good = run_cli({"token", "verify", "-", "--json"}, "good\n");
    EXPECT_EQ(boost::json::parse(good.out).at("valid").as_bool(), true);

    recorder_.on<apb::GetJwksRequest, apb::GetJwksResponse>(
        "GetJwks", [](const auto&, apb::GetJwksResponse* r) {
            r->set_jwks_json(R"({"keys":[{"kid":"k1","kty":"RSA","alg":"RS256","use":"sig"}]})");
            return grpc::Status::OK;
        });
    EXPECT_EQ(run_cli({"token", "jwks"}).out, "KID   KTY   ALG     USE\nk1    RSA   RS256   sig\n");
}

TEST_F(CliTest, AllWalksEveryPage) {
    // Pages of two: "" → a,b (next p2) → c,d (next p3) → e (last).
    recorder_.on<rpb::ListRoomsRequest, rpb::ListRoomsResponse>(
        "ListRooms", [](const rpb::ListRoomsRequest& q, rpb::ListRoomsResponse* r) {
            const std::map<std::string, std::pair<std::vector<std::string>, std::string>> pages = {
                {"", {{"a", "b"}, "p2"}}, {"p2", {{"c", "d"}, "p3"}}, {"p3", {{"e"}, ""}}};
            const auto it = pages.find(q.page_token());
            if (it == pages.end()) {
                return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page token");
            }
            for (const auto& id : it->second.first) {
                *r->add_rooms() = room(id);
            }
            r->set_next_page_token(it->second.second);
            return grpc::Status::OK;
        });

    const Outcome first = run_cli({"rooms", "list", "--page-size", "2"});
    EXPECT_EQ(first.code, kExitOk);
    EXPECT_EQ(std::count(first.out.begin(), first.out.end(), '\n'), 3);
    EXPECT_EQ(first.err, "more results: --page-token p2 (or --all)\n");

    const Outcome all = run_cli({"rooms", "list", "--page-size", "2", "--all"});
    EXPECT_EQ(all.code, kExitOk) << all.err;
    EXPECT_EQ(all.err, "");
    for (const char* id : {"\na ", "\nb ", "\nc ", "\nd ", "\ne "}) {
        EXPECT_NE(all.out.find(id), std::string::npos) << id << all.out;
    }
    const auto calls = recorder_.calls();
    ASSERT_EQ(calls.size(), 4U);
    std::vector<std::string> tokens;
    for (std::size_t i = 1; i < calls.size(); ++i) {
        const auto& q = dynamic_cast<const rpb::ListRoomsRequest&>(*calls[i].request);
        tokens.push_back(q.page_token());
        EXPECT_EQ(q.page_size(), 2);
        EXPECT_EQ(calls[i].authorization, std::string(kBearer));
    }
    EXPECT_EQ(tokens, (std::vector<std::string>{"", "p2", "p3"}));

    // --json --all: one merged response.
    const auto json = boost::json::parse(run_cli({"rooms", "list", "--all", "--json"}).out);
    EXPECT_EQ(json.at("rooms").as_array().size(), 5U);
    EXPECT_EQ(json.at("next_page_token").as_string(), "");

    // Starting from a given token.
    const Outcome rest = run_cli({"rooms", "list", "--page-token", "p3"});
    EXPECT_NE(rest.out.find("\ne "), std::string::npos);
    EXPECT_EQ(rest.err, "");
}

TEST_F(CliTest, AllWorksForMembersAndPresence) {
    recorder_.on<rpb::ListMembersRequest, rpb::ListMembersResponse>(
        "ListMembers", [](const rpb::ListMembersRequest& q, rpb::ListMembersResponse* r) {
            r->add_members()->set_user_id(q.page_token().empty() ? "alice" : "bob");
            r->set_next_page_token(q.page_token().empty() ? "next" : "");
            return grpc::Status::OK;
        });
    const Outcome members = run_cli({"rooms", "members", "lobby", "--all"});
    EXPECT_EQ(members.out,
              "USER    ROLE          ADDED\nalice   UNSPECIFIED   -\n"
              "bob     UNSPECIFIED   -\n");

    recorder_.on<ppb::GetPresenceRequest, ppb::GetPresenceResponse>(
        "GetPresence", [](const ppb::GetPresenceRequest& q, ppb::GetPresenceResponse* r) {
            const bool first = q.page_token().empty();
            auto* user = r->add_users();
            user->set_id(first ? "alice" : "bob");
            user->set_sockets(1);
            r->set_next_page_token(first ? "2" : "");
            // Totals of the room may move between pages; the last page's are printed.
            r->set_clients(first ? 5 : 3);
            r->set_users_total(first ? 4 : 2);
            return grpc::Status::OK;
        });
    const Outcome presence = run_cli({"presence", "get", "lobby", "--all"});
    EXPECT_EQ(presence.out,
              "USER    NAME   SOCKETS\nalice   -      1\nbob     -      1\n\n"
              "2 users, 3 clients in the room\n");
    const auto json =
        boost::json::parse(run_cli({"presence", "get", "lobby", "--all", "--json"}).out);
    EXPECT_EQ(json.at("users").as_array().size(), 2U);
    EXPECT_EQ(json.at("clients").as_string(), "3");
    EXPECT_EQ(json.at("users_total").as_string(), "2");
}

TEST_F(CliTest, AllStopsWhenTheServerRepeatsAPageToken) {
    recorder_.on<rpb::ListRoomsRequest, rpb::ListRoomsResponse>(
        "ListRooms", [](const auto&, rpb::ListRoomsResponse* r) {
            r->set_next_page_token("stuck");
            return grpc::Status::OK;
        });
    const Outcome outcome = run_cli({"rooms", "list", "--all"});
    EXPECT_EQ(outcome.code, kExitOther);
    EXPECT_NE(outcome.err.find("the server returned the page token it was given"),
              std::string::npos);
    EXPECT_EQ(recorder_.calls().size(), 2U);
}

ppb::PresenceEvent presence_event(const std::string& joined, const std::string& left) {
    ppb::PresenceEvent event;
    event.set_room_id("lobby");
    if (!joined.empty()) {
        auto* user = event.add_joined();
        user->set_id(joined);
        user->set_name("Name of " + joined);
        user->set_sockets(1);
    }
    if (!left.empty()) {
        event.add_left()->set_id(left);
    }
    return event;
}

TEST_F(CliTest, WatchPrintsEachEventUntilTheServerEndsTheStream) {
    presence_.watch_events = {presence_event("alice", ""), presence_event("bob", "alice")};
    const Outcome text = run_cli({"presence", "watch", "lobby"});
    EXPECT_EQ(text.code, kExitOk) << text.err;
    EXPECT_EQ(text.out,
              "2024-05-01T12:00:00Z lobby joined: alice (Name of alice)\n"
              "2024-05-01T12:00:00Z lobby joined: bob (Name of bob); left: alice\n");
    const Call call = recorder_.calls().back();
    EXPECT_EQ(call.method, "WatchPresence");
    EXPECT_EQ(call.authorization, std::string(kBearer));
    EXPECT_EQ(dynamic_cast<const ppb::WatchPresenceRequest&>(*call.request).room_id(), "lobby");

    const Outcome json = run_cli({"presence", "watch", "lobby", "--json"});
    EXPECT_EQ(json.code, kExitOk);
    std::istringstream lines(json.out);
    std::vector<boost::json::value> events;
    for (std::string line; std::getline(lines, line);) {
        events.push_back(boost::json::parse(line));
    }
    ASSERT_EQ(events.size(), 2U);
    EXPECT_EQ(events[0].at("room_id").as_string(), "lobby");
    EXPECT_EQ(events[0].at("joined").as_array()[0].at("id").as_string(), "alice");
    EXPECT_EQ(events[1].at("left").as_array()[0].at("id").as_string(), "alice");
}

TEST_F(CliTest, WatchReportsAStreamThatEndsInError) {
    presence_.watch_events = {presence_event("alice", "")};
    presence_.watch_status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "presence is restarting");
    const Outcome outcome = run_cli({"presence", "watch", "lobby"});
    EXPECT_EQ(outcome.code, kExitRetryable);
    EXPECT_EQ(outcome.out, "2024-05-01T12:00:00Z lobby joined: alice (Name of alice)\n");
    EXPECT_TRUE(
        outcome.err.starts_with("roomcastctl: roomcast.presence.v1.Presence/WatchPresence: "
                                "UNAVAILABLE: presence is restarting\n"))
        << outcome.err;
}

TEST_F(CliTest, WatchStopsCleanlyOnCtrlC) {
    presence_.watch_events = {presence_event("alice", "")};
    presence_.watch_hold = true;
    auto started = presence_.watch_started.get_future();
    Outcome outcome;
    std::thread watcher([&] { outcome = run_cli({"presence", "watch", "lobby"}); });
    ASSERT_EQ(started.wait_for(10s), std::future_status::ready);
    // The event was written before the server reported; give it a moment to be printed, which
    // the assertion below needs, not the cancellation.
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(cancellation_.cancel());
    watcher.join();
    EXPECT_EQ(outcome.code, kExitOk) << outcome.err;
    EXPECT_EQ(outcome.out, "2024-05-01T12:00:00Z lobby joined: alice (Name of alice)\n");
    EXPECT_EQ(outcome.err, "");
    // Nothing is registered any more: a later Ctrl-C has nothing to stop.
    EXPECT_FALSE(cancellation_.cancel());
}

// A context saved with `context add` carries the address and the token file to every later
// command; `context` commands manage the file and exit 3 for a context that is not there.
TEST_F(CliTest, ContextsCarryTheServerAndTheTokenFile) {
    const std::string dir =
        ::testing::TempDir() + "roomcastctl-contexts-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string token_file = dir + "/admin.token";
    std::ofstream(token_file) << kToken << "\n";
    const Environment environment = {{"ROOMCAST_CONFIG", dir + "/config.json"}};

    const Outcome added = run_with({"context", "add", "fake", "--server", address_,
                                    "--admin-token-file", token_file, "--select"},
                                   environment);
    ASSERT_EQ(added.code, kExitOk) << added.err;
    EXPECT_EQ(added.out, "context fake saved in " + dir + "/config.json; it is now current\n");
    ASSERT_EQ(run_with({"context", "add", "other", "--server", "127.0.0.1:1"}, environment).code,
              kExitOk);

    const std::size_t before = recorder_.calls().size();
    const Outcome stats = run_with({"presence", "stats", "lobby"}, environment);
    EXPECT_EQ(stats.code, kExitOk) << stats.err;
    ASSERT_EQ(recorder_.calls().size(), before + 1);
    EXPECT_EQ(recorder_.calls().back().authorization, std::string(kBearer));

    // Another context by flag: its (dead) address, and no token file.
    const Outcome other = run_with(
        {"presence", "stats", "lobby", "--context", "other", "--timeout", "2s"}, environment);
    EXPECT_EQ(other.code, kExitRetryable) << other.err;
    EXPECT_NE(other.err.find("context other"), std::string::npos) << other.err;

    const Outcome list = run_with({"context", "list"}, environment);
    EXPECT_TRUE(list.out.starts_with("   NAME   SERVER")) << list.out;
    EXPECT_NE(list.out.find("\n*  fake   " + address_ + "  no\n"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("\n   other  127.0.0.1:1"), std::string::npos) << list.out;
    EXPECT_EQ(run_with({"context", "use", "other"}, environment).code, kExitOk);
    EXPECT_EQ(run_with({"context", "list", "--names"}, environment).out, "fake\nother\n");
    const Outcome shown = run_with({"context", "show", "--json"}, environment);
    EXPECT_NE(shown.out.find(R"("name":"other")"), std::string::npos) << shown.out;
    EXPECT_NE(shown.out.find(R"("current":true)"), std::string::npos) << shown.out;

    EXPECT_EQ(run_with({"context", "use", "nope"}, environment).code, kExitNotFound);
    EXPECT_EQ(run_with({"context", "remove", "nope"}, environment).code, kExitNotFound);
    EXPECT_EQ(run_with({"context", "remove", "other"}, environment).code, kExitOk);
    const Outcome none = run_with({"context", "show"}, environment);
    EXPECT_EQ(none.code, kExitNotFound);
    EXPECT_NE(none.err.find("no current context"), std::string::npos) << none.err;
    EXPECT_EQ(
        run_with({"context", "add", "bad", "--admin-token", "x", "--server", "h"}, environment)
            .code,
        kExitUsage);

    // A missing token file is a usage error before anything is sent.
    std::filesystem::remove(token_file);
    const std::size_t sent = recorder_.calls().size();
    const Outcome missing =
        run_with({"presence", "stats", "lobby", "--context", "fake"}, environment);
    EXPECT_EQ(missing.code, kExitUsage);
    EXPECT_NE(missing.err.find("admin token file " + token_file + " does not exist"),
              std::string::npos)
        << missing.err;
    EXPECT_EQ(recorder_.calls().size(), sent);

    // A broken config file stops every command but --help.
    std::ofstream(dir + "/config.json") << "{";
    EXPECT_EQ(run_with({"presence", "stats", "lobby"}, environment).code, kExitUsage);
    EXPECT_EQ(run_with({"--help"}, environment).code, kExitOk);
    std::filesystem::remove_all(dir);
}

// The completion script comes from the command table: every group, command and flag is in it.
TEST_F(CliTest, CompletionScriptsCoverTheCommandTable) {
    const Outcome bash = run_cli({"completion", "bash"});
    ASSERT_EQ(bash.code, kExitOk);
    for (const CommandSpec& spec : command_specs()) {
        EXPECT_NE(bash.out.find(std::string(spec.group) + ")"), std::string::npos) << spec.group;
        EXPECT_NE(bash.out.find(std::string(spec.name) + ") words='"), std::string::npos)
            << spec.name;
        for (const FlagSpec& flag : spec.flags) {
            EXPECT_NE(bash.out.find("--" + std::string(flag.name)), std::string::npos) << flag.name;
        }
    }
    EXPECT_NE(bash.out.find("complete -o default -F _roomcastctl roomcastctl"), std::string::npos);
    const Outcome zsh = run_cli({"completion", "zsh"});
    ASSERT_EQ(zsh.code, kExitOk);
    EXPECT_TRUE(zsh.out.starts_with("#compdef roomcastctl\n"));
    EXPECT_NE(zsh.out.find("bashcompinit"), std::string::npos);
}

TEST_F(CliTest, ServerErrorsExitWithTheirClassAndPrintMethodCodeAndMessage) {
    recorder_.on<rpb::GetRoomRequest, rpb::GetRoomResponse>(
        "GetRoom", [](const rpb::GetRoomRequest& q, rpb::GetRoomResponse*) {
            return grpc::Status(grpc::StatusCode::NOT_FOUND, "room " + q.room_id() + " not found");
        });
    const Outcome missing = run_cli({"rooms", "get", "nope"});
    EXPECT_EQ(missing.code, kExitNotFound);
    EXPECT_EQ(missing.out, "");
    EXPECT_EQ(missing.err,
              "roomcastctl: roomcast.rooms.v1.RoomAdmin/GetRoom: NOT_FOUND: room nope not found\n");

    recorder_.on<rpb::CreateRoomRequest, rpb::CreateRoomResponse>(
        "CreateRoom", [](const auto&, rpb::CreateRoomResponse*) {
            return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "room lobby exists");
        });
    const Outcome exists = run_cli({"rooms", "create", "lobby", "--json"});
    EXPECT_EQ(exists.code, kExitConflict);
    EXPECT_EQ(exists.out, "");
    EXPECT_EQ(exists.err,
              "roomcastctl: roomcast.rooms.v1.RoomAdmin/CreateRoom: ALREADY_EXISTS: room lobby "
              "exists\n");

    recorder_.on<apb::IssueTokenRequest, apb::IssueTokenResponse>(
        "IssueToken", [](const auto&, apb::IssueTokenResponse*) {
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "ttl not in [1 s, 30 days]");
        });
    const Outcome invalid = run_cli({"token", "issue", "alice", "--ttl", "60d"});
    EXPECT_EQ(invalid.code, kExitInvalid);
    EXPECT_EQ(invalid.err,
              "roomcastctl: roomcast.auth.v1.Auth/IssueToken: INVALID_ARGUMENT: ttl "
              "not in [1 s, 30 days]\n");
}

TEST_F(CliTest, MissingOrWrongTokenIsUnauthenticated) {
    Environment no_token = env();
    no_token.erase("ROOMCAST_ADMIN_TOKEN");
    const Outcome missing = run_with({"rooms", "get", "lobby"}, no_token);
    EXPECT_EQ(missing.code, kExitAuth);
    EXPECT_EQ(
        missing.err,
        "roomcastctl: roomcast.rooms.v1.RoomAdmin/GetRoom: UNAUTHENTICATED: missing "
        "authorization: Bearer <admin token>\n"
        "hint: no admin token was given: set ROOMCAST_ADMIN_TOKEN, pass --admin-token-file, or "
        "use a context that names a token file\n");
    EXPECT_EQ(recorder_.calls().back().authorization, std::nullopt);

    const Outcome wrong = run_cli({"presence", "stats", "lobby", "--admin-token", "guess"});
    EXPECT_EQ(wrong.code, kExitAuth);
    EXPECT_EQ(wrong.err,
              "roomcastctl: roomcast.presence.v1.Presence/GetPresenceStats: "
              "UNAUTHENTICATED: invalid admin token\n");
    EXPECT_EQ(recorder_.calls().back().authorization, "Bearer guess");

    // GetJwks needs none.
    recorder_.on<apb::GetJwksRequest, apb::GetJwksResponse>(
        "GetJwks", [](const auto&, apb::GetJwksResponse* r) {
            r->set_jwks_json(R"({"keys":[]})");
            return grpc::Status::OK;
        });
    EXPECT_EQ(run_with({"token", "jwks"}, no_token).code, kExitOk);
}

TEST_F(CliTest, TlsFilesAreReadBeforeAnyCall) {
    const Outcome missing = run_cli({"rooms", "get", "lobby", "--ca", "/nonexistent/ca.pem"});
    EXPECT_EQ(missing.code, kExitUsage);
    EXPECT_EQ(missing.err,
              "roomcastctl: --ca: cannot read /nonexistent/ca.pem\nTry 'roomcastctl --help'.\n");
    EXPECT_TRUE(recorder_.calls().empty()) << "nothing was sent";

    // A TLS client against this plaintext fake: the handshake fails, and the hint says why it
    // might.
    const Outcome mismatch = run_cli({"rooms", "get", "lobby", "--tls", "--timeout", "3s"});
    EXPECT_EQ(mismatch.code, kExitRetryable);
    EXPECT_NE(mismatch.err.find("hint: with --tls the server must serve TLS"), std::string::npos)
        << mismatch.err;
}

TEST_F(CliTest, UnreachableServerAndDeadline) {
    // A port nothing listens on: a server that was started and stopped again.
    int dead_port = 0;
    {
        grpc::ServerBuilder builder;
        builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &dead_port);
        auto dead = builder.BuildAndStart();
        dead->Shutdown();
    }
    const std::string dead = "127.0.0.1:" + std::to_string(dead_port);
    const Outcome down =
        run_cli({"rooms", "get", "lobby", "--rooms-addr", dead, "--timeout", "3s"});
    EXPECT_EQ(down.code, kExitRetryable);
    EXPECT_TRUE(
        down.err.starts_with("roomcastctl: roomcast.rooms.v1.RoomAdmin/GetRoom: "
                             "UNAVAILABLE"))
        << down.err;
    EXPECT_NE(down.err.find("hint: is the rooms service running at " + dead +
                            "? (--rooms-addr, ROOMCAST_ROOMS_ADDR, --server, ROOMCAST_SERVER)\n"),
              std::string::npos)
        << down.err;
    EXPECT_NE(down.err.find("hint: if the server was started with --grpc-tls-cert, pass --tls"),
              std::string::npos)
        << down.err;

    const Outcome watch =
        run_cli({"presence", "watch", "lobby", "--presence-addr", dead, "--timeout", "300ms"});
    EXPECT_EQ(watch.code, kExitRetryable);
    EXPECT_NE(watch.err.find("WatchPresence: UNAVAILABLE: no connection to " + dead),
              std::string::npos)
        << watch.err;

    recorder_.on<ppb::GetPresenceStatsRequest, ppb::GetPresenceStatsResponse>(
        "GetPresenceStats", [](const auto&, ppb::GetPresenceStatsResponse*) {
            std::this_thread::sleep_for(1s);
            return grpc::Status::OK;
        });
    const Outcome slow = run_cli({"presence", "stats", "lobby", "--timeout", "200ms"});
    EXPECT_EQ(slow.code, kExitRetryable);
    EXPECT_TRUE(
        slow.err.starts_with("roomcastctl: roomcast.presence.v1.Presence/GetPresenceStats: "
                             "DEADLINE_EXCEEDED"))
        << slow.err;
    EXPECT_TRUE(
        slow.err.ends_with("\nhint: no answer from " + address_ + " within --timeout 200ms\n"))
        << slow.err;
}

TEST_F(CliTest, ReflectionListsServices) {
    const Outcome list = run_cli({"grpc", "list", "--addr", address_});
    EXPECT_EQ(list.code, kExitOk) << list.err;
    EXPECT_EQ(list.out,
              "grpc.health.v1.Health\n"
              "grpc.reflection.v1alpha.ServerReflection\n"
              "roomcast.auth.v1.Auth\n"
              "roomcast.presence.v1.Presence\n"
              "roomcast.rooms.v1.RoomAdmin\n");
    const auto json =
        boost::json::parse(run_cli({"grpc", "list", "--addr", address_, "--json"}).out);
    EXPECT_EQ(json.at("services").as_array().size(), 5U);
    EXPECT_EQ(json.at("services").as_array()[4].as_string(), "roomcast.rooms.v1.RoomAdmin");
}

TEST_F(CliTest, ReflectionDescribesServicesMethodsMessagesAndEnums) {
    const Outcome service =
        run_cli({"grpc", "describe", "roomcast.rooms.v1.RoomAdmin", "--addr", address_});
    EXPECT_EQ(service.code, kExitOk) << service.err;
    EXPECT_TRUE(
        service.out.starts_with("roomcast.rooms.v1.RoomAdmin is a service:\n"
                                "service RoomAdmin {\n"))
        << service.out;
    EXPECT_NE(service.out.find("rpc CreateRoom(.roomcast.rooms.v1.CreateRoomRequest) returns "
                               "(.roomcast.rooms.v1.CreateRoomResponse);"),
              std::string::npos)
        << service.out;
    EXPECT_NE(service.out.find("rpc History("), std::string::npos);

    const Outcome method = run_cli(
        {"grpc", "describe", "roomcast.presence.v1.Presence.WatchPresence", "--addr", address_});
    EXPECT_EQ(method.code, kExitOk) << method.err;
    EXPECT_NE(method.out.find("is a method:"), std::string::npos);
    EXPECT_NE(method.out.find("returns (stream .roomcast.presence.v1.PresenceEvent)"),
              std::string::npos)
        << method.out;

    // Room imports google/protobuf/timestamp.proto: the import is resolved too.
    const Outcome message =
        run_cli({"grpc", "describe", ".roomcast.rooms.v1.Room", "--addr", address_});
    EXPECT_EQ(message.code, kExitOk) << message.err;
    EXPECT_NE(message.out.find("roomcast.rooms.v1.Room is a message:\nmessage Room {"),
              std::string::npos)
        << message.out;
    EXPECT_NE(message.out.find(".google.protobuf.Timestamp create_time = 5;"), std::string::npos)
        << message.out;

    const Outcome enumeration =
        run_cli({"grpc", "describe", "roomcast.rooms.v1.Role", "--addr", address_});
    EXPECT_NE(enumeration.out.find("ROLE_VIEWER = 2;"), std::string::npos) << enumeration.out;

    const Outcome json =
        run_cli({"grpc", "describe", "roomcast.auth.v1.Auth", "--addr", address_, "--json"});
    const auto parsed = boost::json::parse(json.out);
    EXPECT_EQ(parsed.at("symbol").as_string(), "roomcast.auth.v1.Auth");
    EXPECT_EQ(parsed.at("kind").as_string(), "service");
    const auto& methods = parsed.at("descriptor").at("method").as_array();
    ASSERT_EQ(methods.size(), 5U);
    EXPECT_EQ(methods[0].at("name").as_string(), "IssueToken");
    EXPECT_EQ(methods[0].at("input_type").as_string(), ".roomcast.auth.v1.IssueTokenRequest");

    const Outcome all = run_cli({"grpc", "describe", "--addr", address_});
    EXPECT_EQ(all.code, kExitOk) << all.err;
    for (const char* name :
         {"roomcast.rooms.v1.RoomAdmin is a service:",
          "roomcast.presence.v1.Presence is a service:", "roomcast.auth.v1.Auth is a service:",
          "grpc.reflection.v1alpha.ServerReflection is a service:"}) {
        EXPECT_NE(all.out.find(name), std::string::npos) << name;
    }
}

TEST_F(CliTest, ReflectionErrors) {
    const Outcome unknown =
        run_cli({"grpc", "describe", "roomcast.rooms.v1.Nope", "--addr", address_});
    EXPECT_EQ(unknown.code, kExitNotFound);
    EXPECT_TRUE(unknown.err.starts_with(
        "roomcastctl: grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo: NOT_FOUND"))
        << unknown.err;

    const Outcome field =
        run_cli({"grpc", "describe", "roomcast.rooms.v1.Room.id", "--addr", address_});
    EXPECT_EQ(field.code, kExitInvalid);
    EXPECT_NE(field.err.find("is not a service, method, message or enum"), std::string::npos)
        << field.err;
}

TEST_F(CliTest, ReflectionOnAServerBuiltLikeTheServices) {
    // grpcutil::Server is what services/* start: health checking and reflection switched on.
    grpcutil::Server server("127.0.0.1:0");
    FakeRooms rooms(recorder_);
    server.add_service(&rooms);
    const int port = server.start();
    const std::string address = "127.0.0.1:" + std::to_string(port);
    const Outcome list = run_cli({"grpc", "list", "--addr", address});
    EXPECT_EQ(list.code, kExitOk) << list.err;
    EXPECT_NE(list.out.find("roomcast.rooms.v1.RoomAdmin\n"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("grpc.health.v1.Health\n"), std::string::npos) << list.out;

    // gRPC C++ lists its health service but has no descriptor for it: describing everything
    // notes that and goes on.
    const Outcome all = run_cli({"grpc", "describe", "--addr", address});
    EXPECT_EQ(all.code, kExitOk) << all.err;
    EXPECT_NE(all.out.find("roomcast.rooms.v1.RoomAdmin is a service:"), std::string::npos);
    EXPECT_NE(all.err.find("note: grpc.health.v1.Health is listed but the server does not "
                           "describe it"),
              std::string::npos)
        << all.err;
    const Outcome health =
        run_cli({"grpc", "describe", "grpc.health.v1.Health", "--addr", address});
    EXPECT_EQ(health.code, kExitNotFound);
    EXPECT_NE(health.err.find("NOT_FOUND"), std::string::npos);
    server.shutdown(0ms);
}

}  // namespace
}  // namespace roomcast::ctl
