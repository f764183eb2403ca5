#include "roomcast/protocol/base64.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace roomcast::protocol {
namespace {

struct Vector {
    std::string_view bytes;
    std::string_view text;
};

// RFC 4648 §10 test vectors.
constexpr Vector kRfcVectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

TEST(Base64, EncodesRfcVectors) {
    for (const auto& v : kRfcVectors) {
        EXPECT_EQ(base64_encode(v.bytes), v.text) << v.bytes;
    }
}

TEST(Base64, DecodesRfcVectors) {
    for (const auto& v : kRfcVectors) {
        const auto decoded = base64_decode(v.text);
        ASSERT_TRUE(decoded.has_value()) << v.text;
        EXPECT_EQ(*decoded, v.bytes);
    }
}

TEST(Base64, EngineIoBinaryExample) {
    // From the Engine.IO v4 test suite: binary 01 02 03 04 in a polling payload.
    EXPECT_EQ(base64_encode(std::string("\x01\x02\x03\x04", 4)), "AQIDBA==");
    EXPECT_EQ(base64_decode("AQIDBA=="), std::string("\x01\x02\x03\x04", 4));
}

TEST(Base64, AppendKeepsExistingContent) {
    std::string out = "b";
    base64_append(out, "foo");
    EXPECT_EQ(out, "bZm9v");
    base64_append(out, "");
    EXPECT_EQ(out, "bZm9v");
}

TEST(Base64, EveryByteValueRoundTrips) {
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all += static_cast<char>(i);
    }
    const std::string text = base64_encode(all);
    EXPECT_EQ(text.size(), (all.size() + 2) / 3 * 4);
    EXPECT_EQ(base64_decode(text), all);
    // The two characters only the standard alphabet has.
    EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(Base64, RandomRoundTrips) {
    std::mt19937 rng(42);
    for (int len = 0; len < 200; ++len) {
        std::string bytes(static_cast<std::size_t>(len), '\0');
        for (char& c : bytes) {
            c = static_cast<char>(rng());
        }
        EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes) << len;
    }
}

TEST(Base64, RejectsMalformedInput) {
    const char* bad[] = {
        "Zg",        // length not a multiple of 4
        "Zg=",       // same, with padding
        "Zm9vY",     // same
        "Z===",      // three padding characters
        "====",      // only padding
        "Zm9v====",  // a whole quad of padding
        "Zg==Zg==",  // padding in the middle
        "Z=g=",      // '=' before a symbol
        "=Zm9",      // leading '='
        "Zm 9",      // whitespace
        "Zm9v\n",    // line break
        "Zm-_",      // URL-safe alphabet
        "Zm9\x80",   // non-ASCII
    };
    for (const char* text : bad) {
        EXPECT_FALSE(base64_decode(text).has_value()) << text;
    }
    EXPECT_FALSE(base64_decode(std::string_view("Zm\0v", 4)).has_value());
}

TEST(Base64, RejectsNonZeroTrailingBits) {
    // Decoding is canonical: only what base64_encode would write is accepted.
    EXPECT_EQ(base64_decode("QQ=="), "A");
    EXPECT_FALSE(base64_decode("QR==").has_value());
    EXPECT_FALSE(base64_decode("QZ==").has_value());
    EXPECT_EQ(base64_decode("QUI="), "AB");
    EXPECT_FALSE(base64_decode("QUJ=").has_value());
}

TEST(Base64, GarbageNeverCrashes) {
    std::mt19937 rng(7);
    const std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    for (int i = 0; i < 5000; ++i) {
        std::string text(rng() % 40, '\0');
        const bool mostly_alphabet = i % 2 == 0;
        for (char& c : text) {
            c = mostly_alphabet ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng());
        }
        if (const auto decoded = base64_decode(text)) {
            // Anything accepted must be the canonical encoding of what it decodes to.
            EXPECT_EQ(base64_encode(*decoded), text);
        }
    }
}

}  // namespace
}  // namespace roomcast::protocol
