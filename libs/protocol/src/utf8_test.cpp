#include "roomcast/protocol/utf8.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace roomcast::protocol {
namespace {

// A deliberately plain decoder used as the oracle: decode each code point from its lead byte,
// then apply RFC 3629's rules (shortest form, no surrogates, at most U+10FFFF).
bool reference_valid(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<std::uint8_t>(s[i]);
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (b0 < 0x80) {
            ++i;
            continue;
        }
        if ((b0 & 0xE0) == 0xC0) {
            len = 2;
            cp = b0 & 0x1F;
        } else if ((b0 & 0xF0) == 0xE0) {
            len = 3;
            cp = b0 & 0x0F;
        } else if ((b0 & 0xF8) == 0xF0) {
            len = 4;
            cp = b0 & 0x07;
        } else {
            return false;
        }
        if (i + len > s.size()) {
            return false;
        }
        for (std::size_t k = 1; k < len; ++k) {
            const auto b = static_cast<std::uint8_t>(s[i + k]);
            if ((b & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (b & 0x3F);
        }
        const std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

std::string bytes(std::initializer_list<int> list) {
    std::string s;
    for (int b : list) {
        s += static_cast<char>(b);
    }
    return s;
}

TEST(Utf8, AcceptsValidText) {
    const std::string valid[] = {
        "",
        "hello",
        std::string("nul\0inside", 10),
        "h\xC3\xA9llo",                   // é
        "\xE2\x82\xAC",                   // €
        "\xF0\x9D\x84\x9E",               // 𝄞
        bytes({0xC2, 0x80}),              // U+0080, smallest 2-byte
        bytes({0xDF, 0xBF}),              // U+07FF
        bytes({0xE0, 0xA0, 0x80}),        // U+0800, smallest 3-byte
        bytes({0xED, 0x9F, 0xBF}),        // U+D7FF, just below the surrogates
        bytes({0xEE, 0x80, 0x80}),        // U+E000, just above them
        bytes({0xEF, 0xBF, 0xBF}),        // U+FFFF
        bytes({0xF0, 0x90, 0x80, 0x80}),  // U+10000, smallest 4-byte
        bytes({0xF4, 0x8F, 0xBF, 0xBF}),  // U+10FFFF, the largest
        "\xE2\x80\xA8\xE2\x80\xA9",       // U+2028 U+2029
        "\x7F",
    };
    for (const auto& s : valid) {
        EXPECT_TRUE(is_valid_utf8(s)) << testing::PrintToString(s);
        EXPECT_EQ(reference_valid(s), true);
    }
}

TEST(Utf8, RejectsInvalidText) {
    const std::string invalid[] = {
        bytes({0x80}),  // lone continuation
        bytes({0xBF}),
        bytes({0xC0, 0x80}),              // overlong NUL
        bytes({0xC1, 0xBF}),              // overlong
        bytes({0xE0, 0x80, 0x80}),        // overlong 3-byte
        bytes({0xE0, 0x9F, 0xBF}),        // overlong U+07FF
        bytes({0xED, 0xA0, 0x80}),        // U+D800 high surrogate
        bytes({0xED, 0xBF, 0xBF}),        // U+DFFF low surrogate
        bytes({0xF0, 0x80, 0x80, 0x80}),  // overlong 4-byte
        bytes({0xF0, 0x8F, 0xBF, 0xBF}),  // overlong U+FFFF
        bytes({0xF4, 0x90, 0x80, 0x80}),  // U+110000
        bytes({0xF5, 0x80, 0x80, 0x80}),
        bytes({0xF8, 0x88, 0x80, 0x80, 0x80}),  // 5-byte form
        bytes({0xFE}),
        bytes({0xFF}),
        bytes({0xC3}),              // truncated 2-byte
        bytes({0xE2, 0x82}),        // truncated 3-byte
        bytes({0xF0, 0x9F, 0x98}),  // truncated 4-byte
        "a\xC3",                    // truncated at the end
        "\xC3\x61",                 // continuation replaced by ASCII
        bytes({0xE2, 0x28, 0xA1}),
        bytes({0xC3, 0xA9, 0xA9}),  // one continuation too many
    };
    for (const auto& s : invalid) {
        EXPECT_FALSE(is_valid_utf8(s)) << testing::PrintToString(s);
        EXPECT_FALSE(reference_valid(s));
    }
}

TEST(Utf8, MatchesReferenceOnAllOneAndTwoByteStrings) {
    for (int a = 0; a < 256; ++a) {
        const std::string one = bytes({a});
        ASSERT_EQ(is_valid_utf8(one), reference_valid(one)) << a;
        for (int b = 0; b < 256; ++b) {
            const std::string two = bytes({a, b});
            ASSERT_EQ(is_valid_utf8(two), reference_valid(two)) << a << " " << b;
        }
    }
}

TEST(Utf8, MatchesReferenceOnThreeAndFourByteLeads) {
    const int tails[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
    for (int lead = 0xC0; lead < 0x100; ++lead) {
        for (int second = 0; second < 256; ++second) {
            for (int third : tails) {
                const std::string three = bytes({lead, second, third});
                ASSERT_EQ(is_valid_utf8(three), reference_valid(three))
                    << lead << " " << second << " " << third;
                for (int fourth : tails) {
                    const std::string four = bytes({lead, second, third, fourth});
                    ASSERT_EQ(is_valid_utf8(four), reference_valid(four));
                }
            }
        }
    }
}

TEST(Utf8, MatchesReferenceOnRandomStrings) {
    // Biased towards bytes that form or almost form multi-byte sequences.
    const int pool[] = {0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF,
                        0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF};
    std::mt19937 rng(3);
    for (int i = 0; i < 50000; ++i) {
        std::string s(rng() % 24, 'a');
        for (char& c : s) {
            if (rng() % 3 != 0) {
                c = static_cast<char>(pool[rng() % std::size(pool)]);
            }
        }
        ASSERT_EQ(is_valid_utf8(s), reference_valid(s)) << testing::PrintToString(s);
    }
}

TEST(Utf8, AsciiFastPathFindsBadByteAtAnyOffset) {
    // The fast path reads 8 bytes at a time; the offending byte must be found wherever it is
    // relative to those words, and a valid sequence must be accepted anywhere too.
    for (std::size_t pos = 0; pos < 40; ++pos) {
        std::string s(40, 'a');
        s[pos] = '\x80';
        EXPECT_FALSE(is_valid_utf8(s)) << pos;
        std::string t(40, 'a');
        t.insert(pos, "\xC3\xA9");
        EXPECT_TRUE(is_valid_utf8(t)) << pos;
        std::string u(40, 'a');
        u.insert(pos, "\xED\xA0\x80");
        EXPECT_FALSE(is_valid_utf8(u)) << pos;
    }
}

TEST(Utf8, IncrementalFeedingSplitAtEveryByte) {
    const std::string text = "plain \xC3\xA9 \xE2\x82\xAC \xF0\x9D\x84\x9E \xF4\x8F\xBF\xBF end";
    for (std::size_t split = 0; split <= text.size(); ++split) {
        Utf8Validator v;
        EXPECT_TRUE(v.feed(std::string_view(text).substr(0, split))) << split;
        EXPECT_TRUE(v.feed(std::string_view(text).substr(split))) << split;
        EXPECT_TRUE(v.complete()) << split;
    }
    // One byte per call, too; complete() is false exactly inside a multi-byte sequence.
    Utf8Validator v;
    std::size_t incomplete = 0;
    for (char c : text) {
        ASSERT_TRUE(v.feed(std::string_view(&c, 1)));
        if (!v.complete()) {
            ++incomplete;
        }
    }
    EXPECT_TRUE(v.complete());
    EXPECT_EQ(incomplete, 1u + 2u + 3u + 3u);
}

TEST(Utf8, IncrementalInvalidSplitAtEveryByte) {
    const std::string invalid[] = {
        "abc" + bytes({0xE0, 0x80, 0x80}) + "def",
        "abc" + bytes({0xED, 0xA0, 0x80}) + "def",
        "abc" + bytes({0xF4, 0x90, 0x80, 0x80}),
    };
    for (const auto& text : invalid) {
        for (std::size_t split = 0; split <= text.size(); ++split) {
            Utf8Validator v;
            const bool first = v.feed(std::string_view(text).substr(0, split));
            const bool second = first && v.feed(std::string_view(text).substr(split));
            EXPECT_FALSE(second) << split;
        }
    }
}

TEST(Utf8, TruncatedSequenceIsAPrefixButNotComplete) {
    Utf8Validator v;
    EXPECT_TRUE(v.feed("ok\xF0\x9F"));
    EXPECT_FALSE(v.complete());
    EXPECT_TRUE(v.feed("\x98"));
    EXPECT_FALSE(v.complete());
    EXPECT_TRUE(v.feed("\x80"));
    EXPECT_TRUE(v.complete());
}

TEST(Utf8, FailsFastAndStaysFailedUntilReset) {
    Utf8Validator v;
    EXPECT_FALSE(v.feed("\xC0"));  // can never start a valid sequence
    EXPECT_FALSE(v.complete());
    EXPECT_FALSE(v.feed("a"));
    EXPECT_FALSE(v.feed(""));
    v.reset();
    EXPECT_TRUE(v.complete());
    EXPECT_TRUE(v.feed("a"));
    // An out-of-range second byte is refused as soon as it arrives.
    Utf8Validator w;
    EXPECT_TRUE(w.feed("\xF4"));
    EXPECT_FALSE(w.feed("\x90"));
}

}  // namespace
}  // namespace roomcast::protocol
