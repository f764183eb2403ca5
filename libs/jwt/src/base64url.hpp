#pragma once
// base64url without padding (RFC 7515 section 2, RFC 4648 section 5), as JWS compact
// serialization and JWK members use it: libs/protocol's strict codec. Internal to libs/jwt; the
// tests include it too.

#include "roomcast/protocol/base64.hpp"

namespace roomcast::jwt::detail {

using protocol::base64url_decode;
using protocol::base64url_encode;

}  // namespace roomcast::jwt::detail
