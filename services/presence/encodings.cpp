#include "encodings.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/protocol/base64.hpp"

#include <cstdint>

namespace roomcast::presence {
namespace {

constexpr char kPageTokenVersion = 'u';

}  // namespace

std::string clip_name(std::string_view name) {
    if (name.size() <= contract::kMaxUserNameBytes) {
        return std::string(name);
    }
    std::size_t end = contract::kMaxUserNameBytes;
    // Back up over UTF-8 continuation bytes so the cut never splits a character.
    while (end > 0 && (static_cast<std::uint8_t>(name[end]) & 0xC0) == 0x80) {
        --end;
    }
    return std::string(name.substr(0, end));
}

std::string encode_page_token(std::string_view last_user_id) {
    std::string raw(1, kPageTokenVersion);
    raw += last_user_id;
    return protocol::base64url_encode(raw);
}

std::optional<std::string> decode_page_token(std::string_view token) {
    if (token.size() > kMaxPageTokenBytes) {
        return std::nullopt;
    }
    auto raw = protocol::base64url_decode(token);
    if (!raw || raw->size() < 2 || (*raw)[0] != kPageTokenVersion ||
        !contract::valid_user_id(std::string_view(*raw).substr(1))) {
        return std::nullopt;
    }
    return raw->substr(1);
}

}  // namespace roomcast::presence
