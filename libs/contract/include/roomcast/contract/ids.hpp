#pragma once
// The id and event-name rules of the bus contract (PRODUCT.md §2, docs/control-plane.md): what
// a room id, a user id, an edge id, a private session id and a publishable event name may be.
// The edge checks clients against them, the services check their callers, and every reader of
// a KV key or a subject checks what it decodes, so a value one side accepts is a value every
// other side can key, subject, list and deliver. Defined here once; pure, thread-safe.

#include <array>
#include <cstddef>
#include <string_view>

namespace roomcast::contract {

// --- rooms -----------------------------------------------------------------------------------

// Room ids match ^[A-Za-z0-9_:@-]{1,128}$. The alphabet leaves out '.', '*', '>' and
// whitespace, so a room id is always exactly one NATS subject token (roomcast.room.<room> can
// never name a wildcard or another room's subject); ':' and '@' are there for ids like
// "post:42" and "team@site", and since they are not KV key characters, keys carry rooms as
// key_token(room) (keys.hpp). The length bounds subjects, keys and every index entry.
inline constexpr std::size_t kMaxRoomIdBytes = 128;
// The rule as error messages and docs spell it.
inline constexpr std::string_view kRoomIdPattern = "^[A-Za-z0-9_:@-]{1,128}$";

// Whether every character of `text` is a room id character (true for ""). For prefixes and
// generated parts of room ids, which have lengths of their own.
bool room_id_chars(std::string_view text) noexcept;
bool valid_room_id(std::string_view room) noexcept;
// A prefix of room ids (ListRooms' filter): "" or up to kMaxRoomIdBytes room id characters.
bool valid_room_id_prefix(std::string_view prefix) noexcept;

// --- users -----------------------------------------------------------------------------------

// User ids are JWT `sub` claims: any UTF-8 (a JSON string always is), 1 to 256 bytes. Bounded
// so that KV keys, control messages and each presence replica's memory stay small; UTF-8 so
// that the protobuf string fields carrying them (Member, PresenceChange, gRPC replies) always
// serialize.
inline constexpr std::size_t kMaxUserIdBytes = 256;
bool valid_user_id(std::string_view user) noexcept;
// Display names (the `name` claim) are shown, never matched: tokens are issued with at most
// this many bytes and presence cuts longer ones at a character boundary.
inline constexpr std::size_t kMaxUserNameBytes = 256;

// --- edges and sessions ----------------------------------------------------------------------

// Edge ids match [A-Za-z0-9_-]{1,64}: one token in subjects (roomcast.edge.<id>.http), a KV key
// (roomcast_edges) and a segment of presence entry keys, and the prefix of the Engine.IO
// session ids that name the owning edge. A client-supplied session id therefore names an edge
// only after this check. Presence replica ids follow the same rule.
inline constexpr std::size_t kMaxEdgeIdBytes = 64;
inline constexpr std::string_view kEdgeIdPattern = "[A-Za-z0-9_-]{1,64}";
bool valid_edge_id(std::string_view edge) noexcept;

// A private session id (`pid`, connection state recovery) as a reconnecting client sends it
// back: 1 to 64 bytes, the key of its record in roomcast_sessions. Edges issue 22 characters of
// the URL-safe alphabet; a forged one that is no valid KV key is refused by natsbus and so
// finds no record, like an unknown one.
inline constexpr std::size_t kMaxPidBytes = 64;
bool valid_pid(std::string_view pid) noexcept;

// A Socket.IO socket id as a backend or an operator names it (Emit, PublishToUser): edges
// issue 20 characters of the URL-safe alphabet; accepted are 1 to 64 of [A-Za-z0-9_-], so a
// socket id is one subject token and one log field whatever sends it.
inline constexpr std::size_t kMaxSocketIdBytes = 64;
bool valid_socket_id(std::string_view socket_id) noexcept;

// --- events ----------------------------------------------------------------------------------

// The collaboration protocol's own events (PRODUCT.md §2): requests clients send and events
// the edge emits.
inline constexpr std::array<std::string_view, 7> kProtocolEvents = {
    "join", "leave", "publish", "history", "presence", "kicked", "refresh"};
// Event names a room event may not carry: Socket.IO's reserved names
// (protocol::sio::is_reserved_event) and kProtocolEvents. A publish under one of them, by a
// client or by the server, would impersonate protocol traffic to every member of the room.
bool reserved_event(std::string_view name) noexcept;
// Room event names: 1 to 128 bytes and not reserved (client publishes and server publishes).
inline constexpr std::size_t kMaxEventNameBytes = 128;
bool valid_event_name(std::string_view name) noexcept;

// --- namespaces -------------------------------------------------------------------------------

// Socket.IO namespace names an edge serves: "/" or "/" followed by 1 to 127 bytes of printable
// ASCII other than space (the edge's --namespaces configures them; clients name them in
// CONNECT). Each is one subject token once encoded (subjects.hpp, subject_token).
inline constexpr std::size_t kMaxNamespaceBytes = 128;
bool valid_namespace(std::string_view nsp) noexcept;

}  // namespace roomcast::contract
