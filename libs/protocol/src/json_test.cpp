#include "roomcast/protocol/json.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace roomcast::protocol {
namespace {
namespace json = boost::json;

// Parses and re-serializes; "!" + error message when parsing fails.
std::string reserialize(std::string_view text, JsonLimits limits = {}) {
    auto v = parse_json(text, limits);
    if (!v) {
        return "!" + v.error().message();
    }
    return to_json(*v);
}

std::string double_to_json(double d) {
    return to_json(json::value(d));
}

TEST(JsonWrite, CompactInInsertionOrder) {
    EXPECT_EQ(reserialize(R"({"a":1,"b":[true,false,null],"c":"x"})"),
              R"({"a":1,"b":[true,false,null],"c":"x"})");
    EXPECT_EQ(reserialize(" { \"z\" : [ 1 , 2 ] ,\n\t\"a\" : { } , \"m\" : [ ] } "),
              R"({"z":[1,2],"a":{},"m":[]})");
    EXPECT_EQ(reserialize(R"(["message",1,"2",{"3":[true]}])"),
              R"(["message",1,"2",{"3":[true]}])");
    EXPECT_EQ(reserialize("null"), "null");
    EXPECT_EQ(reserialize("\"s\""), "\"s\"");
}

TEST(JsonWrite, DuplicateKeysKeepFirstPositionAndLastValueLikeJsonParse) {
    EXPECT_EQ(reserialize(R"({"a":1,"b":2,"a":3})"), R"({"a":3,"b":2})");
}

TEST(JsonWrite, BuiltValuesKeepInsertionOrder) {
    json::object o;
    o["sid"] = "abc";
    o["pid"] = "def";
    o["n"] = 1;
    o["arr"] = json::array{1, "two", nullptr, 2.5, false};
    EXPECT_EQ(to_json(o), R"({"sid":"abc","pid":"def","n":1,"arr":[1,"two",null,2.5,false]})");
    std::string out = "42";
    write_json(out, json::value(json::array{"auth", json::object{}}));
    EXPECT_EQ(out, R"(42["auth",{}])");
}

TEST(JsonWrite, IntegersStayIntegers) {
    EXPECT_EQ(reserialize("0"), "0");
    EXPECT_EQ(reserialize("-0"), "0");
    EXPECT_EQ(reserialize("100"), "100");
    EXPECT_EQ(reserialize("-42"), "-42");
    EXPECT_EQ(reserialize("9223372036854775807"), "9223372036854775807");
    EXPECT_EQ(reserialize("-9223372036854775808"), "-9223372036854775808");
    EXPECT_EQ(reserialize("18446744073709551615"), "18446744073709551615");
    EXPECT_EQ(to_json(json::value(std::uint64_t{18446744073709551615ULL})), "18446744073709551615");
    EXPECT_EQ(to_json(json::value(std::int64_t{-7})), "-7");
    // Beyond uint64 the parser falls back to double, printed as JavaScript would.
    EXPECT_EQ(reserialize("18446744073709551616"), "18446744073709552000");
    EXPECT_EQ(reserialize("123456789012345678901"), "123456789012345680000");
    EXPECT_EQ(reserialize("12345678901234567890123"), "1.2345678901234568e+22");
}

TEST(JsonWrite, DoublesLikeNumberToString) {
    EXPECT_EQ(double_to_json(1.5), "1.5");
    EXPECT_EQ(double_to_json(-1.5), "-1.5");
    EXPECT_EQ(double_to_json(2.0), "2");
    EXPECT_EQ(double_to_json(100.0), "100");
    EXPECT_EQ(double_to_json(0.0), "0");
    EXPECT_EQ(double_to_json(-0.0), "0");
    EXPECT_EQ(double_to_json(0.1), "0.1");
    EXPECT_EQ(double_to_json(0.1 + 0.2), "0.30000000000000004");
    EXPECT_EQ(double_to_json(1.0 / 3.0), "0.3333333333333333");
    EXPECT_EQ(double_to_json(123456.789), "123456.789");
    EXPECT_EQ(double_to_json(4.35), "4.35");
    // Plain notation up to 21 integer digits, exponent notation from 1e21.
    EXPECT_EQ(double_to_json(1e20), "100000000000000000000");
    EXPECT_EQ(double_to_json(123456789012345680000.0), "123456789012345680000");
    EXPECT_EQ(double_to_json(999999999999999900000.0), "999999999999999900000");
    EXPECT_EQ(double_to_json(1e21), "1e+21");
    EXPECT_EQ(double_to_json(1.5e21), "1.5e+21");
    EXPECT_EQ(double_to_json(1e100), "1e+100");
    EXPECT_EQ(double_to_json(-1e21), "-1e+21");
    EXPECT_EQ(double_to_json(1.7976931348623157e308), "1.7976931348623157e+308");
    // Plain notation down to 6 leading zeros, exponent notation below.
    EXPECT_EQ(double_to_json(0.000001), "0.000001");
    EXPECT_EQ(double_to_json(0.0000015), "0.0000015");
    EXPECT_EQ(double_to_json(0.00001), "0.00001");
    EXPECT_EQ(double_to_json(1e-7), "1e-7");
    EXPECT_EQ(double_to_json(-1e-7), "-1e-7");
    EXPECT_EQ(double_to_json(1.5e-7), "1.5e-7");
    EXPECT_EQ(double_to_json(1.23e-18), "1.23e-18");
    EXPECT_EQ(double_to_json(5e-324), "5e-324");
    EXPECT_EQ(double_to_json(2.2250738585072014e-308), "2.2250738585072014e-308");
}

TEST(JsonWrite, NonFiniteDoublesAreNull) {
    EXPECT_EQ(double_to_json(std::numeric_limits<double>::quiet_NaN()), "null");
    EXPECT_EQ(double_to_json(std::numeric_limits<double>::infinity()), "null");
    EXPECT_EQ(double_to_json(-std::numeric_limits<double>::infinity()), "null");
    EXPECT_EQ(to_json(json::array{1, std::numeric_limits<double>::infinity()}), "[1,null]");
}

TEST(JsonWrite, ParsedNumbersPrintLikeJavaScript) {
    EXPECT_EQ(reserialize("1.0"), "1");
    EXPECT_EQ(reserialize("-0.0"), "0");
    EXPECT_EQ(reserialize("1E2"), "100");
    EXPECT_EQ(reserialize("0.1e1"), "1");
    EXPECT_EQ(reserialize("1e21"), "1e+21");
    EXPECT_EQ(reserialize("1e-7"), "1e-7");
    EXPECT_EQ(reserialize("1e-6"), "0.000001");
    EXPECT_EQ(reserialize("123e-20"), "1.23e-18");
    EXPECT_EQ(reserialize("[1.5,-2.25e3]"), "[1.5,-2250]");
    // JSON.parse overflows to Infinity (stringified as null) and underflows to 0.
    EXPECT_EQ(reserialize("1e400"), "null");
    EXPECT_EQ(reserialize("-1e400"), "null");
    EXPECT_EQ(reserialize("1e-400"), "0");
    EXPECT_EQ(reserialize("-1e-400"), "0");
}

TEST(JsonParse, DoublesAreCorrectlyRounded) {
    // Boost.JSON 1.81 alone is off by one ulp here (and on about one value in ten).
    EXPECT_EQ(reserialize("113.17408141314563"), "113.17408141314563");
    EXPECT_EQ(reserialize("1.3927926388013963e-143"), "1.3927926388013963e-143");
    EXPECT_EQ(reserialize("2.2250738585072011e-308"), "2.225073858507201e-308");
}

TEST(JsonParse, ShortestFormOfRandomDoublesRoundTripsExactly) {
    std::mt19937_64 rng(11);
    for (int i = 0; i < 100000; ++i) {
        const std::uint64_t bits = rng();
        double d;
        std::memcpy(&d, &bits, sizeof d);
        if (!std::isfinite(d)) {
            continue;
        }
        const std::string written = double_to_json(d);
        auto parsed = parse_json(written);
        ASSERT_TRUE(parsed) << written;
        const double back = parsed->is_double()  ? parsed->get_double()
                            : parsed->is_int64() ? static_cast<double>(parsed->get_int64())
                                                 : static_cast<double>(parsed->get_uint64());
        ASSERT_EQ(back, d == 0 ? 0.0 : d) << written;
        ASSERT_EQ(to_json(*parsed), written);
    }
}

TEST(JsonWrite, StringEscapesLikeJsonStringify) {
    std::string out;
    write_json_string(out, "\"\\\b\f\n\r\t");
    EXPECT_EQ(out, R"("\"\\\b\f\n\r\t")");

    out.clear();
    write_json_string(out, std::string_view("\0\x01\x0b\x0e\x1f\x7f", 6));
    EXPECT_EQ(out, "\"\\u0000\\u0001\\u000b\\u000e\\u001f\x7f\"");

    // '/', non-ASCII, U+2028/U+2029 verbatim.
    out.clear();
    write_json_string(out, "a/b \xC3\xA9 \xE2\x80\xA8\xE2\x80\xA9 \xF0\x9D\x84\x9E");
    EXPECT_EQ(out, "\"a/b \xC3\xA9 \xE2\x80\xA8\xE2\x80\xA9 \xF0\x9D\x84\x9E\"");

    out = "prefix:";
    write_json_string(out, "");
    EXPECT_EQ(out, "prefix:\"\"");
}

TEST(JsonWrite, EveryControlCharacterEscape) {
    const char* expected[32] = {
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
        "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
        "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
    };
    for (int c = 0; c < 32; ++c) {
        std::string out;
        write_json_string(out, std::string(1, static_cast<char>(c)));
        EXPECT_EQ(out, std::string("\"") + expected[c] + "\"") << c;
    }
    for (int c = 32; c < 256; ++c) {
        if (c == '"' || c == '\\') {
            continue;
        }
        std::string out;
        write_json_string(out, std::string(1, static_cast<char>(c)));
        EXPECT_EQ(out, std::string("\"") + static_cast<char>(c) + "\"") << c;
    }
}

TEST(JsonWrite, ParsedEscapesAreNormalised) {
    EXPECT_EQ(reserialize(R"("\u00e9\/\u001F\u2028\ud834\udd1e\u0041")"),
              "\"\xC3\xA9/\\u001f\xE2\x80\xA8\xF0\x9D\x84\x9E\x41\"");
    EXPECT_EQ(reserialize(R"({"k\"ey":"v\\al"})"), R"({"k\"ey":"v\\al"})");
}

TEST(JsonParse, RejectsInvalidUtf8) {
    const std::string bad[] = {
        "\"\xFF\"",
        "\"\xC0\x80\"",
        "\"\xED\xA0\x80\"",      // encoded surrogate
        "\"\xF4\x90\x80\x80\"",  // above U+10FFFF
        "\"abc\xC3\"",           // truncated
        "{\"\xC3\":1}",          // in a key
    };
    for (const auto& text : bad) {
        auto v = parse_json(text);
        ASSERT_FALSE(v) << testing::PrintToString(text);
        EXPECT_EQ(v.error(), make_error_code(Errc::kInvalidJson));
    }
    // Lone surrogate escapes cannot become UTF-8 either.
    EXPECT_EQ(parse_json(R"("\ud800")").error(), make_error_code(Errc::kInvalidJson));
    EXPECT_EQ(parse_json(R"("\udc00x")").error(), make_error_code(Errc::kInvalidJson));
}

TEST(JsonParse, RejectsMalformedJson) {
    const char* bad[] = {
        "",         " ",         "1 2", "[1,]", "{\"a\"}", "{\"a\":1,}", "nul",   "NaN",
        "Infinity", "-Infinity", "01",  "'a'",  "/*c*/1",  "[1]x",       "\"abc", "[",
        "{",        "}",         "+1",  ".5",   "1.",      "tru",
        "\"\t\"",  // raw control character inside a string
        "{a:1}",
    };
    for (const char* text : bad) {
        auto v = parse_json(text);
        ASSERT_FALSE(v) << text;
        EXPECT_EQ(v.error(), make_error_code(Errc::kInvalidJson)) << text;
    }
}

TEST(JsonParse, ValueKinds) {
    EXPECT_TRUE(parse_json("1")->is_int64());
    EXPECT_TRUE(parse_json("9223372036854775808")->is_uint64());
    EXPECT_TRUE(parse_json("1.0")->is_double());
    EXPECT_TRUE(parse_json("1e2")->is_double());
    EXPECT_TRUE(parse_json("true")->is_bool());
    EXPECT_TRUE(parse_json("\"x\"")->is_string());
    EXPECT_TRUE(parse_json(" [] ")->is_array());
    EXPECT_TRUE(parse_json("\n{}\r\n")->is_object());
}

std::string nested(std::size_t depth, char open, char close) {
    return std::string(depth, open) + std::string(depth, close);
}

TEST(JsonParse, DepthLimit) {
    EXPECT_TRUE(parse_json(nested(64, '[', ']')));
    EXPECT_EQ(parse_json(nested(65, '[', ']')).error(), make_error_code(Errc::kJsonTooDeep));
    JsonLimits three{.max_depth = 3};
    // Depth counts containers: scalars inside the deepest one are free.
    EXPECT_TRUE(parse_json(R"({"a":[{"b":1}]})", three));
    EXPECT_EQ(parse_json(R"({"a":[{"b":[]}]})", three).error(),
              make_error_code(Errc::kJsonTooDeep));
    EXPECT_EQ(parse_json(R"([[[[1]]]])", three).error(), make_error_code(Errc::kJsonTooDeep));
    // A hostile document does not recurse: it is refused at the cap.
    EXPECT_EQ(parse_json(std::string(1000000, '[')).error(), make_error_code(Errc::kJsonTooDeep));
}

TEST(JsonParse, GarbageNeverCrashes) {
    const std::string_view pool = "[]{}\",:0123456789.eE+-truefalsnl\\u \x01\xC3\xA9\xFF";
    std::mt19937 rng(5);
    for (int i = 0; i < 10000; ++i) {
        std::string text(rng() % 48, '\0');
        for (char& c : text) {
            c = i % 3 == 0 ? static_cast<char>(rng()) : pool[rng() % pool.size()];
        }
        auto v = parse_json(text, JsonLimits{.max_depth = 8});
        if (v) {
            // Whatever parses must reach a fixed point after one re-serialization.
            const std::string once = to_json(*v);
            auto again = parse_json(once);
            ASSERT_TRUE(again) << once;
            EXPECT_EQ(to_json(*again), once);
        } else {
            EXPECT_TRUE(v.error() == make_error_code(Errc::kInvalidJson) ||
                        v.error() == make_error_code(Errc::kJsonTooDeep));
        }
    }
}

}  // namespace
}  // namespace roomcast::protocol
