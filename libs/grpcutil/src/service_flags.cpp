#include "roomcast/grpcutil/service_flags.hpp"

#include "roomcast/core/config.hpp"

namespace roomcast::grpcutil {

boost::system::result<core::log::Level, std::string> check_service_flags(
    std::string_view log_level, std::string_view admin_token) {
    using Result = boost::system::result<core::log::Level, std::string>;
    core::log::Level level = core::log::Level::kInfo;
    if (!core::log::parse_level(log_level, level)) {
        return Result(boost::system::in_place_error,
                      "--log-level must be debug, info, warn or error");
    }
    if (admin_token.empty()) {
        return Result(boost::system::in_place_error,
                      "--admin-token (ROOMCAST_ADMIN_TOKEN) is required");
    }
    if (auto weak = core::weak_secret("admin-token", admin_token); !weak.empty()) {
        return Result(boost::system::in_place_error, std::move(weak));
    }
    return level;
}

}  // namespace roomcast::grpcutil
