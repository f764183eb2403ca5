#pragma once
// The edge's side of the room fabric on NATS.
//
//   publish:  JetStream publish to roomcast.room.<room>; the stream ROOMCAST_ROOMS stores it and
//             its stream sequence is the event's offset (returned in the PubAck).
//   fan-out:  the stream republishes every stored event to roomcast.fanout.<room> with the
//             headers Nats-Sequence and Nats-Last-Sequence. An edge subscribes to a room's
//             fan-out subject once, while it has local members (reference-counted), and hands
//             each event to `deliver` in order.
//   repair:   Nats-Last-Sequence names the room's previous event; when it is newer than the
//             last event this edge delivered for the room (messages lost during a NATS
//             reconnect), the missing events are read back from the stream and delivered first.
//             After a reconnect every subscribed room is checked the same way.
//
// Threading: acquire/release/publish/read are thread-safe. NATS callbacks only copy and post
// to the bus thread (an io_context of its own), which owns the per-room sequence state and
// calls `deliver`. This thread does the "encode once" work of the fan-out, then posts to the
// shards.

#include "roomcast/natsbus/natsbus.hpp"
#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/subjects.hpp"

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace roomcast::edge {

// The stream and subjects of the bus contract (libs/contract); tests use names of their own.
struct RoomBusOptions {
    std::string stream{contract::kRoomStream};
    std::string room_prefix{contract::kRoomSubjectPrefix};
    std::string fanout_prefix{contract::kFanoutSubjectPrefix};
    // Presence changes of a room (from the presence service), subscribed with the fan-out.
    std::string presence_prefix{contract::kPresenceRoomSubjectPrefix};
    // Most events read back to repair one gap (the stream keeps at most this many per room).
    std::size_t repair_max = 1000;
    std::chrono::milliseconds read_timeout{5000};
};

struct RoomBusStats {
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> duplicates_dropped{0};
    std::atomic<std::uint64_t> invalid_dropped{0};
    std::atomic<std::uint64_t> gaps_detected{0};
    std::atomic<std::uint64_t> events_repaired{0};
    std::atomic<std::uint64_t> events_lost{0};  // gaps that could not be read back
    std::atomic<std::uint64_t> subscriptions{0};
};

class RoomBus {
public:
    // Called on the bus thread for every event, in order per room.
    // `received`: when the event arrived on the bus (for the fan-out latency metric).
    using Deliver = std::function<void(const std::string& room, std::uint64_t offset,
                                       bus::v1::RoomEvent&& event,
                                       std::chrono::steady_clock::time_point received)>;

    // Called on a NATS thread with a room's PresenceChange (serialized): copy and post only.
    using DeliverPresence = std::function<void(const std::string& room, std::string&& change)>;

    RoomBus(natsbus::Connection& nats, RoomBusOptions options, Deliver deliver,
            DeliverPresence deliver_presence = {});
    ~RoomBus();
    RoomBus(const RoomBus&) = delete;
    RoomBus& operator=(const RoomBus&) = delete;

    void start();
    void stop();

    // Reference-counted interest in a room's events. Thread-safe.
    void acquire(const std::string& room);
    void release(const std::string& room);

    // Publishes an event; `done` runs on a library thread with the offset or an error.
    void publish(const std::string& room, const bus::v1::RoomEvent& event,
                 std::function<void(natsbus::Result<std::uint64_t>)> done);

    using StoredEvents = std::vector<std::pair<std::uint64_t, bus::v1::RoomEvent>>;
    // Events of `room` with offset > `after`, ascending, at most `max`. `done` on a library thread.
    // Reads of one room that wait for a worker at the same time are served by one JetStream
    // read (a mass reconnect after an edge dies asks for the same rooms a thousand times); each
    // read starts after every request it serves was made, so none misses a stored event.
    void read_after(const std::string& room, std::uint64_t after, std::size_t max,
                    std::function<void(natsbus::Result<StoredEvents>)> done);
    // The last `count` events of `room`, ascending.
    void read_last(const std::string& room, std::size_t count,
                   std::function<void(natsbus::Result<StoredEvents>)> done);
    // The room's latest offset (0 when it has no events). While this edge is subscribed to the
    // room it answers at once from what it knows (the offset read when it subscribed, raised by
    // every event delivered since): that is the last event delivered here, and any later one
    // reaches the room's local members live. Otherwise (or until that first read is back) it
    // asks the stream. `done` runs on the caller's thread or a library thread.
    void last_offset(const std::string& room,
                     std::function<void(natsbus::Result<std::uint64_t>)> done);

    // After a NATS reconnect: look for events missed by every subscribed room. Thread-safe.
    void on_reconnected();

    boost::asio::io_context& executor() noexcept { return ioc_; }
    const RoomBusStats& stats() const noexcept { return stats_; }
    const RoomBusOptions& options() const noexcept { return options_; }

private:
    struct Incoming {
        std::chrono::steady_clock::time_point received;
        std::uint64_t seq = 0;
        std::uint64_t prev = 0;  // Nats-Last-Sequence (0: the room's first event)
        std::string data;
    };
    struct RoomState {
        std::uint64_t last = 0;  // last offset delivered (0: none yet)
        bool repairing = false;
        std::deque<Incoming> pending;  // live events held while a gap is repaired
    };
    struct Interest {
        int refs = 0;
        natsbus::Subscription subscription;
        natsbus::Subscription presence;
        std::uint64_t generation = 0;  // tells a seed read of this subscription from a stale one
        bool offset_known = false;     // the seed read is back (and no reconnect since)
        std::uint64_t last_offset = 0; // max(seed, every event delivered since)
    };
    // The room's latest offset in the stream (always asks NATS).
    void stored_last_offset(const std::string& room,
                            std::function<void(natsbus::Result<std::uint64_t>)> done);
    // Reads the room's offset for the subscription of `generation` and marks it known.
    void seed_offset(const std::string& room, std::uint64_t generation);

    struct ReadRequest {
        std::uint64_t after = 0;
        std::size_t max = 0;
        std::function<void(natsbus::Result<StoredEvents>)> done;
    };
    // Read requests not yet started, by room. Shared with the worker tasks, which may run after
    // the RoomBus is gone (they then find `stopped`).
    struct ReadQueue {
        std::mutex mu;
        bool stopped = false;
        std::unordered_map<std::string, std::vector<ReadRequest>> rooms;
    };
    // On a worker: serves the room's queued read requests with one read (or a few).
    static void run_reads(const std::shared_ptr<ReadQueue>& queue, natsbus::JetStream& js,
                          const RoomBusOptions& options, const std::string& room);

    void on_message(const std::string& room, natsbus::Message&& message);
    void process(const std::string& room, RoomState& state, Incoming&& in);
    void repair(const std::string& room, RoomState& state, std::uint64_t from);
    void finish_repair(const std::string& room, natsbus::Result<StoredEvents>&& events);
    void deliver_data(const std::string& room, const Incoming& in);
    static natsbus::Result<StoredEvents> decode(natsbus::Result<std::vector<natsbus::StoredMessage>>&& r);

    natsbus::Connection& nats_;
    RoomBusOptions options_;
    Deliver deliver_;
    DeliverPresence deliver_presence_;
    RoomBusStats stats_;

    // Guards interest_: joins and leaves, and one short update per event (its offset).
    std::mutex mu_;
    std::unordered_map<std::string, Interest> interest_;
    std::uint64_t next_generation_ = 1;

    std::shared_ptr<ReadQueue> reads_ = std::make_shared<ReadQueue>();

    boost::asio::io_context ioc_{1};
    std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    std::thread thread_;
    std::unordered_map<std::string, RoomState> rooms_;  // bus thread only
};

}  // namespace roomcast::edge
