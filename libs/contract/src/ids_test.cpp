// The id and event-name rules: every boundary and every allowed and forbidden character.
#include "roomcast/contract/ids.hpp"

#include <gtest/gtest.h>

#include <string>

namespace roomcast::contract {
namespace {

constexpr std::string_view kRoomAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:@-";
constexpr std::string_view kEdgeAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

TEST(RoomIds, LengthFrom1To128) {
    EXPECT_FALSE(valid_room_id(""));
    EXPECT_TRUE(valid_room_id("r"));
    EXPECT_TRUE(valid_room_id(std::string(128, 'r')));
    EXPECT_FALSE(valid_room_id(std::string(129, 'r')));
    EXPECT_EQ(kMaxRoomIdBytes, 128u);
    EXPECT_EQ(kRoomIdPattern, "^[A-Za-z0-9_:@-]{1,128}$");
}

TEST(RoomIds, ExactlyTheDocumentedAlphabet) {
    // Every byte value: allowed exactly when it is in the alphabet.
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        const bool allowed = kRoomAlphabet.find(c) != std::string_view::npos;
        EXPECT_EQ(valid_room_id(std::string(1, c)), allowed) << b;
        EXPECT_EQ(valid_room_id("room" + std::string(1, c) + "x"), allowed) << b;
        EXPECT_EQ(room_id_chars(std::string(1, c)), allowed) << b;
    }
    EXPECT_TRUE(valid_room_id("post:42@site_a-b"));
    // What makes an id more than one subject token, or a wildcard, or not ASCII.
    for (const char* bad : {"a.b", "a*", "a>", ">", "*", "a b", "a\tb", "a\nb", "caf\xc3\xa9",
                            "a/b", "a\\b", "a\"b"}) {
        EXPECT_FALSE(valid_room_id(bad)) << bad;
    }
    EXPECT_FALSE(valid_room_id(std::string_view("a\0b", 3)));
}

TEST(RoomIds, Prefixes) {
    EXPECT_TRUE(valid_room_id_prefix(""));
    EXPECT_TRUE(valid_room_id_prefix("post:"));
    EXPECT_TRUE(valid_room_id_prefix(std::string(128, 'p')));
    EXPECT_FALSE(valid_room_id_prefix(std::string(129, 'p')));
    EXPECT_FALSE(valid_room_id_prefix("post."));
    EXPECT_TRUE(room_id_chars(""));
}

TEST(UserIds, From1To256BytesOfUtf8) {
    EXPECT_FALSE(valid_user_id(""));
    EXPECT_TRUE(valid_user_id("u"));
    EXPECT_TRUE(valid_user_id(std::string(256, 'u')));
    EXPECT_FALSE(valid_user_id(std::string(257, 'u')));
    EXPECT_EQ(kMaxUserIdBytes, 256u);
    // Any UTF-8: dots, spaces, '@', wildcards, non-ASCII (keys carry them as key_token).
    for (const char* ok :
         {"user@example.com", "a.b", "a b", "*", ">", "\xc3\xbc", "\xf0\x9f\x98\x80"}) {
        EXPECT_TRUE(valid_user_id(ok)) << ok;
    }
    // 256 bytes of two-byte characters fit; a character cut at the end does not.
    std::string twos;
    for (int i = 0; i < 128; ++i) {
        twos += "\xc3\xbc";
    }
    EXPECT_TRUE(valid_user_id(twos));
    EXPECT_FALSE(valid_user_id(twos + "\xc3\xbc"));
    // A cut sequence, a byte that never occurs, an overlong encoding, a surrogate.
    for (const char* bad : {"\xc3", "\xff", "\xc0\xaf", "\xed\xa0\x80"}) {
        EXPECT_FALSE(valid_user_id(bad)) << bad;
    }
    EXPECT_EQ(kMaxUserNameBytes, 256u);
}

TEST(EdgeIds, From1To64OfTheirAlphabet) {
    EXPECT_FALSE(valid_edge_id(""));
    EXPECT_TRUE(valid_edge_id("e"));
    EXPECT_TRUE(valid_edge_id(std::string(64, 'e')));
    EXPECT_FALSE(valid_edge_id(std::string(65, 'e')));
    EXPECT_EQ(kMaxEdgeIdBytes, 64u);
    EXPECT_EQ(kEdgeIdPattern, "[A-Za-z0-9_-]{1,64}");
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        const bool allowed = kEdgeAlphabet.find(c) != std::string_view::npos;
        EXPECT_EQ(valid_edge_id("edge" + std::string(1, c)), allowed) << b;
    }
    EXPECT_TRUE(valid_edge_id("edge-a1b2_C3"));
    EXPECT_FALSE(valid_edge_id("edge:1"));  // a room id character, not an edge id one
    EXPECT_FALSE(valid_edge_id("edge@1"));
}

TEST(Pids, From1To64Bytes) {
    EXPECT_FALSE(valid_pid(""));
    EXPECT_TRUE(valid_pid("p"));
    EXPECT_TRUE(valid_pid(std::string(64, 'p')));
    EXPECT_FALSE(valid_pid(std::string(65, 'p')));
    EXPECT_TRUE(valid_pid("AbCdEfGhIjKlMnOpQrSt-_"));  // what edges issue: 22 URL-safe characters
}

TEST(Sessions, SocketIdRule) {
    EXPECT_FALSE(valid_socket_id(""));
    EXPECT_TRUE(valid_socket_id("AbCdEfGhIjKlMnOpQr-_"));  // what edges issue: 20 URL-safe characters
    EXPECT_TRUE(valid_socket_id(std::string(64, 's')));
    EXPECT_FALSE(valid_socket_id(std::string(65, 's')));
    for (const char* bad : {"a.b", "a*", ">", "a b", "a/b", "a%2F", "\xc3\xa9"}) {
        EXPECT_FALSE(valid_socket_id(bad)) << bad;
    }
}

TEST(Events, ReservedNames) {
    for (const char* reserved :
         {"connect", "connect_error", "disconnect", "disconnecting", "newListener",
          "removeListener", "join", "leave", "publish", "history", "presence", "kicked", "refresh"}) {
        EXPECT_TRUE(reserved_event(reserved)) << reserved;
        EXPECT_FALSE(valid_event_name(reserved)) << reserved;
    }
    for (const char* free : {"chat", "Join", "joined", "kick", "message", "refreshed", "connect "}) {
        EXPECT_FALSE(reserved_event(free)) << free;
        EXPECT_TRUE(valid_event_name(free)) << free;
    }
}

TEST(Events, NamesFrom1To128Bytes) {
    EXPECT_FALSE(valid_event_name(""));
    EXPECT_TRUE(valid_event_name("e"));
    EXPECT_TRUE(valid_event_name(std::string(128, 'e')));
    EXPECT_FALSE(valid_event_name(std::string(129, 'e')));
    EXPECT_EQ(kMaxEventNameBytes, 128u);
    EXPECT_TRUE(valid_event_name("any characters: . * > \xc3\xbc"));
}

}  // namespace
}  // namespace roomcast::contract
