#pragma once
// KV key encoding shared with the services (docs/control-plane.md): room and user ids are not
// valid KV key tokens in general, so keys carry base64url (no padding) of their UTF-8 bytes.

#include <optional>
#include <string>
#include <string_view>

namespace roomcast::edge {

std::string key_token(std::string_view id);
std::optional<std::string> from_key_token(std::string_view token);

}  // namespace roomcast::edge
