// KV keys: golden spellings (other processes read them), strict decoding, rejected shapes.
#include "roomcast/contract/keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace roomcast::contract {
namespace {

TEST(KeyTokens, Base64UrlWithoutPadding) {
    EXPECT_EQ(key_token(""), "");
    EXPECT_EQ(key_token("f"), "Zg");
    EXPECT_EQ(key_token("fo"), "Zm8");
    EXPECT_EQ(key_token("foo"), "Zm9v");
    EXPECT_EQ(key_token("post:42"), "cG9zdDo0Mg");
    EXPECT_EQ(key_token("room:1"), "cm9vbTox");
    EXPECT_EQ(key_token("u@x"), "dUB4");
    EXPECT_EQ(key_token("\xc3\xbc"), "w7w");
    EXPECT_EQ(key_token(std::string("\xfb\xff\xfe", 3)), "-__-");
}

TEST(KeyTokens, DecodingIsTheStrictInverse) {
    const std::vector<std::string> samples = {
        "", "a", "ab", "abc", "abcd", "user.with.dots", "\xc3\xbc@h\xc3\xa9llo"};
    for (const auto& s : samples) {
        EXPECT_EQ(from_key_token(key_token(s)), s) << s;
    }
    const std::string binary("\x00\xff", 2);
    EXPECT_EQ(from_key_token(key_token(binary)), binary);
    EXPECT_FALSE(from_key_token("Z"));     // impossible length
    EXPECT_FALSE(from_key_token("Zg=="));  // padding
    EXPECT_FALSE(from_key_token("Zh"));    // non-zero unused bits: a second spelling of "f"
    EXPECT_FALSE(from_key_token("Zm9+"));  // standard alphabet
    EXPECT_FALSE(from_key_token("Zm.9"));  // a token separator
}

TEST(RoomsBucket, GoldenKeys) {
    EXPECT_EQ(room_key("post:42"), "room.cG9zdDo0Mg");
    EXPECT_EQ(member_key("post:42", "u@x"), "member.cG9zdDo0Mg.dUB4");
    EXPECT_EQ(member_key_filter("post:42"), "member.cG9zdDo0Mg.>");
    EXPECT_EQ(kRoomKeyFilter, "room.>");
}

TEST(RoomsBucket, KeysReadBack) {
    EXPECT_EQ(parse_room_key("room.cG9zdDo0Mg"), "post:42");
    const auto member = parse_member_key("member.cG9zdDo0Mg.dUB4");
    ASSERT_TRUE(member);
    EXPECT_EQ(member->room, "post:42");
    EXPECT_EQ(member->user, "u@x");
    EXPECT_EQ(parse_member_key(member_key("r", "a.b"))->user, "a.b");

    EXPECT_FALSE(parse_room_key("member.cG9zdDo0Mg.dUB4"));
    EXPECT_FALSE(parse_room_key("room."));
    EXPECT_FALSE(parse_room_key("room.cG9zdDo0Mg.dUB4"));
    EXPECT_FALSE(parse_room_key("rooms.cG9zdDo0Mg"));
    EXPECT_FALSE(parse_room_key("room.cG9zdDo0Mg=="));
    EXPECT_FALSE(parse_room_key(room_key("not a room")));  // decodes, but breaks the id rule
    EXPECT_FALSE(parse_member_key("room.cG9zdDo0Mg"));
    EXPECT_FALSE(parse_member_key("member.cG9zdDo0Mg"));
    EXPECT_FALSE(parse_member_key("member.cG9zdDo0Mg."));
    EXPECT_FALSE(parse_member_key("member..dUB4"));
    EXPECT_FALSE(parse_member_key("member.cG9zdDo0Mg.dUB4.x"));
    EXPECT_FALSE(parse_member_key(member_key("post:42", std::string(257, 'u'))));
    EXPECT_FALSE(parse_member_key(member_key("post:42", "\xff")));
}

TEST(PresenceBucket, GoldenKeys) {
    EXPECT_EQ(entry_key("edge-1", "post:42", "user@example.com"),
              "entry.edge-1.cG9zdDo0Mg.dXNlckBleGFtcGxlLmNvbQ");
    EXPECT_EQ(edge_entry_key_filter("edge-1"), "entry.edge-1.>");
    EXPECT_EQ(kEntryKeyFilter, "entry.>");
    EXPECT_EQ(kPresenceLeaderKey, "leader");
    EXPECT_EQ(kJwksKey, "jwks");
}

TEST(PresenceBucket, EntryKeysReadBack) {
    const auto parsed = parse_entry_key("entry.edge-1.cG9zdDo0Mg.dXNlckBleGFtcGxlLmNvbQ");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->edge, "edge-1");
    EXPECT_EQ(parsed->room, "post:42");
    EXPECT_EQ(parsed->user, "user@example.com");

    EXPECT_FALSE(parse_entry_key("entry.edge-1.cG9zdDo0Mg"));
    EXPECT_FALSE(parse_entry_key("entries.edge-1.cm9vbQ.dQ"));
    EXPECT_FALSE(parse_entry_key("entry.edge-1.cm9vbQ.dQ.x"));
    EXPECT_FALSE(parse_entry_key("entry.edge-1." + key_token("bad room") + ".dQ"));
    EXPECT_FALSE(parse_entry_key("entry.edge-1.cm9vbQ."));
    EXPECT_FALSE(parse_entry_key("entry..cm9vbQ.dQ"));
    EXPECT_FALSE(parse_entry_key("entry.edge:1.cm9vbQ.dQ"));  // not an edge id
    EXPECT_FALSE(parse_entry_key(entry_key("edge-1", "room", std::string(257, 'u'))));
    EXPECT_FALSE(parse_entry_key(entry_key("edge-1", "room", "\xc3")));
}

TEST(RevocationsBucket, GoldenKeysReadBack) {
    EXPECT_EQ(revocation_kick_key("post:42", "user@example.com"),
              "kick.cG9zdDo0Mg.dXNlckBleGFtcGxlLmNvbQ");
    EXPECT_EQ(revocation_room_key("post:42"), "room.cG9zdDo0Mg");
    EXPECT_EQ(revocation_user_key("user@example.com"), "user.dXNlckBleGFtcGxlLmNvbQ");

    auto kick = parse_revocation_key("kick.cG9zdDo0Mg.dXNlckBleGFtcGxlLmNvbQ");
    ASSERT_TRUE(kick);
    EXPECT_EQ(kick->kind, RevocationKey::Kind::kKick);
    EXPECT_EQ(kick->room, "post:42");
    EXPECT_EQ(kick->user, "user@example.com");
    auto room = parse_revocation_key("room.cG9zdDo0Mg");
    ASSERT_TRUE(room);
    EXPECT_EQ(room->kind, RevocationKey::Kind::kRoom);
    EXPECT_EQ(room->room, "post:42");
    auto user = parse_revocation_key("user.dXNlckBleGFtcGxlLmNvbQ");
    ASSERT_TRUE(user);
    EXPECT_EQ(user->kind, RevocationKey::Kind::kUser);
    EXPECT_EQ(user->user, "user@example.com");

    EXPECT_FALSE(parse_revocation_key("kick.cG9zdDo0Mg"));
    EXPECT_FALSE(parse_revocation_key("kick.cG9zdDo0Mg.dQ.x"));
    EXPECT_FALSE(parse_revocation_key("room." + key_token("bad room")));
    EXPECT_FALSE(parse_revocation_key("user."));
    EXPECT_FALSE(parse_revocation_key("ban.dQ"));
}

}  // namespace
}  // namespace roomcast::contract
