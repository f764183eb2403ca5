#include "keys.hpp"

#include "roomcast/protocol/base64.hpp"

#include <cstdint>

namespace roomcast::rooms {
namespace {

constexpr std::string_view kRoomPrefix = "room.";
constexpr std::string_view kMemberPrefix = "member.";

}  // namespace

std::string key_token(std::string_view bytes) {
    return protocol::base64url_encode(bytes);
}

std::optional<std::string> decode_key_token(std::string_view token) {
    return protocol::base64url_decode(token);
}

std::string room_key(std::string_view room_id) {
    return std::string(kRoomPrefix) + key_token(room_id);
}

std::string member_key(std::string_view room_id, std::string_view user_id) {
    return std::string(kMemberPrefix) + key_token(room_id) + "." + key_token(user_id);
}

std::string member_filter(std::string_view room_id) {
    return std::string(kMemberPrefix) + key_token(room_id) + ".>";
}

std::string revocation_kick_key(std::string_view room_id, std::string_view user_id) {
    return "kick." + key_token(room_id) + "." + key_token(user_id);
}

std::string revocation_room_key(std::string_view room_id) { return "room." + key_token(room_id); }

std::string revocation_user_key(std::string_view user_id) { return "user." + key_token(user_id); }

std::optional<std::string> room_id_of_key(std::string_view key) {
    if (!key.starts_with(kRoomPrefix)) {
        return std::nullopt;
    }
    const auto token = key.substr(kRoomPrefix.size());
    if (token.empty() || token.find('.') != std::string_view::npos) {
        return std::nullopt;
    }
    return decode_key_token(token);
}

std::optional<std::string> user_id_of_member_key(std::string_view key) {
    if (!key.starts_with(kMemberPrefix)) {
        return std::nullopt;
    }
    const auto rest = key.substr(kMemberPrefix.size());
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0) {
        return std::nullopt;
    }
    const auto token = rest.substr(dot + 1);
    if (token.empty() || token.find('.') != std::string_view::npos) {
        return std::nullopt;
    }
    return decode_key_token(token);
}

}  // namespace roomcast::rooms
