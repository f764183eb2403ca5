#include "app/keys.hpp"

#include "roomcast/protocol/base64.hpp"

#include <algorithm>

namespace roomcast::edge {

std::string key_token(std::string_view id) {
    std::string b64 = protocol::base64_encode(id);
    while (!b64.empty() && b64.back() == '=') {
        b64.pop_back();
    }
    std::replace(b64.begin(), b64.end(), '+', '-');
    std::replace(b64.begin(), b64.end(), '/', '_');
    return b64;
}

std::optional<std::string> from_key_token(std::string_view token) {
    std::string b64(token);
    std::replace(b64.begin(), b64.end(), '-', '+');
    std::replace(b64.begin(), b64.end(), '_', '/');
    while (b64.size() % 4 != 0) {
        b64.push_back('=');
    }
    return protocol::base64_decode(b64);
}

}  // namespace roomcast::edge
