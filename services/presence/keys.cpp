#include "keys.hpp"

#include <array>
#include <cstdint>

namespace roomcast::presence {
namespace {

constexpr std::string_view kEntryPrefix = "entry.";
constexpr char kPageTokenVersion = 'u';

}  // namespace

bool valid_room_id(std::string_view room) noexcept {
    if (room.empty() || room.size() > 128) {
        return false;
    }
    for (char c : room) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '@' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool valid_user_id(std::string_view user) noexcept {
    return !user.empty() && user.size() <= kMaxUserIdBytes;
}

std::string clip_name(std::string_view name) {
    if (name.size() <= kMaxNameBytes) {
        return std::string(name);
    }
    std::size_t end = kMaxNameBytes;
    // Back up over UTF-8 continuation bytes so the cut never splits a character.
    while (end > 0 && (static_cast<std::uint8_t>(name[end]) & 0xC0) == 0x80) {
        --end;
    }
    return std::string(name.substr(0, end));
}

bool valid_edge_id(std::string_view edge) noexcept {
    if (edge.empty() || edge.size() > 64) {
        return false;
    }
    for (char c : edge) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string entry_key(std::string_view edge, std::string_view room, std::string_view user) {
    std::string key(kEntryPrefix);
    key += edge;
    key += '.';
    key += base64url_encode(room);
    key += '.';
    key += base64url_encode(user);
    return key;
}

std::optional<EntryKey> parse_entry_key(std::string_view key) {
    if (key.substr(0, kEntryPrefix.size()) != kEntryPrefix) {
        return std::nullopt;
    }
    key.remove_prefix(kEntryPrefix.size());
    std::array<std::string_view, 3> tokens;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const auto dot = key.find('.');
        if (i + 1 < tokens.size()) {
            if (dot == std::string_view::npos) {
                return std::nullopt;
            }
            tokens[i] = key.substr(0, dot);
            key.remove_prefix(dot + 1);
        } else {
            if (dot != std::string_view::npos) {
                return std::nullopt;
            }
            tokens[i] = key;
        }
    }
    if (!valid_edge_id(tokens[0])) {
        return std::nullopt;
    }
    auto room = base64url_decode(tokens[1]);
    auto user = base64url_decode(tokens[2]);
    if (!room || !user || !valid_room_id(*room) || !valid_user_id(*user)) {
        return std::nullopt;
    }
    return EntryKey{std::string(tokens[0]), std::move(*room), std::move(*user)};
}

std::string encode_page_token(std::string_view last_user_id) {
    std::string raw(1, kPageTokenVersion);
    raw += last_user_id;
    return base64url_encode(raw);
}

std::optional<std::string> decode_page_token(std::string_view token) {
    if (token.size() > kMaxPageTokenBytes) {
        return std::nullopt;
    }
    auto raw = base64url_decode(token);
    if (!raw || raw->size() < 2 || (*raw)[0] != kPageTokenVersion ||
        !valid_user_id(std::string_view(*raw).substr(1))) {
        return std::nullopt;
    }
    return raw->substr(1);
}

}  // namespace roomcast::presence
