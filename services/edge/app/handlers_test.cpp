// The room requests with fakes of the fabric, the rights, presence and the session record: the
// documented error order (bad_request → forbidden → not_joined / not_found), each request's
// answer, and what each one asks of the fabric. Continuations run inline (no shard).
#include "app/handlers.hpp"
#include "backends/testing_port.hpp"

#include "roomcast/protocol/json.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace roomcast::edge {
namespace {

namespace json = boost::json;

class FakeRights final : public RightsPort {
public:
    std::map<std::string, Verdict> join;
    std::map<std::string, Verdict> publish;
    bool create_ok = true;
    std::vector<std::string> created;
    Verdict may_join(const std::string& room, const std::string&) const override {
        auto it = join.find(room);
        return it == join.end() ? Verdict::kAllow : it->second;
    }
    Verdict may_publish(const std::string& room, const std::string&) const override {
        auto it = publish.find(room);
        return it == publish.end() ? Verdict::kAllow : it->second;
    }
    void create(const std::string& room, std::function<void(bool)> done) override {
        created.push_back(room);
        done(create_ok);
    }
};

class FakeRooms final : public RoomsPort {
public:
    std::map<const SocketSession*, std::set<std::string>> in;
    natsbus::Result<std::uint64_t> offset = std::uint64_t{42};
    natsbus::Result<std::uint64_t> publish_result = std::uint64_t{77};
    std::vector<bus::v1::RoomEvent> published;
    natsbus::Result<void> ephemeral_result{};
    std::vector<bus::v1::RoomEvent> ephemeral;
    std::vector<std::tuple<std::string, std::uint64_t, std::size_t>> reads_after;
    std::vector<std::pair<std::string, std::size_t>> reads_last;
    std::vector<std::uint64_t> budgets;
    rooms::RoomStream::StoredEvents stored;
    bool cut = false;

    bool in_room(const Caller& c, std::string_view room) const override {
        auto it = in.find(c.session.get());
        return it != in.end() && it->second.contains(std::string(room));
    }
    std::size_t room_count(const Caller& c) const override {
        auto it = in.find(c.session.get());
        return it == in.end() ? 0 : it->second.size();
    }
    void enter(const Caller& c, const std::string& room,
               std::function<void(natsbus::Result<std::uint64_t>)> done) override {
        in[c.session.get()].insert(room);
        done(offset);
    }
    bool exit(const Caller& c, std::string_view room) override {
        return in[c.session.get()].erase(std::string(room)) == 1;
    }
    void publish(const std::string&, const bus::v1::RoomEvent& ev,
                 std::function<void(natsbus::Result<std::uint64_t>)> done) override {
        published.push_back(ev);
        done(publish_result);
    }
    natsbus::Result<void> publish_ephemeral(const std::string&, const bus::v1::RoomEvent& ev) override {
        ephemeral.push_back(ev);
        return ephemeral_result;
    }
    void read_after(const std::string& room, std::uint64_t after, std::size_t max, std::uint64_t max_bytes,
                    std::function<void(natsbus::Result<rooms::RoomStream::Page>)> done) override {
        reads_after.emplace_back(room, after, max);
        budgets.push_back(max_bytes);
        done(rooms::RoomStream::Page{stored, cut});
    }
    void read_last(const std::string& room, std::size_t count, std::uint64_t max_bytes,
                   std::function<void(natsbus::Result<rooms::RoomStream::Page>)> done) override {
        reads_last.emplace_back(room, count);
        budgets.push_back(max_bytes);
        done(rooms::RoomStream::Page{stored, cut});
    }
};

class FakePresence final : public PresencePort {
public:
    bool up = true;
    std::vector<std::pair<std::string, std::uint32_t>> queries;
    void query(const std::string& room, std::uint32_t limit,
               std::function<void(natsbus::Result<bus::v1::PresenceQueryResult>)> done) override {
        queries.emplace_back(room, limit);
        if (!up) {
            done(make_error_code(natsbus::Errc::kNoResponders));
            return;
        }
        bus::v1::PresenceQueryResult r;
        r.set_clients(3);
        r.set_users(2);
        auto* u = r.add_listed();
        u->set_id("alice");
        u->set_name("Alice");
        done(r);
    }
};

class FakeRecords final : public RecordsPort {
public:
    int writes = 0;
    void rooms_changed(const Caller&) override { ++writes; }
};

class Handlers : public ::testing::Test {
protected:
    Handlers() : quotas_(quota_options(), [this] { return now_; }),
                 handlers_(rooms_, rights_, presence_, records_, quotas_, options()) {
        auto s = std::make_shared<SocketSession>();
        s->identity = std::make_shared<const rooms::Identity>(rooms::Identity{"alice", "Alice"});
        caller_.session = s;
    }
    static QuotaOptions quota_options() {
        QuotaOptions q;
        q.publish_rate = 1;  // per second
        q.publish_burst = 3;
        q.publish_bytes_rate = 10;
        q.publish_bytes_burst = 60;
        q.auto_create_per_minute = 60;
        q.auto_create_burst = 2;
        return q;
    }
    static HandlerOptions options() {
        HandlerOptions o;
        o.max_rooms_per_socket = 2;
        o.limits.max_publish_bytes = 64;
        return o;
    }

    // Sends `body` (JSON) to `handler` and returns the answer's first value.
    template <class Handler>
    json::value call(Handler handler, std::string_view body, sio::Args* extra = nullptr) {
        sio::Args args;
        args.add(*protocol::parse_json(body));
        std::optional<sio::Args> answer;
        (handlers_.*handler)(caller_, std::move(args),
                             Reply(std::function<void(const sio::Args&)>([&](const sio::Args& a) { answer = a; })));
        EXPECT_TRUE(answer) << "no answer to " << body;
        if (!answer) {
            return nullptr;
        }
        if (extra != nullptr) {
            *extra = *answer;
        }
        return (*answer)[0];
    }
    static std::string code(const json::value& v) {
        if (!v.is_object() || !v.as_object().contains("error")) {
            return "ok";
        }
        return std::string(v.at("error").at("code").as_string());
    }

    FakeRooms rooms_;
    FakeRights rights_;
    FakePresence presence_;
    FakeRecords records_;
    std::chrono::steady_clock::time_point now_{};
    Quotas quotas_;
    RoomHandlers handlers_;
    Caller caller_;
};

TEST_F(Handlers, JoinAnswersWithTheOffsetAndPresenceCountsAndRecordsTheRoom) {
    auto a = call(&RoomHandlers::join, R"({"room":"lobby"})");
    EXPECT_EQ(a.at("ok"), true);
    EXPECT_EQ(a.at("room"), "lobby");
    EXPECT_EQ(a.at("offset"), "42");
    EXPECT_EQ(a.at("presence").at("clients"), 3);
    EXPECT_EQ(a.at("presence").at("users"), 2);
    EXPECT_EQ(records_.writes, 1);
    // Again: idempotent, same answer, no new record.
    rooms_.offset = std::uint64_t{50};
    a = call(&RoomHandlers::join, R"({"room":"lobby"})");
    EXPECT_EQ(a.at("offset"), "50");
    EXPECT_EQ(records_.writes, 1);
}

TEST_F(Handlers, JoinRefusalsInTheDocumentedOrder) {
    rights_.join["priv"] = Verdict::kForbidden;
    rights_.join["nope"] = Verdict::kNotFound;
    rights_.join["later"] = Verdict::kUnavailable;
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"bad room"})")), "bad_request");
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({})")), "bad_request");
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"priv"})")), "forbidden");
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"nope"})")), "not_found");
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"later"})")), "unavailable");
    EXPECT_EQ(rooms_.room_count(caller_), 0u);
    EXPECT_EQ(records_.writes, 0);
}

TEST_F(Handlers, JoinCreatesAnAutoCreatedRoomFirst) {
    rights_.join["auto:x"] = Verdict::kCreate;
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"auto:x"})")), "ok");
    EXPECT_EQ(rights_.created, std::vector<std::string>{"auto:x"});
    rights_.join["auto:y"] = Verdict::kCreate;
    rights_.create_ok = false;
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"auto:y"})")), "unavailable");
    EXPECT_FALSE(rooms_.in_room(caller_, "auto:y"));
}

TEST_F(Handlers, JoinWithoutTheBusIsUndone) {
    rooms_.offset = make_error_code(natsbus::Errc::kTimeout);
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"lobby"})")), "unavailable");
    EXPECT_FALSE(rooms_.in_room(caller_, "lobby"));
    // A full JetStream store (kStorageFull from the bus) is `unavailable` too, saying why.
    rooms_.offset = make_error_code(natsbus::Errc::kStorageFull);
    const auto a = call(&RoomHandlers::join, R"({"room":"lobby"})");
    EXPECT_EQ(code(a), "unavailable");
    EXPECT_EQ(a.at("error").at("message").as_string(), "the message bus's storage is full");
    EXPECT_FALSE(rooms_.in_room(caller_, "lobby"));
}

TEST_F(Handlers, JoinBeyondTheRoomCapIsRefusedAndPresenceIsOptional) {
    presence_.up = false;
    auto a = call(&RoomHandlers::join, R"({"room":"a"})");
    EXPECT_EQ(code(a), "ok");
    EXPECT_FALSE(a.as_object().contains("presence")) << "without a presence service";
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"b"})")), "ok");
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"c"})")), "bad_request");
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"a"})")), "ok") << "already in: not a new room";
}

TEST_F(Handlers, LeaveIsAlwaysOkAndRecordsOnlyAChange) {
    call(&RoomHandlers::join, R"({"room":"a"})");
    EXPECT_EQ(code(call(&RoomHandlers::leave, R"({"room":"a"})")), "ok");
    EXPECT_EQ(records_.writes, 2);
    EXPECT_EQ(code(call(&RoomHandlers::leave, R"({"room":"a"})")), "ok");
    EXPECT_EQ(records_.writes, 2);
    EXPECT_EQ(code(call(&RoomHandlers::leave, R"({"room":""})")), "bad_request");
}

TEST_F(Handlers, PublishChecksRightsBeforeMembership) {
    rights_.publish["a"] = Verdict::kForbidden;
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"a","event":"e","data":1})")), "forbidden");
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"b","event":"e","data":1})")), "not_joined");
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"b","event":"","data":1})")), "bad_request");
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"b","event":"join","data":1})")), "bad_request")
        << "reserved event names";
    EXPECT_TRUE(rooms_.published.empty());
}

TEST_F(Handlers, PublishSendsTheEnvelopeAndAnswersTheOffset) {
    call(&RoomHandlers::join, R"({"room":"b"})");
    auto a = call(&RoomHandlers::publish, R"({"room":"b","event":"msg","data":{"t":"hi"}})");
    EXPECT_EQ(a.at("offset"), "77");
    ASSERT_EQ(rooms_.published.size(), 1u);
    const auto& ev = rooms_.published[0];
    EXPECT_EQ(ev.room(), "b");
    EXPECT_EQ(ev.event(), "msg");
    EXPECT_EQ(ev.data_json(), R"({"t":"hi"})");
    EXPECT_EQ(ev.from(), "alice");
    EXPECT_NE(ev.published_at_ms(), 0);
    rooms_.publish_result = make_error_code(natsbus::Errc::kTimeout);
    auto failed = call(&RoomHandlers::publish, R"({"room":"b","event":"msg"})");
    EXPECT_EQ(code(failed), "unavailable");
    EXPECT_EQ(failed.at("error").at("message").as_string(), "the message bus is unavailable");
    // The JetStream store full: the protocol's `unavailable`, with a message that says so.
    rooms_.publish_result = make_error_code(natsbus::Errc::kStorageFull);
    failed = call(&RoomHandlers::publish, R"({"room":"b","event":"msg"})");
    EXPECT_EQ(code(failed), "unavailable");
    EXPECT_EQ(failed.at("error").at("message").as_string(), "the message bus's storage is full");
    EXPECT_EQ(code(call(&RoomHandlers::publish,
                        R"({"room":"b","event":"msg","data":"0123456789012345678901234567890123456789012345678901234567890123"})")),
              "payload_too_large");
}

TEST_F(Handlers, AnEphemeralPublishIsCheckedLikeAnyAndAnsweredWithoutAnOffset) {
    rights_.publish["a"] = Verdict::kForbidden;
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"a","event":"e","ephemeral":true})")), "forbidden");
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"b","event":"e","ephemeral":true})")), "not_joined");
    call(&RoomHandlers::join, R"({"room":"b"})");
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"b","event":"e","ephemeral":1})")), "bad_request");
    EXPECT_TRUE(rooms_.ephemeral.empty());
    auto a = call(&RoomHandlers::publish, R"({"room":"b","event":"cursor","data":{"x":1},"ephemeral":true})");
    EXPECT_EQ(code(a), "ok");
    EXPECT_FALSE(a.as_object().contains("offset")) << "an ephemeral event has no offset";
    EXPECT_TRUE(rooms_.published.empty()) << "not stored";
    ASSERT_EQ(rooms_.ephemeral.size(), 1u);
    EXPECT_EQ(rooms_.ephemeral[0].event(), "cursor");
    EXPECT_EQ(rooms_.ephemeral[0].data_json(), R"({"x":1})");
    EXPECT_EQ(rooms_.ephemeral[0].from(), "alice");
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"b","event":"e","ephemeral":false})")), "ok");
    EXPECT_EQ(rooms_.published.size(), 1u) << "ephemeral: false is a stored publish";
    rooms_.ephemeral_result = make_error_code(natsbus::Errc::kClosed);
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"b","event":"e","ephemeral":true})")), "unavailable");
}

TEST_F(Handlers, AUsersPublishesAndNewRoomsAreRateLimitedAfterTheOtherChecks) {
    call(&RoomHandlers::join, R"({"room":"b"})");
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"b","event":"e","data":1})")), "ok") << i;
    }
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"b","event":"e","data":1})")), "rate_limited");
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"x","event":"e","data":1})")), "not_joined")
        << "state is checked before the quota";
    now_ += std::chrono::seconds(1);
    EXPECT_EQ(code(call(&RoomHandlers::publish, R"({"room":"b","event":"e","data":1})")), "ok");
    // Bytes: 60 of burst; each of these publishes is 40 bytes of data.
    now_ += std::chrono::seconds(10);
    const std::string big = R"({"room":"b","event":"e","data":"12345678901234567890123456789012345678"})";
    EXPECT_EQ(code(call(&RoomHandlers::publish, big)), "ok");
    EXPECT_EQ(code(call(&RoomHandlers::publish, big)), "rate_limited");

    call(&RoomHandlers::leave, R"({"room":"b"})");  // room for two more (the cap is 2)
    for (const char* r : {"auto:1", "auto:2", "auto:3"}) {
        rights_.join[r] = Verdict::kCreate;
    }
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"auto:1"})")), "ok");
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"auto:2"})")), "ok");
    EXPECT_EQ(code(call(&RoomHandlers::join, R"({"room":"auto:3"})")), "rate_limited");
    EXPECT_EQ(rights_.created, (std::vector<std::string>{"auto:1", "auto:2"}));
}

TEST_F(Handlers, HistoryReadsAfterSinceOrTheLastMessages) {
    rights_.join["priv"] = Verdict::kForbidden;
    EXPECT_EQ(code(call(&RoomHandlers::history, R"({"room":"priv"})")), "forbidden");
    EXPECT_EQ(code(call(&RoomHandlers::history, R"({"room":"b"})")), "not_joined");
    call(&RoomHandlers::join, R"({"room":"b"})");
    bus::v1::RoomEvent ev;
    ev.set_event("pic");
    ev.set_data_json(R"({"img":{"_placeholder":true,"num":0}})");
    ev.add_attachments("PNG");
    ev.set_from("bob");
    rooms_.stored = {{5, ev}, {6, ev}};
    sio::Args extra;
    auto a = call(&RoomHandlers::history, R"({"room":"b","since":"4","limit":10})", &extra);
    ASSERT_EQ(rooms_.reads_after.size(), 1u);
    EXPECT_EQ(rooms_.reads_after[0], std::make_tuple(std::string("b"), std::uint64_t{4}, std::size_t{10}));
    const auto& messages = a.at("messages").as_array();
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0].at("offset"), "5");
    EXPECT_EQ(messages[1].at("from"), "bob");
    // Each message's binary has its own attachment in the answer.
    EXPECT_EQ(messages[1].at("data").at("img").at("num"), 1);
    EXPECT_EQ(extra.attachments(), (std::vector<std::string>{"PNG", "PNG"}));
    EXPECT_FALSE(a.as_object().contains("more"));
    rooms_.cut = true;  // the byte budget stopped the read: the answer says there is more
    a = call(&RoomHandlers::history, R"({"room":"b"})");
    EXPECT_EQ(a.at("more"), true);
    ASSERT_EQ(rooms_.reads_last.size(), 1u);
    EXPECT_EQ(rooms_.reads_last[0].second, 50u);
    EXPECT_EQ(rooms_.budgets, (std::vector<std::uint64_t>{1024 * 1024, 1024 * 1024}))
        << "every history read has the byte budget";
}

TEST_F(Handlers, PresenceListsUsersOfAJoinedRoom) {
    rights_.join["priv"] = Verdict::kForbidden;
    EXPECT_EQ(code(call(&RoomHandlers::presence, R"({"room":"priv"})")), "forbidden");
    EXPECT_EQ(code(call(&RoomHandlers::presence, R"({"room":"b"})")), "not_joined");
    call(&RoomHandlers::join, R"({"room":"b"})");
    auto a = call(&RoomHandlers::presence, R"({"room":"b"})");
    EXPECT_EQ(a.at("clients"), 3);
    EXPECT_EQ(a.at("users").as_array().size(), 1u);
    EXPECT_EQ(presence_.queries.back(), std::make_pair(std::string("b"), std::uint32_t{100}));
    presence_.up = false;
    EXPECT_EQ(code(call(&RoomHandlers::presence, R"({"room":"b"})")), "unavailable");
}

// The join and publish hooks in the handlers: where they are asked (after rights, quotas;
// before the fabric and the store), what their verdicts do, the fail modes, and a socket that
// leaves while a hook is pending. Joins and leaves as lifecycle events.
class HookedHandlers : public Handlers {
protected:
    HookedHandlers()
        : hooks_(port_, hook_options(), "edge-1"),
          lifecycle_(port_, "edge-1", backends::LifecycleOptions{}),
          hooked_(rooms_, rights_, presence_, records_, quotas_, options(),
                  HandlerBackends{&hooks_, &lifecycle_}) {
        caller_.test_connected = connected_;
    }
    static backends::HookOptions hook_options() {
        backends::HookOptions o;
        o.join_prefixes = {"team:", "auto:"};
        o.publish_prefixes = {"mod:"};
        o.join_fail = backends::FailMode::kClosed;
        o.publish_fail = backends::FailMode::kOpen;
        o.max_publish_bytes = 64;
        return o;
    }
    // Sends `body` to the hooked handlers; the answer lands in the returned slot (maybe later).
    template <class Handler>
    std::shared_ptr<std::optional<json::value>> start(Handler handler, std::string_view body) {
        auto slot = std::make_shared<std::optional<json::value>>();
        sio::Args args;
        args.add(*protocol::parse_json(body));
        (hooked_.*handler)(caller_, std::move(args),
                           Reply(std::function<void(const sio::Args&)>([slot](const sio::Args& a) { *slot = a[0]; })));
        return slot;
    }
    template <class Handler>
    json::value answered(Handler handler, std::string_view body) {
        auto slot = start(handler, body);
        EXPECT_TRUE(*slot) << "no answer to " << body;
        return *slot ? **slot : json::value(nullptr);
    }
    static std::string join_reply(bool allow, std::string code = {}, std::string message = {}) {
        backend::v1::JoinHookReply r;
        r.set_allow(allow);
        r.mutable_error()->set_code(std::move(code));
        r.mutable_error()->set_message(std::move(message));
        return r.SerializeAsString();
    }
    std::vector<backend::v1::LifecycleEvent> lifecycle_events() {
        lifecycle_.flush();
        std::vector<backend::v1::LifecycleEvent> out;
        for (const auto& [subject, payload] : port_.published) {
            backend::v1::LifecycleBatch b;
            EXPECT_TRUE(b.ParseFromString(payload));
            out.insert(out.end(), b.events().begin(), b.events().end());
        }
        port_.published.clear();
        return out;
    }

    backends::testing::FakePort port_;
    backends::Hooks hooks_;
    backends::Lifecycle lifecycle_;
    RoomHandlers hooked_;
    std::shared_ptr<bool> connected_ = std::make_shared<bool>(true);
};

TEST_F(HookedHandlers, JoinAsksTheHookAfterTheRightsAndEntersOnAllow) {
    rights_.join["team:priv"] = Verdict::kForbidden;
    EXPECT_EQ(code(answered(&RoomHandlers::join, R"({"room":"team:priv"})")), "forbidden");
    EXPECT_TRUE(port_.sent.empty()) << "Roomcast's own rights refuse before the hook is asked";

    auto slot = start(&RoomHandlers::join, R"({"room":"team:a"})");
    ASSERT_EQ(port_.pending.size(), 1u);
    EXPECT_FALSE(*slot) << "no answer while the hook decides";
    EXPECT_FALSE(rooms_.in_room(caller_, "team:a")) << "not entered before the hook allowed it";
    backend::v1::JoinHook req;
    ASSERT_TRUE(req.ParseFromString(port_.pending[0].payload));
    EXPECT_EQ(req.room(), "team:a");
    EXPECT_EQ(req.client().user_id(), "alice");
    EXPECT_EQ(req.client().user_name(), "Alice");
    EXPECT_EQ(req.client().claims_json(), "{}");
    EXPECT_EQ(req.client().namespace_(), "/");
    port_.answer(join_reply(true));
    ASSERT_TRUE(*slot);
    EXPECT_EQ(code(**slot), "ok");
    EXPECT_EQ((**slot).at("offset"), "42");
    EXPECT_TRUE(rooms_.in_room(caller_, "team:a"));

    // Already in: no new question. Outside the prefixes: never asked.
    EXPECT_EQ(code(answered(&RoomHandlers::join, R"({"room":"team:a"})")), "ok");
    EXPECT_EQ(code(answered(&RoomHandlers::join, R"({"room":"lobby"})")), "ok");
    EXPECT_EQ(port_.sent.size(), 1u);

    const auto events = lifecycle_events();
    ASSERT_EQ(events.size(), 2u) << "one join per room entered, none for the idempotent join";
    EXPECT_EQ(events[0].kind(), backend::v1::LifecycleEvent::KIND_JOIN);
    EXPECT_EQ(events[0].room(), "team:a");
    EXPECT_EQ(events[0].user_id(), "alice");
    EXPECT_EQ(events[1].room(), "lobby");
}

TEST_F(HookedHandlers, ARefusedJoinCarriesTheHooksCodeAndMessage) {
    port_.auto_reply = join_reply(false, "not_member", "ask an owner of team a");
    auto a = answered(&RoomHandlers::join, R"({"room":"team:a"})");
    EXPECT_EQ(code(a), "not_member");
    EXPECT_EQ(a.at("error").at("message"), "ask an owner of team a");
    EXPECT_FALSE(rooms_.in_room(caller_, "team:a"));
    port_.auto_reply = join_reply(false);
    EXPECT_EQ(code(answered(&RoomHandlers::join, R"({"room":"team:a"})")), "forbidden");
    EXPECT_EQ(records_.writes, 0);
    EXPECT_TRUE(lifecycle_events().empty());
}

TEST_F(HookedHandlers, ARefusedJoinCreatesNoRoom) {
    rights_.join["auto:x"] = Verdict::kCreate;
    port_.auto_reply = join_reply(false);
    EXPECT_EQ(code(answered(&RoomHandlers::join, R"({"room":"auto:x"})")), "forbidden");
    EXPECT_TRUE(rights_.created.empty());
    port_.auto_reply = join_reply(true);
    EXPECT_EQ(code(answered(&RoomHandlers::join, R"({"room":"auto:x"})")), "ok");
    EXPECT_EQ(rights_.created, std::vector<std::string>{"auto:x"});
}

TEST_F(HookedHandlers, JoinFailsClosedWithoutABackend) {
    port_.auto_reply = natsbus::Result<std::string>(make_error_code(natsbus::Errc::kTimeout));
    EXPECT_EQ(code(answered(&RoomHandlers::join, R"({"room":"team:a"})")), "unavailable");
    port_.auto_reply = natsbus::Result<std::string>(make_error_code(natsbus::Errc::kNoResponders));
    EXPECT_EQ(code(answered(&RoomHandlers::join, R"({"room":"team:a"})")), "unavailable");
    port_.auto_reply = std::string("\xff\xff");
    EXPECT_EQ(code(answered(&RoomHandlers::join, R"({"room":"team:a"})")), "unavailable");
    EXPECT_FALSE(rooms_.in_room(caller_, "team:a"));
}

TEST_F(HookedHandlers, ASocketGoneWhileTheJoinHookDecidesIsLeftAlone) {
    auto slot = start(&RoomHandlers::join, R"({"room":"team:a"})");
    *connected_ = false;
    port_.answer(join_reply(true));
    EXPECT_FALSE(*slot);
    EXPECT_FALSE(rooms_.in_room(caller_, "team:a")) << "a gone socket is not entered";
    EXPECT_EQ(records_.writes, 0);
    EXPECT_TRUE(lifecycle_events().empty());
}

TEST_F(HookedHandlers, PublishAsksAfterRightsAndQuotasAndStoresWhatTheHookSays) {
    rights_.publish["mod:ro"] = Verdict::kForbidden;
    EXPECT_EQ(code(answered(&RoomHandlers::publish, R"({"room":"mod:ro","event":"e","data":1})")), "forbidden");
    EXPECT_EQ(code(answered(&RoomHandlers::publish, R"({"room":"mod:a","event":"e","data":1})")), "not_joined");
    EXPECT_TRUE(port_.sent.empty());
    call(&RoomHandlers::join, R"({"room":"mod:a"})");

    // allow: the client's data.
    auto slot = start(&RoomHandlers::publish, R"({"room":"mod:a","event":"msg","data":{"t":"hi"}})");
    ASSERT_EQ(port_.pending.size(), 1u);
    EXPECT_TRUE(rooms_.published.empty()) << "nothing stored before the hook answers";
    backend::v1::PublishHook req;
    ASSERT_TRUE(req.ParseFromString(port_.pending[0].payload));
    EXPECT_EQ(req.room(), "mod:a");
    EXPECT_EQ(req.event(), "msg");
    EXPECT_EQ(req.data_json(), R"({"t":"hi"})");
    backend::v1::PublishHookReply allow;
    allow.set_allow(true);
    port_.answer(allow.SerializeAsString());
    ASSERT_TRUE(*slot);
    EXPECT_EQ((**slot).at("offset"), "77");
    ASSERT_EQ(rooms_.published.size(), 1u);
    EXPECT_EQ(rooms_.published[0].data_json(), R"({"t":"hi"})");

    // replace: the hook's data is stored instead.
    backend::v1::PublishHookReply replace;
    replace.set_allow(true);
    replace.set_replace(true);
    replace.set_data_json(R"({"t":"***"})");
    port_.auto_reply = replace.SerializeAsString();
    EXPECT_EQ(code(answered(&RoomHandlers::publish, R"({"room":"mod:a","event":"msg","data":{"t":"darn"}})")), "ok");
    ASSERT_EQ(rooms_.published.size(), 2u);
    EXPECT_EQ(rooms_.published[1].data_json(), R"({"t":"***"})");
    EXPECT_EQ(rooms_.published[1].event(), "msg");
    EXPECT_EQ(rooms_.published[1].from(), "alice");

    now_ += std::chrono::seconds(10);  // the quota refills
    // deny: the hook's code and message, nothing stored.
    backend::v1::PublishHookReply deny;
    deny.mutable_error()->set_code("moderated");
    deny.mutable_error()->set_message("no swearing");
    port_.auto_reply = deny.SerializeAsString();
    auto d = answered(&RoomHandlers::publish, R"({"room":"mod:a","event":"msg","data":1})");
    EXPECT_EQ(code(d), "moderated");
    EXPECT_EQ(d.at("error").at("message"), "no swearing");
    EXPECT_EQ(rooms_.published.size(), 2u);

    now_ += std::chrono::seconds(10);  // the quota refills
    // A replacement over the publish cap is a bad reply: fail open keeps the client's data.
    replace.set_data_json("\"" + std::string(100, 'x') + "\"");
    port_.auto_reply = replace.SerializeAsString();
    EXPECT_EQ(code(answered(&RoomHandlers::publish, R"({"room":"mod:a","event":"msg","data":2})")), "ok");
    ASSERT_EQ(rooms_.published.size(), 3u);
    EXPECT_EQ(rooms_.published[2].data_json(), "2");

    now_ += std::chrono::seconds(10);  // the quota refills
    // Fail open with no backend: stored as sent.
    port_.auto_reply = natsbus::Result<std::string>(make_error_code(natsbus::Errc::kNoResponders));
    EXPECT_EQ(code(answered(&RoomHandlers::publish, R"({"room":"mod:a","event":"msg","data":3})")), "ok");
    EXPECT_EQ(rooms_.published.size(), 4u);

    now_ += std::chrono::seconds(10);  // the quota refills
    // Outside the prefixes: never asked.
    const auto asked = port_.sent.size();
    call(&RoomHandlers::join, R"({"room":"lobby"})");
    EXPECT_EQ(code(answered(&RoomHandlers::publish, R"({"room":"lobby","event":"msg","data":3})")), "ok");
    EXPECT_EQ(port_.sent.size(), asked);
}

TEST_F(HookedHandlers, APublishIsNotAskedWhenTheQuotaRefusesIt) {
    call(&RoomHandlers::join, R"({"room":"mod:a"})");
    backend::v1::PublishHookReply allow;
    allow.set_allow(true);
    port_.auto_reply = allow.SerializeAsString();
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(code(answered(&RoomHandlers::publish, R"({"room":"mod:a","event":"e","data":1})")), "ok");
    }
    EXPECT_EQ(code(answered(&RoomHandlers::publish, R"({"room":"mod:a","event":"e","data":1})")), "rate_limited");
    EXPECT_EQ(port_.sent.size(), 3u);
}

TEST_F(HookedHandlers, APublishWhoseSocketLeftOrWhoseRoomWasLeftIsNotStored) {
    call(&RoomHandlers::join, R"({"room":"mod:a"})");
    backend::v1::PublishHookReply allow;
    allow.set_allow(true);
    auto gone = start(&RoomHandlers::publish, R"({"room":"mod:a","event":"e","data":1})");
    *connected_ = false;
    port_.answer(allow.SerializeAsString());
    EXPECT_FALSE(*gone);
    EXPECT_TRUE(rooms_.published.empty());

    *connected_ = true;
    auto left = start(&RoomHandlers::publish, R"({"room":"mod:a","event":"e","data":1})");
    call(&RoomHandlers::leave, R"({"room":"mod:a"})");
    port_.answer(allow.SerializeAsString());
    ASSERT_TRUE(*left);
    EXPECT_EQ(code(**left), "not_joined");
    EXPECT_TRUE(rooms_.published.empty());
}

TEST_F(HookedHandlers, LeaveIsALifecycleEventOnlyWhenTheSocketWasIn) {
    answered(&RoomHandlers::join, R"({"room":"lobby"})");
    answered(&RoomHandlers::leave, R"({"room":"lobby"})");
    answered(&RoomHandlers::leave, R"({"room":"lobby"})");
    const auto events = lifecycle_events();
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].kind(), backend::v1::LifecycleEvent::KIND_LEAVE);
    EXPECT_EQ(events[1].room(), "lobby");
}

}  // namespace
}  // namespace roomcast::edge
