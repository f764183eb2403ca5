#pragma once
// The room fabric's NATS layer (the only part of services/edge/rooms that touches NATS): the
// room stream and its subjects, nothing else. State per room lives in RoomTable.
//
//   publish:    JetStream publish to roomcast.room.<room>; the stream ROOMCAST_ROOMS stores it
//               and its stream sequence is the event's offset (returned in the PubAck).
//   fan-out:    the stream republishes every stored event to roomcast.fanout.<room> with the
//               headers Nats-Sequence (the offset) and Nats-Last-Sequence (the room's previous
//               offset); a subscription per room with local members receives them.
//   ephemeral:  events that are never stored (PRODUCT.md §2) on roomcast.ephemeral.<room>, core
//               NATS: published and subscribed with the fan-out, no offset, no reads.
//   presence:   the presence service's changes of a room on roomcast.presence.room.<room>,
//               subscribed with the fan-out.
//   reads:      a room's stored events after an offset (recovery, history, gap repair), its
//               last events, its latest offset.
//
// Threading: every method is thread-safe. Callbacks run on library threads: they copy and
// post, never block (natsbus' contract).

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/natsbus/natsbus.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace roomcast::edge::rooms {

// The stream and subjects of the bus contract (libs/contract); tests use names of their own.
struct RoomStreamOptions {
    std::string stream{contract::kRoomStream};
    std::string room_prefix{contract::kRoomSubjectPrefix};
    std::string fanout_prefix{contract::kFanoutSubjectPrefix};
    std::string ephemeral_prefix{contract::kEphemeralSubjectPrefix};
    // Presence changes of a room (from the presence service), subscribed with the fan-out.
    std::string presence_prefix{contract::kPresenceRoomSubjectPrefix};
    std::chrono::milliseconds read_timeout{5000};
};

class RoomStream {
public:
    RoomStream(natsbus::Connection& nats, RoomStreamOptions options);
    ~RoomStream();
    RoomStream(const RoomStream&) = delete;
    RoomStream& operator=(const RoomStream&) = delete;

    // Fails every read not yet started (kClosed); later calls fail at once.
    void stop();

    // A live fan-out message: its offset, the room's previous offset and the envelope.
    struct Live {
        std::uint64_t seq = 0;
        std::uint64_t prev = 0;
        std::string data;
    };
    // The room's subscriptions (fan-out, ephemeral events and presence), released together.
    struct Subscriptions {
        natsbus::Subscription fanout;
        natsbus::Subscription ephemeral;
        natsbus::Subscription presence;
    };
    // Subscribes to `room`'s fan-out, its ephemeral events (the envelope, when `on_ephemeral`
    // is set) and its presence changes (when `on_presence` is set).
    natsbus::Result<Subscriptions> subscribe(
        const std::string& room, std::function<void(Live&&)> on_live,
        std::function<void(std::string&& event)> on_ephemeral,
        std::function<void(std::string&& change)> on_presence);

    // Publishes an event; `done` runs on a library thread with the offset or an error.
    void publish(const std::string& room, const bus::v1::RoomEvent& event,
                 std::function<void(natsbus::Result<std::uint64_t>)> done);

    // Publishes an ephemeral event (core NATS: buffered by the client library and sent by its
    // flusher, so this does not wait for the network). An error when NATS refuses it at once
    // (closed, or its reconnect buffer full).
    natsbus::Result<void> publish_ephemeral(const std::string& room, const bus::v1::RoomEvent& event);

    using StoredEvents = std::vector<std::pair<std::uint64_t, bus::v1::RoomEvent>>;
    // A read's events, and whether its byte budget left later ones out (read again after the
    // last event for the next page).
    struct Page {
        StoredEvents events;
        bool cut = false;
    };
    // Events of `room` with offset > `after`, ascending, at most `max`, and (when `max_bytes`
    // is not 0) no more envelope bytes than that — at least one event, so paging progresses.
    // `done` on a library thread. Reads of one room that wait for a worker at the same time are
    // served by one JetStream read (a mass reconnect after an edge dies asks for the same rooms
    // a thousand times); each read starts after every request it serves was made, so none
    // misses a stored event.
    void read_after(const std::string& room, std::uint64_t after, std::size_t max,
                    std::uint64_t max_bytes, std::function<void(natsbus::Result<Page>)> done);
    // The newest `count` events of `room` that fit in `max_bytes` (0: no limit), ascending.
    void read_last(const std::string& room, std::size_t count, std::uint64_t max_bytes,
                   std::function<void(natsbus::Result<Page>)> done);
    // The room's latest offset in the stream (0: none).
    void last_offset(const std::string& room,
                     std::function<void(natsbus::Result<std::uint64_t>)> done);
    // The stream's oldest kept event (its offset and store time): the stream's byte budget and
    // max age drop events from the front, so an event older than it may be gone.
    void state(std::function<void(natsbus::Result<natsbus::StreamState>)> done);

    const RoomStreamOptions& options() const noexcept { return options_; }

private:
    struct ReadRequest {
        std::uint64_t after = 0;
        std::size_t max = 0;
        std::uint64_t max_bytes = 0;
        std::function<void(natsbus::Result<Page>)> done;
    };
    // Read requests not yet started, by room. Shared with the worker tasks, which may run after
    // the RoomStream is gone (they then find `stopped`).
    struct ReadQueue {
        std::mutex mu;
        bool stopped = false;
        std::unordered_map<std::string, std::vector<ReadRequest>> rooms;
    };
    // On a worker: serves the room's queued read requests with one read (or a few).
    static void run_reads(const std::shared_ptr<ReadQueue>& queue, natsbus::JetStream& js,
                          const RoomStreamOptions& options, const std::string& room);
    static natsbus::Result<Page> decode(natsbus::Result<natsbus::StoredBatch>&& r);

    natsbus::Connection& nats_;
    RoomStreamOptions options_;
    std::shared_ptr<ReadQueue> reads_ = std::make_shared<ReadQueue>();
};

}  // namespace roomcast::edge::rooms
