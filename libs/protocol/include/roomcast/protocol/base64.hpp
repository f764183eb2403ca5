#pragma once
// Standard base64 (RFC 4648 §4, with '=' padding), as Engine.IO uses for binary packets inside
// HTTP long-polling payloads ("b" + base64), and base64url without padding (RFC 4648 §5), as
// JWS/JWK use it and as Roomcast spells ids inside NATS KV keys.

#include <optional>
#include <string>
#include <string_view>

namespace roomcast::protocol {

void base64_append(std::string& out, std::string_view bytes);
std::string base64_encode(std::string_view bytes);
// Strict decoding: standard alphabet, length a multiple of 4, padding only at the end.
// Returns nullopt on any violation.
std::optional<std::string> base64_decode(std::string_view text);

std::string base64url_encode(std::string_view bytes);
// Strict: only the 64 alphabet characters, no '=' padding, no whitespace, a length that is not
// 1 mod 4, and zero unused bits in the last character. Every byte string therefore has exactly
// one accepted encoding (a token cannot be re-encoded into a second string that still
// verifies; a KV key cannot name an id twice). nullopt on anything else.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace roomcast::protocol
