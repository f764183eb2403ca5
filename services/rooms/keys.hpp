#pragma once
// Keys of the KV bucket roomcast_rooms (docs/control-plane.md, "Keys"):
//
//   room.<key(room id)>                     roomcast.rooms.v1.Room
//   member.<key(room id)>.<key(user id)>    roomcast.rooms.v1.Member
//
// key(x) is the base64url encoding (RFC 4648 §5) of the bytes of x without padding: room ids
// contain ':' and '@' and user ids are arbitrary UTF-8, neither of which is a valid NATS key
// token, while base64url's alphabet is. Edges use the same encoding, so it must never change.
//
// Pure functions, thread-safe.

#include <optional>
#include <string>
#include <string_view>

namespace roomcast::rooms {

// base64url without padding.
std::string key_token(std::string_view bytes);
// Strict inverse of key_token: the base64url alphabet only, no padding, no impossible length,
// unused trailing bits zero (so every token has exactly one decoding). nullopt otherwise.
std::optional<std::string> decode_key_token(std::string_view token);

std::string room_key(std::string_view room_id);
std::string member_key(std::string_view room_id, std::string_view user_id);
// The filter that matches every member key of a room ("member.<key(room)>.>").
std::string member_filter(std::string_view room_id);
// The KV filter of every room key.
inline constexpr std::string_view kRoomFilter = "room.>";

// Keys of the bucket roomcast_revocations (bus.proto `Revocation`).
std::string revocation_kick_key(std::string_view room_id, std::string_view user_id);
std::string revocation_room_key(std::string_view room_id);
std::string revocation_user_key(std::string_view user_id);

// The room id of a "room.<token>" key; nullopt for any other key.
std::optional<std::string> room_id_of_key(std::string_view key);
// The user id of a "member.<token>.<token>" key; nullopt for any other key.
std::optional<std::string> user_id_of_member_key(std::string_view key);

}  // namespace roomcast::rooms
