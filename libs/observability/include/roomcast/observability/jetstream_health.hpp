#pragma once
// JetStream health (docs/operations.md, "Metrics"): for the streams and KV buckets a process
// owns (libs/contract/storage.hpp: the room stream and sessions, edges and presence buckets by
// the edges, roomcast_rooms and roomcast_revocations by the rooms service, the leader bucket by
// presence, roomcast_config by auth; each role may read only its own streams' info), the bytes
// held against the byte budget (max_bytes), the message count and whether a leader answers for
// it. Replicas report the same numbers for shared state (alerts aggregate with max by name).
//
// A thread of its own asks for each stream's info (one JetStream API request each, with a
// deadline) every `interval`; scrapes read the last answers and never wait for NATS. A stream
// that does not exist (yet: the edge creates the room stream) has no series. A failed request
// reports no leader (an unanswered JetStream API call is what a leaderless stream looks like;
// the alert tells that apart from this replica's own NATS outage with roomcast_nats_connected)
// and keeps the last known bytes.
//
// Thread-safety: Collect() from any thread; start()/stop() from the owner.

#include "roomcast/natsbus/natsbus.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace roomcast::observability {

struct JetStreamHealthOptions {
    // Between two polls: each costs one stream info request per stream and bucket (8).
    std::chrono::milliseconds interval{15000};
    // Deadline of each request, so a slow JetStream API cannot stall the poller for long.
    std::chrono::milliseconds timeout{2000};
};

class JetStreamHealth final : public prometheus::Collectable {
public:
    struct Target {
        std::string name;    // the label: the stream's or the bucket's name
        std::string stream;  // the JetStream stream (KV_<bucket> for a bucket)
    };
    // A stream, and a KV bucket (its stream is KV_<bucket>), labelled by their names.
    static Target stream(std::string_view name);
    static Target bucket(std::string_view name);

    JetStreamHealth(natsbus::Connection& nats, std::vector<Target> targets,
                    JetStreamHealthOptions options = {});
    ~JetStreamHealth() override;
    JetStreamHealth(const JetStreamHealth&) = delete;
    JetStreamHealth& operator=(const JetStreamHealth&) = delete;

    // Polls once now, then every interval on its thread.
    void start();
    void stop();
    // One round, on the calling thread (start() runs it on its own).
    void poll_once();

    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    // One round; `stoppable`: the poller thread's, which ends early once stop() was called.
    void poll(bool stoppable);

    struct State {
        bool present = false;  // info answered at least once and the stream was not deleted since
        bool has_leader = false;
        natsbus::StreamHealth last;
    };

    natsbus::Connection& nats_;
    const std::vector<Target> targets_;
    const JetStreamHealthOptions options_;

    mutable std::mutex mu_;
    std::vector<State> states_;  // by target, under mu_
    std::uint64_t errors_ = 0;   // failed info requests (not counting missing streams), under mu_
    bool stopping_ = false;      // under mu_
    std::condition_variable wake_;
    std::thread thread_;
};

}  // namespace roomcast::observability
