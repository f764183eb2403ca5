// The idle TTL of auto-created rooms: the decision as a pure function, then the sweeper over a
// real nats-server (natsbus testing) with the room stream as the edges create it and a stand-in
// for the presence service answering PresenceQuery.
#include "idle_sweep.hpp"
#include "rooms_service.hpp"
#include "test_storage.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace roomcast::rooms {
namespace {

using namespace std::chrono_literals;
using natsbus::testing::Collector;
using natsbus::testing::connect_or_fail;
using natsbus::testing::shared_server;
using natsbus::testing::test_options;
using std::chrono::milliseconds;

// --- the decision ------------------------------------------------------------------------------

const SystemTime kNow = SystemTime(std::chrono::hours(24 * 365 * 50));

RoomActivity auto_room(SystemTime created, std::optional<SystemTime> last_event = std::nullopt,
                       bool present = false) {
    return {.auto_created = true, .created = created, .last_event = last_event, .present = present};
}

TEST(IdleVerdict, AnAutoCreatedRoomWithNoEventIsIdleOnceItsCreationIsATtlAgo) {
    EXPECT_EQ(idle_verdict(auto_room(kNow - 2h), kNow, 1h), IdleVerdict::kIdle);
    EXPECT_EQ(idle_verdict(auto_room(kNow - 1h), kNow, 1h), IdleVerdict::kIdle);
    EXPECT_EQ(idle_verdict(auto_room(kNow - 59min), kNow, 1h), IdleVerdict::kActive);
}

TEST(IdleVerdict, ARecentEventKeepsAnOldRoom) {
    EXPECT_EQ(idle_verdict(auto_room(kNow - 48h, kNow - 10min), kNow, 1h), IdleVerdict::kActive);
    EXPECT_EQ(idle_verdict(auto_room(kNow - 48h, kNow - 61min), kNow, 1h), IdleVerdict::kIdle);
}

TEST(IdleVerdict, AnEventOlderThanTheRoomDoesNotMakeItIdle) {
    // An event of an earlier room of the same id, still in the stream: the creation counts.
    EXPECT_EQ(idle_verdict(auto_room(kNow - 5min, kNow - 3h), kNow, 1h), IdleVerdict::kActive);
}

TEST(IdleVerdict, SomeonePresentKeepsAnIdleRoom) {
    EXPECT_EQ(idle_verdict(auto_room(kNow - 48h, std::nullopt, true), kNow, 1h),
              IdleVerdict::kPresent);
    // Activity is checked first: a room active by time is active, present or not.
    EXPECT_EQ(idle_verdict(auto_room(kNow - 1min, std::nullopt, true), kNow, 1h),
              IdleVerdict::kActive);
}

TEST(IdleVerdict, RoomsCreatedThroughTheAdminApiAreNeverIdle) {
    RoomActivity admin = auto_room(kNow - 24h * 1000);
    admin.auto_created = false;
    EXPECT_EQ(idle_verdict(admin, kNow, 1ms), IdleVerdict::kNotAutoCreated);
}

TEST(IdleVerdict, ATtlOfZeroDisablesTheSweep) {
    EXPECT_EQ(idle_verdict(auto_room(kNow - 24h * 1000), kNow, 0ms), IdleVerdict::kDisabled);
}

TEST(IdleVerdict, TimesAfterNowAreActivityNow) {
    // Clock differences between this host and the NATS server that stamped the event.
    EXPECT_EQ(idle_verdict(auto_room(kNow - 48h, kNow + 5s), kNow, 1h), IdleVerdict::kActive);
    EXPECT_EQ(idle_verdict(auto_room(kNow + 1h), kNow, 1h), IdleVerdict::kActive);
    // An unset creation time (epoch) is simply old.
    EXPECT_EQ(idle_verdict(auto_room(SystemTime{}), kNow, 1h), IdleVerdict::kIdle);
}

// --- the sweeper over NATS ---------------------------------------------------------------------

constexpr milliseconds kTtl = 400ms;

class IdleSweepTest : public ::testing::Test {
protected:
    void SetUp() override {
        nats_ = connect_or_fail(test_options(shared_server().url()));
        ASSERT_NE(nats_, nullptr);
        testing::RoomsStorage storage;
        ASSERT_NO_FATAL_FAILURE(testing::open_rooms_storage(*nats_, storage));
        kv_ = std::move(storage.rooms);
        revocations_ = std::move(storage.revocations);
        rooms_ = std::make_unique<RoomsService>(*nats_, *kv_, *revocations_);

        auto control = nats_->subscribe(contract::kControlSubject, [this](natsbus::Message&& m) {
            bus::v1::Control c;
            if (c.ParseFromString(m.data) && c.has_kick()) {
                kicks_.push(c.kick().room() + " " + c.kick().reason());
            }
        });
        ASSERT_TRUE(control) << control.error().message();
        control_sub_ = std::move(*control);
        ASSERT_TRUE(nats_->flush(2s));
    }

    void TearDown() override {
        presence_sub_.reset();
        control_sub_.reset();
        rooms_.reset();
        kv_.reset();
        revocations_.reset();
        if (nats_) {
            (void)nats_->jetstream().delete_stream("KV_" + std::string(contract::kRoomsBucket));
            (void)nats_->jetstream().delete_stream("KV_" +
                                                   std::string(contract::kRevocationsBucket));
            (void)nats_->jetstream().delete_stream(contract::kRoomStream);
        }
        nats_.reset();
    }

    // A presence service that counts one user in each room of `occupied`, nobody elsewhere.
    void serve_presence(std::set<std::string> occupied) {
        auto sub = nats_->subscribe(
            contract::kPresenceQuerySubject,
            [this, occupied = std::move(occupied)](natsbus::Message&& m) {
                bus::v1::PresenceQuery query;
                bus::v1::PresenceQueryResult result;
                if (query.ParseFromString(m.data) && occupied.contains(query.room())) {
                    result.set_clients(1);
                    result.set_users(1);
                }
                std::string body;
                result.SerializeToString(&body);
                (void)nats_->publish(m.reply, body);
            },
            contract::kPresenceQueryQueue);
        ASSERT_TRUE(sub) << sub.error().message();
        presence_sub_ = std::move(*sub);
        ASSERT_TRUE(nats_->flush(2s));
    }

    static Deadline soon() { return std::chrono::steady_clock::now() + 5s; }

    void auto_create(const std::string& id) {
        auto s = rooms_->auto_create_room(id, soon());
        ASSERT_TRUE(s.ok()) << s.error_message();
    }
    void admin_create(const std::string& id) {
        v1::CreateRoomRequest request;
        request.set_room_id(id);
        auto r = rooms_->create_room(request, soon());
        ASSERT_TRUE(r) << r.error().error_message();
    }
    void publish(const std::string& id) {
        v1::PublishRequest request;
        request.set_room_id(id);
        request.set_event("chat");
        request.set_data_json("{}");
        auto r = rooms_->publish(request, soon());
        ASSERT_TRUE(r) << r.error().error_message();
    }
    bool exists(const std::string& id) {
        auto got = kv_->get(contract::room_key(id));
        EXPECT_TRUE(got) << got.error().message();
        return got && got->has_value();
    }

    SweepOptions options(std::int64_t batch = 100) {
        SweepOptions o;
        o.idle_ttl = kTtl;
        o.batch = batch;
        o.nats_timeout = 2s;
        return o;
    }

    std::unique_ptr<natsbus::Connection> nats_;
    std::unique_ptr<natsbus::KeyValue> kv_;
    std::unique_ptr<natsbus::KeyValue> revocations_;
    std::unique_ptr<RoomsService> rooms_;
    std::optional<natsbus::Subscription> control_sub_;
    std::optional<natsbus::Subscription> presence_sub_;
    Collector<std::string> kicks_;
};

TEST_F(IdleSweepTest, DeletesAnIdleAutoCreatedRoomAndKeepsTheOthers) {
    serve_presence({"auto:occupied"});
    auto_create("auto:idle");
    auto_create("auto:busy");
    auto_create("auto:occupied");
    admin_create("admin:old");
    {
        v1::AddMemberRequest member;
        member.set_room_id("auto:idle");
        member.set_user_id("alice");
        ASSERT_TRUE(rooms_->add_member(member, soon()));
    }
    std::this_thread::sleep_for(kTtl + 100ms);
    publish("auto:busy");       // an event within the TTL
    auto_create("auto:fresh");  // created within the TTL

    IdleRoomSweeper sweeper(*nats_, *kv_, *rooms_, options());
    const SweepPass pass = sweeper.sweep_once();
    EXPECT_EQ(pass.examined, 5u);
    EXPECT_EQ(pass.swept, 1u);
    EXPECT_EQ(pass.errors, 0u);
    EXPECT_EQ(sweeper.swept(), 1u);

    EXPECT_FALSE(exists("auto:idle"));
    EXPECT_TRUE(exists("auto:busy"));
    EXPECT_TRUE(exists("auto:occupied"));
    EXPECT_TRUE(exists("auto:fresh"));
    EXPECT_TRUE(exists("admin:old"));
    // Through DeleteRoom's path: members gone, a revocation, everyone kicked.
    auto members = kv_->keys(contract::member_key_filter("auto:idle"));
    ASSERT_TRUE(members);
    EXPECT_TRUE(members->empty());
    auto revoked = revocations_->get(contract::revocation_room_key("auto:idle"));
    ASSERT_TRUE(revoked);
    EXPECT_TRUE(revoked->has_value());
    ASSERT_TRUE(kicks_.wait_for(1, 2s));
    EXPECT_EQ(kicks_.items(), std::vector<std::string>{"auto:idle room_deleted"});

    // The admin-created room stays however long it is idle; the others once they are idle.
    std::this_thread::sleep_for(kTtl + 100ms);
    const SweepPass later = sweeper.sweep_once();
    EXPECT_EQ(later.swept, 2u);  // auto:busy, auto:fresh
    EXPECT_TRUE(exists("auto:occupied"));
    EXPECT_TRUE(exists("admin:old"));
}

TEST_F(IdleSweepTest, KeepsRoomsWhenPresenceCannotBeAsked) {
    // No presence service: nobody can tell whether the room is empty, so it stays.
    auto_create("auto:unknown");
    std::this_thread::sleep_for(kTtl + 100ms);
    SweepOptions o = options();
    o.nats_timeout = 300ms;
    IdleRoomSweeper sweeper(*nats_, *kv_, *rooms_, o);
    const SweepPass pass = sweeper.sweep_once();
    EXPECT_EQ(pass.swept, 0u);
    EXPECT_EQ(pass.errors, 1u);
    EXPECT_EQ(sweeper.errors(), 1u);
    EXPECT_TRUE(exists("auto:unknown"));
}

TEST_F(IdleSweepTest, ARoomChangedSinceItWasJudgedStays) {
    auto_create("auto:changed");
    auto got = kv_->get(contract::room_key("auto:changed"));
    ASSERT_TRUE(got && *got);
    const std::uint64_t judged = (*got)->revision;
    v1::UpdateRoomRequest update;
    update.set_room_id("auto:changed");
    (*update.mutable_labels())["topic"] = "x";
    ASSERT_TRUE(rooms_->update_room(update, soon()));
    EXPECT_EQ(rooms_->delete_idle_room("auto:changed", judged, soon()).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_TRUE(exists("auto:changed"));
    EXPECT_EQ(rooms_->delete_idle_room("auto:missing", judged, soon()).error_code(),
              grpc::StatusCode::NOT_FOUND);
    EXPECT_FALSE(kicks_.wait_for(1, 200ms));
}

TEST_F(IdleSweepTest, ReplicasSweepingTogetherDeleteOnceWithoutErrors) {
    serve_presence({});
    for (int i = 0; i < 6; ++i) {
        auto_create("auto:r" + std::to_string(i));
    }
    std::this_thread::sleep_for(kTtl + 100ms);
    IdleRoomSweeper a(*nats_, *kv_, *rooms_, options());
    IdleRoomSweeper b(*nats_, *kv_, *rooms_, options());
    SweepPass pa;
    SweepPass pb;
    std::thread ta([&] { pa = a.sweep_once(); });
    std::thread tb([&] { pb = b.sweep_once(); });
    ta.join();
    tb.join();
    EXPECT_EQ(pa.swept + pb.swept, 6u);
    EXPECT_EQ(pa.errors + pb.errors, 0u);
    auto keys = kv_->keys(contract::kRoomKeyFilter);
    ASSERT_TRUE(keys);
    EXPECT_TRUE(keys->empty());
    ASSERT_TRUE(kicks_.wait_for(6, 2s));
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(kicks_.size(), 6u);  // one kick per room, whoever deleted it
}

TEST_F(IdleSweepTest, APassExaminesAtMostABatchAndTheNextResumes) {
    serve_presence({});
    auto_create("auto:a");
    auto_create("auto:b");
    auto_create("auto:c");
    std::this_thread::sleep_for(kTtl + 100ms);
    IdleRoomSweeper sweeper(*nats_, *kv_, *rooms_, options(2));
    const SweepPass first = sweeper.sweep_once();
    EXPECT_EQ(first.examined, 2u);
    EXPECT_EQ(first.swept, 2u);
    EXPECT_FALSE(exists("auto:a"));
    EXPECT_FALSE(exists("auto:b"));
    EXPECT_TRUE(exists("auto:c"));
    const SweepPass second = sweeper.sweep_once();
    EXPECT_EQ(second.examined, 1u);
    EXPECT_EQ(second.swept, 1u);
    EXPECT_FALSE(exists("auto:c"));
}

TEST_F(IdleSweepTest, TheThreadSweepsEveryIntervalAndStops) {
    serve_presence({});
    auto_create("auto:threaded");
    SweepOptions o = options();
    o.interval = 100ms;
    IdleRoomSweeper sweeper(*nats_, *kv_, *rooms_, o);
    sweeper.start();
    EXPECT_TRUE(natsbus::testing::eventually([&] { return !exists("auto:threaded"); }, 5s));
    sweeper.stop();
    EXPECT_EQ(sweeper.swept(), 1u);
}

}  // namespace
}  // namespace roomcast::rooms
