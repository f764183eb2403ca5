#include "base64url.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace roomcast::jwt::detail {
namespace {

TEST(Base64Url, Rfc4648VectorsWithoutPadding) {
    EXPECT_EQ(base64url_encode(""), "");
    EXPECT_EQ(base64url_encode("f"), "Zg");
    EXPECT_EQ(base64url_encode("fo"), "Zm8");
    EXPECT_EQ(base64url_encode("foo"), "Zm9v");
    EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
    EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
    EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64url_decode("Zm9vYmE"), "fooba");
    EXPECT_EQ(base64url_decode(""), "");
}

TEST(Base64Url, UsesTheUrlSafeAlphabet) {
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
}

TEST(Base64Url, RoundTripsEveryLength) {
    std::mt19937 rng(7);
    for (std::size_t length = 0; length < 100; ++length) {
        std::string bytes(length, '\0');
        for (auto& c : bytes) {
            c = static_cast<char>(rng());
        }
        const std::string text = base64url_encode(bytes);
        EXPECT_EQ(text.find('='), std::string::npos);
        EXPECT_EQ(base64url_decode(text), bytes) << length;
    }
}

TEST(Base64Url, RejectsPaddingAndForeignCharacters) {
    EXPECT_FALSE(base64url_decode("Zg=="));
    EXPECT_FALSE(base64url_decode("Zm8="));
    EXPECT_FALSE(base64url_decode("+_8"));  // standard alphabet
    EXPECT_FALSE(base64url_decode("-/8"));
    EXPECT_FALSE(base64url_decode("Zm9v Yg"));
    EXPECT_FALSE(base64url_decode("Zm9v\nYg"));
    EXPECT_FALSE(base64url_decode(std::string("Zm\0v", 4)));
    EXPECT_FALSE(base64url_decode("Zm9v."));
    EXPECT_FALSE(base64url_decode("\xc3\xa9"));
}

TEST(Base64Url, RejectsImpossibleLengthsAndNonCanonicalTails) {
    EXPECT_FALSE(base64url_decode("Z"));
    EXPECT_FALSE(base64url_decode("Zm9vY"));
    // "Zg" is the only encoding of "f"; "Zh" sets an unused bit.
    EXPECT_TRUE(base64url_decode("Zg"));
    EXPECT_FALSE(base64url_decode("Zh"));
    EXPECT_TRUE(base64url_decode("Zm8"));
    EXPECT_FALSE(base64url_decode("Zm9"));
}

}  // namespace
}  // namespace roomcast::jwt::detail
