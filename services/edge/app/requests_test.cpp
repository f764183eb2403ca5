// The collaboration protocol's request parsers (docs/protocol.md, "Requests").
#include "app/requests.hpp"

#include "roomcast/protocol/json.hpp"

#include <gtest/gtest.h>

namespace roomcast::edge::requests {
namespace {

namespace json = boost::json;

sio::Args args_of(std::string_view json_array, std::vector<std::string> attachments = {}) {
    auto v = protocol::parse_json(json_array);
    EXPECT_TRUE(v && v->is_array()) << json_array;
    return sio::Args(v->as_array(), std::move(attachments));
}

template <class T>
Error error_of(const Parsed<T>& p) {
    EXPECT_TRUE(std::holds_alternative<Error>(p));
    return std::holds_alternative<Error>(p) ? std::get<Error>(p) : Error{};
}

TEST(ParseRoom, ValidRoom) {
    auto p = parse_room(args_of(R"([{"room":"general"}])"));
    ASSERT_TRUE(std::holds_alternative<RoomRequest>(p));
    EXPECT_EQ(std::get<RoomRequest>(p).room, "general");
}

TEST(ParseRoom, MissingOrInvalidRoomIsBadRequest) {
    for (const char* a : {R"([])", R"(["general"])", R"([{}])", R"([{"room":1}])", R"([{"room":"a.b"}])",
                          R"([{"room":"roomcast.>"}])", R"([null])"}) {
        auto e = error_of(parse_room(args_of(a)));
        EXPECT_EQ(e.code, error_code::kBadRequest) << a;
        EXPECT_NE(e.message.find("room must match"), std::string::npos) << a;
    }
}

TEST(ParsePublish, DataEchoAndSize) {
    auto p = parse_publish(args_of(R"([{"room":"r","event":"chat","data":{"text":"hi"},"echo":true}])"), {});
    ASSERT_TRUE(std::holds_alternative<PublishRequest>(p));
    const auto& r = std::get<PublishRequest>(p);
    EXPECT_EQ(r.room, "r");
    EXPECT_EQ(r.event, "chat");
    EXPECT_TRUE(r.echo);
    EXPECT_EQ(r.data_json, R"({"text":"hi"})");
    EXPECT_EQ(r.bytes, r.data_json.size());

    auto no_data = parse_publish(args_of(R"([{"room":"r","event":"chat"}])"), {});
    ASSERT_TRUE(std::holds_alternative<PublishRequest>(no_data));
    EXPECT_EQ(std::get<PublishRequest>(no_data).data_json, "null");
    EXPECT_FALSE(std::get<PublishRequest>(no_data).echo);
}

TEST(ParsePublish, BinaryDataWithItsAttachments) {
    auto p = parse_publish(
        args_of(R"([{"room":"r","event":"file","data":{"blob":{"_placeholder":true,"num":0}}}])", {"abc"}), {});
    ASSERT_TRUE(std::holds_alternative<PublishRequest>(p));
    EXPECT_EQ(std::get<PublishRequest>(p).bytes, std::get<PublishRequest>(p).data_json.size() + 3);
}

TEST(ParsePublish, RefusedRequests) {
    struct Case {
        const char* args;
        std::string_view code;
    };
    const Case cases[] = {
        {R"([{"room":"r"}])", error_code::kBadRequest},                        // no event
        {R"([{"room":"r","event":""}])", error_code::kBadRequest},             // empty event
        {R"([{"room":"r","event":"join"}])", error_code::kBadRequest},         // reserved
        {R"([{"room":"r","event":"connect"}])", error_code::kBadRequest},      // reserved
        {R"([{"room":"r","event":7}])", error_code::kBadRequest},              // not a string
        {R"([{"room":"r","event":"e","echo":"yes"}])", error_code::kBadRequest},
        // A placeholder with no attachment: no client could decode the delivery.
        {R"([{"room":"r","event":"e","data":{"_placeholder":true,"num":0}}])", error_code::kBadRequest},
        {R"([{"room":"a*","event":"e"}])", error_code::kBadRequest},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(error_of(parse_publish(args_of(c.args), {})).code, c.code) << c.args;
    }
    const std::string long_event = R"([{"room":"r","event":")" + std::string(129, 'e') + R"("}])";
    EXPECT_EQ(error_of(parse_publish(args_of(long_event), {})).code, error_code::kBadRequest);
}

TEST(ParsePublish, OverTheSizeLimitIsPayloadTooLarge) {
    Limits limits;
    limits.max_publish_bytes = 100;
    const std::string big = R"([{"room":"r","event":"e","data":")" + std::string(100, 'x') + R"("}])";
    auto e = error_of(parse_publish(args_of(big), limits));
    EXPECT_EQ(e.code, error_code::kPayloadTooLarge);
    // Attachments count too.
    auto a = error_of(parse_publish(
        args_of(R"([{"room":"r","event":"e","data":{"_placeholder":true,"num":0}}])", {std::string(95, 'b')}),
        limits));
    EXPECT_EQ(a.code, error_code::kPayloadTooLarge);
}

TEST(ParseHistory, SinceAndLimit) {
    auto p = parse_history(args_of(R"([{"room":"r","since":"42","limit":10}])"), {});
    ASSERT_TRUE(std::holds_alternative<HistoryRequest>(p));
    EXPECT_EQ(std::get<HistoryRequest>(p).since, 42u);
    EXPECT_EQ(std::get<HistoryRequest>(p).limit, 10u);
    auto d = parse_history(args_of(R"([{"room":"r","since":null}])"), {});
    ASSERT_TRUE(std::holds_alternative<HistoryRequest>(d));
    EXPECT_FALSE(std::get<HistoryRequest>(d).since);
    EXPECT_EQ(std::get<HistoryRequest>(d).limit, 50u);
    for (const char* bad : {R"([{"room":"r","since":"x"}])", R"([{"room":"r","since":"-1"}])",
                            R"([{"room":"r","since":"123456789012345678901"}])", R"([{"room":"r","limit":0}])",
                            R"([{"room":"r","limit":1001}])", R"([{"room":"r","limit":"5"}])",
                            R"([{"room":"r","limit":1.5}])"}) {
        EXPECT_EQ(error_of(parse_history(args_of(bad), {})).code, error_code::kBadRequest) << bad;
    }
}

TEST(Offsets, DecimalStringsAndNonNegativeIntegers) {
    EXPECT_EQ(parse_offset(json::value("18446744073709551615")), UINT64_MAX);
    EXPECT_EQ(parse_offset(json::value(7)), 7u);
    EXPECT_FALSE(parse_offset(json::value("18446744073709551616")));
    EXPECT_FALSE(parse_offset(json::value("")));
    EXPECT_FALSE(parse_offset(json::value(-1)));
    EXPECT_FALSE(parse_offset(json::value("1e3")));
}

}  // namespace
}  // namespace roomcast::edge::requests
