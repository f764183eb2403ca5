#include "app/keys.hpp"

#include "roomcast/protocol/base64.hpp"

namespace roomcast::edge {

std::string key_token(std::string_view id) {
    return protocol::base64url_encode(id);
}

std::optional<std::string> from_key_token(std::string_view token) {
    return protocol::base64url_decode(token);
}

}  // namespace roomcast::edge
