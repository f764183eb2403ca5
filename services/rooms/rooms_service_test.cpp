// RoomAdmin end to end in one process: the gRPC adapter on a grpcutil::Server (in-process
// channel), RoomsService over a real nats-server (natsbus testing), the room stream created as
// the edge creates it, and roomcast.control observed the way an edge observes it.
#include "rooms_service.hpp"
#include "auto_create.hpp"
#include "grpc_service.hpp"
#include "validation.hpp"
#include "test_storage.hpp"

#include "roomcast/backend/v1/backend.pb.h"
#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/grpcutil/grpcutil.hpp"
#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <thread>
#include <vector>

namespace roomcast::rooms {
namespace {

using namespace std::chrono_literals;
using natsbus::testing::Collector;
using natsbus::testing::connect_or_fail;
using natsbus::testing::shared_server;
using natsbus::testing::test_options;
using std::chrono::milliseconds;

constexpr const char* kToken = "test-admin-token";
using contract::kRoomStream;

#define EXPECT_CODE(status, code) \
    EXPECT_EQ((status).error_code(), grpc::StatusCode::code) << (status).error_message()
#define ASSERT_OK(status) ASSERT_TRUE((status).ok()) << (status).error_message()

class RoomsServiceTest : public ::testing::Test {
protected:
    void SetUp() override {
        nats_ = connect_or_fail(test_options(shared_server().url()));
        ASSERT_NE(nats_, nullptr);
        testing::RoomsStorage storage;
        ASSERT_NO_FATAL_FAILURE(testing::open_rooms_storage(*nats_, storage));
        kv_ = std::move(storage.rooms);
        revocations_ = std::move(storage.revocations);

        rooms_ = std::make_unique<RoomsService>(*nats_, *kv_, *revocations_);
        AdminOptions options;
        options.admin_token = kToken;
        admin_ = std::make_unique<RoomAdminService>(*rooms_, *nats_, options);
        server_ = std::make_unique<grpcutil::Server>("127.0.0.1:0");
        server_->add_service(admin_.get());
        ASSERT_GT(server_->start(), 0);
        stub_ = v1::RoomAdmin::NewStub(server_->in_process_channel());

        auto sub = nats_->subscribe(contract::kControlSubject, [this](natsbus::Message&& m) {
            bus::v1::Control control;
            if (control.ParseFromString(m.data)) {
                controls_.push(std::move(control));
            }
        });
        ASSERT_TRUE(sub) << sub.error().message();
        control_sub_ = std::move(*sub);
        ASSERT_TRUE(nats_->flush(2s));
    }

    void TearDown() override {
        control_sub_.reset();
        stub_.reset();
        if (server_) {
            server_->shutdown(1s);
        }
        server_.reset();
        admin_.reset();
        rooms_.reset();
        kv_.reset();
        if (nats_) {
            (void)nats_->jetstream().delete_stream("KV_" + std::string(contract::kRoomsBucket));
            (void)nats_->jetstream().delete_stream(kRoomStream);
        }
        nats_.reset();
    }

    template <class Request, class Response>
    using StubMethod = grpc::Status (v1::RoomAdmin::Stub::*)(grpc::ClientContext*, const Request&,
                                                             Response*);

    // Every call has a deadline, so no test can hang on the server.
    template <class Request, class Response>
    grpc::Status call(StubMethod<Request, Response> method, const Request& request,
                      Response* response, const char* token = kToken, milliseconds timeout = 10s) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + timeout);
        if (token != nullptr) {
            grpcutil::add_bearer(context, token);
        }
        return ((*stub_).*method)(&context, request, response);
    }

    grpc::Status create_room(const std::string& id,
                             v1::Visibility visibility = v1::VISIBILITY_UNSPECIFIED,
                             std::map<std::string, std::string> labels = {},
                             v1::Room* out = nullptr) {
        v1::CreateRoomRequest request;
        request.set_room_id(id);
        request.set_visibility(visibility);
        request.mutable_labels()->insert(labels.begin(), labels.end());
        v1::CreateRoomResponse response;
        auto s = call(&v1::RoomAdmin::Stub::CreateRoom, request, &response);
        if (out != nullptr) {
            *out = response.room();
        }
        return s;
    }

    grpc::Status get_room(const std::string& id, v1::Room* out = nullptr) {
        v1::GetRoomRequest request;
        request.set_room_id(id);
        v1::GetRoomResponse response;
        auto s = call(&v1::RoomAdmin::Stub::GetRoom, request, &response);
        if (out != nullptr) {
            *out = response.room();
        }
        return s;
    }

    grpc::Status add_member(const std::string& room, const std::string& user,
                            v1::Role role = v1::ROLE_UNSPECIFIED, v1::Member* out = nullptr) {
        v1::AddMemberRequest request;
        request.set_room_id(room);
        request.set_user_id(user);
        request.set_role(role);
        v1::AddMemberResponse response;
        auto s = call(&v1::RoomAdmin::Stub::AddMember, request, &response);
        if (out != nullptr) {
            *out = response.member();
        }
        return s;
    }

    grpc::Status remove_member(const std::string& room, const std::string& user) {
        v1::RemoveMemberRequest request;
        request.set_room_id(room);
        request.set_user_id(user);
        v1::RemoveMemberResponse response;
        return call(&v1::RoomAdmin::Stub::RemoveMember, request, &response);
    }

    grpc::Status list_rooms(const std::string& prefix, int page_size, const std::string& token,
                            v1::ListRoomsResponse* out) {
        v1::ListRoomsRequest request;
        request.set_prefix(prefix);
        request.set_page_size(page_size);
        request.set_page_token(token);
        return call(&v1::RoomAdmin::Stub::ListRooms, request, out);
    }

    grpc::Status list_members(const std::string& room, int page_size, const std::string& token,
                              v1::ListMembersResponse* out) {
        v1::ListMembersRequest request;
        request.set_room_id(room);
        request.set_page_size(page_size);
        request.set_page_token(token);
        return call(&v1::RoomAdmin::Stub::ListMembers, request, out);
    }

    grpc::Status publish(const std::string& room, const std::string& event,
                         const std::string& data_json, std::string* offset = nullptr) {
        v1::PublishRequest request;
        request.set_room_id(room);
        request.set_event(event);
        request.set_data_json(data_json);
        v1::PublishResponse response;
        auto s = call(&v1::RoomAdmin::Stub::Publish, request, &response);
        if (offset != nullptr) {
            *offset = response.offset();
        }
        return s;
    }

    grpc::Status history(const std::string& room, const std::string& since, int limit,
                         v1::HistoryResponse* out) {
        v1::HistoryRequest request;
        request.set_room_id(room);
        request.set_since(since);
        request.set_limit(limit);
        return call(&v1::RoomAdmin::Stub::History, request, out);
    }

    std::vector<std::string> offsets_of(const v1::HistoryResponse& response) {
        std::vector<std::string> out;
        for (const auto& m : response.messages()) {
            out.push_back(m.offset());
        }
        return out;
    }

    // Waits for the next Control message (bounded) and returns it.
    bus::v1::Control next_control() {
        const std::size_t want = seen_controls_ + 1;
        EXPECT_TRUE(controls_.wait_for(want)) << "no Control message on roomcast.control";
        auto items = controls_.items();
        if (items.size() < want) {
            return {};
        }
        seen_controls_ = want;
        return items[want - 1];
    }

    std::unique_ptr<natsbus::Connection> nats_;
    std::unique_ptr<natsbus::KeyValue> kv_;
    std::unique_ptr<natsbus::KeyValue> revocations_;
    std::unique_ptr<RoomsService> rooms_;
    std::unique_ptr<RoomAdminService> admin_;
    std::unique_ptr<grpcutil::Server> server_;
    std::unique_ptr<v1::RoomAdmin::Stub> stub_;
    natsbus::Subscription control_sub_;
    Collector<bus::v1::Control> controls_;
    std::size_t seen_controls_ = 0;
};

// --- authentication ----------------------------------------------------------------------------

TEST_F(RoomsServiceTest, EveryMethodRefusesAMissingOrWrongToken) {
    const auto refused = [this](auto method, auto request, auto response) {
        for (const char* token : {static_cast<const char*>(nullptr), "wrong-token", ""}) {
            auto s = call(method, request, &response, token);
            EXPECT_CODE(s, UNAUTHENTICATED);
        }
    };
    // Valid requests: authentication is decided before anything else.
    v1::CreateRoomRequest create;
    create.set_room_id("r");
    refused(&v1::RoomAdmin::Stub::CreateRoom, create, v1::CreateRoomResponse());
    v1::GetRoomRequest get;
    get.set_room_id("r");
    refused(&v1::RoomAdmin::Stub::GetRoom, get, v1::GetRoomResponse());
    refused(&v1::RoomAdmin::Stub::ListRooms, v1::ListRoomsRequest(), v1::ListRoomsResponse());
    v1::UpdateRoomRequest update;
    update.set_room_id("r");
    refused(&v1::RoomAdmin::Stub::UpdateRoom, update, v1::UpdateRoomResponse());
    v1::DeleteRoomRequest del;
    del.set_room_id("r");
    refused(&v1::RoomAdmin::Stub::DeleteRoom, del, v1::DeleteRoomResponse());
    v1::AddMemberRequest add;
    add.set_room_id("r");
    add.set_user_id("u");
    refused(&v1::RoomAdmin::Stub::AddMember, add, v1::AddMemberResponse());
    v1::RemoveMemberRequest remove;
    remove.set_room_id("r");
    remove.set_user_id("u");
    refused(&v1::RoomAdmin::Stub::RemoveMember, remove, v1::RemoveMemberResponse());
    v1::ListMembersRequest members;
    members.set_room_id("r");
    refused(&v1::RoomAdmin::Stub::ListMembers, members, v1::ListMembersResponse());
    v1::KickUserRequest kick;
    kick.set_room_id("r");
    kick.set_user_id("u");
    refused(&v1::RoomAdmin::Stub::KickUser, kick, v1::KickUserResponse());
    v1::DisconnectUserRequest disconnect;
    disconnect.set_user_id("u");
    refused(&v1::RoomAdmin::Stub::DisconnectUser, disconnect, v1::DisconnectUserResponse());
    v1::PublishRequest pub;
    pub.set_room_id("r");
    pub.set_event("e");
    refused(&v1::RoomAdmin::Stub::Publish, pub, v1::PublishResponse());
    v1::HistoryRequest hist;
    hist.set_room_id("r");
    refused(&v1::RoomAdmin::Stub::History, hist, v1::HistoryResponse());
    v1::PublishToUserRequest emit;
    emit.set_user_id("u");
    emit.set_event("e");
    refused(&v1::RoomAdmin::Stub::PublishToUser, emit, v1::PublishToUserResponse());

    // Nothing happened: the room was never created, no control message went out.
    EXPECT_CODE(get_room("r"), NOT_FOUND);
    EXPECT_EQ(controls_.size(), 0U);
}

// --- rooms -------------------------------------------------------------------------------------

TEST_F(RoomsServiceTest, CreateAndGet) {
    v1::Room created;
    ASSERT_OK(create_room("post:42", v1::VISIBILITY_UNSPECIFIED, {{"app", "blog"}}, &created));
    EXPECT_EQ(created.id(), "post:42");
    EXPECT_EQ(created.visibility(), v1::VISIBILITY_PUBLIC);
    EXPECT_FALSE(created.auto_created());
    EXPECT_GT(created.create_time().seconds(), 0);
    EXPECT_EQ(created.update_time().seconds(), created.create_time().seconds());

    v1::Room got;
    ASSERT_OK(get_room("post:42", &got));
    EXPECT_EQ(got.id(), "post:42");
    EXPECT_EQ(got.visibility(), v1::VISIBILITY_PUBLIC);
    EXPECT_EQ(got.labels().at("app"), "blog");
    EXPECT_EQ(got.create_time().nanos(), created.create_time().nanos());

    // Stored where docs/control-plane.md says, as a Room.
    auto raw = kv_->get(contract::room_key("post:42"));
    ASSERT_TRUE(raw && *raw);
    v1::Room stored;
    ASSERT_TRUE(stored.ParseFromString((*raw)->value));
    EXPECT_EQ(stored.id(), "post:42");

    ASSERT_OK(create_room("dm:a@b", v1::VISIBILITY_PRIVATE));
    ASSERT_OK(get_room("dm:a@b", &got));
    EXPECT_EQ(got.visibility(), v1::VISIBILITY_PRIVATE);

    EXPECT_CODE(get_room("missing"), NOT_FOUND);
}

// A rooms bucket at its byte budget refuses new rooms with RESOURCE_EXHAUSTED (the gRPC code
// of natsbus::Errc::kStorageFull), not INTERNAL, and keeps the rooms it has.
TEST_F(RoomsServiceTest, AFullRoomsBucketIsResourceExhausted) {
    auto config = contract::rooms_bucket(1, {});
    config.bucket = natsbus::testing::unique_name("rooms_full");
    config.storage = natsbus::Storage::kMemory;
    config.max_bytes = 4096;
    auto small = nats_->jetstream().key_value(config);
    ASSERT_TRUE(small) << small.error().message();
    RoomsService rooms(*nats_, **small, *revocations_);
    grpc::Status refused;
    int created = 0;
    for (int i = 0; i < 100 && refused.ok(); ++i) {
        v1::CreateRoomRequest request;
        request.set_room_id("full:" + std::to_string(i));
        (*request.mutable_labels())["pad"] = std::string(200, 'p');
        auto r = rooms.create_room(request, std::chrono::steady_clock::now() + 5s);
        if (r) {
            ++created;
        } else {
            refused = r.error();
        }
    }
    EXPECT_GT(created, 0);
    EXPECT_CODE(refused, RESOURCE_EXHAUSTED);
    EXPECT_NE(refused.error_message().find("storage full"), std::string::npos)
        << refused.error_message();
    v1::GetRoomRequest get;
    get.set_room_id("full:0");
    EXPECT_TRUE(rooms.get_room(get, std::chrono::steady_clock::now() + 5s));
    (void)nats_->jetstream().delete_stream("KV_" + config.bucket);
}

TEST_F(RoomsServiceTest, CreateOfAnExistingRoomIsAlreadyExists) {
    ASSERT_OK(create_room("r1"));
    EXPECT_CODE(create_room("r1"), ALREADY_EXISTS);
    EXPECT_CODE(create_room("r1", v1::VISIBILITY_PRIVATE), ALREADY_EXISTS);
}

TEST_F(RoomsServiceTest, AnAutoCreatedRoomExistsToo) {
    // What edges wrote before auto-creation moved to this service (no id in the value): such
    // records stay readable.
    v1::Room room;
    room.set_visibility(v1::VISIBILITY_PUBLIC);
    room.set_auto_created(true);
    std::string bytes;
    room.SerializeToString(&bytes);
    ASSERT_TRUE(kv_->create(contract::room_key("auto:7"), bytes));

    EXPECT_CODE(create_room("auto:7", v1::VISIBILITY_PRIVATE), ALREADY_EXISTS);
    v1::Room got;
    ASSERT_OK(get_room("auto:7", &got));
    EXPECT_EQ(got.id(), "auto:7");
    EXPECT_TRUE(got.auto_created());
    EXPECT_EQ(got.visibility(), v1::VISIBILITY_PUBLIC);
}

TEST_F(RoomsServiceTest, AutoCreateMakesAPublicRoomOnceAndLeavesPrivateOnesAlone) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    ASSERT_OK(rooms_->auto_create_room("auto:1", deadline));
    v1::Room got;
    ASSERT_OK(get_room("auto:1", &got));
    EXPECT_TRUE(got.auto_created());
    EXPECT_EQ(got.visibility(), v1::VISIBILITY_PUBLIC);
    EXPECT_TRUE(got.has_create_time());
    ASSERT_OK(rooms_->auto_create_room("auto:1", deadline));  // exists and is public: fine
    EXPECT_CODE(create_room("auto:1"), ALREADY_EXISTS);

    ASSERT_OK(create_room("auto:private", v1::VISIBILITY_PRIVATE));
    EXPECT_CODE(rooms_->auto_create_room("auto:private", deadline), PERMISSION_DENIED);
    ASSERT_OK(get_room("auto:private", &got));
    EXPECT_EQ(got.visibility(), v1::VISIBILITY_PRIVATE);
    EXPECT_FALSE(got.auto_created());

    EXPECT_CODE(rooms_->auto_create_room("not a room id", deadline), INVALID_ARGUMENT);
    EXPECT_CODE(rooms_->auto_create_room("auto:late", std::chrono::steady_clock::now() - 1ms),
                DEADLINE_EXCEEDED);
}

TEST_F(RoomsServiceTest, AutoCreateRequestsAreAnsweredOverNats) {
    AutoCreateResponder responder(*nats_, *rooms_);
    ASSERT_TRUE(responder.start());
    ASSERT_OK(create_room("auto:closed", v1::VISIBILITY_PRIVATE));
    auto ask = [&](const std::string& body) {
        bus::v1::AutoCreateRoomReply reply;
        auto m = nats_->request(contract::kRoomAutoCreateSubject, body, 5s);
        EXPECT_TRUE(m) << m.error().message();
        EXPECT_TRUE(m && reply.ParseFromString(m->data));
        return reply;
    };
    auto request = [](const std::string& room) {
        bus::v1::AutoCreateRoom r;
        r.set_room(room);
        return r.SerializeAsString();
    };

    auto created = ask(request("auto:over-nats"));
    EXPECT_TRUE(created.ok()) << created.code() << ": " << created.message();
    v1::Room got;
    ASSERT_OK(get_room("auto:over-nats", &got));
    EXPECT_TRUE(got.auto_created());

    auto refused = ask(request("auto:closed"));
    EXPECT_FALSE(refused.ok());
    EXPECT_EQ(refused.code(), "forbidden");
    EXPECT_EQ(ask(request("bad id")).code(), "bad_request");
    EXPECT_EQ(ask("\xff\xff garbage").code(), "bad_request");

    responder.stop();
    EXPECT_EQ(nats_->request(contract::kRoomAutoCreateSubject, request("auto:x"), 2s).error(),
              natsbus::make_error_code(natsbus::Errc::kNoResponders));
}

TEST_F(RoomsServiceTest, ListRoomsByPrefixAcrossPages) {
    for (const char* id : {"a:3", "b:1", "a:1", "a", "a:5", "b:2", "a:2", "a:4"}) {
        ASSERT_OK(create_room(id));
    }
    // A member key must never be mistaken for a room.
    ASSERT_OK(add_member("a:1", "u1"));

    std::vector<std::string> seen;
    std::vector<std::size_t> page_sizes;
    std::string token;
    for (int pages = 0; pages < 10; ++pages) {
        v1::ListRoomsResponse page;
        ASSERT_OK(list_rooms("a:", 2, token, &page));
        page_sizes.push_back(static_cast<std::size_t>(page.rooms_size()));
        for (const auto& r : page.rooms()) {
            seen.push_back(r.id());
        }
        token = page.next_page_token();
        if (token.empty()) {
            break;
        }
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"a:1", "a:2", "a:3", "a:4", "a:5"}));
    EXPECT_EQ(page_sizes, (std::vector<std::size_t>{2, 2, 1}));

    v1::ListRoomsResponse all;
    ASSERT_OK(list_rooms("", 0, "", &all));
    std::vector<std::string> ids;
    for (const auto& r : all.rooms()) {
        ids.push_back(r.id());
    }
    EXPECT_EQ(ids,
              (std::vector<std::string>{"a", "a:1", "a:2", "a:3", "a:4", "a:5", "b:1", "b:2"}));
    EXPECT_TRUE(all.next_page_token().empty());

    // An exact page: no next token once nothing is left.
    v1::ListRoomsResponse b;
    ASSERT_OK(list_rooms("b", 2, "", &b));
    EXPECT_EQ(b.rooms_size(), 2);
    EXPECT_TRUE(b.next_page_token().empty());

    v1::ListRoomsResponse none;
    ASSERT_OK(list_rooms("zzz", 0, "", &none));
    EXPECT_EQ(none.rooms_size(), 0);

    EXPECT_CODE(list_rooms("", 0, "not a token!", &none), INVALID_ARGUMENT);
}

TEST_F(RoomsServiceTest, UpdateRoomFollowsTheMask) {
    v1::Room created;
    ASSERT_OK(create_room("u:1", v1::VISIBILITY_PRIVATE, {{"a", "1"}}, &created));

    const auto update = [this](v1::Visibility visibility,
                               const std::map<std::string, std::string>& labels,
                               const std::vector<std::string>& mask, v1::Room* out) {
        v1::UpdateRoomRequest request;
        request.set_room_id("u:1");
        request.set_visibility(visibility);
        request.mutable_labels()->insert(labels.begin(), labels.end());
        for (const auto& m : mask) {
            request.add_update_mask(m);
        }
        v1::UpdateRoomResponse response;
        auto s = call(&v1::RoomAdmin::Stub::UpdateRoom, request, &response);
        *out = response.room();
        return s;
    };

    v1::Room room;
    ASSERT_OK(update(v1::VISIBILITY_PUBLIC, {{"b", "2"}}, {"labels"}, &room));
    EXPECT_EQ(room.visibility(), v1::VISIBILITY_PRIVATE);
    EXPECT_EQ(room.labels().size(), 1U);
    EXPECT_EQ(room.labels().at("b"), "2");

    ASSERT_OK(update(v1::VISIBILITY_PUBLIC, {}, {"visibility"}, &room));
    EXPECT_EQ(room.visibility(), v1::VISIBILITY_PUBLIC);
    EXPECT_EQ(room.labels().at("b"), "2");

    // Empty mask: both fields, but an unset visibility is kept.
    ASSERT_OK(update(v1::VISIBILITY_UNSPECIFIED, {}, {}, &room));
    EXPECT_EQ(room.visibility(), v1::VISIBILITY_PUBLIC);
    EXPECT_TRUE(room.labels().empty());

    ASSERT_OK(update(v1::VISIBILITY_PRIVATE, {{"c", "3"}}, {}, &room));
    EXPECT_EQ(room.visibility(), v1::VISIBILITY_PRIVATE);
    EXPECT_EQ(room.labels().at("c"), "3");
    EXPECT_EQ(room.create_time().seconds(), created.create_time().seconds());
    EXPECT_EQ(room.create_time().nanos(), created.create_time().nanos());
    EXPECT_TRUE(room.update_time().seconds() > created.create_time().seconds() ||
                room.update_time().nanos() > created.create_time().nanos());

    v1::Room got;
    ASSERT_OK(get_room("u:1", &got));
    EXPECT_EQ(got.visibility(), v1::VISIBILITY_PRIVATE);
    EXPECT_EQ(got.labels().at("c"), "3");

    EXPECT_CODE(update(v1::VISIBILITY_UNSPECIFIED, {}, {"visibility"}, &room), INVALID_ARGUMENT);
    EXPECT_CODE(update(v1::VISIBILITY_PUBLIC, {}, {"auto_created"}, &room), INVALID_ARGUMENT);

    v1::UpdateRoomRequest missing;
    missing.set_room_id("nope");
    v1::UpdateRoomResponse response;
    EXPECT_CODE(call(&v1::RoomAdmin::Stub::UpdateRoom, missing, &response), NOT_FOUND);
}

TEST_F(RoomsServiceTest, ConcurrentUpdatesAreCompareAndSet) {
    ASSERT_OK(create_room("cas"));
    constexpr int kWriters = 6;
    std::vector<grpc::Status> results(kWriters);
    std::vector<std::thread> threads;
    threads.reserve(kWriters);
    for (int i = 0; i < kWriters; ++i) {
        threads.emplace_back([this, i, &results] {
            v1::UpdateRoomRequest request;
            request.set_room_id("cas");
            (*request.mutable_labels())["writer"] = std::to_string(i);
            request.add_update_mask("labels");
            v1::UpdateRoomResponse response;
            results[static_cast<std::size_t>(i)] =
                call(&v1::RoomAdmin::Stub::UpdateRoom, request, &response);
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    int ok = 0;
    for (const auto& s : results) {
        EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::ABORTED) << s.error_message();
        ok += s.ok() ? 1 : 0;
    }
    EXPECT_GE(ok, 1);
    v1::Room got;
    ASSERT_OK(get_room("cas", &got));
    EXPECT_EQ(got.labels().size(), 1U);  // one writer's labels, never a mix or a lost room
}

TEST_F(RoomsServiceTest, DeleteRoomRemovesMembersAndKicksEveryone) {
    ASSERT_OK(create_room("del", v1::VISIBILITY_PRIVATE));
    for (const char* user : {"u1", "u2", "u3"}) {
        ASSERT_OK(add_member("del", user));
    }
    ASSERT_OK(create_room("other"));
    ASSERT_OK(add_member("other", "u1"));

    v1::DeleteRoomRequest request;
    request.set_room_id("del");
    v1::DeleteRoomResponse response;
    ASSERT_OK(call(&v1::RoomAdmin::Stub::DeleteRoom, request, &response));

    auto control = next_control();
    ASSERT_TRUE(control.has_kick());
    EXPECT_EQ(control.kick().room(), "del");
    EXPECT_EQ(control.kick().user_id(), "");
    EXPECT_EQ(control.kick().reason(), "room_deleted");

    EXPECT_CODE(get_room("del"), NOT_FOUND);
    auto keys = kv_->keys(contract::member_key_filter("del"));
    ASSERT_TRUE(keys);
    EXPECT_TRUE(keys->empty());
    auto other = kv_->keys(contract::member_key_filter("other"));
    ASSERT_TRUE(other);
    EXPECT_EQ(other->size(), 1U);

    EXPECT_CODE(call(&v1::RoomAdmin::Stub::DeleteRoom, request, &response), NOT_FOUND);
    // Created again, it starts with no members.
    ASSERT_OK(create_room("del"));
    v1::ListMembersResponse members;
    ASSERT_OK(list_members("del", 0, "", &members));
    EXPECT_EQ(members.members_size(), 0);
}

// --- members -----------------------------------------------------------------------------------

TEST_F(RoomsServiceTest, MembershipAddListRemove) {
    ASSERT_OK(create_room("team", v1::VISIBILITY_PRIVATE));
    v1::Member first;
    ASSERT_OK(add_member("team", "u1", v1::ROLE_UNSPECIFIED, &first));
    EXPECT_EQ(first.user_id(), "u1");
    EXPECT_EQ(first.role(), v1::ROLE_MEMBER);
    EXPECT_GT(first.create_time().seconds(), 0);

    // Adding again changes the role and keeps the first create_time.
    v1::Member again;
    ASSERT_OK(add_member("team", "u1", v1::ROLE_VIEWER, &again));
    EXPECT_EQ(again.role(), v1::ROLE_VIEWER);
    EXPECT_EQ(again.create_time().seconds(), first.create_time().seconds());
    EXPECT_EQ(again.create_time().nanos(), first.create_time().nanos());

    // User ids are arbitrary UTF-8: dots, '@', non-ASCII all work (keys are base64url).
    for (const char* user : {"u3", "a.b", "ü@example.com", "u2"}) {
        ASSERT_OK(add_member("team", user));
    }
    auto raw = kv_->get(contract::member_key("team", "a.b"));
    ASSERT_TRUE(raw && *raw);

    std::vector<std::string> seen;
    std::string token;
    int pages = 0;
    do {
        v1::ListMembersResponse page;
        ASSERT_OK(list_members("team", 2, token, &page));
        EXPECT_LE(page.members_size(), 2);
        for (const auto& m : page.members()) {
            seen.push_back(m.user_id());
            if (m.user_id() == "u1") {
                EXPECT_EQ(m.role(), v1::ROLE_VIEWER);
            }
        }
        token = page.next_page_token();
        ++pages;
    } while (!token.empty() && pages < 10);
    EXPECT_EQ(seen, (std::vector<std::string>{"a.b", "u1", "u2", "u3", "ü@example.com"}));
    EXPECT_EQ(pages, 3);

    ASSERT_OK(remove_member("team", "u1"));
    EXPECT_CODE(remove_member("team", "u1"), NOT_FOUND);
    v1::ListMembersResponse after;
    ASSERT_OK(list_members("team", 0, "", &after));
    EXPECT_EQ(after.members_size(), 4);

    EXPECT_CODE(add_member("nope", "u1"), NOT_FOUND);
    EXPECT_CODE(remove_member("nope", "u1"), NOT_FOUND);
    EXPECT_CODE(list_members("nope", 0, "", &after), NOT_FOUND);
}

TEST_F(RoomsServiceTest, RemovingAMemberOfAPrivateRoomKicksTheUser) {
    ASSERT_OK(create_room("open", v1::VISIBILITY_PUBLIC));
    ASSERT_OK(create_room("closed", v1::VISIBILITY_PRIVATE));
    ASSERT_OK(add_member("open", "u1"));
    ASSERT_OK(add_member("closed", "u1"));

    ASSERT_OK(remove_member("open", "u1"));  // PUBLIC: the user may stay, no kick
    ASSERT_OK(remove_member("closed", "u1"));

    auto control = next_control();
    ASSERT_TRUE(control.has_kick());
    EXPECT_EQ(control.kick().room(), "closed");
    EXPECT_EQ(control.kick().user_id(), "u1");
    EXPECT_EQ(control.kick().reason(), "membership_removed");
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(controls_.size(), 1U);
}

// --- live rooms ----------------------------------------------------------------------------------

TEST_F(RoomsServiceTest, KickAndDisconnectPublishControlMessages) {
    ASSERT_OK(create_room("live"));
    v1::KickUserRequest kick;
    kick.set_room_id("live");
    kick.set_user_id("u1");
    kick.set_reason("spam");
    v1::KickUserResponse kicked;
    ASSERT_OK(call(&v1::RoomAdmin::Stub::KickUser, kick, &kicked));
    auto control = next_control();
    ASSERT_TRUE(control.has_kick());
    EXPECT_EQ(control.kick().room(), "live");
    EXPECT_EQ(control.kick().user_id(), "u1");
    EXPECT_EQ(control.kick().reason(), "spam");

    kick.set_reason("");
    ASSERT_OK(call(&v1::RoomAdmin::Stub::KickUser, kick, &kicked));
    control = next_control();
    ASSERT_TRUE(control.has_kick());
    EXPECT_EQ(control.kick().reason(), "kicked");

    kick.set_room_id("nope");
    EXPECT_CODE(call(&v1::RoomAdmin::Stub::KickUser, kick, &kicked), NOT_FOUND);

    v1::DisconnectUserRequest disconnect;
    disconnect.set_user_id("ü1");
    disconnect.set_reason("banned");
    v1::DisconnectUserResponse disconnected;
    ASSERT_OK(call(&v1::RoomAdmin::Stub::DisconnectUser, disconnect, &disconnected));
    control = next_control();
    ASSERT_TRUE(control.has_disconnect());
    EXPECT_EQ(control.disconnect().user_id(), "ü1");
    EXPECT_EQ(control.disconnect().reason(), "banned");
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(controls_.size(), 3U);  // nothing for the refused kick
}

TEST_F(RoomsServiceTest, PublishToUserEmitsToAUserOrASocketOnRoomcastEmit) {
    Collector<backend::v1::Emit> emits;
    auto sub = nats_->subscribe(contract::kEmitSubject, [&emits](natsbus::Message&& m) {
        backend::v1::Emit emit;
        if (emit.ParseFromString(m.data)) {
            emits.push(std::move(emit));
        }
    });
    ASSERT_TRUE(sub) << sub.error().message();
    ASSERT_TRUE(nats_->flush(2s));

    v1::PublishToUserRequest request;
    request.set_user_id("ü1");
    request.set_event("notice");
    request.set_data_json(R"({ "text": "hi" })");
    v1::PublishToUserResponse response;
    ASSERT_OK(call(&v1::RoomAdmin::Stub::PublishToUser, request, &response));
    request.set_socket_id("AbCdEfGhIjKlMnOpQr-_");
    request.set_data_json("");
    request.set_namespace_("/chat");
    ASSERT_OK(call(&v1::RoomAdmin::Stub::PublishToUser, request, &response));

    ASSERT_TRUE(emits.wait_for(2));
    const auto got = emits.items();
    EXPECT_EQ(got[0].user_id(), "ü1");
    EXPECT_EQ(got[0].namespace_(), "/");  // "" is the default namespace, sent as "/"
    EXPECT_EQ(got[0].event(), "notice");
    EXPECT_EQ(got[0].args_json(), R"([{"text":"hi"}])");  // the one argument, compacted
    EXPECT_EQ(got[1].target_case(), backend::v1::Emit::kSocketId);
    EXPECT_EQ(got[1].socket_id(), "AbCdEfGhIjKlMnOpQr-_");
    EXPECT_EQ(got[1].namespace_(), "/chat");
    EXPECT_EQ(got[1].args_json(), "[null]");

    // Refused before anything is sent.
    const auto refused = [&](v1::PublishToUserRequest bad) {
        return call(&v1::RoomAdmin::Stub::PublishToUser, bad, &response);
    };
    v1::PublishToUserRequest bad;
    bad.set_event("notice");
    EXPECT_CODE(refused(bad), INVALID_ARGUMENT);  // no target
    bad.set_socket_id("a.b");
    EXPECT_CODE(refused(bad), INVALID_ARGUMENT);
    bad.set_user_id("u1");
    bad.set_event("kicked");  // reserved: would impersonate the edge
    EXPECT_CODE(refused(bad), INVALID_ARGUMENT);
    bad.set_event("notice");
    bad.set_namespace_("chat");  // no leading slash
    EXPECT_CODE(refused(bad), INVALID_ARGUMENT);
    bad.set_namespace_("/");
    bad.set_data_json("{");
    EXPECT_CODE(refused(bad), INVALID_ARGUMENT);
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(emits.items().size(), 2U);
}

TEST_F(RoomsServiceTest, RightsLostAreRecordedForAwaySessionsThenAnnounced) {
    const auto revocation = [this](const std::string& key) {
        bus::v1::Revocation r;
        auto got = revocations_->get(key);
        EXPECT_TRUE(got && *got) << key;
        if (got && *got) {
            r.ParseFromString((*got)->value);
        }
        return r;
    };
    ASSERT_OK(create_room("rv", v1::VISIBILITY_PUBLIC));

    // PUBLIC → PRIVATE: the edges re-check their members against this revision.
    v1::UpdateRoomRequest update;
    update.set_room_id("rv");
    update.set_visibility(v1::VISIBILITY_PRIVATE);
    update.add_update_mask("visibility");
    v1::UpdateRoomResponse updated;
    ASSERT_OK(call(&v1::RoomAdmin::Stub::UpdateRoom, update, &updated));
    auto control = next_control();
    ASSERT_TRUE(control.has_rights());
    EXPECT_EQ(control.rights().room(), "rv");
    EXPECT_EQ(control.rights().reason(), "room_private");
    auto stored = kv_->get(contract::room_key("rv"));
    ASSERT_TRUE(stored && *stored);
    EXPECT_EQ(control.rights().rights_revision(), (*stored)->revision);
    EXPECT_EQ(revocation(contract::revocation_room_key("rv")).reason(), "room_private");
    EXPECT_EQ(revocation(contract::revocation_room_key("rv")).at_ms(), control.rights().at_ms());
    // PRIVATE → PRIVATE (labels only) narrows nothing: no announcement.
    update.clear_update_mask();
    update.add_update_mask("labels");
    ASSERT_OK(call(&v1::RoomAdmin::Stub::UpdateRoom, update, &updated));

    v1::KickUserRequest kick;
    kick.set_room_id("rv");
    kick.set_user_id("u1");
    kick.set_reason("spam");
    v1::KickUserResponse kicked;
    ASSERT_OK(call(&v1::RoomAdmin::Stub::KickUser, kick, &kicked));
    control = next_control();
    ASSERT_TRUE(control.has_kick());
    EXPECT_NE(control.kick().at_ms(), 0);
    auto r = revocation(contract::revocation_kick_key("rv", "u1"));
    EXPECT_EQ(r.reason(), "spam");
    EXPECT_EQ(r.at_ms(), control.kick().at_ms());

    v1::DisconnectUserRequest disconnect;
    disconnect.set_user_id("u2");
    disconnect.set_reason("bye");
    v1::DisconnectUserResponse disconnected;
    ASSERT_OK(call(&v1::RoomAdmin::Stub::DisconnectUser, disconnect, &disconnected));
    control = next_control();
    ASSERT_TRUE(control.has_disconnect());
    EXPECT_EQ(revocation(contract::revocation_user_key("u2")).at_ms(), control.disconnect().at_ms());

    v1::DeleteRoomRequest del;
    del.set_room_id("rv");
    v1::DeleteRoomResponse deleted;
    ASSERT_OK(call(&v1::RoomAdmin::Stub::DeleteRoom, del, &deleted));
    control = next_control();
    ASSERT_TRUE(control.has_kick());
    EXPECT_EQ(revocation(contract::revocation_room_key("rv")).reason(), "room_deleted");
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(controls_.size(), 4U);
}

TEST_F(RoomsServiceTest, PublishStoresAServerEventAndReturnsIncreasingOffsets) {
    ASSERT_OK(create_room("pub"));
    ASSERT_OK(create_room("pub2"));
    std::vector<std::uint64_t> offsets;
    for (int i = 0; i < 3; ++i) {
        std::string offset;
        ASSERT_OK(publish("pub", "comment", "{ \"n\" : " + std::to_string(i) + " }", &offset));
        offsets.push_back(std::stoull(offset));
        ASSERT_OK(publish("pub2", "noise", "", &offset));
    }
    EXPECT_LT(offsets[0], offsets[1]);
    EXPECT_LT(offsets[1], offsets[2]);

    auto stored = nats_->jetstream().read_subject(kRoomStream, contract::room_subject("pub"),
                                                  offsets[1], 1, 2s);
    ASSERT_TRUE(stored) << stored.error().message();
    ASSERT_EQ(stored->size(), 1U);
    EXPECT_EQ((*stored)[0].sequence, offsets[1]);
    bus::v1::RoomEvent event;
    ASSERT_TRUE(event.ParseFromString((*stored)[0].data));
    EXPECT_EQ(event.room(), "pub");
    EXPECT_EQ(event.event(), "comment");
    EXPECT_EQ(event.data_json(), R"({"n":1})");
    EXPECT_EQ(event.from(), "server");
    EXPECT_EQ(event.exclude_socket(), "");
    EXPECT_EQ(event.attachments_size(), 0);
    EXPECT_GT(event.published_at_ms(), 0);

    auto noise = nats_->jetstream().read_last(kRoomStream, contract::room_subject("pub2"), 1, 2s);
    ASSERT_TRUE(noise && noise->size() == 1U);
    ASSERT_TRUE(event.ParseFromString((*noise)[0].data));
    EXPECT_EQ(event.data_json(), "null");

    EXPECT_CODE(publish("nope", "comment", "1"), NOT_FOUND);
}

TEST_F(RoomsServiceTest, PublishAndHistoryWithoutTheStreamAreUnavailable) {
    ASSERT_OK(create_room("r"));
    ASSERT_TRUE(nats_->jetstream().delete_stream(kRoomStream));
    auto s = publish("r", "comment", "1");
    EXPECT_CODE(s, UNAVAILABLE);
    EXPECT_NE(s.error_message().find("ROOMCAST_ROOMS"), std::string::npos);
    v1::HistoryResponse h;
    EXPECT_CODE(history("r", "", 0, &h), UNAVAILABLE);
}

TEST_F(RoomsServiceTest, HistorySinceAndLimit) {
    ASSERT_OK(create_room("h"));
    ASSERT_OK(create_room("h2"));
    std::vector<std::string> offsets;
    for (int i = 0; i < 5; ++i) {
        std::string offset;
        ASSERT_OK(publish("h", "e" + std::to_string(i), std::to_string(i), &offset));
        offsets.push_back(offset);
        ASSERT_OK(publish("h2", "other", "0"));  // offsets of "h" are not contiguous
    }

    v1::HistoryResponse r;
    ASSERT_OK(history("h", "", 0, &r));
    EXPECT_EQ(offsets_of(r), offsets);
    ASSERT_EQ(r.messages_size(), 5);
    EXPECT_EQ(r.messages(3).event(), "e3");
    EXPECT_EQ(r.messages(3).data_json(), "3");
    EXPECT_EQ(r.messages(3).from(), "server");

    ASSERT_OK(history("h", "", 2, &r));  // the latest 2
    EXPECT_EQ(offsets_of(r), (std::vector<std::string>{offsets[3], offsets[4]}));

    ASSERT_OK(history("h", offsets[1], 0, &r));  // since is exclusive
    EXPECT_EQ(offsets_of(r), (std::vector<std::string>{offsets[2], offsets[3], offsets[4]}));

    ASSERT_OK(history("h", offsets[1], 1, &r));  // since + limit: the first after
    EXPECT_EQ(offsets_of(r), (std::vector<std::string>{offsets[2]}));

    ASSERT_OK(history("h", "0", 0, &r));
    EXPECT_EQ(offsets_of(r), offsets);

    ASSERT_OK(history("h", offsets[4], 0, &r));
    EXPECT_EQ(r.messages_size(), 0);

    ASSERT_OK(history("h", "18446744073709551615", 0, &r));
    EXPECT_EQ(r.messages_size(), 0);

    ASSERT_OK(create_room("empty"));
    ASSERT_OK(history("empty", "", 0, &r));
    EXPECT_EQ(r.messages_size(), 0);

    EXPECT_CODE(history("nope", "", 0, &r), NOT_FOUND);
}

TEST_F(RoomsServiceTest, HistoryMapsBinaryAttachmentsToBase64) {
    ASSERT_OK(create_room("bin"));
    // As an edge stores a client publish with a Buffer: a placeholder plus an attachment.
    bus::v1::RoomEvent event;
    event.set_room("bin");
    event.set_event("file");
    event.set_data_json(R"({"name":"x.bin","body":{"_placeholder":true,"num":0}})");
    event.add_attachments(std::string("\x00\x01\xff", 3));
    event.set_from("u1");
    event.set_exclude_socket("sock1");
    std::string bytes;
    event.SerializeToString(&bytes);
    auto ack = nats_->jetstream().publish(contract::room_subject("bin"), bytes);
    ASSERT_TRUE(ack) << ack.error().message();
    // An event no edge would deliver (placeholder without attachment) is skipped.
    event.clear_attachments();
    event.SerializeToString(&bytes);
    ASSERT_TRUE(nats_->jetstream().publish(contract::room_subject("bin"), bytes));

    v1::HistoryResponse r;
    ASSERT_OK(history("bin", "", 0, &r));
    ASSERT_EQ(r.messages_size(), 1);
    EXPECT_EQ(r.messages(0).offset(), std::to_string(ack->sequence));
    EXPECT_EQ(r.messages(0).event(), "file");
    EXPECT_EQ(r.messages(0).from(), "u1");
    EXPECT_EQ(r.messages(0).data_json(), R"({"name":"x.bin","body":{"_binary":"AAH/"}})");
}

// --- validation and deadlines --------------------------------------------------------------------

TEST_F(RoomsServiceTest, InvalidFieldsAreInvalidArgument) {
    ASSERT_OK(create_room("ok"));
    const std::string long_user(257, 'u');
    const std::string long_text(257, 'x');

    for (const std::string& bad :
         std::vector<std::string>{"", "a b", "a.b", "a>", std::string(129, 'r')}) {
        EXPECT_CODE(create_room(bad), INVALID_ARGUMENT) << bad;
        EXPECT_CODE(get_room(bad), INVALID_ARGUMENT);
        EXPECT_CODE(add_member(bad, "u"), INVALID_ARGUMENT);
        EXPECT_CODE(remove_member(bad, "u"), INVALID_ARGUMENT);
        EXPECT_CODE(publish(bad, "e", "1"), INVALID_ARGUMENT);
        v1::HistoryResponse h;
        EXPECT_CODE(history(bad, "", 0, &h), INVALID_ARGUMENT);
        v1::ListMembersResponse m;
        EXPECT_CODE(list_members(bad, 0, "", &m), INVALID_ARGUMENT);
    }
    // Validation comes before state: an invalid id is never NOT_FOUND.
    v1::DeleteRoomRequest del;
    del.set_room_id("a b");
    v1::DeleteRoomResponse deleted;
    EXPECT_CODE(call(&v1::RoomAdmin::Stub::DeleteRoom, del, &deleted), INVALID_ARGUMENT);

    // User ids.
    EXPECT_CODE(add_member("ok", ""), INVALID_ARGUMENT);
    EXPECT_CODE(add_member("ok", long_user), INVALID_ARGUMENT);
    EXPECT_CODE(remove_member("ok", ""), INVALID_ARGUMENT);
    v1::KickUserRequest kick;
    kick.set_room_id("ok");
    v1::KickUserResponse kicked;
    EXPECT_CODE(call(&v1::RoomAdmin::Stub::KickUser, kick, &kicked), INVALID_ARGUMENT);
    kick.set_user_id("u");
    kick.set_reason(long_text);
    EXPECT_CODE(call(&v1::RoomAdmin::Stub::KickUser, kick, &kicked), INVALID_ARGUMENT);
    v1::DisconnectUserRequest disconnect;
    v1::DisconnectUserResponse disconnected;
    EXPECT_CODE(call(&v1::RoomAdmin::Stub::DisconnectUser, disconnect, &disconnected),
                INVALID_ARGUMENT);
    disconnect.set_user_id(long_user);
    EXPECT_CODE(call(&v1::RoomAdmin::Stub::DisconnectUser, disconnect, &disconnected),
                INVALID_ARGUMENT);
    disconnect.set_user_id("u");
    disconnect.set_reason(long_text);
    EXPECT_CODE(call(&v1::RoomAdmin::Stub::DisconnectUser, disconnect, &disconnected),
                INVALID_ARGUMENT);

    // Enums.
    EXPECT_CODE(create_room("e1", static_cast<v1::Visibility>(7)), INVALID_ARGUMENT);
    EXPECT_CODE(add_member("ok", "u", static_cast<v1::Role>(9)), INVALID_ARGUMENT);

    // Labels.
    std::map<std::string, std::string> many;
    for (int i = 0; i < 65; ++i) {
        many["k" + std::to_string(i)] = "v";
    }
    EXPECT_CODE(create_room("l1", v1::VISIBILITY_PUBLIC, many), INVALID_ARGUMENT);
    EXPECT_CODE(create_room("l2", v1::VISIBILITY_PUBLIC, {{long_text, "v"}}), INVALID_ARGUMENT);
    EXPECT_CODE(create_room("l3", v1::VISIBILITY_PUBLIC, {{"k", long_text}}), INVALID_ARGUMENT);
    EXPECT_CODE(get_room("l1"), NOT_FOUND);

    // Listing.
    v1::ListRoomsResponse rooms;
    EXPECT_CODE(list_rooms("", -1, "", &rooms), INVALID_ARGUMENT);
    EXPECT_CODE(list_rooms("", 1001, "", &rooms), INVALID_ARGUMENT);
    EXPECT_CODE(list_rooms("a b", 0, "", &rooms), INVALID_ARGUMENT);
    EXPECT_CODE(list_rooms("", 0, "@@@", &rooms), INVALID_ARGUMENT);
    v1::ListMembersResponse members;
    EXPECT_CODE(list_members("ok", 1001, "", &members), INVALID_ARGUMENT);
    EXPECT_CODE(list_members("ok", 0, "@@@", &members), INVALID_ARGUMENT);

    // Publish.
    EXPECT_CODE(publish("ok", "", "1"), INVALID_ARGUMENT);
    EXPECT_CODE(publish("ok", std::string(129, 'e'), "1"), INVALID_ARGUMENT);
    EXPECT_CODE(publish("ok", "join", "1"), INVALID_ARGUMENT);
    EXPECT_CODE(publish("ok", "kicked", "1"), INVALID_ARGUMENT);
    EXPECT_CODE(publish("ok", "e", "{not json"), INVALID_ARGUMENT);
    EXPECT_CODE(publish("ok", "e", "\"" + std::string(kMaxDataBytes, 'x') + "\""),
                INVALID_ARGUMENT);
    EXPECT_CODE(publish("ok", "e", R"({"_placeholder":true,"num":0})"), INVALID_ARGUMENT);

    // History.
    v1::HistoryResponse h;
    EXPECT_CODE(history("ok", "abc", 0, &h), INVALID_ARGUMENT);
    EXPECT_CODE(history("ok", "-1", 0, &h), INVALID_ARGUMENT);
    EXPECT_CODE(history("ok", "", -1, &h), INVALID_ARGUMENT);
    EXPECT_CODE(history("ok", "", 1001, &h), INVALID_ARGUMENT);

    // Update.
    v1::UpdateRoomRequest update;
    update.set_room_id("ok");
    update.add_update_mask("id");
    v1::UpdateRoomResponse updated;
    EXPECT_CODE(call(&v1::RoomAdmin::Stub::UpdateRoom, update, &updated), INVALID_ARGUMENT);

    // Invalid UTF-8 cannot cross the wire in a proto3 string; the logic refuses it as well.
    v1::AddMemberRequest add;
    add.set_room_id("ok");
    add.set_user_id("\xc3");
    auto r = rooms_->add_member(add, std::chrono::steady_clock::now() + 5s);
    ASSERT_FALSE(r);
    EXPECT_CODE(r.error(), INVALID_ARGUMENT);

    EXPECT_EQ(controls_.size(), 0U);
}

TEST_F(RoomsServiceTest, ShortDeadlinesEndPromptly) {
    ASSERT_OK(create_room("d"));
    for (int i = 0; i < 5; ++i) {
        ASSERT_OK(add_member("d", "u" + std::to_string(i)));
    }
    const auto start = std::chrono::steady_clock::now();
    const auto bounded = [](const grpc::Status& s) {
        EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
            << s.error_code() << " " << s.error_message();
    };
    for (int i = 0; i < 5; ++i) {
        v1::GetRoomRequest get;
        get.set_room_id("d");
        v1::GetRoomResponse got;
        bounded(call(&v1::RoomAdmin::Stub::GetRoom, get, &got, kToken, 1ms));
        v1::ListRoomsRequest list;
        v1::ListRoomsResponse listed;
        bounded(call(&v1::RoomAdmin::Stub::ListRooms, list, &listed, kToken, 1ms));
        v1::PublishRequest pub;
        pub.set_room_id("d");
        pub.set_event("e");
        v1::PublishResponse published;
        bounded(call(&v1::RoomAdmin::Stub::Publish, pub, &published, kToken, 1ms));
        v1::HistoryRequest hist;
        hist.set_room_id("d");
        v1::HistoryResponse history;
        bounded(call(&v1::RoomAdmin::Stub::History, hist, &history, kToken, 1ms));
    }
    v1::DeleteRoomRequest del;
    del.set_room_id("d");
    v1::DeleteRoomResponse deleted;
    bounded(call(&v1::RoomAdmin::Stub::DeleteRoom, del, &deleted, kToken, 1ms));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);

    // The logic itself refuses work once the deadline has passed, before touching NATS.
    v1::CreateRoomRequest create;
    create.set_room_id("late");
    auto r = rooms_->create_room(create, std::chrono::steady_clock::now() - 1ms);
    ASSERT_FALSE(r);
    EXPECT_CODE(r.error(), DEADLINE_EXCEEDED);
    EXPECT_CODE(get_room("late"), NOT_FOUND);

    // The service still works afterwards (nothing is stuck in the worker pool).
    ASSERT_OK(create_room("after"));
}

}  // namespace
}  // namespace roomcast::rooms
