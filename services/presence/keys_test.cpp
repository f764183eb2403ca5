// Keys, room ids and page tokens.
#include "keys.hpp"

#include <gtest/gtest.h>

namespace roomcast::presence {
namespace {

TEST(Base64Url, RoundTripsEveryLengthWithoutPadding) {
    std::string bytes;
    for (int i = 0; i < 70; ++i) {
        const std::string text = base64url_encode(bytes);
        EXPECT_EQ(text.find('='), std::string::npos);
        auto back = base64url_decode(text);
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, bytes);
        bytes += static_cast<char>(i * 37 + 200);
    }
}

TEST(Base64Url, KnownVectorsAndRejections) {
    EXPECT_EQ(base64url_encode("room:1"), "cm9vbTox");
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(base64url_decode("-_8"), std::optional<std::string>("\xfb\xff"));
    EXPECT_FALSE(base64url_decode("cm9vbTox="));  // padding
    EXPECT_FALSE(base64url_decode("a"));          // impossible length
    EXPECT_FALSE(base64url_decode("ab+c"));       // standard alphabet
    EXPECT_FALSE(base64url_decode("-_9"));        // non-zero leftover bits: a second spelling
}

TEST(RoomIds, FollowTheProductRule) {
    EXPECT_TRUE(valid_room_id("post:42@site_a-b"));
    EXPECT_TRUE(valid_room_id(std::string(128, 'r')));
    EXPECT_FALSE(valid_room_id(""));
    EXPECT_FALSE(valid_room_id(std::string(129, 'r')));
    EXPECT_FALSE(valid_room_id("a.b"));
    EXPECT_FALSE(valid_room_id("a b"));
    EXPECT_FALSE(valid_room_id("a*"));
}

TEST(EntryKeys, RoundTripAndRejectMalformedKeys) {
    const std::string key = entry_key("edge-1", "post:42", "user@example.com");
    EXPECT_EQ(key, "entry.edge-1." + base64url_encode("post:42") + "." +
                       base64url_encode("user@example.com"));
    auto parsed = parse_entry_key(key);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->edge, "edge-1");
    EXPECT_EQ(parsed->room, "post:42");
    EXPECT_EQ(parsed->user, "user@example.com");

    EXPECT_FALSE(parse_entry_key("entry.edge-1." + base64url_encode("post:42")));
    EXPECT_FALSE(parse_entry_key("entries.edge-1.cm9vbQ.dQ"));
    EXPECT_FALSE(parse_entry_key("entry.edge-1.cm9vbQ.dQ.x"));
    EXPECT_FALSE(parse_entry_key("entry.edge-1." + base64url_encode("bad room") + ".dQ"));
    EXPECT_FALSE(parse_entry_key("entry.edge-1.cm9vbQ."));
    EXPECT_FALSE(parse_entry_key("entry..cm9vbQ.dQ"));
}

TEST(PageTokens, RoundTripAndRejectForeignTokens) {
    const std::string token = encode_page_token("user-0042");
    EXPECT_EQ(decode_page_token(token), std::optional<std::string>("user-0042"));
    EXPECT_FALSE(decode_page_token("user-0042"));
    EXPECT_FALSE(decode_page_token(base64url_encode("xuser")));
    EXPECT_FALSE(decode_page_token(std::string(kMaxPageTokenBytes + 4, 'A')));
}

TEST(Names, AreClippedAtACharacterBoundary) {
    std::string name(kMaxNameBytes - 1, 'a');
    name += "\xc3\xa9";  // 'é' straddles the limit
    const std::string clipped = clip_name(name);
    EXPECT_EQ(clipped, std::string(kMaxNameBytes - 1, 'a'));
    EXPECT_EQ(clip_name("short"), "short");
}

}  // namespace
}  // namespace roomcast::presence
