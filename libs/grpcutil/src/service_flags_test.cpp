// The shared start-up checks of the gRPC services: the words each refusal has (the services
// print them after their program name) and the level a valid --log-level gives.

#include "roomcast/grpcutil/service_flags.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace roomcast::grpcutil {
namespace {

using core::log::Level;

const std::string kToken(32, 't');

TEST(ServiceFlagsTest, ValidFlagsGiveTheLevel) {
    for (const auto& [text, level] : {std::pair{"debug", Level::kDebug},
                                      {"info", Level::kInfo},
                                      {"warn", Level::kWarn},
                                      {"error", Level::kError}}) {
        const auto r = check_service_flags(text, kToken);
        ASSERT_TRUE(r) << text << ": " << r.error();
        EXPECT_EQ(*r, level) << text;
    }
    EXPECT_TRUE(check_service_flags("info", std::string(32, 'x')));
}

TEST(ServiceFlagsTest, RefusalsSayWhichFlagAndWhy) {
    EXPECT_EQ(check_service_flags("loud", kToken).error(),
              "--log-level must be debug, info, warn or error");
    EXPECT_EQ(check_service_flags("", kToken).error(),
              "--log-level must be debug, info, warn or error");
    EXPECT_EQ(check_service_flags("info", "").error(),
              "--admin-token (ROOMCAST_ADMIN_TOKEN) is required");
    EXPECT_EQ(check_service_flags("info", std::string(31, 't')).error(),
              "--admin-token must be at least 32 bytes (it has 31): generate one, e.g. with "
              "`openssl rand -hex 32`");
    // The level is checked first, as the services always did.
    EXPECT_EQ(check_service_flags("loud", "").error(),
              "--log-level must be debug, info, warn or error");
}

}  // namespace
}  // namespace roomcast::grpcutil
