#include "bus/room_bus.hpp"

#include "roomcast/core/log.hpp"

#include <boost/asio/post.hpp>

#include <charconv>

namespace roomcast::edge {

namespace asio = boost::asio;
namespace log = core::log;

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

RoomBus::RoomBus(natsbus::Connection& nats, RoomBusOptions options, Deliver deliver,
                 DeliverPresence deliver_presence)
    : nats_(nats),
      options_(std::move(options)),
      deliver_(std::move(deliver)),
      deliver_presence_(std::move(deliver_presence)) {}

RoomBus::~RoomBus() { stop(); }

void RoomBus::start() {
    guard_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
        ioc_.get_executor());
    thread_ = std::thread([this] { ioc_.run(); });
}

void RoomBus::stop() {
    {
        std::lock_guard lock(mu_);
        interest_.clear();  // unsubscribes
    }
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
    guard_.reset();
    ioc_.stop();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void RoomBus::acquire(const std::string& room) {
    std::uint64_t seed_generation = 0;
    {
        std::lock_guard lock(mu_);
        auto& interest = interest_[room];
        if (interest.refs++ > 0) {
            return;
        }
        auto sub = nats_.subscribe(options_.fanout_prefix + room, [this, room](natsbus::Message&& m) {
            on_message(room, std::move(m));
        });
        if (!sub) {
            log::error("room subscribe failed", {{"room_len", room.size()}, {"error", sub.error().message()}});
            return;  // the room stays counted; events reach it after the next acquire that succeeds
        }
        interest.subscription = std::move(*sub);
        interest.generation = next_generation_++;
        seed_generation = interest.generation;
        stats_.subscriptions.fetch_add(1, std::memory_order_relaxed);
        if (deliver_presence_) {
            auto presence = nats_.subscribe(options_.presence_prefix + room, [this, room](natsbus::Message&& m) {
                deliver_presence_(room, std::move(m.data));
            });
            if (presence) {
                interest.presence = std::move(*presence);
            }
        }
    }
    // Subscribed first, then read (outside the lock: the answer takes it): every event after
    // the offset read reaches this edge.
    seed_offset(room, seed_generation);
}

void RoomBus::release(const std::string& room) {
    natsbus::Subscription dropped;
    natsbus::Subscription dropped_presence;
    {
        std::lock_guard lock(mu_);
        auto it = interest_.find(room);
        if (it == interest_.end() || --it->second.refs > 0) {
            return;
        }
        dropped = std::move(it->second.subscription);
        dropped_presence = std::move(it->second.presence);
        interest_.erase(it);
        stats_.subscriptions.fetch_sub(1, std::memory_order_relaxed);
    }
    dropped.reset();
    dropped_presence.reset();
    // Forget the room's sequence state unless someone subscribed again meanwhile.
    asio::post(ioc_, [this, room] {
        std::lock_guard lock(mu_);
        if (!interest_.contains(room)) {
            rooms_.erase(room);
        }
    });
}

void RoomBus::on_message(const std::string& room, natsbus::Message&& m) {
    // NATS delivery thread: copy out and hand over; never block here.
    Incoming in;
    in.received = std::chrono::steady_clock::now();
    in.seq = header_u64(m, "Nats-Sequence");
    in.prev = header_u64(m, "Nats-Last-Sequence");
    in.data = std::move(m.data);
    asio::post(ioc_, [this, room, in = std::move(in)]() mutable {
        process(room, rooms_[room], std::move(in));
    });
}

void RoomBus::process(const std::string& room, RoomState& state, Incoming&& in) {
    if (state.repairing) {
        state.pending.push_back(std::move(in));
        return;
    }
    if (in.seq == 0) {
        stats_.invalid_dropped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (state.last != 0 && in.seq <= state.last) {
        stats_.duplicates_dropped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (state.last != 0 && in.prev > state.last) {
        stats_.gaps_detected.fetch_add(1, std::memory_order_relaxed);
        state.pending.push_back(std::move(in));
        repair(room, state, state.last + 1);
        return;
    }
    state.last = in.seq;
    deliver_data(room, in);
}

void RoomBus::repair(const std::string& room, RoomState& state, std::uint64_t from) {
    state.repairing = true;
    read_after(room, from - 1, options_.repair_max,
               [this, room](natsbus::Result<StoredEvents> events) {
                   asio::post(ioc_, [this, room, events = std::move(events)]() mutable {
                       finish_repair(room, std::move(events));
                   });
               });
}

void RoomBus::finish_repair(const std::string& room, natsbus::Result<StoredEvents>&& events) {
    auto& state = rooms_[room];
    state.repairing = false;
    const std::uint64_t limit = state.pending.empty() ? UINT64_MAX : state.pending.front().seq;
    if (!events) {
        // The events are not lost for good (they are in the stream: history and recovery can
        // read them), but these local members will not see them live.
        stats_.events_lost.fetch_add(1, std::memory_order_relaxed);
        log::warn("room gap not repaired", {{"error", events.error().message()}});
    } else {
        for (auto& [seq, event] : *events) {
            if (seq <= state.last || seq >= limit) {
                continue;
            }
            state.last = seq;
            stats_.events_repaired.fetch_add(1, std::memory_order_relaxed);
            stats_.delivered.fetch_add(1, std::memory_order_relaxed);
            deliver_(room, seq, std::move(event), std::chrono::steady_clock::now());
        }
    }
    auto pending = std::move(state.pending);
    state.pending.clear();
    for (auto& in : pending) {
        auto& s = rooms_[room];
        if (s.repairing) {
            s.pending.push_back(std::move(in));
            continue;
        }
        process(room, s, std::move(in));
    }
}

void RoomBus::deliver_data(const std::string& room, const Incoming& in) {
    bus::v1::RoomEvent event;
    if (!event.ParseFromString(in.data) || event.event().empty()) {
        stats_.invalid_dropped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    stats_.delivered.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(mu_);
        if (auto it = interest_.find(room); it != interest_.end()) {
            it->second.last_offset = std::max(it->second.last_offset, in.seq);
        }
    }
    deliver_(room, in.seq, std::move(event), in.received);
}

void RoomBus::seed_offset(const std::string& room, std::uint64_t generation) {
    stored_last_offset(room, [this, room, generation](natsbus::Result<std::uint64_t> last) {
        if (!last) {
            return;  // stays unknown: joins ask the stream
        }
        std::lock_guard lock(mu_);
        auto it = interest_.find(room);
        if (it == interest_.end() || it->second.generation != generation) {
            return;
        }
        it->second.last_offset = std::max(it->second.last_offset, *last);
        it->second.offset_known = true;
    });
}

void RoomBus::on_reconnected() {
    // Events may have been missed while disconnected: known offsets are read again.
    std::vector<std::pair<std::string, std::uint64_t>> seeds;
    {
        std::lock_guard lock(mu_);
        for (auto& [room, interest] : interest_) {
            interest.offset_known = false;
            interest.generation = next_generation_++;
            seeds.emplace_back(room, interest.generation);
        }
    }
    for (const auto& [room, generation] : seeds) {
        seed_offset(room, generation);
    }
    asio::post(ioc_, [this] {
        std::vector<std::string> rooms;
        for (const auto& [room, state] : rooms_) {
            rooms.push_back(room);
        }
        for (const auto& room : rooms) {
            stored_last_offset(room, [this, room](natsbus::Result<std::uint64_t> last) {
                if (!last) {
                    return;
                }
                asio::post(ioc_, [this, room, last = *last] {
                    auto it = rooms_.find(room);
                    if (it == rooms_.end() || it->second.repairing || last <= it->second.last) {
                        return;
                    }
                    stats_.gaps_detected.fetch_add(1, std::memory_order_relaxed);
                    repair(room, it->second, it->second.last + 1);
                });
            });
        }
    });
}

void RoomBus::publish(const std::string& room, const bus::v1::RoomEvent& event,
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

natsbus::Result<RoomBus::StoredEvents> RoomBus::decode(
    natsbus::Result<std::vector<natsbus::StoredMessage>>&& r) {
    if (!r) {
        return r.error();
    }
    StoredEvents out;
    out.reserve(r->size());
    for (auto& m : *r) {
        bus::v1::RoomEvent event;
        if (event.ParseFromString(m.data) && !event.event().empty()) {
            out.emplace_back(m.sequence, std::move(event));
        }
    }
    return out;
}

void RoomBus::read_after(const std::string& room, std::uint64_t after, std::size_t max,
                         std::function<void(natsbus::Result<StoredEvents>)> done) {
    bool stopped = false;
    bool first = false;
    {
        std::lock_guard lock(reads_->mu);
        stopped = reads_->stopped;
        if (!stopped) {
            auto [it, inserted] = reads_->rooms.try_emplace(room);
            it->second.push_back({after, max, std::move(done)});
            first = inserted;
        }
    }
    if (stopped) {
        done(make_error_code(natsbus::Errc::kClosed));
        return;
    }
    if (first) {
        // The options are copied: the task may outlive the RoomBus (the Connection outlives it).
        nats_.run_async([queue = reads_, js = &nats_.jetstream(), options = options_, room] {
            run_reads(queue, *js, options, room);
        });
    }
}

void RoomBus::run_reads(const std::shared_ptr<ReadQueue>& queue, natsbus::JetStream& js,
                        const RoomBusOptions& options, const std::string& room) {
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
    const std::string subject = options.room_prefix + room;
    auto read = [&](std::uint64_t after, std::size_t max) {
        return decode(js.read_subject(options.stream, subject, after + 1, max, options.read_timeout));
    };
    std::uint64_t lo = UINT64_MAX;
    std::size_t max = 0;
    for (const auto& r : requests) {
        lo = std::min(lo, r.after);
        max = std::max(max, r.max);
    }
    if (requests.empty()) {
        return;
    }
    auto shared = read(lo, max);
    // A read that returned `max` events may have stopped short of what a request with a later
    // `after` (and so a later window) should get: those get a read of their own.
    const bool cut = shared && shared->size() >= max;
    for (auto& r : requests) {
        if (!shared) {
            r.done(shared.error());
            continue;
        }
        StoredEvents mine;
        for (const auto& [seq, event] : *shared) {
            if (seq > r.after && mine.size() < r.max) {
                mine.emplace_back(seq, event);
            }
        }
        if (cut && r.after != lo && mine.size() < r.max) {
            r.done(read(r.after, r.max));
            continue;
        }
        r.done(std::move(mine));
    }
}

void RoomBus::read_last(const std::string& room, std::size_t count,
                        std::function<void(natsbus::Result<StoredEvents>)> done) {
    nats_.jetstream().read_last_async(
        options_.stream, options_.room_prefix + room, count, options_.read_timeout,
        [done = std::move(done)](natsbus::Result<std::vector<natsbus::StoredMessage>> r) {
            done(decode(std::move(r)));
        });
}

void RoomBus::last_offset(const std::string& room,
                          std::function<void(natsbus::Result<std::uint64_t>)> done) {
    std::optional<std::uint64_t> known;
    {
        std::lock_guard lock(mu_);
        if (auto it = interest_.find(room); it != interest_.end() && it->second.offset_known) {
            known = it->second.last_offset;
        }
    }
    if (known) {
        done(*known);
        return;
    }
    stored_last_offset(room, std::move(done));
}

void RoomBus::stored_last_offset(const std::string& room,
                                 std::function<void(natsbus::Result<std::uint64_t>)> done) {
    nats_.jetstream().last_sequence_async(options_.stream, options_.room_prefix + room,
                                          std::move(done));
}

}  // namespace roomcast::edge
