#include "keys.hpp"

#include <array>
#include <cstdint>

namespace roomcast::rooms {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::string_view kRoomPrefix = "room.";
constexpr std::string_view kMemberPrefix = "member.";

// -1 for characters outside the base64url alphabet.
constexpr std::array<std::int8_t, 256> make_decode_table() {
    std::array<std::int8_t, 256> table{};
    for (auto& v : table) {
        v = -1;
    }
    for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
        table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
    }
    return table;
}
constexpr auto kDecode = make_decode_table();

}  // namespace

std::string key_token(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t n =
            (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
            (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
            static_cast<unsigned char>(bytes[i + 2]);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += kAlphabet[(n >> 6) & 63];
        out += kAlphabet[n & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]))
                                << 16;
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
    } else if (rest == 2) {
        const std::uint32_t n =
            (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
            (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += kAlphabet[(n >> 6) & 63];
    }
    return out;
}

std::optional<std::string> decode_key_token(std::string_view token) {
    if (token.size() % 4 == 1) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(token.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : token) {
        const std::int8_t v = kDecode[static_cast<unsigned char>(c)];
        if (v < 0) {
            return std::nullopt;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
            acc &= (1U << bits) - 1;
        }
    }
    // Leftover bits must be zero: otherwise two tokens would decode to the same bytes.
    if (acc != 0) {
        return std::nullopt;
    }
    return out;
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
