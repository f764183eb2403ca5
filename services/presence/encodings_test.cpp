// Page tokens and display names. (Keys and id rules: libs/contract/src/*_test.cpp.)
#include "encodings.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/protocol/base64.hpp"

#include <gtest/gtest.h>

namespace roomcast::presence {
namespace {

TEST(PageTokens, RoundTripAndRejectForeignTokens) {
    const std::string token = encode_page_token("user-0042");
    EXPECT_EQ(decode_page_token(token), std::optional<std::string>("user-0042"));
    EXPECT_FALSE(decode_page_token("user-0042"));
    EXPECT_FALSE(decode_page_token(protocol::base64url_encode("xuser")));
    EXPECT_FALSE(decode_page_token(std::string(kMaxPageTokenBytes + 4, 'A')));
}

TEST(Names, AreClippedAtACharacterBoundary) {
    std::string name(contract::kMaxUserNameBytes - 1, 'a');
    name += "\xc3\xa9";  // 'é' straddles the limit
    const std::string clipped = clip_name(name);
    EXPECT_EQ(clipped, std::string(contract::kMaxUserNameBytes - 1, 'a'));
    EXPECT_EQ(clip_name("short"), "short");
}

}  // namespace
}  // namespace roomcast::presence
