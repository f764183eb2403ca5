#pragma once
// base64url without padding (RFC 7515 section 2, RFC 4648 section 5), as JWS compact
// serialization and JWK members use it. Internal to libs/jwt; the tests include it too.

#include <optional>
#include <string>
#include <string_view>

namespace roomcast::jwt::detail {

std::string base64url_encode(std::string_view bytes);

// Strict: only the 64 alphabet characters, no '=' padding, no whitespace, a length that is not
// 1 mod 4, and zero unused bits in the last character. Every byte string therefore has exactly
// one accepted encoding, so a token cannot be re-encoded into a second string that still
// verifies. nullopt on anything else.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace roomcast::jwt::detail
