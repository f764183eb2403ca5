#pragma once
// Standard base64 (RFC 4648 §4, with '=' padding), as Engine.IO uses for binary packets inside
// HTTP long-polling payloads ("b" + base64).

#include <optional>
#include <string>
#include <string_view>

namespace roomcast::protocol {

void base64_append(std::string& out, std::string_view bytes);
std::string base64_encode(std::string_view bytes);
// Strict decoding: standard alphabet, length a multiple of 4, padding only at the end.
// Returns nullopt on any violation.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace roomcast::protocol
