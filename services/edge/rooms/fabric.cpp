#include "rooms/fabric.hpp"

#include "rooms/room_event.hpp"

#include "roomcast/core/clock.hpp"
#include "roomcast/core/log.hpp"
#include "roomcast/protocol/json.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <mutex>

namespace roomcast::edge::rooms {

namespace asio = boost::asio;
namespace log = core::log;
using transport::OutMessagePtr;

namespace {

const std::string kNoUser;

// A disconnect the client asked for (or the server decided on): presence reports the user gone
// at once; any other one may come back (recovery), so presence waits its grace period.
bool deliberate(sio::DisconnectReason reason) {
    return reason == sio::DisconnectReason::kClientNamespaceDisconnect ||
           reason == sio::DisconnectReason::kServerNamespaceDisconnect ||
           reason == sio::DisconnectReason::kForcedServerClose;
}

}  // namespace

const std::string& FabricSocket::user() const noexcept {
    return identity ? identity->user_id : kNoUser;
}

Fabric::Fabric(sio::Namespace& nsp, RoomStream& stream, FabricOptions options, FabricHooks hooks)
    : nsp_(nsp), stream_(stream), options_(std::move(options)), hooks_(std::move(hooks)) {
    for (unsigned i = 0; i < nsp.server().shards().size(); ++i) {
        shards_.push_back(std::make_unique<Shard>(options_.held_cap));
    }
}

Fabric::~Fabric() { stop(); }

void Fabric::start() {
    guard_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
        ioc_.get_executor());
    thread_ = std::thread([this] { ioc_.run(); });
}

void Fabric::stop() {
    if (thread_.joinable()) {
        // Subscriptions are dropped on the fabric thread, which owns them.
        asio::post(ioc_, [this] {
            subscriptions_.clear();
            stats_.subscriptions = 0;
        });
        guard_.reset();
        thread_.join();
    }
    ioc_.stop();
}

// --- sockets -----------------------------------------------------------------------------------

FabricSocket* Fabric::member_of(const sio::Socket& socket) const noexcept {
    // Only this adapter writes the slot of a socket of its namespace.
    return static_cast<FabricSocket*>(const_cast<sio::AdapterSocket*>(socket.adapter_slot()));
}

FabricSocket& Fabric::member_for(sio::Socket& socket) {
    auto& slot = socket.adapter_slot();
    if (!slot) {
        slot = std::make_unique<FabricSocket>(socket);
    }
    auto& m = static_cast<FabricSocket&>(*slot);
    if (!m.attached) {
        // A socket that joins before attach() (code that uses the plain adapter API) has no
        // identity: it is counted in its rooms, under no user.
        m.attached = true;
        shard_of(socket).attach(m);
    }
    return m;
}

Fabric::Shard& Fabric::shard_of(const sio::Socket& socket) const {
    return *shards_[socket.shard().index()];
}

void Fabric::attach(sio::Socket& socket, std::shared_ptr<const Identity> identity) {
    auto& slot = socket.adapter_slot();
    if (slot && static_cast<FabricSocket&>(*slot).attached) {
        return;  // identity is set once, before any room
    }
    if (!slot) {
        slot = std::make_unique<FabricSocket>(socket);
    }
    static_cast<FabricSocket&>(*slot).identity = std::move(identity);
    member_for(socket);
}

void Fabric::enter(const sio::SocketPtr& socket, const std::string& room, OffsetCallback done) {
    auto& m = member_for(*socket);
    auto& shard = shard_of(*socket);
    JoinWait wait{socket, room, std::move(done), std::nullopt, false};
    if (!shard.join(m, room, MemberInfo{0, core::unix_ms()})) {
        if (!wait.done) {
            return;
        }
        // Already in the room: its latest offset, as the table knows it or the stream says.
        asio::post(ioc_, [this, wait = std::move(wait)]() mutable {
            const auto id = next_wait_++;
            if (auto known = table_.known_offset(wait.room)) {
                wait.offset = *known;
                waits_.emplace(id, std::move(wait));
                finish_wait(id);
                return;
            }
            waits_.emplace(id, std::move(wait));
            answer_from_stream(id);
        });
        return;
    }
    asio::post(ioc_, [this, room, identity = m.identity, wait = std::move(wait)]() mutable {
        added(room, identity, std::move(wait));
    });
}

bool Fabric::exit(sio::Socket& socket, std::string_view room) {
    FabricSocket* m = member_of(socket);
    if (m == nullptr || !shard_of(socket).leave(*m, room)) {
        return false;
    }
    asio::post(ioc_, [this, room = std::string(room), user = m->user()] { removed(room, user, false); });
    return true;
}

bool Fabric::in_room(const sio::Socket& socket, std::string_view room) const {
    FabricSocket* m = member_of(socket);
    return m != nullptr && shard_of(socket).in_room(*m, room);
}

std::size_t Fabric::room_count(const sio::Socket& socket) const {
    FabricSocket* m = member_of(socket);
    return m == nullptr ? 0 : m->rooms.size();
}

std::vector<std::pair<std::string, MemberInfo>> Fabric::memberships(const sio::Socket& socket) const {
    FabricSocket* m = member_of(socket);
    return m == nullptr ? std::vector<std::pair<std::string, MemberInfo>>{} : shard_of(socket).rooms_of(*m);
}

// --- sio::Adapter --------------------------------------------------------------------------------

void Fabric::join(sio::Socket& socket, std::string_view room) {
    enter(socket.shared_from_this(), std::string(room), nullptr);
}

void Fabric::leave(sio::Socket& socket, std::string_view room) { exit(socket, room); }

void Fabric::leave_all(sio::Socket& socket, sio::DisconnectReason reason) {
    FabricSocket* m = member_of(socket);
    if (m == nullptr || !m->attached) {
        return;
    }
    auto rooms = shard_of(socket).detach(*m);
    m->attached = false;
    if (rooms.empty()) {
        return;
    }
    const bool lost = !deliberate(reason);
    asio::post(ioc_, [this, rooms = std::move(rooms), user = m->user(), lost] {
        for (const auto& room : rooms) {
            removed(room, user, lost);
        }
    });
}

std::vector<std::string> Fabric::rooms(const sio::Socket& socket) const {
    std::vector<std::string> out;
    for (auto& [room, info] : memberships(socket)) {
        out.push_back(std::move(room));
    }
    return out;
}

void Fabric::broadcast(const sio::BroadcastTarget& target, std::string_view event,
                       const sio::Args& args) {
    if (target.rooms.size() == 1 && target.except.empty()) {
        bus::v1::RoomEvent ev;
        ev.set_room(target.rooms[0]);
        ev.set_event(std::string(event));
        std::string data;
        if (args.size() == 1) {
            protocol::write_json(data, args[0]);
        } else {
            protocol::write_json(data, boost::json::value(args.values()));
        }
        ev.set_data_json(std::move(data));
        for (const auto& a : args.attachments()) {
            ev.add_attachments(a);
        }
        ev.set_from("server");
        ev.set_published_at_ms(core::unix_ms());
        if (target.is_volatile) {
            if (auto r = stream_.publish_ephemeral(target.rooms[0], ev); !r) {
                log::warn("server broadcast not published",
                          {{"room_len", target.rooms[0].size()}, {"error", r.error().message()}});
            }
            return;
        }
        stream_.publish(target.rooms[0], ev, [room = target.rooms[0]](natsbus::Result<std::uint64_t> r) {
            if (!r) {
                log::warn("server broadcast not published",
                          {{"room_len", room.size()}, {"error", r.error().message()}});
            }
        });
        return;
    }
    // Anything else reaches this edge's sockets only: every target room's members once, or
    // every socket of the namespace, minus the excluded ones.
    auto message = sio::encode_event(nsp_.name(), event, args);
    auto shared = std::make_shared<const sio::BroadcastTarget>(target);
    auto& pool = nsp_.server().shards();
    for (unsigned i = 0; i < pool.size(); ++i) {
        asio::post(pool.shard(i).ioc(), [this, i, message, shared] {
            auto& shard = *shards_[i];
            auto excluded = [&](sio::Socket* s) {
                for (const auto& x : shared->except) {
                    if (s->id() == x || (member_of(*s) != nullptr && shard.in_room(*member_of(*s), x))) {
                        return true;
                    }
                }
                return false;
            };
            std::vector<sio::Socket*> targets;
            if (shared->rooms.empty()) {
                for (const auto& [id, s] : nsp_.shard_state(i).sockets) {
                    targets.push_back(s);
                }
            } else {
                for (const auto& room : shared->rooms) {
                    if (const auto* members = shard.members(room)) {
                        for (FabricSocket* m : *members) {
                            targets.push_back(m->socket);
                        }
                    } else if (sio::Socket* s = nsp_.find_local(i, room)) {
                        targets.push_back(s);
                    }
                }
                std::sort(targets.begin(), targets.end());
                targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
            }
            std::size_t n = 0;
            for (sio::Socket* s : targets) {
                if (!excluded(s)) {
                    n += s->send(message, shared->is_volatile ? engineio::Delivery::kVolatile
                                                              : engineio::Delivery::kReliable)
                             ? 1
                             : 0;
                }
            }
            nsp_.shard_state(i).deliveries.add(n);
        });
    }
}

// --- actions on local sockets ----------------------------------------------------------------

std::vector<sio::SocketPtr> Fabric::remove(unsigned shard, const std::string& room, std::string_view user) {
    auto& s = *shards_[shard];
    std::vector<sio::SocketPtr> out;
    for (FabricSocket* m : s.select(room, user)) {
        s.leave(*m, room);
        out.push_back(m->socket->shared_from_this());
        asio::post(ioc_, [this, room, u = m->user()] { removed(room, u, false); });
    }
    return out;
}

std::vector<sio::SocketPtr> Fabric::sockets_of(unsigned shard, std::string_view user) const {
    std::vector<sio::SocketPtr> out;
    if (const auto* list = shards_[shard]->sockets_of(user)) {
        for (FabricSocket* m : *list) {
            out.push_back(m->socket->shared_from_this());
        }
    }
    return out;
}

std::vector<sio::SocketPtr> Fabric::members(unsigned shard, std::string_view room) const {
    std::vector<sio::SocketPtr> out;
    if (const auto* list = shards_[shard]->members(room)) {
        for (FabricSocket* m : *list) {
            out.push_back(m->socket->shared_from_this());
        }
    }
    return out;
}

// --- the bus ------------------------------------------------------------------------------------

void Fabric::publish(const std::string& room, const bus::v1::RoomEvent& event,
                     std::function<void(natsbus::Result<std::uint64_t>)> done) {
    stream_.publish(room, event, std::move(done));
}

natsbus::Result<void> Fabric::publish_ephemeral(const std::string& room,
                                               const bus::v1::RoomEvent& event) {
    return stream_.publish_ephemeral(room, event);
}

void Fabric::read_after(const std::string& room, std::uint64_t after, std::size_t max,
                        std::uint64_t max_bytes,
                        std::function<void(natsbus::Result<RoomStream::Page>)> done) {
    stream_.read_after(room, after, max, max_bytes, std::move(done));
}

void Fabric::read_last(const std::string& room, std::size_t count, std::uint64_t max_bytes,
                       std::function<void(natsbus::Result<RoomStream::Page>)> done) {
    stream_.read_last(room, count, max_bytes, std::move(done));
}

bool events_may_be_gone(const natsbus::StreamState& state, std::uint64_t after,
                        std::int64_t session_started_ms) {
    if (state.first_sequence <= after + 1) {
        return false;
    }
    if (state.messages == 0) {
        return true;  // everything went: no store time to compare with the session's start
    }
    const std::int64_t first_ms = state.first_time_ns / 1'000'000;
    return first_ms > session_started_ms - kRecoveryClockSkew.count();
}

void Fabric::read_missed(std::vector<std::pair<std::string, std::uint64_t>> rooms,
                         std::string exclude_socket, std::int64_t session_started_ms,
                         std::function<void(std::shared_ptr<Missed>)> done) {
    struct Gather {
        std::mutex mu;
        std::size_t left = 0;
        std::shared_ptr<Missed> result = std::make_shared<Missed>();
        std::function<void(std::shared_ptr<Missed>)> done;
    };
    auto gather = std::make_shared<Gather>();
    gather->result->session_started_ms = session_started_ms;
    if (rooms.empty()) {
        done(gather->result);
        return;
    }
    gather->left = rooms.size();
    // Once every room is read, the stream's state (read after the reads, so an event dropped
    // while they ran shows too) tells whether any of them may have lost events.
    gather->done = [this, rooms, session_started_ms,
                    done = std::move(done)](std::shared_ptr<Missed> missed) mutable {
        if (missed->failed) {
            done(std::move(missed));
            return;
        }
        stream_.state([rooms = std::move(rooms), session_started_ms, missed,
                       done = std::move(done)](natsbus::Result<natsbus::StreamState> state) {
            if (!state) {
                log::warn("recovery read failed", {{"error", state.error().message()}});
                missed->failed = true;
            } else {
                for (const auto& [room, after] : rooms) {
                    missed->gone =
                        missed->gone || events_may_be_gone(*state, after, session_started_ms);
                }
            }
            done(missed);
        });
    };
    const std::size_t cap = options_.read_max;
    // The budget is shared: each room gets its part (at least one event, as a read returns).
    const std::uint64_t budget = std::max<std::uint64_t>(1, options_.recovery_max_bytes / rooms.size());
    for (const auto& [room, after] : rooms) {
        stream_.read_after(
            room, after, cap, budget,
            [gather, room, after, exclude_socket, cap](natsbus::Result<RoomStream::Page> r) {
                // Library thread: encode here, outside the shards.
                std::vector<RoomMessage> encoded;
                std::uint64_t last = after;
                const bool ok = static_cast<bool>(r);
                if (ok) {
                    for (const auto& [seq, ev] : r->events) {
                        last = seq;
                        if (ev.exclude_socket() != exclude_socket && deliverable(ev)) {
                            encoded.push_back(RoomMessage{room, seq, encode_room_event(room, seq, ev)});
                        }
                    }
                } else {
                    log::warn("recovery read failed", {{"error", r.error().message()}});
                }
                bool finished = false;
                {
                    std::lock_guard lock(gather->mu);
                    auto& m = *gather->result;
                    m.failed = m.failed || !ok;
                    m.truncated = m.truncated || (ok && (r->cut || r->events.size() >= cap));
                    m.last[room] = last;
                    for (auto& e : encoded) {
                        m.events.push_back(std::move(e));
                    }
                    finished = --gather->left == 0;
                }
                if (finished) {
                    gather->done(gather->result);
                }
            });
    }
}

// --- recovery -----------------------------------------------------------------------------------

void Fabric::recover(const sio::SocketPtr& socket, std::vector<Resume> rooms,
                     std::shared_ptr<Missed> missed) {
    auto& m = member_for(*socket);
    auto& shard = shard_of(*socket);
    // Live events of the rooms are held from now on; a catch-up read covers what was stored
    // between the first read and the subscriptions; then everything is merged by offset.
    shard.hold(m);
    std::vector<Resume> entered;
    for (auto& r : rooms) {
        if (shard.join(m, r.room, r.info)) {
            entered.push_back(std::move(r));
        }
    }
    if (!missed) {
        missed = std::make_shared<Missed>();
    }
    std::weak_ptr<sio::Socket> weak = socket;
    transport::Shard* home = &socket->shard();
    const std::string exclude = socket->id();
    asio::post(ioc_, [this, weak, home, exclude, identity = m.identity, entered = std::move(entered),
                      missed]() mutable {
        // Fabric thread: in the rooms (subscribed) before the catch-up read starts, so that
        // every event stored after the read reaches the socket live.
        std::vector<std::pair<std::string, std::uint64_t>> catch_up;
        for (const auto& r : entered) {
            added(r.room, identity, std::nullopt);
            const auto it = missed->last.find(r.room);
            catch_up.emplace_back(r.room, it != missed->last.end() ? std::max(it->second, r.start) : r.start);
        }
        std::unordered_map<std::string, std::uint64_t> starts;
        for (const auto& r : entered) {
            starts.emplace(r.room, r.start);
        }
        read_missed(std::move(catch_up), exclude, missed->session_started_ms,
                    [this, weak, home, missed,
                     starts = std::move(starts)](std::shared_ptr<Missed> more) {
                        asio::post(home->ioc(), [this, weak, missed, more, starts] {
                            auto s = weak.lock();
                            if (!s) {
                                return;
                            }
                            FabricSocket* m = member_of(*s);
                            if (m == nullptr || !s->connected()) {
                                return;
                            }
                            auto& shard = shard_of(*s);
                            Held held = shard.release(*m);
                            if (held.overflowed || more->truncated || more->failed || more->gone) {
                                // More arrived than its queue may hold, or the catch-up could not
                                // read everything: the client reconnects, and recovery decides anew.
                                s->close_transport();
                                return;
                            }
                            auto events = std::move(missed->events);
                            for (auto& e : more->events) {
                                events.push_back(std::move(e));
                            }
                            auto start = [&](std::string_view room) -> std::optional<std::uint64_t> {
                                if (!shard.in_room(*m, room)) {
                                    return std::nullopt;
                                }
                                const auto it = starts.find(std::string(room));
                                return it == starts.end() ? std::optional<std::uint64_t>(0) : it->second;
                            };
                            // What the merge covers per room: the catch-up read's end, or a held
                            // event beyond it. Live events up to there may still be on their way.
                            std::vector<std::pair<std::string, std::uint64_t>> covered;
                            for (const auto& [room, from] : starts) {
                                const auto it = more->last.find(room);
                                std::uint64_t through = it != more->last.end() ? it->second : from;
                                for (const auto& h : held.events) {
                                    if (h.room == room) {
                                        through = std::max(through, h.seq);
                                    }
                                }
                                covered.emplace_back(room, through);
                            }
                            for (const auto& msg : merge_recovery(std::move(events), std::move(held.events), start)) {
                                s->send_now(msg);
                            }
                            shard.watch(*m, std::move(covered));
                        });
                    });
    });
}

// --- fabric thread ----------------------------------------------------------------------------

void Fabric::added(const std::string& room, const std::shared_ptr<const Identity>& identity,
                   std::optional<JoinWait> wait) {
    static const Identity kNobody;
    const Identity& who = identity ? *identity : kNobody;
    std::optional<RoomTable::WaiterId> id;
    if (wait && wait->done) {
        id = next_wait_++;
    }
    auto a = table_.add(room, who.user_id, who.name, id);
    if (a.subscribe) {
        subscribe(room, *a.subscribe);
    }
    if (id) {
        wait->offset = a.offset ? std::optional<natsbus::Result<std::uint64_t>>(*a.offset) : std::nullopt;
        wait->presence_pending = a.user.has_value() && static_cast<bool>(hooks_.user_changed);
        waits_.emplace(*id, std::move(*wait));
    }
    if (a.user && hooks_.user_changed) {
        std::function<void()> written;
        if (id) {
            written = [this, wid = *id] {
                asio::post(ioc_, [this, wid] {
                    if (auto it = waits_.find(wid); it != waits_.end()) {
                        it->second.presence_pending = false;
                        finish_wait(wid);
                    }
                });
            };
        }
        hooks_.user_changed(room, *a.user, std::move(written));
    }
    if (id) {
        finish_wait(*id);
    }
}

void Fabric::removed(const std::string& room, const std::string& user, bool lost) {
    auto r = table_.remove(room, user, lost);
    if (r.unsubscribe) {
        subscriptions_.erase(room);
        stats_.subscriptions = subscriptions_.size();
    }
    if (r.user && hooks_.user_changed) {
        hooks_.user_changed(room, *r.user, nullptr);
    }
    for (auto id : r.waiters) {
        answer_from_stream(id);
    }
}

void Fabric::subscribe(const std::string& room, std::uint64_t generation) {
    auto subs = stream_.subscribe(
        room,
        [this, room, generation](RoomStream::Live&& live) {
            Incoming in;
            in.generation = generation;
            in.seq = live.seq;
            in.prev = live.prev;
            in.data = std::move(live.data);
            in.received = std::chrono::steady_clock::now();
            asio::post(ioc_, [this, room, in = std::move(in)]() mutable { on_live(room, std::move(in)); });
        },
        // Through the fabric thread like stored events: a kick or a removal handed to it
        // (in_order) takes effect before every ephemeral event that arrived after it.
        [this, room](std::string&& data) {
            asio::post(ioc_, [this, room, data = std::move(data), received = std::chrono::steady_clock::now()]() mutable {
                fan_out_ephemeral(room, std::move(data), received);
            });
        },
        hooks_.encode_presence
            ? std::function<void(std::string&&)>([this, room](std::string&& change) {
                  asio::post(ioc_, [this, room, change = std::move(change)]() mutable {
                      fan_out_presence(room, std::move(change));
                  });
              })
            : nullptr);
    if (!subs) {
        log::error("room subscribe failed", {{"room_len", room.size()}, {"error", subs.error().message()}});
        for (auto id : table_.subscribe_failed(room, generation)) {
            answer_from_stream(id);
        }
        return;
    }
    subscriptions_[room] = std::move(*subs);
    stats_.subscriptions = subscriptions_.size();
    // Subscribed first, then read: every event after the offset read reaches this edge.
    seed(room, generation);
}

void Fabric::seed(const std::string& room, std::uint64_t epoch) {
    stream_.last_offset(room, [this, room, epoch](natsbus::Result<std::uint64_t> last) {
        asio::post(ioc_, [this, room, epoch, last] {
            if (!last) {
                for (auto id : table_.seed_failed(room, epoch)) {
                    answer_from_stream(id);
                }
                return;
            }
            auto s = table_.seeded(room, epoch, *last);
            for (auto id : s.waiters) {
                if (auto it = waits_.find(id); it != waits_.end()) {
                    it->second.offset = s.offset;
                    finish_wait(id);
                }
            }
        });
    });
}

void Fabric::answer_from_stream(RoomTable::WaiterId id) {
    auto it = waits_.find(id);
    if (it == waits_.end()) {
        return;
    }
    stream_.last_offset(it->second.room, [this, id](natsbus::Result<std::uint64_t> last) {
        asio::post(ioc_, [this, id, last] {
            if (auto it = waits_.find(id); it != waits_.end()) {
                it->second.offset = last;
                finish_wait(id);
            }
        });
    });
}

void Fabric::finish_wait(RoomTable::WaiterId id) {
    auto it = waits_.find(id);
    if (it == waits_.end() || !it->second.offset || it->second.presence_pending) {
        return;
    }
    auto wait = std::move(it->second);
    waits_.erase(it);
    auto socket = wait.socket.lock();
    if (!socket) {
        return;
    }
    transport::Shard* home = &socket->shard();
    asio::post(home->ioc(), [this, weak = wait.socket, room = std::move(wait.room),
                             done = std::move(wait.done), offset = std::move(*wait.offset)] {
        auto s = weak.lock();
        if (!s) {
            return;
        }
        if (offset) {
            if (FabricSocket* m = member_of(*s)) {
                if (MemberInfo* info = shard_of(*s).info(*m, room); info != nullptr && info->since == 0) {
                    info->since = *offset;
                }
            }
        }
        done(offset);
    });
}

void Fabric::on_live(const std::string& room, Incoming&& in) {
    run(room, table_.live(room, std::move(in)));
}

void Fabric::run(const std::string& room, RoomTable::Step&& step) {
    for (auto& in : step.deliver) {
        bus::v1::RoomEvent event;
        if (!event.ParseFromString(in.data) || !deliverable(event)) {
            ++stats_.invalid_dropped;
            continue;
        }
        fan_out(room, in.seq, encode_room_event(room, in.seq, event), event.exclude_socket(), in.received);
    }
    if (step.repair_after) {
        stream_.read_after(room, *step.repair_after, options_.read_max, 0,
                           [this, room](natsbus::Result<RoomStream::Page> r) {
                               std::optional<std::vector<Stored>> events;
                               if (r) {
                                   events.emplace();
                                   for (auto& [seq, ev] : r->events) {
                                       events->push_back(Stored{seq, ev.SerializeAsString()});
                                   }
                               } else {
                                   log::warn("room gap not repaired", {{"error", r.error().message()}});
                               }
                               asio::post(ioc_, [this, room, events = std::move(events)]() mutable {
                                   run(room, table_.repaired(room, std::move(events),
                                                             std::chrono::steady_clock::now()));
                               });
                           });
    }
}

const FabricSocket* Fabric::local_member(unsigned shard, const std::string& socket_id) const {
    if (socket_id.empty()) {
        return nullptr;
    }
    sio::Socket* s = nsp_.find_local(shard, socket_id);
    return s != nullptr ? member_of(*s) : nullptr;
}

void Fabric::fan_out(const std::string& room, std::optional<std::uint64_t> seq, OutMessagePtr message,
                     std::string exclude_socket, std::chrono::steady_clock::time_point received) {
    auto& pool = nsp_.server().shards();
    auto shared_room = std::make_shared<const std::string>(room);
    auto shared_exclude = std::make_shared<const std::string>(std::move(exclude_socket));
    for (unsigned i = 0; i < pool.size(); ++i) {
        asio::post(pool.shard(i).ioc(), [this, i, seq, message, shared_room, shared_exclude, received] {
            const FabricSocket* except = local_member(i, *shared_exclude);
            // A stored event is held for recovering members and queued reliably; an ephemeral
            // one (no offset) skips them and may be dropped under backpressure.
            const auto n =
                seq ? shards_[i]->deliver(*shared_room, *seq, message, except,
                                          [](FabricSocket& m, const OutMessagePtr& msg) {
                                              return m.socket->send(msg);
                                          })
                    : shards_[i]->deliver_ephemeral(*shared_room, message, except,
                                                    [](FabricSocket& m, const OutMessagePtr& msg) {
                                                        return m.socket->send(
                                                            msg, engineio::Delivery::kDroppable);
                                                    });
            nsp_.shard_state(i).deliveries.add(n);
            if (hooks_.delivered && n > 0) {
                hooks_.delivered(n, received);
            }
        });
    }
}

void Fabric::fan_out_ephemeral(const std::string& room, std::string&& data,
                               std::chrono::steady_clock::time_point received) {
    // While a rights change of the room is settled its stored events wait (hold_room), so that
    // none reaches a socket about to lose the room; an ephemeral one is dropped instead (it
    // promises no delivery, and holding it would only make it stale).
    if (table_.held(room)) {
        ++stats_.ephemeral_held_dropped;
        return;
    }
    bus::v1::RoomEvent event;
    if (!event.ParseFromString(data) || !deliverable(event)) {
        ++stats_.invalid_dropped;
        return;
    }
    fan_out(room, std::nullopt, encode_ephemeral_event(room, event), event.exclude_socket(), received);
}

void Fabric::fan_out_presence(const std::string& room, std::string&& change) {
    auto message = hooks_.encode_presence(room, std::move(change));
    if (!message) {
        return;
    }
    auto shared_room = std::make_shared<const std::string>(room);
    auto& pool = nsp_.server().shards();
    for (unsigned i = 0; i < pool.size(); ++i) {
        asio::post(pool.shard(i).ioc(), [this, i, message, shared_room] {
            // Not a stored event: sent at once, also to recovering sockets.
            if (const auto* members = shards_[i]->members(*shared_room)) {
                for (FabricSocket* m : *members) {
                    m->socket->send(message);
                }
            }
        });
    }
}

void Fabric::in_order(std::function<void()> fn) { asio::post(ioc_, std::move(fn)); }

void Fabric::hold_room(const std::string& room) { table_.hold(room); }

void Fabric::release_room(const std::string& room) { run(room, table_.release(room)); }

void Fabric::reconnected() {
    asio::post(ioc_, [this] {
        // Events may have been missed while disconnected: offsets are read again, and every
        // room's latest offset is compared with the last event delivered here.
        for (const auto& r : table_.reconnected()) {
            seed(r.room, r.epoch);
            stream_.last_offset(r.room, [this, room = r.room](natsbus::Result<std::uint64_t> last) {
                if (!last) {
                    return;
                }
                asio::post(ioc_, [this, room, latest = *last] {
                    if (auto after = table_.check_latest(room, latest)) {
                        RoomTable::Step step;
                        step.repair_after = after;
                        run(room, std::move(step));
                    }
                });
            });
        }
    });
}

}  // namespace roomcast::edge::rooms
