#pragma once
// The KV keys of the bus contract (docs/control-plane.md, "Keys"): how each bucket's keys are
// spelled, built and read back. Writers and readers in different processes (the rooms service
// and every edge's ACL cache; edges and the presence service) meet only through these
// spellings, so they are defined here once and must never change.
//
// Bucket (storage.hpp)       Key                                       Value
// roomcast_rooms             room.<key(room id)>                       rooms.v1.Room
//                            member.<key(room id)>.<key(user id)>      rooms.v1.Member
// roomcast_presence          entry.<edge id>.<key(room)>.<key(user)>   bus.v1.PresenceEntry
// roomcast_sessions          <pid> (ids.hpp: valid_pid)                bus.v1.SessionRecord
// roomcast_edges             <edge id> (ids.hpp: valid_edge_id)        bus.v1.EdgeHeartbeat
// roomcast_presence_leader   kPresenceLeaderKey                        the leader's replica id
// roomcast_config            kJwksKey                                  the JWKS document (JSON)
// roomcast_revocations       kick.<key(room id)>.<key(user id)>        bus.v1.Revocation
//                            room.<key(room id)>                       bus.v1.Revocation
//                            user.<key(user id)>                       bus.v1.Revocation
//
// Parsers return nullopt for any key a conforming writer could not have written: another
// shape, a token that is not strict base64url, or an id that breaks its rule (ids.hpp).
//
// Pure functions, thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace roomcast::contract {

// key(x): base64url (RFC 4648 §5) of the bytes of x, without padding. Room ids contain ':' and
// '@' and user ids are arbitrary UTF-8, neither of which a NATS KV key token may hold, while
// base64url's alphabet always fits (and never contains the '.' that separates tokens). The
// codec is libs/protocol's, strict: every id has exactly one token.
std::string key_token(std::string_view id);
// The strict inverse of key_token; nullopt for anything key_token does not produce.
std::optional<std::string> from_key_token(std::string_view token);

// --- roomcast_rooms --------------------------------------------------------------------------

inline constexpr std::string_view kRoomKeyPrefix = "room.";
inline constexpr std::string_view kMemberKeyPrefix = "member.";
// Every room key. (base64url does not keep id prefixes, so there is no filter for "rooms whose
// id starts with".)
inline constexpr std::string_view kRoomKeyFilter = "room.>";

std::string room_key(std::string_view room);
std::string member_key(std::string_view room, std::string_view user);
// Every member key of `room`: member.<key(room)>.>
std::string member_key_filter(std::string_view room);

// The room id of a room key.
std::optional<std::string> parse_room_key(std::string_view key);
struct MemberKey {
    std::string room;
    std::string user;
};
std::optional<MemberKey> parse_member_key(std::string_view key);

// --- roomcast_presence -----------------------------------------------------------------------

// One edge's entry for (room, user). The edge id leads, so that an edge finds (and a restarted
// edge clears) its own entries with one filter.
inline constexpr std::string_view kEntryKeyPrefix = "entry.";
inline constexpr std::string_view kEntryKeyFilter = "entry.>";

std::string entry_key(std::string_view edge, std::string_view room, std::string_view user);
// Every entry key of `edge`: entry.<edge>.>
std::string edge_entry_key_filter(std::string_view edge);

struct EntryKey {
    std::string edge;
    std::string room;
    std::string user;
};
std::optional<EntryKey> parse_entry_key(std::string_view key);

// --- roomcast_revocations --------------------------------------------------------------------

// Rights lost (bus.proto `Revocation`), written by the rooms service for sessions that are away
// when it happens: a kick or removed membership of one user, a room's (DeleteRoom, UpdateRoom
// to PRIVATE), a user's sessions (DisconnectUser).
std::string revocation_kick_key(std::string_view room, std::string_view user);
std::string revocation_room_key(std::string_view room);
std::string revocation_user_key(std::string_view user);

struct RevocationKey {
    enum class Kind : std::uint8_t { kKick, kRoom, kUser };
    Kind kind;
    std::string room;  // kKick, kRoom
    std::string user;  // kKick, kUser
};
std::optional<RevocationKey> parse_revocation_key(std::string_view key);

// --- roomcast_presence_leader, roomcast_config -----------------------------------------------

inline constexpr std::string_view kPresenceLeaderKey = "leader";
inline constexpr std::string_view kJwksKey = "jwks";

}  // namespace roomcast::contract
