// The presence service in-process against a real nats-server: the test writes PresenceEntry
// values and heartbeats into the buckets directly, as edges would, and checks the gRPC API,
// WatchPresence events, dead edges, NATS queries and leader election. Durations are shortened
// (grace 1 s, dead-after 1 s, batches every 50 ms) to keep the suite fast.
#include "presence_service.hpp"
#include "presence_grpc.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/grpcutil/grpcutil.hpp"
#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

namespace roomcast::presence {
namespace {

using namespace std::chrono_literals;
using natsbus::testing::Collector;
using natsbus::testing::connect_or_fail;
using natsbus::testing::eventually;
using natsbus::testing::shared_server;
using natsbus::testing::test_options;
using natsbus::testing::unique_name;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kToken[] = "test-admin-token";
constexpr auto kGrace = 1000ms;
constexpr auto kDeadAfter = 1000ms;
constexpr auto kBatch = 50ms;
constexpr auto kBeatEvery = 200ms;

// Writes every listed edge's heartbeat every kBeatEvery, as the edge does every second.
class Heartbeats {
public:
    explicit Heartbeats(natsbus::KeyValue& kv) : kv_(kv), thread_([this] { run(); }) {}
    ~Heartbeats() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    // Starts beating `edge`; the first heartbeat is written before this returns.
    void start(const std::string& edge) {
        write(edge);
        std::lock_guard lock(mu_);
        edges_.insert(edge);
    }
    void stop(const std::string& edge) {
        std::lock_guard lock(mu_);
        edges_.erase(edge);
    }

private:
    void write(const std::string& edge) {
        bus::v1::EdgeHeartbeat hb;
        hb.set_last_seen_ms(unix_ms());
        EXPECT_TRUE(kv_.put(edge, hb.SerializeAsString()));
    }
    void run() {
        std::unique_lock lock(mu_);
        while (!cv_.wait_for(lock, kBeatEvery, [this] { return stop_; })) {
            const auto edges = edges_;
            lock.unlock();
            for (const auto& e : edges) {
                write(e);
            }
            lock.lock();
        }
    }

    natsbus::KeyValue& kv_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::set<std::string> edges_;
    std::thread thread_;
};

// One replica: the logic, its gRPC service on an in-process channel.
struct Replica {
    Replica(natsbus::Connection& nats, ServiceOptions options, GrpcLimits limits = {})
        : service(nats, std::move(options)), grpc(service, kToken, limits), server("127.0.0.1:0") {
        server.add_service(&grpc);
        server.start();
        stub = v1::Presence::NewStub(server.in_process_channel());
    }
    ~Replica() { shutdown(); }
    void shutdown() {
        service.close_watchers();
        server.shutdown(1000ms);
        service.stop();
    }
    PresenceService service;
    PresenceGrpc grpc;
    grpcutil::Server server;
    std::unique_ptr<v1::Presence::Stub> stub;
};

// A WatchPresence stream read on a thread of its own; each user change is recorded as "+id" /
// "-id" with its arrival time.
class Watch {
public:
    Watch(v1::Presence::Stub& stub, const std::string& room, bool authorized = true) {
        if (authorized) {
            grpcutil::add_bearer(context_, kToken);
        }
        v1::WatchPresenceRequest request;
        request.set_room_id(room);
        reader_ = stub.WatchPresence(&context_, request);
        if (authorized) {
            reader_->WaitForInitialMetadata();  // registered: later changes reach us
        }
        thread_ = std::thread([this] {
            v1::PresenceEvent event;
            while (reader_->Read(&event)) {
                const auto at = steady_clock::now();
                for (const auto& u : event.joined()) {
                    changes.push({"+" + u.id(), at});
                }
                for (const auto& u : event.left()) {
                    changes.push({"-" + u.id(), at});
                }
            }
            status_ = reader_->Finish();
            done_ = true;
        });
    }
    ~Watch() {
        context_.TryCancel();
        thread_.join();
    }
    bool wait_done(milliseconds timeout) {
        return eventually([this] { return done_.load(); }, timeout);
    }
    grpc::Status status() const { return status_; }
    // The changes received so far, sorted (batches may split changes made close together).
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& c : changes.items()) {
            out.push_back(c.first);
        }
        std::sort(out.begin(), out.end());
        return out;
    }
    // Arrival time of the first change named `name`.
    std::optional<steady_clock::time_point> when(const std::string& name) const {
        for (const auto& c : changes.items()) {
            if (c.first == name) {
                return c.second;
            }
        }
        return std::nullopt;
    }

    Collector<std::pair<std::string, steady_clock::time_point>> changes;

private:
    grpc::ClientContext context_;
    std::unique_ptr<grpc::ClientReader<v1::PresenceEvent>> reader_;
    std::thread thread_;
    grpc::Status status_;
    std::atomic<bool> done_{false};
};

class PresenceServiceTest : public ::testing::Test {
protected:
    void SetUp() override {
        nats_ = connect_or_fail(test_options(shared_server().url()));
        ASSERT_NE(nats_, nullptr);
        const std::string tag = unique_name("p");
        options_.replica_id = "replica-a";
        options_.presence_bucket = tag + "_presence";
        options_.edges_bucket = tag + "_edges";
        options_.leader_bucket = tag + "_leader";
        options_.room_subject_prefix = tag + ".room.";
        options_.query_subject = tag + ".query";
        options_.storage = natsbus::Storage::kMemory;
        options_.grace = kGrace;
        options_.edge_dead_after = kDeadAfter;
        options_.batch_interval = kBatch;
        options_.leader_ttl = 1500ms;
        options_.leader_refresh = 300ms;
        // The writers' handles, with the same configuration the service applies.
        auto presence_config =
            contract::presence_bucket(1, options_.budgets, natsbus::Storage::kMemory);
        presence_config.bucket = options_.presence_bucket;
        auto edges_config = contract::edges_bucket(1, options_.budgets, natsbus::Storage::kMemory);
        edges_config.bucket = options_.edges_bucket;
        auto p = nats_->jetstream().key_value(presence_config);
        auto e = nats_->jetstream().key_value(edges_config);
        ASSERT_TRUE(p && e);
        presence_kv_ = std::move(*p);
        edges_kv_ = std::move(*e);
        beats_ = std::make_unique<Heartbeats>(*edges_kv_);
    }

    void TearDown() override {
        replicas_.clear();
        beats_.reset();
        presence_kv_.reset();
        edges_kv_.reset();
        if (nats_) {
            for (const auto& b :
                 {options_.presence_bucket, options_.edges_bucket, options_.leader_bucket}) {
                (void)nats_->jetstream().delete_stream("KV_" + b);
            }
        }
    }

    Replica& start_replica(const std::string& id = "replica-a", GrpcLimits limits = {}) {
        ServiceOptions o = options_;
        o.replica_id = id;
        replicas_.push_back(std::make_unique<Replica>(*nats_, o, limits));
        Replica& r = *replicas_.back();
        EXPECT_TRUE(r.service.start());
        EXPECT_TRUE(eventually([&] { return r.service.loaded(); }, 5s));
        return r;
    }

    void put(const std::string& edge, const std::string& room, const std::string& user,
             std::uint32_t sockets, bool lost = false) {
        bus::v1::PresenceEntry entry;
        entry.set_edge_id(edge);
        entry.set_room(room);
        entry.set_user_id(user);
        entry.set_name("Name " + user);
        entry.set_sockets(sockets);
        entry.set_lost(lost);
        entry.set_updated_ms(unix_ms());
        ASSERT_TRUE(
            presence_kv_->put(contract::entry_key(edge, room, user), entry.SerializeAsString()));
    }

    static grpc::Status stats(Replica& r, const std::string& room,
                              v1::GetPresenceStatsResponse& out, bool authorized = true) {
        grpc::ClientContext ctx;
        if (authorized) {
            grpcutil::add_bearer(ctx, kToken);
        }
        ctx.set_deadline(std::chrono::system_clock::now() + 5s);
        v1::GetPresenceStatsRequest req;
        req.set_room_id(room);
        return r.stub->GetPresenceStats(&ctx, req, &out);
    }
    static std::string counts(Replica& r, const std::string& room) {
        v1::GetPresenceStatsResponse out;
        const auto st = stats(r, room, out);
        if (!st.ok()) {
            return "error " + st.error_message();
        }
        return std::to_string(out.clients()) + "/" + std::to_string(out.users());
    }
    static grpc::Status page(Replica& r, const std::string& room, int size,
                             const std::string& token, v1::GetPresenceResponse& out) {
        grpc::ClientContext ctx;
        grpcutil::add_bearer(ctx, kToken);
        ctx.set_deadline(std::chrono::system_clock::now() + 5s);
        v1::GetPresenceRequest req;
        req.set_room_id(room);
        req.set_page_size(size);
        req.set_page_token(token);
        return r.stub->GetPresence(&ctx, req, &out);
    }

    std::unique_ptr<natsbus::Connection> nats_;
    ServiceOptions options_;
    std::unique_ptr<natsbus::KeyValue> presence_kv_;
    std::unique_ptr<natsbus::KeyValue> edges_kv_;
    std::unique_ptr<Heartbeats> beats_;
    std::vector<std::unique_ptr<Replica>> replicas_;
};

TEST_F(PresenceServiceTest, StatsAndThreePagesOfUsers) {
    beats_->start("edge-a");
    beats_->start("edge-b");
    // Some state before the replica starts (loaded), the rest after (watched).
    for (int i = 0; i < 120; ++i) {
        char id[16];
        std::snprintf(id, sizeof(id), "user-%03d", i);
        put(i % 2 == 0 ? "edge-a" : "edge-b", "room:1", id, 1 + i % 2);
    }
    Replica& r = start_replica();
    for (int i = 120; i < 250; ++i) {
        char id[16];
        std::snprintf(id, sizeof(id), "user-%03d", i);
        put(i % 2 == 0 ? "edge-a" : "edge-b", "room:1", id, 1 + i % 2);
    }
    ASSERT_TRUE(eventually([&] { return counts(r, "room:1") == "375/250"; }, 5s))
        << counts(r, "room:1");
    EXPECT_EQ(counts(r, "empty-room"), "0/0");

    std::vector<std::string> ids;
    std::vector<int> sizes;
    std::string token;
    do {
        v1::GetPresenceResponse out;
        ASSERT_TRUE(page(r, "room:1", 100, token, out).ok());
        EXPECT_EQ(out.users_total(), 250U);  // totals in every page
        EXPECT_EQ(out.clients(), 375U);
        sizes.push_back(out.users_size());
        for (const auto& u : out.users()) {
            ids.push_back(u.id());
            EXPECT_EQ(u.name(), "Name " + u.id());
            EXPECT_EQ(u.sockets(), std::stoul(u.id().substr(5)) % 2 + 1);
        }
        token = out.next_page_token();
    } while (!token.empty() && sizes.size() < 5);
    EXPECT_EQ(sizes, (std::vector<int>{100, 100, 50}));
    ASSERT_EQ(ids.size(), 250U);
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 250U);

    v1::GetPresenceResponse out;
    ASSERT_TRUE(page(r, "room:1", 0, "", out).ok());
    EXPECT_EQ(out.users_size(), 100);  // 0 means 100
    EXPECT_EQ(page(r, "room:1", 1001, "", out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(page(r, "room:1", -1, "", out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(page(r, "room:1", 10, "not-a-token", out).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(page(r, "bad room", 10, "", out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    v1::GetPresenceStatsResponse s;
    EXPECT_EQ(stats(r, std::string(129, 'x'), s).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// ListEdges reports what each edge's heartbeat says (new fields and an old edge's defaults),
// paged by id; ListLiveRooms lists the rooms with counted sockets. Both need the admin token.
TEST_F(PresenceServiceTest, ListEdgesAndLiveRooms) {
    beats_->start("edge-a");  // an old edge: only last_seen_ms
    Replica& r = start_replica();
    bus::v1::EdgeHeartbeat hb;
    hb.set_last_seen_ms(unix_ms());
    hb.set_connections(7);
    hb.set_rooms(3);
    hb.set_version("1.2.3");
    hb.set_draining(true);
    ASSERT_TRUE(edges_kv_->put("edge-b", hb.SerializeAsString()));
    put("edge-a", "team:x", "alice", 2);
    put("edge-a", "lobby", "bob", 1);

    const auto list_edges = [&](int size, const std::string& token, v1::ListEdgesResponse& out,
                                bool authorized = true) {
        grpc::ClientContext ctx;
        if (authorized) {
            grpcutil::add_bearer(ctx, kToken);
        }
        ctx.set_deadline(std::chrono::system_clock::now() + 5s);
        v1::ListEdgesRequest req;
        req.set_page_size(size);
        req.set_page_token(token);
        out.Clear();
        return r.stub->ListEdges(&ctx, req, &out);
    };
    v1::ListEdgesResponse edges;
    ASSERT_TRUE(
        eventually([&] { return list_edges(0, "", edges).ok() && edges.edges_size() == 2; }, 5s));
    EXPECT_EQ(edges.edges(0).id(), "edge-a");
    EXPECT_TRUE(edges.edges(0).alive());
    EXPECT_EQ(edges.edges(0).version(), "");
    EXPECT_EQ(edges.edges(1).id(), "edge-b");
    EXPECT_EQ(edges.edges(1).connections(), 7U);
    EXPECT_EQ(edges.edges(1).rooms(), 3U);
    EXPECT_EQ(edges.edges(1).version(), "1.2.3");
    EXPECT_TRUE(edges.edges(1).draining());
    EXPECT_GT(edges.edges(1).last_seen_ms(), 0);

    ASSERT_TRUE(list_edges(1, "", edges).ok());
    ASSERT_EQ(edges.edges_size(), 1);
    ASSERT_FALSE(edges.next_page_token().empty());
    const std::string token = edges.next_page_token();
    ASSERT_TRUE(list_edges(1, token, edges).ok());
    ASSERT_EQ(edges.edges_size(), 1);
    EXPECT_EQ(edges.edges(0).id(), "edge-b");
    EXPECT_EQ(edges.next_page_token(), "");
    EXPECT_EQ(list_edges(1001, "", edges).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(list_edges(0, "bogus", edges).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(list_edges(0, "", edges, false).error_code(), grpc::StatusCode::UNAUTHENTICATED);

    // edge-b stops beating: it turns dead, and its key's deletion removes it.
    ASSERT_TRUE(eventually(
        [&] {
            return list_edges(0, "", edges).ok() && edges.edges_size() == 2 &&
                   !edges.edges(1).alive();
        },
        5s));
    ASSERT_TRUE(edges_kv_->erase("edge-b"));
    ASSERT_TRUE(
        eventually([&] { return list_edges(0, "", edges).ok() && edges.edges_size() == 1; }, 5s));

    const auto live = [&](const std::string& prefix, v1::ListLiveRoomsResponse& out,
                          bool authorized = true) {
        grpc::ClientContext ctx;
        if (authorized) {
            grpcutil::add_bearer(ctx, kToken);
        }
        ctx.set_deadline(std::chrono::system_clock::now() + 5s);
        v1::ListLiveRoomsRequest req;
        req.set_prefix(prefix);
        out.Clear();
        return r.stub->ListLiveRooms(&ctx, req, &out);
    };
    v1::ListLiveRoomsResponse rooms;
    ASSERT_TRUE(eventually([&] { return live("", rooms).ok() && rooms.rooms_size() == 2; }, 5s));
    EXPECT_EQ(rooms.rooms(0).room_id(), "lobby");
    EXPECT_EQ(rooms.rooms(1).room_id(), "team:x");
    EXPECT_EQ(rooms.rooms(1).clients(), 2U);
    EXPECT_EQ(rooms.rooms(1).users(), 1U);
    ASSERT_TRUE(live("team:", rooms).ok());
    ASSERT_EQ(rooms.rooms_size(), 1);
    EXPECT_EQ(live("", rooms, false).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(live(std::string(200, 'x'), rooms).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(PresenceServiceTest, WatchSeesImmediateAndGracefulLeaves) {
    beats_->start("edge-a");
    beats_->start("edge-b");
    Replica& r = start_replica();
    Watch watch(*r.stub, "room:w");

    put("edge-a", "room:w", "clean", 1);
    put("edge-a", "room:w", "lost", 1);
    put("edge-a", "room:w", "back", 1);
    ASSERT_TRUE(watch.changes.wait_for(3, 3s));
    EXPECT_EQ(watch.names(), (std::vector<std::string>{"+back", "+clean", "+lost"}));
    EXPECT_EQ(counts(r, "room:w"), "3/3");

    const auto t0 = steady_clock::now();
    put("edge-a", "room:w", "clean", 0);                // leave / clean disconnect
    put("edge-a", "room:w", "lost", 0, /*lost=*/true);  // connection lost
    put("edge-a", "room:w", "back", 0, /*lost=*/true);  // lost too, but...
    std::this_thread::sleep_for(300ms);
    put("edge-b", "room:w", "back", 1);  // ...recovered on another edge within the grace

    ASSERT_TRUE(watch.changes.wait_for(5, 4s)) << ::testing::PrintToString(watch.names());
    std::this_thread::sleep_for(kGrace);  // anything else would have come by now
    EXPECT_EQ(watch.names(),
              (std::vector<std::string>{"+back", "+clean", "+lost", "-clean", "-lost"}));
    EXPECT_LT(*watch.when("-clean"), *watch.when("-lost"));
    EXPECT_LT(*watch.when("-clean") - t0, kGrace / 2);
    EXPECT_GE(*watch.when("-lost") - t0, kGrace);
    EXPECT_LT(*watch.when("-lost") - t0, kGrace + 500ms);
    EXPECT_EQ(counts(r, "room:w"), "1/1");

    // Shutdown ends the stream.
    r.service.close_watchers();
    ASSERT_TRUE(watch.wait_done(3s));
    EXPECT_EQ(watch.status().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(PresenceServiceTest, DeadEdgeUsersLeaveAndAResumingEdgeDoesNotFlap) {
    beats_->start("edge-dies");
    beats_->start("edge-pauses");
    Replica& r = start_replica();
    Watch watch(*r.stub, "room:d");
    put("edge-dies", "room:d", "u-dies", 1);
    put("edge-pauses", "room:d", "u-pauses", 2);
    ASSERT_TRUE(watch.changes.wait_for(2, 3s));
    EXPECT_EQ(counts(r, "room:d"), "3/2");

    const auto stopped = steady_clock::now();
    beats_->stop("edge-dies");
    beats_->stop("edge-pauses");
    // Both edges are dead after ~1 s: their sockets stop counting, their users are in the grace.
    ASSERT_TRUE(eventually([&] { return counts(r, "room:d") == "0/2"; }, 3s))
        << counts(r, "room:d");
    std::this_thread::sleep_for(200ms);
    beats_->start("edge-pauses");  // back within the grace
    ASSERT_TRUE(eventually([&] { return counts(r, "room:d") == "2/2"; }, 2s))
        << counts(r, "room:d");

    ASSERT_TRUE(watch.changes.wait_for(3, 4s));
    const auto left_after = *watch.when("-u-dies") - stopped;
    EXPECT_GE(left_after, kDeadAfter + kGrace - kBeatEvery);
    EXPECT_LE(left_after, kDeadAfter + kGrace + kBeatEvery + kBatch + 300ms);
    std::this_thread::sleep_for(kGrace);
    EXPECT_EQ(watch.names(), (std::vector<std::string>{"+u-dies", "+u-pauses", "-u-dies"}));
    EXPECT_EQ(counts(r, "room:d"), "2/1");
}

TEST_F(PresenceServiceTest, AUserOnTwoEdgesStaysWhileOneHasASocket) {
    beats_->start("edge-a");
    beats_->start("edge-b");
    Replica& r = start_replica();
    Watch watch(*r.stub, "room:2");
    put("edge-a", "room:2", "u1", 1);
    put("edge-b", "room:2", "u1", 1);
    ASSERT_TRUE(eventually([&] { return counts(r, "room:2") == "2/1"; }, 3s));
    put("edge-a", "room:2", "u1", 0);
    ASSERT_TRUE(eventually([&] { return counts(r, "room:2") == "1/1"; }, 3s));
    std::this_thread::sleep_for(5 * kBatch);
    EXPECT_EQ(watch.names(), (std::vector<std::string>{"+u1"}));
    put("edge-b", "room:2", "u1", 0);
    ASSERT_TRUE(watch.changes.wait_for(2, 3s));
    EXPECT_EQ(watch.names(), (std::vector<std::string>{"+u1", "-u1"}));
}

TEST_F(PresenceServiceTest, AnswersNatsQueriesOnceLoaded) {
    bus::v1::PresenceQuery query;
    query.set_room("room:q");
    query.set_limit(2);
    auto early = nats_->request(options_.query_subject, query.SerializeAsString(), 500ms);
    ASSERT_FALSE(early);  // no replica serves before its state is loaded
    EXPECT_EQ(early.error(), natsbus::Errc::kNoResponders);

    beats_->start("edge-a");
    for (int i = 0; i < 130; ++i) {
        char id[16];
        std::snprintf(id, sizeof(id), "q%03d", i);
        put("edge-a", "room:q", id, 1);
    }
    Replica& r = start_replica();
    ASSERT_TRUE(eventually([&] { return counts(r, "room:q") == "130/130"; }, 5s));

    auto reply = nats_->request(options_.query_subject, query.SerializeAsString(), 2000ms);
    ASSERT_TRUE(reply) << reply.error().message();
    bus::v1::PresenceQueryResult result;
    ASSERT_TRUE(result.ParseFromString(reply->data));
    EXPECT_EQ(result.clients(), 130U);
    EXPECT_EQ(result.users(), 130U);
    ASSERT_EQ(result.listed_size(), 2);
    EXPECT_EQ(result.listed(0).id(), "q000");
    EXPECT_EQ(result.listed(0).name(), "Name q000");
    EXPECT_EQ(result.listed(1).id(), "q001");

    query.set_limit(1000);  // capped at 100
    reply = nats_->request(options_.query_subject, query.SerializeAsString(), 2000ms);
    ASSERT_TRUE(reply && result.ParseFromString(reply->data));
    EXPECT_EQ(result.listed_size(), 100);

    query.set_room("not a room");  // still answered, with nothing
    reply = nats_->request(options_.query_subject, query.SerializeAsString(), 2000ms);
    ASSERT_TRUE(reply && result.ParseFromString(reply->data));
    EXPECT_EQ(result.users(), 0U);
    EXPECT_EQ(result.listed_size(), 0);
}

TEST_F(PresenceServiceTest, ExactlyOneLeaderPublishesAndAnotherTakesOver) {
    Collector<bus::v1::PresenceChange> published;
    auto sub = nats_->subscribe(options_.room_subject_prefix + ">", [&](natsbus::Message&& m) {
        bus::v1::PresenceChange change;
        EXPECT_TRUE(change.ParseFromString(m.data));
        EXPECT_EQ(m.subject, options_.room_subject_prefix + change.room());
        published.push(std::move(change));
    });
    ASSERT_TRUE(sub);
    beats_->start("edge-a");
    Replica& a = start_replica("replica-a");
    Replica& b = start_replica("replica-b");
    ASSERT_TRUE(eventually([&] { return a.service.is_leader() || b.service.is_leader(); }, 3s));
    EXPECT_NE(a.service.is_leader(), b.service.is_leader());
    Replica& leader = a.service.is_leader() ? a : b;
    Replica& follower = a.service.is_leader() ? b : a;

    Watch follower_watch(*follower.stub, "room:l");  // followers still feed their streams
    put("edge-a", "room:l", "u1", 1);
    ASSERT_TRUE(published.wait_for(1, 3s));
    ASSERT_TRUE(follower_watch.changes.wait_for(1, 3s));
    std::this_thread::sleep_for(10 * kBatch);
    ASSERT_EQ(published.size(), 1U);  // one publisher, not two
    EXPECT_EQ(published.items()[0].room(), "room:l");
    ASSERT_EQ(published.items()[0].joined_size(), 1);
    EXPECT_EQ(published.items()[0].joined(0).id(), "u1");
    EXPECT_EQ(published.items()[0].joined(0).name(), "Name u1");

    // The leader dies without resigning: the follower takes over once the key expires
    // (TTL 1.5 s here, 3 s by default) and its next attempt succeeds.
    const auto stopped = steady_clock::now();
    leader.service.stop();
    ASSERT_TRUE(eventually([&] { return follower.service.is_leader(); }, 5s));
    EXPECT_LT(steady_clock::now() - stopped,
              options_.leader_ttl + 2 * options_.leader_refresh + 500ms);
    put("edge-a", "room:l", "u1", 0);
    ASSERT_TRUE(published.wait_for(2, 3s));
    std::this_thread::sleep_for(10 * kBatch);
    ASSERT_EQ(published.size(), 2U);
    ASSERT_EQ(published.items()[1].left_size(), 1);
    EXPECT_EQ(published.items()[1].left(0).id(), "u1");

    // A graceful stop resigns: the key is gone at once.
    follower.service.resign();
    EXPECT_FALSE(follower.service.is_leader());
    auto leader_config =
        contract::presence_leader_bucket(1, options_.budgets, natsbus::Storage::kMemory);
    leader_config.bucket = options_.leader_bucket;
    leader_config.ttl = options_.leader_ttl;
    auto kv = nats_->jetstream().key_value(leader_config);
    ASSERT_TRUE(kv);
    auto key = (*kv)->get(contract::kPresenceLeaderKey);
    ASSERT_TRUE(key);
    EXPECT_FALSE(key->has_value());
}

TEST_F(PresenceServiceTest, EveryMethodRequiresTheAdminToken) {
    Replica& r = start_replica();
    {
        v1::GetPresenceStatsResponse out;
        EXPECT_EQ(stats(r, "room:1", out, false).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    }
    {
        grpc::ClientContext ctx;
        grpcutil::add_bearer(ctx, "wrong-token");
        v1::GetPresenceStatsRequest req;
        req.set_room_id("room:1");
        v1::GetPresenceStatsResponse out;
        EXPECT_EQ(r.stub->GetPresenceStats(&ctx, req, &out).error_code(),
                  grpc::StatusCode::UNAUTHENTICATED);
    }
    {
        grpc::ClientContext ctx;
        v1::GetPresenceRequest req;
        req.set_room_id("room:1");
        v1::GetPresenceResponse out;
        EXPECT_EQ(r.stub->GetPresence(&ctx, req, &out).error_code(),
                  grpc::StatusCode::UNAUTHENTICATED);
    }
    {
        // Refused even when the request is also invalid: authentication comes first.
        grpc::ClientContext ctx;
        v1::GetPresenceRequest req;
        req.set_room_id("bad room");
        v1::GetPresenceResponse out;
        EXPECT_EQ(r.stub->GetPresence(&ctx, req, &out).error_code(),
                  grpc::StatusCode::UNAUTHENTICATED);
    }
    {
        Watch watch(*r.stub, "room:1", /*authorized=*/false);
        ASSERT_TRUE(watch.wait_done(3s));
        EXPECT_EQ(watch.status().error_code(), grpc::StatusCode::UNAUTHENTICATED);
    }
    EXPECT_EQ(r.service.watcher_count(), 0U);
}

TEST_F(PresenceServiceTest, AWatcherThatFallsBehindIsDropped) {
    beats_->start("edge-a");
    // No batch may wait behind the write in flight, so the first one already overflows.
    Replica& r = start_replica("replica-a", GrpcLimits{.watch_queue_limit = 0});
    Watch watch(*r.stub, "room:s");
    put("edge-a", "room:s", "u1", 1);
    ASSERT_TRUE(watch.wait_done(3s));
    EXPECT_EQ(watch.status().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_TRUE(eventually([&] { return r.service.watcher_count() == 0; }, 2s));
}

}  // namespace
}  // namespace roomcast::presence
