#pragma once
// The NATS subjects of the bus contract (docs/protocol.md "NATS interface", docs/control-plane.md).
// Every subject a process publishes or subscribes to is spelled here; the envelopes are
// proto/roomcast/bus/v1/bus.proto. Room and edge ids follow ids.hpp, which guarantees that each
// is exactly one subject token: callers validate before they build a subject from one.
//
//   roomcast.room.<room>             RoomEvent: JetStream publish (stream ROOMCAST_ROOMS, whose
//                                    sequence is the event's offset)
//   roomcast.fanout.<room>           RoomEvent: the stream's RePublish of every stored event,
//                                    with Nats-Sequence / Nats-Last-Sequence (edges subscribe)
//   roomcast.ephemeral.<room>        RoomEvent: an ephemeral room event (core NATS: never stored,
//                                    no offset; every edge with members subscribes)
//   roomcast.presence.room.<room>    PresenceChange: batched joins and leaves (presence leader)
//   roomcast.presence.query          PresenceQuery → PresenceQueryResult (request/reply, one
//                                    presence replica of the queue group answers)
//   roomcast.control                 Control: kicks and disconnects (rooms service → edges)
//   roomcast.rooms.autocreate        AutoCreateRoom → AutoCreateRoomReply (request/reply: an edge
//                                    asks for a room its auto-create prefixes allow; one rooms
//                                    replica of the queue group creates it PUBLIC if absent)
//   roomcast.edge.<edge>.http        ForwardedRequest → ForwardedResponse (edge to edge)
//   roomcast.edge.<edge>.http.abort  ForwardedAbort (edge to edge)
//
// Application backends (proto/roomcast/backend/v1/backend.proto, docs/backends.md):
//   roomcast.rpc.<event>                 CustomEvent → CustomEventReply (namespace "/")
//   roomcast.ns.<namespace>.rpc.<event>  CustomEvent → CustomEventReply (other namespaces)
//   roomcast.hook.connect|join|publish   hook requests (edge → one backend of a queue group)
//   roomcast.lifecycle.<edge>            LifecycleBatch (edge → backends)
//   roomcast.emit                        Emit (backends, rooms service → every edge)
// <event> and <namespace> are subject_token()s.
//
// Pure, thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

namespace roomcast::contract {

inline constexpr std::string_view kRoomSubjectPrefix = "roomcast.room.";
inline constexpr std::string_view kRoomSubjects = "roomcast.room.>";
inline constexpr std::string_view kFanoutSubjectPrefix = "roomcast.fanout.";
inline constexpr std::string_view kFanoutSubjects = "roomcast.fanout.>";
// Ephemeral room events (PRODUCT.md §2 "ephemeral publish"): plain NATS subjects beside the
// stream's, so nothing stores them and they cost nats-server one routing step.
inline constexpr std::string_view kEphemeralSubjectPrefix = "roomcast.ephemeral.";
inline constexpr std::string_view kEphemeralSubjects = "roomcast.ephemeral.>";
inline constexpr std::string_view kPresenceRoomSubjectPrefix = "roomcast.presence.room.";
inline constexpr std::string_view kPresenceQuerySubject = "roomcast.presence.query";
// Presence replicas answer queries as one queue group: each query is answered once.
inline constexpr std::string_view kPresenceQueryQueue = "presence";
inline constexpr std::string_view kControlSubject = "roomcast.control";
// Edges may not write room rights (docs/operations.md, "NATS roles"): they ask the rooms service
// to auto-create a room, and its replicas answer as one queue group.
inline constexpr std::string_view kRoomAutoCreateSubject = "roomcast.rooms.autocreate";
inline constexpr std::string_view kRoomAutoCreateQueue = "rooms";

inline constexpr std::string_view kRpcSubjectPrefix = "roomcast.rpc.";
inline constexpr std::string_view kNamespaceSubjectPrefix = "roomcast.ns.";
inline constexpr std::string_view kHookConnectSubject = "roomcast.hook.connect";
inline constexpr std::string_view kHookJoinSubject = "roomcast.hook.join";
inline constexpr std::string_view kHookPublishSubject = "roomcast.hook.publish";
inline constexpr std::string_view kLifecycleSubjectPrefix = "roomcast.lifecycle.";
inline constexpr std::string_view kEmitSubject = "roomcast.emit";

// The wildcards are their prefix plus ">" (the stream's subjects, its RePublish mapping).
static_assert(kRoomSubjects.substr(0, kRoomSubjectPrefix.size()) == kRoomSubjectPrefix &&
              kRoomSubjects.size() == kRoomSubjectPrefix.size() + 1);
static_assert(kEphemeralSubjects.substr(0, kEphemeralSubjectPrefix.size()) == kEphemeralSubjectPrefix &&
              kEphemeralSubjects.size() == kEphemeralSubjectPrefix.size() + 1);
static_assert(kFanoutSubjects.substr(0, kFanoutSubjectPrefix.size()) == kFanoutSubjectPrefix &&
              kFanoutSubjects.size() == kFanoutSubjectPrefix.size() + 1);

// Most users one PresenceQuery lists (PRODUCT.md §2: a `presence` ack lists at most 100; the
// admin API pages through all). Edges ask for this many and replicas cap `limit` to it, so one
// reply stays small whatever the room's size.
inline constexpr std::uint32_t kMaxPresenceQueryUsers = 100;

std::string room_subject(std::string_view room);
std::string fanout_subject(std::string_view room);
std::string ephemeral_subject(std::string_view room);
std::string presence_room_subject(std::string_view room);
std::string edge_http_subject(std::string_view edge);
std::string edge_http_abort_subject(std::string_view edge);

// A name as one subject token: bytes in [A-Za-z0-9_:@-] as they are, every other byte as %XX
// (upper-case hex), so any event or namespace name is exactly one token and two names never
// share one ("chat message" → "chat%20message", "a.b" → "a%2Eb"). "" for "".
std::string subject_token(std::string_view name);
// The subject of a custom event of `nsp` ("/" or "/name…"; valid_namespace()) named `event`
// (1..kMaxEventNameBytes bytes): roomcast.rpc.<event> for "/", roomcast.ns.<nsp without its
// leading "/">.rpc.<event> otherwise.
std::string rpc_subject(std::string_view nsp, std::string_view event);
std::string lifecycle_subject(std::string_view edge);

}  // namespace roomcast::contract
