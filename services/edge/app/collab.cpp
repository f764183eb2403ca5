#include "app/collab.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/log.hpp"
#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/socketio.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <prometheus/histogram.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

namespace roomcast::edge {

namespace asio = boost::asio;
namespace json = boost::json;
namespace psio = protocol::sio;
namespace log = core::log;
using transport::OutMessage;
using transport::OutMessagePtr;

// Per-socket state, kept in Socket::data() and shared with NATS continuations.
struct Collab::SocketState {
    std::string user_id;
    std::string user_name;
    std::string pid;  // private session id (recovery); empty when recovery is off
    std::string socket_id;
    std::vector<std::pair<std::string, std::uint64_t>> rooms;  // room, offset when joined
    // Recovery of this socket (set by the connect hook): the client's last offset, its rooms,
    // and the missed events already read while deciding (encoded, ascending).
    std::uint64_t recover_offset = 0;
    std::vector<std::pair<std::string, std::uint64_t>> recover_rooms;
    std::shared_ptr<RoomReads> replay;
    // The KV record's write chain: one write in flight, later changes coalesced.
    std::uint64_t revision = 0;
    bool writing = false;
    bool dirty = false;
    bool take_over = false;
    bool erase = false;
    bool lost = false;  // another edge owns the record now, or it was erased
    std::int64_t disconnected_at = 0;

    bool in_room(std::string_view room) const {
        return std::any_of(rooms.begin(), rooms.end(), [&](const auto& r) { return r.first == room; });
    }
};

// Parallel reads of several rooms' stored events (recovery), gathered on library threads.
struct Collab::RoomReads {
    std::mutex mu;
    std::size_t left = 0;
    bool failed = false;
    bool truncated = false;  // a room had as many events as the stream keeps: some may be gone
    std::vector<std::pair<std::uint64_t, OutMessagePtr>> events;
    std::unordered_map<std::string, std::uint64_t> last;  // room → last offset read
};

namespace {

using StatePtr = std::shared_ptr<Collab::SocketState>;

StatePtr state_of(const sio::SocketPtr& socket) {
    auto* p = std::any_cast<StatePtr>(&socket->data());
    return p != nullptr ? *p : nullptr;
}

void ack_ok(sio::Ack& ack, json::object body, sio::Args args = {}) {
    if (!ack) {
        return;
    }
    json::object out;
    out["ok"] = true;
    for (auto& [k, v] : body) {
        out[k] = std::move(v);
    }
    args.values().insert(args.values().begin(), std::move(out));
    ack(args);
}

void ack_error(sio::Ack& ack, std::string_view code, std::string_view message) {
    if (!ack) {
        return;
    }
    json::object error;
    error["code"] = code;
    error["message"] = message;
    json::object out;
    out["ok"] = false;
    out["error"] = std::move(error);
    ack(sio::Args().add(std::move(out)));
}

// Parses a request with `parse`; on error acks it and returns nullopt.
template <class Parse>
auto parsed_or_ack(sio::Ack& ack, Parse&& parse) -> std::optional<
    std::variant_alternative_t<0, std::invoke_result_t<Parse>>> {
    auto r = parse();
    if (auto* e = std::get_if<requests::Error>(&r)) {
        ack_error(ack, e->code, e->message);
        return std::nullopt;
    }
    return std::move(std::get<0>(r));
}

void renumber_placeholders(json::value& v, std::uint32_t base) {
    std::uint32_t num = 0;
    if (psio::is_placeholder(v, num)) {
        v.as_object()["num"] = base + num;
        return;
    }
    if (v.is_array()) {
        for (auto& e : v.as_array()) {
            renumber_placeholders(e, base);
        }
    } else if (v.is_object()) {
        for (auto& [k, e] : v.as_object()) {
            renumber_placeholders(e, base);
        }
    }
}

// The Socket.IO packet every member receives: event with (data, meta, offset), where
// meta = {room, from, offset} and the offset also comes last, as connection state recovery
// requires of every stored event.
OutMessagePtr encode_room_event(const std::string& room, std::uint64_t offset,
                                const bus::v1::RoomEvent& ev) {
    const auto attachments = static_cast<std::uint32_t>(ev.attachments_size());
    const std::string off = std::to_string(offset);
    std::string text = "4";
    psio::encode(text, attachments > 0 ? psio::PacketType::kBinaryEvent : psio::PacketType::kEvent,
                 "/", std::nullopt, {}, attachments);
    text += '[';
    protocol::write_json_string(text, ev.event());
    text += ',';
    text += ev.data_json().empty() ? std::string_view("null") : std::string_view(ev.data_json());
    text += ",{\"room\":";
    protocol::write_json_string(text, room);
    text += ",\"from\":";
    protocol::write_json_string(text, ev.from());
    text += ",\"offset\":\"";
    text += off;
    text += "\"},\"";
    text += off;
    text += "\"]";
    OutMessage msg;
    msg.text = std::move(text);
    msg.binaries.assign(ev.attachments().begin(), ev.attachments().end());
    msg.tag = offset;
    return std::make_shared<const OutMessage>(std::move(msg));
}

}  // namespace

Collab::Collab(sio::Server& io, natsbus::Connection& nats, RoomBus& bus, SessionStore& sessions,
               KeyRing& keys, AclCache& acl, PresenceTracker& presence, EdgeCounters& counters,
               CollabOptions options)
    : io_(io),
      nats_(nats),
      bus_(bus),
      sessions_(sessions),
      keys_(keys),
      acl_(acl),
      presence_(presence),
      counters_(counters),
      options_(std::move(options)),
      limits_{options_.history_default, options_.history_max, options_.max_publish_bytes},
      users_(io.shards().size()) {}

void Collab::install() {
    auto& root = io_.of("/");
    root.use([this](const sio::Handshake& hs, sio::ConnectCallback done) { on_connect(hs, std::move(done)); });
    root.on_connection([this](const sio::SocketPtr& s) { on_connection(s); });
    root.on_disconnect([this](const sio::SocketPtr& s, sio::DisconnectReason r) { on_disconnect(s, r); });
    root.on("join", [this](const sio::SocketPtr& s, sio::Args&& a, sio::Ack&& k) {
        on_join(s, std::move(a), std::move(k));
    });
    root.on("leave", [this](const sio::SocketPtr& s, sio::Args&& a, sio::Ack&& k) {
        on_leave(s, std::move(a), std::move(k));
    });
    root.on("publish", [this](const sio::SocketPtr& s, sio::Args&& a, sio::Ack&& k) {
        on_publish(s, std::move(a), std::move(k));
    });
    root.on("history", [this](const sio::SocketPtr& s, sio::Args&& a, sio::Ack&& k) {
        on_history(s, std::move(a), std::move(k));
    });
    root.on("presence", [this](const sio::SocketPtr& s, sio::Args&& a, sio::Ack&& k) {
        on_presence(s, std::move(a), std::move(k));
    });
    root.on_rate_limited([](const sio::SocketPtr&, std::string_view, sio::Ack&& ack) {
        ack_error(ack, error_code::kRateLimited, "too many events from this socket: slow down");
    });
}

// --- connect -----------------------------------------------------------------------------------

void Collab::on_connect(const sio::Handshake& hs, sio::ConnectCallback done) {
    auto refuse = [this, &done](std::string_view code) {
        const std::size_t i = code == "token_missing" ? 0 : code == "token_expired" ? 2 : 1;
        counters_.auth_failures[i].fetch_add(1, std::memory_order_relaxed);
        sio::ConnectDecision d;
        json::object data;
        data["code"] = code;
        d.error = sio::ConnectError{"unauthorized", json::value(std::move(data))};
        done(std::move(d));
    };
    const json::object* auth = hs.auth.is_object() ? &hs.auth.as_object() : nullptr;
    const json::value* token = auth != nullptr ? auth->if_contains("token") : nullptr;
    if (token == nullptr || !token->is_string() || token->get_string().empty()) {
        refuse("token_missing");
        return;
    }
    jwt::VerifyOptions vo;
    vo.leeway = options_.jwt_leeway;
    const auto keys = keys_.current();
    auto claims = jwt::verify(token->get_string(), *keys, vo);
    if (!claims) {
        refuse(claims.error() == jwt::Errc::kExpired ? "token_expired" : "token_invalid");
        return;
    }
    auto state = std::make_shared<SocketState>();
    state->user_id = claims->sub;
    state->user_name = claims->name;
    if (!options_.recovery) {
        sio::ConnectDecision d;
        d.data = state;
        done(std::move(d));
        return;
    }
    // A fresh private session id, used unless the session is recovered.
    const std::string fresh_pid = transport::Shard::current()->random_id(22);
    const json::value* pid = auth->if_contains("pid");
    const json::value* offset = auth->if_contains("offset");
    // socket.io-client sends no offset until it has received an event that carries one: then
    // it has seen nothing since joining, and replay starts at each room's join offset.
    const std::uint64_t last_offset =
        offset != nullptr ? parse_offset(*offset).value_or(0) : std::uint64_t{0};
    if (pid == nullptr || !pid->is_string() || !contract::valid_pid(pid->get_string()) ||
        (offset != nullptr && !parse_offset(*offset))) {
        sio::ConnectDecision d;
        state->pid = fresh_pid;
        d.pid = fresh_pid;
        d.data = state;
        done(std::move(d));
        return;
    }
    std::string old_pid(pid->get_string());
    sessions_.lookup(old_pid, state->user_id,
                     [this, state, old_pid, fresh_pid, last_offset,
                      done = std::move(done)](std::optional<Recoverable> rec) mutable {
                         auto fresh = [&] {
                             sio::ConnectDecision d;
                             state->pid = fresh_pid;
                             d.pid = fresh_pid;
                             d.data = state;
                             done(std::move(d));
                         };
                         if (!rec) {
                             counters_.not_recovered.fetch_add(1, std::memory_order_relaxed);
                             fresh();
                             return;
                         }
                         std::vector<std::pair<std::string, std::uint64_t>> rooms;
                         for (const auto& m : rec->record.rooms()) {
                             if (contract::valid_room_id(m.room())) {
                                 rooms.emplace_back(m.room(), std::max(last_offset, m.since()));
                             }
                         }
                         // The missed events are read before answering: when a room lost some
                         // of them (more were published than the stream keeps) the session is
                         // not recovered, as Socket.IO does when an offset left its buffer.
                         // Copied before the call: the callback takes `rec` by move.
                         std::string socket_id = rec->record.socket_id();
                         read_rooms(rooms, std::move(socket_id),
                                    [state, old_pid, fresh_pid, last_offset, rooms,
                                     counters = &counters_, rec = std::move(*rec),
                                     done = std::move(done)](std::shared_ptr<RoomReads> reads) mutable {
                                        sio::ConnectDecision d;
                                        const bool ok = !reads->failed && !reads->truncated;
                                        (ok ? counters->recovered : counters->not_recovered)
                                            .fetch_add(1, std::memory_order_relaxed);
                                        if (!ok) {
                                            state->pid = fresh_pid;
                                            d.pid = fresh_pid;
                                        } else {
                                            state->pid = old_pid;
                                            state->revision = rec.revision;
                                            state->take_over = true;
                                            state->recover_offset = last_offset;
                                            for (const auto& m : rec.record.rooms()) {
                                                state->recover_rooms.emplace_back(m.room(), m.since());
                                            }
                                            state->replay = std::move(reads);
                                            d.socket_id = rec.record.socket_id();
                                            d.pid = old_pid;
                                            d.recovered = true;
                                        }
                                        d.data = state;
                                        done(std::move(d));
                                    });
                     });
}

void Collab::read_rooms(std::vector<std::pair<std::string, std::uint64_t>> rooms,
                        std::string socket_id, std::function<void(std::shared_ptr<RoomReads>)> done) {
    auto reads = std::make_shared<RoomReads>();
    if (rooms.empty()) {
        done(std::move(reads));
        return;
    }
    reads->left = rooms.size();
    auto shared_done = std::make_shared<std::function<void(std::shared_ptr<RoomReads>)>>(std::move(done));
    const std::size_t cap = options_.history_max;
    for (const auto& [room, after] : rooms) {
        bus_.read_after(room, after, cap,
                        [reads, shared_done, room, after, socket_id, cap](
                            natsbus::Result<RoomBus::StoredEvents> r) {
                            // Library thread: encode here, outside the shards.
                            std::vector<std::pair<std::uint64_t, OutMessagePtr>> encoded;
                            std::uint64_t last = after;
                            const bool ok = static_cast<bool>(r);
                            if (ok) {
                                for (const auto& [seq, ev] : *r) {
                                    last = seq;
                                    if (ev.exclude_socket() != socket_id) {
                                        encoded.emplace_back(seq, encode_room_event(room, seq, ev));
                                    }
                                }
                            } else {
                                log::warn("recovery read failed", {{"error", r.error().message()}});
                            }
                            bool finished = false;
                            {
                                std::lock_guard lock(reads->mu);
                                reads->failed = reads->failed || !ok;
                                reads->truncated = reads->truncated || (ok && r->size() >= cap);
                                reads->last[room] = last;
                                for (auto& e : encoded) {
                                    reads->events.push_back(std::move(e));
                                }
                                finished = --reads->left == 0;
                            }
                            if (finished) {
                                (*shared_done)(reads);
                            }
                        });
    }
}

void Collab::on_connection(const sio::SocketPtr& socket) {
    auto state = state_of(socket);
    if (!state) {
        return;
    }
    state->socket_id = socket->id();
    socket->release_handshake_auth();  // the claims are in the state; the token is not needed
    users_[socket->shard().index()][state->user_id].push_back(socket);
    if (state->pid.empty()) {
        return;  // recovery off
    }
    if (socket->recovered()) {
        recover(socket, state);
        return;
    }
    persist(state, socket->shard());
}

void Collab::recover(const sio::SocketPtr& socket, const StatePtr& state) {
    // Live events of the rooms are held from now on; a catch-up read covers what was stored
    // between the connect-time read and the subscriptions; then everything is merged by offset.
    socket->hold();
    for (const auto& [room, since] : state->recover_rooms) {
        if (!contract::valid_room_id(room) || state->in_room(room)) {
            continue;
        }
        state->rooms.emplace_back(room, since);
        socket->join(room);
        bus_.acquire(room);
        presence_.change(room, state->user_id, state->user_name, +1, false);
    }
    state->recover_rooms.clear();
    persist(state, socket->shard());
    auto replay = std::move(state->replay);
    state->replay.reset();
    if (!replay) {
        replay = std::make_shared<RoomReads>();
    }
    std::vector<std::pair<std::string, std::uint64_t>> catch_up;
    for (const auto& [room, since] : state->rooms) {
        const auto it = replay->last.find(room);
        catch_up.emplace_back(room, it != replay->last.end() ? it->second
                                                            : std::max(state->recover_offset, since));
    }
    std::weak_ptr<sio::Socket> weak = socket;
    transport::Shard* shard = &socket->shard();
    const std::uint64_t offset = state->recover_offset;
    read_rooms(std::move(catch_up), socket->id(),
               [weak, shard, replay, offset](std::shared_ptr<RoomReads> more) {
                   asio::post(shard->ioc(), [weak, replay, more, offset] {
                       auto s = weak.lock();
                       if (!s || !s->connected()) {
                           return;
                       }
                       auto events = std::move(replay->events);
                       for (auto& e : more->events) {
                           events.push_back(std::move(e));
                       }
                       std::sort(events.begin(), events.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
                       std::unordered_set<std::uint64_t> replayed;
                       for (const auto& [seq, msg] : events) {
                           if (replayed.insert(seq).second) {
                               s->send_now(msg);
                           }
                       }
                       // Held live messages: room events the client has or was just replayed
                       // are skipped; everything else (acks...) goes out in order.
                       for (const auto& m : s->take_held()) {
                           if (m->tag != 0 && (m->tag <= offset || replayed.contains(m->tag))) {
                               continue;
                           }
                           s->send_now(m);
                       }
                   });
               });
}

void Collab::on_disconnect(const sio::SocketPtr& socket, sio::DisconnectReason reason) {
    auto state = state_of(socket);
    if (!state) {
        return;
    }
    const bool deliberate = reason == sio::DisconnectReason::kClientNamespaceDisconnect ||
                            reason == sio::DisconnectReason::kServerNamespaceDisconnect ||
                            reason == sio::DisconnectReason::kForcedServerClose;
    for (const auto& [room, since] : state->rooms) {
        bus_.release(room);
        // A lost connection may come back (recovery, perhaps on another edge): presence waits
        // its grace period before reporting the user gone.
        presence_.change(room, state->user_id, state->user_name, -1, !deliberate);
    }
    auto& index = users_[socket->shard().index()];
    if (auto it = index.find(state->user_id); it != index.end()) {
        std::erase_if(it->second, [&](const std::weak_ptr<sio::Socket>& w) {
            auto p = w.lock();
            return !p || p == socket;
        });
        if (it->second.empty()) {
            index.erase(it);
        }
    }
    if (state->pid.empty()) {
        return;
    }
    switch (reason) {
        case sio::DisconnectReason::kClientNamespaceDisconnect:
        case sio::DisconnectReason::kServerNamespaceDisconnect:
        case sio::DisconnectReason::kForcedServerClose:
            state->erase = true;  // a deliberate leave: nothing to recover
            break;
        default:
            state->disconnected_at = unix_ms();
            break;
    }
    persist(state, socket->shard());
}

void Collab::persist(const StatePtr& state, transport::Shard& shard) {
    if (state->lost || state->pid.empty()) {
        return;
    }
    if (state->writing) {
        state->dirty = true;
        return;
    }
    if (state->erase) {
        state->lost = true;
        sessions_.erase(state->pid);
        return;
    }
    bus::v1::SessionRecord rec;
    rec.set_socket_id(state->socket_id);
    rec.set_user_id(state->user_id);
    rec.set_user_name(state->user_name);
    rec.set_edge_id(sessions_.edge_id());
    rec.set_disconnected_at_ms(state->disconnected_at);
    for (const auto& [room, since] : state->rooms) {
        auto* m = rec.add_rooms();
        m->set_room(room);
        m->set_since(since);
    }
    state->writing = true;
    transport::Shard* s = &shard;
    auto done = [this, state, s](natsbus::Result<std::uint64_t> r) {
        asio::post(s->ioc(), [this, state, s, r = std::move(r)] {
            state->writing = false;
            if (r) {
                state->revision = *r;
            } else if (r.error() == natsbus::Errc::kWrongRevision ||
                       r.error() == natsbus::Errc::kAlreadyExists) {
                state->lost = true;  // another edge recovered this session
                return;
            } else {
                log::warn("session record not written", {{"error", r.error().message()}});
            }
            if (state->dirty) {
                state->dirty = false;
                persist(state, *s);
            }
        });
    };
    if (state->take_over) {
        state->take_over = false;
        sessions_.take_over(state->pid, rec, std::move(done));
    } else {
        sessions_.write(state->pid, rec, state->revision, std::move(done));
    }
}

// --- requests ----------------------------------------------------------------------------------

void Collab::on_join(const sio::SocketPtr& socket, sio::Args&& args, sio::Ack&& ack) {
    auto state = state_of(socket);
    auto req = parsed_or_ack(ack, [&] { return requests::parse_room(args); });
    if (!state || !req) {
        return;
    }
    const std::string room = std::move(req->room);
    auto shared_ack = std::make_shared<sio::Ack>(std::move(ack));
    if (state->in_room(room)) {
        admit(socket, room, std::move(shared_ack));  // idempotent: answers with the offset
        return;
    }
    switch (acl_.join(room, state->user_id)) {
        case AclCache::Verdict::kForbidden:
            ack_error(*shared_ack, error_code::kForbidden, "this room is private and you are not a member");
            return;
        case AclCache::Verdict::kNotFound:
            ack_error(*shared_ack, error_code::kNotFound, "no such room");
            return;
        case AclCache::Verdict::kUnavailable:
            ack_error(*shared_ack, error_code::kUnavailable, "the room registry is not loaded yet");
            return;
        case AclCache::Verdict::kCreate: {
            std::weak_ptr<sio::Socket> weak = socket;
            transport::Shard* shard = &socket->shard();
            acl_.create(room, [this, weak, shard, room, shared_ack](bool ok) {
                asio::post(shard->ioc(), [this, weak, room, shared_ack, ok] {
                    auto s = weak.lock();
                    if (!s || !s->connected()) {
                        return;
                    }
                    if (!ok) {
                        ack_error(*shared_ack, error_code::kUnavailable, "the room could not be created");
                        return;
                    }
                    admit(s, room, shared_ack);
                });
            });
            return;
        }
        case AclCache::Verdict::kAllow:
            admit(socket, room, std::move(shared_ack));
            return;
    }
}

void Collab::admit(const sio::SocketPtr& socket, const std::string& room, std::shared_ptr<sio::Ack> ack) {
    auto state = state_of(socket);
    if (!state) {
        return;
    }
    const bool already = state->in_room(room);
    if (!already) {
        if (state->rooms.size() >= options_.max_rooms_per_socket) {
            ack_error(*ack, error_code::kBadRequest, "too many rooms for one socket");
            return;
        }
        state->rooms.emplace_back(room, 0);
        socket->join(room);
        bus_.acquire(room);
    }
    std::weak_ptr<sio::Socket> weak = socket;
    transport::Shard* shard = &socket->shard();
    // The ack reports the room's latest offset and presence counts. The presence entry is
    // written first so that the counts include this socket.
    auto answer = [this, weak, state, room, shard, ack, already] {
        bus_.last_offset(room, [this, weak, state, room, shard, ack, already](
                                   natsbus::Result<std::uint64_t> offset) {
            presence_.query(room, 0, [this, weak, state, room, shard, ack, already, offset](
                                         natsbus::Result<bus::v1::PresenceQueryResult> counts) {
                asio::post(shard->ioc(), [this, weak, state, room, shard, ack, already, offset, counts] {
                    auto s = weak.lock();
                    if (!s || !s->connected() || !state->in_room(room)) {
                        return;
                    }
                    if (!offset) {
                        if (!already) {
                            // Without the bus the join cannot be honoured: undo it.
                            drop_room(s, state, room, false);
                        }
                        ack_error(*ack, error_code::kUnavailable, "the message bus is unavailable");
                        return;
                    }
                    if (!already) {
                        for (auto& e : state->rooms) {
                            if (e.first == room) {
                                e.second = *offset;
                            }
                        }
                        persist(state, *shard);
                    }
                    json::object body;
                    body["room"] = room;
                    body["offset"] = std::to_string(*offset);
                    if (counts) {
                        json::object presence;
                        presence["clients"] = counts->clients();
                        presence["users"] = counts->users();
                        body["presence"] = std::move(presence);
                    }
                    ack_ok(*ack, std::move(body));
                });
            });
        });
    };
    if (already) {
        answer();
    } else {
        presence_.change(room, state->user_id, state->user_name, +1, false, answer);
    }
}

void Collab::drop_room(const sio::SocketPtr& socket, const StatePtr& state, const std::string& room,
                       bool lost) {
    if (!state->in_room(room)) {
        return;
    }
    std::erase_if(state->rooms, [&](const auto& e) { return e.first == room; });
    socket->leave(room);
    bus_.release(room);
    presence_.change(room, state->user_id, state->user_name, -1, lost);
    persist(state, socket->shard());
}

void Collab::on_leave(const sio::SocketPtr& socket, sio::Args&& args, sio::Ack&& ack) {
    auto state = state_of(socket);
    auto req = parsed_or_ack(ack, [&] { return requests::parse_room(args); });
    if (!state || !req) {
        return;
    }
    const std::string room = std::move(req->room);
    drop_room(socket, state, room, false);
    ack_ok(ack, {});
}

void Collab::on_publish(const sio::SocketPtr& socket, sio::Args&& args, sio::Ack&& ack) {
    auto state = state_of(socket);
    auto req = parsed_or_ack(ack, [&] { return requests::parse_publish(args, limits_); });
    if (!state || !req) {
        return;
    }
    const std::string& room = req->room;
    if (acl_.publish(room, state->user_id) == AclCache::Verdict::kForbidden) {
        ack_error(ack, error_code::kForbidden, "you may not publish to this room");
        return;
    }
    if (!state->in_room(room)) {
        ack_error(ack, error_code::kNotJoined, "join the room before publishing to it");
        return;
    }
    bus::v1::RoomEvent ev;
    ev.set_room(room);
    ev.set_event(std::move(req->event));
    ev.set_data_json(std::move(req->data_json));
    for (auto& a : args.attachments()) {
        ev.add_attachments(std::move(a));
    }
    ev.set_from(state->user_id);
    if (!req->echo) {
        ev.set_exclude_socket(socket->id());
    }
    ev.set_published_at_ms(unix_ms());
    auto shared_ack = std::make_shared<sio::Ack>(std::move(ack));
    transport::Shard* shard = &socket->shard();
    bus_.publish(room, ev, [shard, shared_ack](natsbus::Result<std::uint64_t> r) {
        asio::post(shard->ioc(), [shared_ack, r] {
            if (!r) {
                ack_error(*shared_ack, error_code::kUnavailable, "the message bus is unavailable");
                return;
            }
            json::object body;
            body["offset"] = std::to_string(*r);
            ack_ok(*shared_ack, std::move(body));
        });
    });
}

void Collab::on_history(const sio::SocketPtr& socket, sio::Args&& args, sio::Ack&& ack) {
    auto state = state_of(socket);
    auto req = parsed_or_ack(ack, [&] { return requests::parse_history(args, limits_); });
    if (!state || !req) {
        return;
    }
    const std::string room = std::move(req->room);
    const std::optional<std::uint64_t> since = req->since;
    const std::size_t limit = req->limit;
    if (acl_.join(room, state->user_id) == AclCache::Verdict::kForbidden) {
        ack_error(ack, error_code::kForbidden, "this room is private and you are not a member");
        return;
    }
    if (!state->in_room(room)) {
        ack_error(ack, error_code::kNotJoined, "join the room before reading its history");
        return;
    }
    auto shared_ack = std::make_shared<sio::Ack>(std::move(ack));
    transport::Shard* shard = &socket->shard();
    auto done = [shard, shared_ack](natsbus::Result<RoomBus::StoredEvents> r) {
        if (!r) {
            asio::post(shard->ioc(), [shared_ack] {
                ack_error(*shared_ack, error_code::kUnavailable, "the message bus is unavailable");
            });
            return;
        }
        // Library thread: build the reply here; only the ack itself runs on the shard.
        auto reply = std::make_shared<sio::Args>();
        json::array messages;
        for (auto& [seq, ev] : *r) {
            auto data = protocol::parse_json(ev.data_json().empty() ? "null" : ev.data_json());
            if (!data) {
                continue;
            }
            json::value value = std::move(*data);
            renumber_placeholders(value, static_cast<std::uint32_t>(reply->attachments().size()));
            for (auto& a : *ev.mutable_attachments()) {
                reply->attachments().push_back(std::move(a));
            }
            json::object m;
            m["offset"] = std::to_string(seq);
            m["event"] = ev.event();
            m["data"] = std::move(value);
            m["from"] = ev.from();
            messages.push_back(std::move(m));
        }
        asio::post(shard->ioc(), [shared_ack, reply, messages = std::move(messages)]() mutable {
            json::object body;
            body["messages"] = std::move(messages);
            ack_ok(*shared_ack, std::move(body), std::move(*reply));
        });
    };
    if (since) {
        bus_.read_after(room, *since, limit, std::move(done));
    } else {
        bus_.read_last(room, limit, std::move(done));
    }
}

void Collab::on_presence(const sio::SocketPtr& socket, sio::Args&& args, sio::Ack&& ack) {
    auto state = state_of(socket);
    auto req = parsed_or_ack(ack, [&] { return requests::parse_room(args); });
    if (!state || !req) {
        return;
    }
    const std::string room = std::move(req->room);
    if (acl_.join(room, state->user_id) == AclCache::Verdict::kForbidden) {
        ack_error(ack, error_code::kForbidden, "this room is private and you are not a member");
        return;
    }
    if (!state->in_room(room)) {
        ack_error(ack, error_code::kNotJoined, "join the room before asking who is in it");
        return;
    }
    auto shared_ack = std::make_shared<sio::Ack>(std::move(ack));
    transport::Shard* shard = &socket->shard();
    const std::uint32_t limit = contract::kMaxPresenceQueryUsers;
    presence_.query(room, limit, [shard, shared_ack](natsbus::Result<bus::v1::PresenceQueryResult> r) {
        asio::post(shard->ioc(), [shared_ack, r] {
            if (!r) {
                ack_error(*shared_ack, error_code::kUnavailable, "the presence service is unavailable");
                return;
            }
            json::object body;
            body["clients"] = r->clients();
            json::array users;
            for (const auto& u : r->listed()) {
                json::object user;
                user["id"] = u.id();
                user["name"] = u.name();
                users.push_back(std::move(user));
            }
            body["users"] = std::move(users);
            ack_ok(*shared_ack, std::move(body));
        });
    });
}

// --- control -----------------------------------------------------------------------------------

natsbus::Result<void> Collab::start_control() {
    auto sub = nats_.subscribe(contract::kControlSubject, [this](natsbus::Message&& m) {
        auto control = std::make_shared<bus::v1::Control>();
        if (!control->ParseFromString(m.data)) {
            return;
        }
        for (unsigned i = 0; i < io_.shards().size(); ++i) {
            asio::post(io_.shards().shard(i).ioc(), [this, i, control] { apply_control(i, *control); });
        }
    });
    if (!sub) {
        return sub.error();
    }
    control_ = std::move(*sub);
    return {};
}

void Collab::stop_control() { control_.reset(); }

void Collab::apply_control(unsigned shard, const bus::v1::Control& control) {
    if (control.has_kick()) {
        const auto& kick = control.kick();
        const std::string reason = kick.reason().empty() ? "kicked" : kick.reason();
        const auto* members = io_.of("/").shard_state(shard).rooms.members(kick.room());
        if (members == nullptr) {
            return;
        }
        std::vector<sio::SocketPtr> targets;  // copied: leaving changes the member list
        for (sio::Socket* m : *members) {
            auto state = state_of(m->shared_from_this());
            if (state && (kick.user_id().empty() || state->user_id == kick.user_id())) {
                targets.push_back(m->shared_from_this());
            }
        }
        for (const auto& s : targets) {
            drop_room(s, state_of(s), kick.room(), false);
            json::object body;
            body["room"] = kick.room();
            body["reason"] = reason;
            s->emit("kicked", sio::Args().add(std::move(body)));
        }
        if (!targets.empty()) {
            counters_.kicks.fetch_add(targets.size(), std::memory_order_relaxed);
            log::info("kicked", {{"sockets", targets.size()}, {"reason", reason}});
        }
        return;
    }
    if (control.has_disconnect()) {
        const auto& d = control.disconnect();
        auto& index = users_[shard];
        const auto it = index.find(d.user_id());
        if (it == index.end()) {
            return;
        }
        std::vector<sio::SocketPtr> targets;
        for (const auto& w : it->second) {
            if (auto s = w.lock()) {
                targets.push_back(std::move(s));
            }
        }
        for (const auto& s : targets) {
            s->disconnect();
        }
        counters_.user_disconnects.fetch_add(targets.size(), std::memory_order_relaxed);
        log::info("user disconnected", {{"sockets", targets.size()}, {"reason", d.reason()}});
    }
}

// --- fan-out -----------------------------------------------------------------------------------

void Collab::deliver_presence(const std::string& room, std::string&& data) {
    bus::v1::PresenceChange change;
    if (!change.ParseFromString(data) || change.room() != room) {
        return;
    }
    auto users = [](const auto& list) {
        json::array out;
        for (const auto& u : list) {
            json::object user;
            user["id"] = u.id();
            user["name"] = u.name();
            out.push_back(std::move(user));
        }
        return out;
    };
    json::object body;
    body["room"] = room;
    body["joined"] = users(change.joined());
    body["left"] = users(change.left());
    // Not a stored event: no offset argument, so socket.io-client's recovery offset is untouched.
    sio::BroadcastOperator op(io_.of("/"));
    op.to(room);
    op.emit("presence", sio::Args().add(std::move(body)));
}

void Collab::deliver(const std::string& room, std::uint64_t offset, bus::v1::RoomEvent&& event,
                     std::chrono::steady_clock::time_point received) {
    // The envelope is a public interface: anything on NATS may publish. Never forward data that
    // would break clients' parsers or point at attachments that do not exist.
    if (!event.data_json().empty()) {
        auto data = protocol::parse_json(event.data_json());
        if (!data || !psio::placeholders_valid(*data, static_cast<std::uint32_t>(event.attachments_size()))) {
            return;
        }
    }
    auto message = encode_room_event(room, offset, event);
    sio::BroadcastOperator op(io_.of("/"));
    op.to(room);
    if (!event.exclude_socket().empty()) {
        op.except(event.exclude_socket());
    }
    prometheus::Histogram* latency = counters_.fanout_latency;
    if (latency == nullptr) {
        op.send(std::move(message));
        return;
    }
    op.send(std::move(message), [latency, received](unsigned, std::size_t recipients) {
        if (recipients > 0) {
            const std::chrono::duration<double> took = std::chrono::steady_clock::now() - received;
            latency->Observe(took.count());
        }
    });
}

}  // namespace roomcast::edge
