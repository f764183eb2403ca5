// Pure parts of the rooms service: input rules, the history data mapping. (Keys and the id
// rules are the bus contract's: libs/contract/src/*_test.cpp.)
#include "history.hpp"
#include "validation.hpp"

#include "roomcast/rooms/v1/rooms.pb.h"

#include <gtest/gtest.h>

namespace roomcast::rooms {
namespace {

TEST(Rules, IdsFollowTheContractWithTheirMessages) {
    EXPECT_TRUE(check_room_id(std::string(128, 'a')).ok());
    EXPECT_FALSE(check_room_id(std::string(129, 'a')).ok());
    EXPECT_FALSE(check_room_id("a.b").ok());
    EXPECT_EQ(check_room_id("").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(check_room_id("").error_message(), "room_id must match ^[A-Za-z0-9_:@-]{1,128}$");
    EXPECT_TRUE(check_user_id(std::string(256, 'u')).ok());
    EXPECT_FALSE(check_user_id(std::string(257, 'u')).ok());
    EXPECT_FALSE(check_user_id("\xc3").ok());
    EXPECT_EQ(check_user_id("").error_message(), "user_id must be 1 to 256 bytes of UTF-8");
    EXPECT_TRUE(check_room_prefix("").ok());
    EXPECT_TRUE(check_room_prefix("post:").ok());
    EXPECT_FALSE(check_room_prefix("post.").ok());
    EXPECT_FALSE(check_room_prefix(std::string(129, 'p')).ok());
}

TEST(Rules, DataJson) {
    std::string out;
    EXPECT_TRUE(normalize_data_json("", out).ok());
    EXPECT_EQ(out, "null");
    EXPECT_TRUE(normalize_data_json(" { \"a\" : [1, 2.5, \"x\"] } ", out).ok());
    EXPECT_EQ(out, R"({"a":[1,2.5,"x"]})");
    EXPECT_EQ(normalize_data_json("{", out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(normalize_data_json(R"({"_placeholder":true,"num":0})", out).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    std::string big = "\"" + std::string(kMaxDataBytes, 'x') + "\"";
    EXPECT_EQ(normalize_data_json(big, out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    std::string fits = "\"" + std::string(kMaxDataBytes - 2, 'x') + "\"";
    EXPECT_TRUE(normalize_data_json(fits, out).ok());
}

TEST(Rules, SinceLimitAndPageTokens) {
    std::optional<std::uint64_t> since;
    EXPECT_TRUE(parse_since("", since).ok());
    EXPECT_FALSE(since);
    EXPECT_TRUE(parse_since("18446744073709551615", since).ok());
    EXPECT_EQ(*since, 18446744073709551615ULL);
    EXPECT_FALSE(parse_since("18446744073709551616", since).ok());
    EXPECT_FALSE(parse_since("-1", since).ok());
    EXPECT_FALSE(parse_since("+1", since).ok());
    EXPECT_FALSE(parse_since("1a", since).ok());
    std::int32_t n = 0;
    EXPECT_TRUE(check_history_limit(0, n).ok());
    EXPECT_EQ(n, 50);
    EXPECT_TRUE(check_history_limit(1000, n).ok());
    EXPECT_FALSE(check_history_limit(1001, n).ok());
    EXPECT_FALSE(check_history_limit(-1, n).ok());
    EXPECT_TRUE(check_page_size(0, n).ok());
    EXPECT_EQ(n, 100);
    EXPECT_FALSE(check_page_size(1001, n).ok());
    std::optional<std::string> after;
    EXPECT_TRUE(parse_room_page_token(make_page_token("post:42"), after).ok());
    EXPECT_EQ(after, "post:42");
    EXPECT_FALSE(parse_room_page_token(make_page_token("not a room"), after).ok());
    EXPECT_FALSE(parse_room_page_token("!!", after).ok());
    EXPECT_TRUE(parse_member_page_token(make_page_token("ü"), after).ok());
    EXPECT_EQ(after, "ü");
}

TEST(Rules, EventsLabelsMasks) {
    EXPECT_TRUE(check_event("comment").ok());
    EXPECT_FALSE(check_event("").ok());
    EXPECT_FALSE(check_event(std::string(129, 'e')).ok());
    for (const char* reserved : {"connect", "disconnect", "join", "kicked", "presence"}) {
        EXPECT_FALSE(check_event(reserved).ok()) << reserved;
    }
    google::protobuf::Map<std::string, std::string> labels;
    labels["k"] = std::string(256, 'v');
    EXPECT_TRUE(check_labels(labels).ok());
    labels[std::string(257, 'k')] = "v";
    EXPECT_FALSE(check_labels(labels).ok());
    google::protobuf::RepeatedPtrField<std::string> mask;
    *mask.Add() = "labels";
    EXPECT_TRUE(check_update_mask(mask).ok());
    *mask.Add() = "auto_created";
    EXPECT_FALSE(check_update_mask(mask).ok());
}

TEST(History, PlaceholdersBecomeBase64Objects) {
    bus::v1::RoomEvent event;
    event.set_event("file");
    event.set_data_json(R"({"name":"a","blob":{"_placeholder":true,"num":0},)"
                        R"("more":[{"_placeholder":true,"num":1}]})");
    event.add_attachments(std::string("\x00\x01\xff", 3));
    event.add_attachments("hi");
    EXPECT_EQ(history_data_json(event),
              R"({"name":"a","blob":{"_binary":"AAH/"},"more":[{"_binary":"aGk="}]})");
}

TEST(History, UndeliverableEventsAreSkipped) {
    bus::v1::RoomEvent event;
    event.set_event("x");
    EXPECT_EQ(history_data_json(event), "null");
    event.set_data_json("{");
    EXPECT_FALSE(history_data_json(event));
    event.set_data_json(R"([{"_placeholder":true,"num":0}])");
    EXPECT_FALSE(history_data_json(event));  // no attachment 0
    event.set_data_json("1");
    event.set_event("");
    EXPECT_FALSE(history_data_json(event));
}

}  // namespace
}  // namespace roomcast::rooms
