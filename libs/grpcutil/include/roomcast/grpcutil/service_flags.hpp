#pragma once
// The start-up checks of the flags every gRPC service (rooms, presence, auth) shares, so that
// the three refuse a bad value with the same words (docs/operations.md lists the flags).

#include "roomcast/core/log.hpp"

#include <boost/system/result.hpp>

#include <string>
#include <string_view>

namespace roomcast::grpcutil {

// The level to log at, or the message to refuse to start with; the service prints it after its
// program name ("roomcast_rooms: …") and exits 2. `log_level` is --log-level (debug, info, warn
// or error); `admin_token` is --admin-token, which must be given (the admin APIs refuse every
// call without one) and at least core::kMinSecretBytes long (core::weak_secret).
boost::system::result<core::log::Level, std::string> check_service_flags(
    std::string_view log_level, std::string_view admin_token);

}  // namespace roomcast::grpcutil
