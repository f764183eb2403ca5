#include "roomcast/contract/keys.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/protocol/base64.hpp"

#include <utility>

namespace roomcast::contract {
namespace {

// Splits `text` at its first '.'; nullopt when there is none.
std::optional<std::pair<std::string_view, std::string_view>> split_token(std::string_view text) {
    const auto dot = text.find('.');
    if (dot == std::string_view::npos) {
        return std::nullopt;
    }
    return std::pair{text.substr(0, dot), text.substr(dot + 1)};
}

// Decodes a room token and a user token (each must be exactly one token: base64url has no '.').
std::optional<std::pair<std::string, std::string>> room_and_user(std::string_view room_token,
                                                                 std::string_view user_token) {
    auto room = from_key_token(room_token);
    auto user = from_key_token(user_token);
    if (!room || !user || !valid_room_id(*room) || !valid_user_id(*user)) {
        return std::nullopt;
    }
    return std::pair{std::move(*room), std::move(*user)};
}

}  // namespace

std::string key_token(std::string_view id) {
    return protocol::base64url_encode(id);
}

std::optional<std::string> from_key_token(std::string_view token) {
    return protocol::base64url_decode(token);
}

std::string room_key(std::string_view room) {
    std::string key(kRoomKeyPrefix);
    key += key_token(room);
    return key;
}

std::string member_key(std::string_view room, std::string_view user) {
    std::string key(kMemberKeyPrefix);
    key += key_token(room);
    key += '.';
    key += key_token(user);
    return key;
}

std::string member_key_filter(std::string_view room) {
    std::string filter(kMemberKeyPrefix);
    filter += key_token(room);
    filter += ".>";
    return filter;
}

std::optional<std::string> parse_room_key(std::string_view key) {
    if (!key.starts_with(kRoomKeyPrefix)) {
        return std::nullopt;
    }
    auto room = from_key_token(key.substr(kRoomKeyPrefix.size()));
    if (!room || !valid_room_id(*room)) {
        return std::nullopt;
    }
    return room;
}

std::optional<MemberKey> parse_member_key(std::string_view key) {
    if (!key.starts_with(kMemberKeyPrefix)) {
        return std::nullopt;
    }
    const auto tokens = split_token(key.substr(kMemberKeyPrefix.size()));
    if (!tokens) {
        return std::nullopt;
    }
    auto ids = room_and_user(tokens->first, tokens->second);
    if (!ids) {
        return std::nullopt;
    }
    return MemberKey{std::move(ids->first), std::move(ids->second)};
}

std::string revocation_kick_key(std::string_view room, std::string_view user) {
    return "kick." + key_token(room) + "." + key_token(user);
}

std::string revocation_room_key(std::string_view room) { return "room." + key_token(room); }

std::string revocation_user_key(std::string_view user) { return "user." + key_token(user); }

std::optional<RevocationKey> parse_revocation_key(std::string_view key) {
    if (key.starts_with("kick.")) {
        const auto tokens = split_token(key.substr(5));
        if (!tokens) {
            return std::nullopt;
        }
        auto ids = room_and_user(tokens->first, tokens->second);
        if (!ids) {
            return std::nullopt;
        }
        return RevocationKey{RevocationKey::Kind::kKick, std::move(ids->first), std::move(ids->second)};
    }
    if (key.starts_with("room.")) {
        if (auto room = parse_room_key(key)) {
            return RevocationKey{RevocationKey::Kind::kRoom, std::move(*room), {}};
        }
        return std::nullopt;
    }
    if (key.starts_with("user.")) {
        auto user = from_key_token(key.substr(5));
        if (!user || !valid_user_id(*user)) {
            return std::nullopt;
        }
        return RevocationKey{RevocationKey::Kind::kUser, {}, std::move(*user)};
    }
    return std::nullopt;
}

std::string entry_key(std::string_view edge, std::string_view room, std::string_view user) {
    std::string key(kEntryKeyPrefix);
    key += edge;
    key += '.';
    key += key_token(room);
    key += '.';
    key += key_token(user);
    return key;
}

std::string edge_entry_key_filter(std::string_view edge) {
    std::string filter(kEntryKeyPrefix);
    filter += edge;
    filter += ".>";
    return filter;
}

std::optional<EntryKey> parse_entry_key(std::string_view key) {
    if (!key.starts_with(kEntryKeyPrefix)) {
        return std::nullopt;
    }
    const auto edge_rest = split_token(key.substr(kEntryKeyPrefix.size()));
    if (!edge_rest || !valid_edge_id(edge_rest->first)) {
        return std::nullopt;
    }
    const auto tokens = split_token(edge_rest->second);
    if (!tokens) {
        return std::nullopt;
    }
    auto ids = room_and_user(tokens->first, tokens->second);
    if (!ids) {
        return std::nullopt;
    }
    return EntryKey{std::string(edge_rest->first), std::move(ids->first), std::move(ids->second)};
}

}  // namespace roomcast::contract
