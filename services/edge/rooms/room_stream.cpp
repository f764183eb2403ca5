#include "rooms/room_stream.hpp"

#include <algorithm>
#include <charconv>

namespace roomcast::edge::rooms {

namespace {

std::uint64_t header_u64(const natsbus::Message& m, std::string_view name) {
    const auto v = m.header(name);
    std::uint64_t out = 0;
    if (v) {
        std::from_chars(v->data(), v->data() + v->size(), out);
    }
    return out;
}

}  // namespace

RoomStream::RoomStream(natsbus::Connection& nats, RoomStreamOptions options)
    : nats_(nats), options_(std::move(options)) {}

RoomStream::~RoomStream() { stop(); }

void RoomStream::stop() {
    std::unordered_map<std::string, std::vector<ReadRequest>> unread;
    {
        std::lock_guard lock(reads_->mu);
        reads_->stopped = true;
        unread = std::move(reads_->rooms);
        reads_->rooms.clear();
    }
    for (auto& [room, requests] : unread) {
        for (auto& r : requests) {
            r.done(make_error_code(natsbus::Errc::kClosed));
        }
    }
}

natsbus::Result<RoomStream::Subscriptions> RoomStream::subscribe(
    const std::string& room, std::function<void(Live&&)> on_live,
    std::function<void(std::string&& event)> on_ephemeral,
    std::function<void(std::string&& change)> on_presence) {
    Subscriptions out;
    auto fanout = nats_.subscribe(options_.fanout_prefix + room,
                                  [on_live = std::move(on_live)](natsbus::Message&& m) {
                                      // NATS delivery thread: copy out and hand over.
                                      Live live;
                                      live.seq = header_u64(m, "Nats-Sequence");
                                      live.prev = header_u64(m, "Nats-Last-Sequence");
                                      live.data = std::move(m.data);
                                      on_live(std::move(live));
                                  });
    if (!fanout) {
        return fanout.error();
    }
    out.fanout = std::move(*fanout);
    if (on_ephemeral) {
        auto ephemeral = nats_.subscribe(options_.ephemeral_prefix + room,
                                         [on_ephemeral = std::move(on_ephemeral)](natsbus::Message&& m) {
                                             on_ephemeral(std::move(m.data));
                                         });
        // All or nothing, as the fan-out: a member must not miss a room's ephemeral events
        // while it gets the stored ones.
        if (!ephemeral) {
            return ephemeral.error();
        }
        out.ephemeral = std::move(*ephemeral);
    }
    if (on_presence) {
        auto presence = nats_.subscribe(options_.presence_prefix + room,
                                        [on_presence = std::move(on_presence)](natsbus::Message&& m) {
                                            on_presence(std::move(m.data));
                                        });
        // Without it members miss presence events, not room events: the room still works.
        if (presence) {
            out.presence = std::move(*presence);
        }
    }
    return out;
}

void RoomStream::publish(const std::string& room, const bus::v1::RoomEvent& event,
                         std::function<void(natsbus::Result<std::uint64_t>)> done) {
    std::string data;
    event.SerializeToString(&data);
    nats_.jetstream().publish_async(options_.room_prefix + room, std::move(data), {},
                                    [done = std::move(done)](natsbus::Result<natsbus::PubAck> ack) {
                                        if (!ack) {
                                            done(ack.error());
                                            return;
                                        }
                                        done(ack->sequence);
                                    });
}

natsbus::Result<void> RoomStream::publish_ephemeral(const std::string& room,
                                                   const bus::v1::RoomEvent& event) {
    std::string data;
    event.SerializeToString(&data);
    return nats_.publish(options_.ephemeral_prefix + room, data);
}

natsbus::Result<RoomStream::Page> RoomStream::decode(natsbus::Result<natsbus::StoredBatch>&& r) {
    if (!r) {
        return r.error();
    }
    Page out;
    out.cut = r->cut;
    out.events.reserve(r->messages.size());
    for (auto& m : r->messages) {
        bus::v1::RoomEvent event;
        if (event.ParseFromString(m.data) && !event.event().empty()) {
            out.events.emplace_back(m.sequence, std::move(event));
        }
    }
    return out;
}

void RoomStream::read_after(const std::string& room, std::uint64_t after, std::size_t max,
                            std::uint64_t max_bytes, std::function<void(natsbus::Result<Page>)> done) {
    bool stopped = false;
    bool first = false;
    {
        std::lock_guard lock(reads_->mu);
        stopped = reads_->stopped;
        if (!stopped) {
            auto [it, inserted] = reads_->rooms.try_emplace(room);
            it->second.push_back({after, max, max_bytes, std::move(done)});
            first = inserted;
        }
    }
    if (stopped) {
        done(make_error_code(natsbus::Errc::kClosed));
        return;
    }
    if (first) {
        // The options are copied: the task may outlive the RoomStream (the Connection outlives
        // it).
        nats_.run_async([queue = reads_, js = &nats_.jetstream(), options = options_, room] {
            run_reads(queue, *js, options, room);
        });
    }
}

void RoomStream::run_reads(const std::shared_ptr<ReadQueue>& queue, natsbus::JetStream& js,
                           const RoomStreamOptions& options, const std::string& room) {
    std::vector<ReadRequest> requests;
    {
        std::lock_guard lock(queue->mu);
        auto it = queue->rooms.find(room);
        if (it == queue->rooms.end()) {
            return;
        }
        requests = std::move(it->second);
        queue->rooms.erase(it);
    }
    if (requests.empty()) {
        return;
    }
    const std::string subject = options.room_prefix + room;
    auto read = [&](std::uint64_t after, std::size_t max, std::uint64_t max_bytes) {
        return decode(js.read_subject_bounded(options.stream, subject, after + 1, max, max_bytes,
                                              options.read_timeout));
    };
    // One read for all: from the earliest `after`, the largest count and budget (none when a
    // request has none).
    std::uint64_t lo = UINT64_MAX;
    std::size_t max = 0;
    std::uint64_t budget = 0;
    bool unbounded = false;
    for (const auto& r : requests) {
        lo = std::min(lo, r.after);
        max = std::max(max, r.max);
        budget = std::max(budget, r.max_bytes);
        unbounded = unbounded || r.max_bytes == 0;
    }
    auto shared = read(lo, max, unbounded ? 0 : budget);
    // A shared read that stopped short (its count or its budget) may have ended before what a
    // request with a later `after` (a later window) should get: those get a read of their own.
    const bool short_read = shared && (shared->cut || shared->events.size() >= max);
    for (auto& r : requests) {
        if (!shared) {
            r.done(shared.error());
            continue;
        }
        Page mine;
        std::uint64_t bytes = 0;
        for (const auto& [seq, event] : shared->events) {
            if (seq <= r.after) {
                continue;
            }
            const std::uint64_t size = event.ByteSizeLong();
            if (mine.events.size() >= r.max ||
                (r.max_bytes > 0 && !mine.events.empty() && bytes + size > r.max_bytes)) {
                mine.cut = r.max_bytes > 0 && mine.events.size() < r.max;
                break;
            }
            bytes += size;
            mine.events.emplace_back(seq, event);
        }
        const bool filled = mine.events.size() >= r.max || mine.cut;
        if (short_read && r.after != lo && !filled) {
            r.done(read(r.after, r.max, r.max_bytes));
            continue;
        }
        mine.cut = mine.cut || (r.after == lo && shared->cut);
        r.done(std::move(mine));
    }
}

void RoomStream::read_last(const std::string& room, std::size_t count, std::uint64_t max_bytes,
                           std::function<void(natsbus::Result<Page>)> done) {
    nats_.run_async([js = &nats_.jetstream(), options = options_, room, count, max_bytes,
                     done = std::move(done)] {
        if (max_bytes == 0) {
            auto r = js->read_last(options.stream, options.room_prefix + room, count, options.read_timeout);
            if (!r) {
                done(r.error());
                return;
            }
            done(decode(natsbus::StoredBatch{std::move(*r), false}));
            return;
        }
        done(decode(js->read_last_bounded(options.stream, options.room_prefix + room, count, max_bytes,
                                          options.read_timeout)));
    });
}

void RoomStream::state(std::function<void(natsbus::Result<natsbus::StreamState>)> done) {
    nats_.run_async([js = &nats_.jetstream(), stream = options_.stream, done = std::move(done)] {
        done(js->stream_state(stream));
    });
}

void RoomStream::last_offset(const std::string& room,
                             std::function<void(natsbus::Result<std::uint64_t>)> done) {
    nats_.jetstream().last_sequence_async(options_.stream, options_.room_prefix + room,
                                          std::move(done));
}

}  // namespace roomcast::edge::rooms
