#include "app/handlers.hpp"

#include "app/backend_routes.hpp"

#include "roomcast/core/clock.hpp"
#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/socketio.hpp"

#include <boost/json.hpp>

namespace roomcast::edge {

namespace json = boost::json;
namespace psio = protocol::sio;

namespace {

// A failed bus operation as a client sees it. The protocol's codes are a closed list
// (docs/protocol.md), so a full JetStream store or bucket is `unavailable` too, told apart by
// its message: retrying soon will not help, unlike after a lost connection.
std::string_view bus_failure(const boost::system::error_code& error) {
    return error == natsbus::Errc::kStorageFull ? "the message bus's storage is full"
                                                : "the message bus is unavailable";
}

// Parses a request with `parse`; on error answers it and returns nullopt.
template <class Parse>
auto parsed_or_reply(Reply& reply, Parse&& parse)
    -> std::optional<std::variant_alternative_t<0, std::invoke_result_t<Parse>>> {
    auto r = parse();
    if (auto* e = std::get_if<requests::Error>(&r)) {
        reply.error(e->code, e->message);
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

constexpr std::string_view kPrivate = "this room is private and you are not a member";

const std::string& display_name(const Caller& caller) {
    const auto& id = *caller.session->identity;
    return id.name.empty() ? id.user_id : id.name;
}

}  // namespace

backends::LifecycleSocket lifecycle_socket(const Caller& caller) {
    backends::LifecycleSocket s;
    s.user_id = caller.user();
    s.user_name = display_name(caller);
    if (caller.socket) {
        s.socket_id = caller.socket->id();
        s.nsp = caller.socket->nsp().name();
    } else {
        s.nsp = "/";
    }
    return s;
}

backend::v1::Client backend_client(const Caller& caller, std::string_view edge_id) {
    if (caller.socket && caller.session) {
        // One description of a socket for every backend request (custom events build theirs
        // with the same function): claims, edge, rooms.
        return edge::backend_client(*caller.socket, *caller.session, edge_id);
    }
    // Unit tests without a socket.
    backend::v1::Client c;
    c.set_user_id(caller.user());
    c.set_user_name(display_name(caller));
    c.set_claims_json(caller.session && !caller.session->claims_json.empty() ? caller.session->claims_json : "{}");
    c.set_edge_id(std::string(edge_id));
    c.set_namespace_("/");
    return c;
}

RoomHandlers::RoomHandlers(RoomsPort& rooms, RightsPort& rights, PresencePort& presence,
                           RecordsPort& records, Quotas& quotas, HandlerOptions options,
                           HandlerBackends backends)
    : rooms_(rooms),
      rights_(rights),
      presence_(presence),
      records_(records),
      quotas_(quotas),
      options_(options),
      backends_(backends) {}

void RoomHandlers::join(const Caller& caller, sio::Args&& args, Reply reply) {
    auto req = parsed_or_reply(reply, [&] { return requests::parse_room(args); });
    if (!req) {
        return;
    }
    const std::string room = std::move(req->room);
    auto shared = std::make_shared<Reply>(std::move(reply));
    if (rooms_.in_room(caller, room)) {
        admit(caller, room, std::move(shared));  // idempotent: answers with the offset
        return;
    }
    switch (rights_.may_join(room, caller.user())) {
        case Verdict::kForbidden:
            shared->error(error_code::kForbidden, kPrivate);
            return;
        case Verdict::kNotFound:
            shared->error(error_code::kNotFound, "no such room");
            return;
        case Verdict::kUnavailable:
            shared->error(error_code::kUnavailable, "the room registry is not loaded yet");
            return;
        case Verdict::kCreate:
            if (quotas_.charge_auto_create(caller.user()) != Quotas::Result::kOk) {
                shared->error(error_code::kRateLimited, "too many new rooms from this user: slow down");
                return;
            }
            // The hook first: a join it refuses creates no room.
            ask_join(caller, room, shared, [this, caller, room, shared] {
                rights_.create(room, [this, caller, room, shared](bool ok) {
                    caller.post([this, caller, room, shared, ok] {
                        if (!caller.alive()) {
                            return;
                        }
                        if (!ok) {
                            shared->error(error_code::kUnavailable, "the room could not be created");
                            return;
                        }
                        admit(caller, room, shared);
                    });
                });
            });
            return;
        case Verdict::kAllow:
            ask_join(caller, room, shared, [this, caller, room, shared] { admit(caller, room, shared); });
            return;
    }
}

void RoomHandlers::ask_join(const Caller& caller, const std::string& room, std::shared_ptr<Reply> reply,
                            std::function<void()> then) {
    auto* hooks = backends_.hooks;
    if (hooks == nullptr || !hooks->asks_join(room)) {
        then();
        return;
    }
    hooks->join(backend_client(caller, backends_.edge_id), room,
                [caller, reply, then = std::move(then)](backends::JoinVerdict verdict) mutable {
                    caller.post([caller, reply, then = std::move(then), verdict = std::move(verdict)] {
                        if (!caller.alive()) {
                            return;  // gone while the backend decided
                        }
                        if (verdict.refusal) {
                            reply->error(verdict.refusal->code, verdict.refusal->message);
                            return;
                        }
                        then();
                    });
                });
}

void RoomHandlers::admit(const Caller& caller, const std::string& room, std::shared_ptr<Reply> reply) {
    const bool already = rooms_.in_room(caller, room);
    if (!already && rooms_.room_count(caller) >= options_.max_rooms_per_socket) {
        reply->error(error_code::kBadRequest, "too many rooms for one socket");
        return;
    }
    // The fabric answers once the socket is in the room, the room's offset is known and (for
    // the user's first socket in it) the presence entry is written, so the counts below
    // include this socket.
    rooms_.enter(caller, room, [this, caller, room, reply, already](natsbus::Result<std::uint64_t> offset) {
        if (!caller.alive() || !rooms_.in_room(caller, room)) {
            return;  // left (or gone) meanwhile
        }
        if (!offset) {
            if (!already && rooms_.exit(caller, room)) {
                // Without the bus the join cannot be honoured: undone.
                records_.rooms_changed(caller);
            }
            reply->error(error_code::kUnavailable, bus_failure(offset.error()));
            return;
        }
        if (!already) {
            records_.rooms_changed(caller);
            if (backends_.lifecycle != nullptr) {
                backends_.lifecycle->join(lifecycle_socket(caller), room);
            }
        }
        presence_.query(room, 0, [caller, room, reply, offset = *offset](
                                     natsbus::Result<bus::v1::PresenceQueryResult> counts) {
            caller.post([caller, room, reply, offset, counts = std::move(counts)] {
                if (!caller.alive()) {
                    return;
                }
                json::object body;
                body["room"] = room;
                body["offset"] = std::to_string(offset);
                if (counts) {
                    json::object presence;
                    presence["clients"] = counts->clients();
                    presence["users"] = counts->users();
                    body["presence"] = std::move(presence);
                }
                reply->ok(std::move(body));
            });
        });
    });
}

void RoomHandlers::leave(const Caller& caller, sio::Args&& args, Reply reply) {
    auto req = parsed_or_reply(reply, [&] { return requests::parse_room(args); });
    if (!req) {
        return;
    }
    if (rooms_.exit(caller, req->room)) {
        records_.rooms_changed(caller);
        if (backends_.lifecycle != nullptr) {
            backends_.lifecycle->leave(lifecycle_socket(caller), req->room);
        }
    }
    reply.ok();
}

void RoomHandlers::publish(const Caller& caller, sio::Args&& args, Reply reply) {
    auto req = parsed_or_reply(reply, [&] { return requests::parse_publish(args, options_.limits); });
    if (!req) {
        return;
    }
    const std::string& room = req->room;
    if (rights_.may_publish(room, caller.user()) == Verdict::kForbidden) {
        reply.error(error_code::kForbidden, "you may not publish to this room");
        return;
    }
    if (!rooms_.in_room(caller, room)) {
        reply.error(error_code::kNotJoined, "join the room before publishing to it");
        return;
    }
    switch (quotas_.charge_publish(caller.user(), req->bytes)) {
        case Quotas::Result::kOk:
            break;
        case Quotas::Result::kBytes:
            reply.error(error_code::kRateLimited, "too many bytes published by this user: slow down");
            return;
        case Quotas::Result::kRate:
        case Quotas::Result::kFull:
            reply.error(error_code::kRateLimited, "too many publishes from this user: slow down");
            return;
    }
    auto ev = std::make_shared<bus::v1::RoomEvent>();
    ev->set_room(room);
    ev->set_event(std::move(req->event));
    ev->set_data_json(std::move(req->data_json));
    for (auto& a : args.attachments()) {
        ev->add_attachments(std::move(a));
    }
    ev->set_from(caller.user());
    if (!req->echo && caller.socket) {
        ev->set_exclude_socket(caller.socket->id());
    }
    auto shared = std::make_shared<Reply>(std::move(reply));
    const bool ephemeral = req->ephemeral;
    auto* hooks = backends_.hooks;
    // Ephemeral events ask the publish hook too: moderation must not be one flag away.
    if (hooks == nullptr || !hooks->asks_publish(room)) {
        store(caller, *ev, std::move(shared), ephemeral);
        return;
    }
    std::vector<std::string> attachments(ev->attachments().begin(), ev->attachments().end());
    hooks->publish(backend_client(caller, backends_.edge_id), room, ev->event(), ev->data_json(), std::move(attachments),
                   [this, caller, shared, ev, ephemeral](backends::PublishVerdict verdict) {
                       caller.post([this, caller, shared, ev, ephemeral, verdict = std::move(verdict)]() mutable {
                           // Gone while the backend decided: nobody could be told it was
                           // stored, so it is not (the client's retry, if any, asks again).
                           if (!caller.alive()) {
                               return;
                           }
                           if (verdict.refusal) {
                               shared->error(verdict.refusal->code, verdict.refusal->message);
                               return;
                           }
                           if (!rooms_.in_room(caller, ev->room())) {
                               shared->error(error_code::kNotJoined, "join the room before publishing to it");
                               return;
                           }
                           if (verdict.replacement) {
                               ev->set_data_json(std::move(verdict.replacement->data_json));
                               ev->clear_attachments();
                               for (auto& a : verdict.replacement->attachments) {
                                   ev->add_attachments(std::move(a));
                               }
                           }
                           store(caller, *ev, shared, ephemeral);
                       });
                   });
}

void RoomHandlers::store(const Caller& caller, bus::v1::RoomEvent& ev, std::shared_ptr<Reply> reply,
                         bool ephemeral) {
    ev.set_published_at_ms(core::unix_ms());
    auto shared = std::move(reply);
    if (ephemeral) {
        // Handed to the NATS client at once (core NATS has no ack): the ack says it was
        // accepted for delivery, as an ephemeral event promises no more.
        if (auto r = rooms_.publish_ephemeral(ev.room(), ev); !r) {
            shared->error(error_code::kUnavailable, bus_failure(r.error()));
            return;
        }
        shared->ok();
        return;
    }
    rooms_.publish(ev.room(), ev, [caller, shared](natsbus::Result<std::uint64_t> r) {
        caller.post([shared, r] {
            if (!r) {
                shared->error(error_code::kUnavailable, bus_failure(r.error()));
                return;
            }
            json::object body;
            body["offset"] = std::to_string(*r);
            shared->ok(std::move(body));
        });
    });
}

bool RoomHandlers::may_read(const Caller& caller, const std::string& room, Reply& reply,
                            std::string_view not_joined) {
    if (rights_.may_join(room, caller.user()) == Verdict::kForbidden) {
        reply.error(error_code::kForbidden, kPrivate);
        return false;
    }
    if (!rooms_.in_room(caller, room)) {
        reply.error(error_code::kNotJoined, not_joined);
        return false;
    }
    return true;
}

void RoomHandlers::history(const Caller& caller, sio::Args&& args, Reply reply) {
    auto req = parsed_or_reply(reply, [&] { return requests::parse_history(args, options_.limits); });
    if (!req) {
        return;
    }
    const std::string room = std::move(req->room);
    if (!may_read(caller, room, reply, "join the room before reading its history")) {
        return;
    }
    auto shared = std::make_shared<Reply>(std::move(reply));
    auto done = [caller, shared](natsbus::Result<rooms::RoomStream::Page> r) {
        if (!r) {
            caller.post([shared] {
                shared->error(error_code::kUnavailable, "the message bus is unavailable");
            });
            return;
        }
        // Library thread: build the reply here; only the answer itself runs on the shard.
        auto extra = std::make_shared<sio::Args>();
        json::array messages;
        for (auto& [seq, ev] : r->events) {
            auto data = protocol::parse_json(ev.data_json().empty() ? "null" : ev.data_json());
            if (!data) {
                continue;
            }
            json::value value = std::move(*data);
            renumber_placeholders(value, static_cast<std::uint32_t>(extra->attachments().size()));
            for (auto& a : *ev.mutable_attachments()) {
                extra->attachments().push_back(std::move(a));
            }
            json::object m;
            m["offset"] = std::to_string(seq);
            m["event"] = ev.event();
            m["data"] = std::move(value);
            m["from"] = ev.from();
            messages.push_back(std::move(m));
        }
        caller.post([shared, extra, messages = std::move(messages), more = r->cut]() mutable {
            json::object body;
            body["messages"] = std::move(messages);
            if (more) {
                body["more"] = true;  // the byte budget stopped it: read on with since
            }
            shared->ok(std::move(body), std::move(*extra));
        });
    };
    if (req->since) {
        rooms_.read_after(room, *req->since, req->limit, options_.history_max_bytes, std::move(done));
    } else {
        rooms_.read_last(room, req->limit, options_.history_max_bytes, std::move(done));
    }
}

void RoomHandlers::presence(const Caller& caller, sio::Args&& args, Reply reply) {
    auto req = parsed_or_reply(reply, [&] { return requests::parse_room(args); });
    if (!req) {
        return;
    }
    const std::string room = std::move(req->room);
    if (!may_read(caller, room, reply, "join the room before asking who is in it")) {
        return;
    }
    auto shared = std::make_shared<Reply>(std::move(reply));
    presence_.query(room, options_.presence_list_max,
                    [caller, shared](natsbus::Result<bus::v1::PresenceQueryResult> r) {
                        caller.post([shared, r = std::move(r)] {
                            if (!r) {
                                shared->error(error_code::kUnavailable,
                                              "the presence service is unavailable");
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
                            shared->ok(std::move(body));
                        });
                    });
}

}  // namespace roomcast::edge
