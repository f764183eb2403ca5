#include "roomcast/protocol/engineio.hpp"

#include "roomcast/protocol/json.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace roomcast::protocol::eio {
namespace {

boost::system::error_code err(Errc e) {
    return make_error_code(e);
}

// Joins polling payload parts with the record separator.
std::string parts(std::initializer_list<std::string_view> list) {
    std::string body;
    bool first = true;
    for (std::string_view part : list) {
        if (!first) {
            body += kSeparator;
        }
        first = false;
        body += part;
    }
    return body;
}

TEST(EngineIoText, DecodesEveryPacketType) {
    struct Case {
        std::string_view text;
        PacketType type;
        std::string_view data;
    };
    const Case cases[] = {
        {"0{\"sid\":\"x\"}", PacketType::kOpen, "{\"sid\":\"x\"}"},
        {"1", PacketType::kClose, ""},
        {"2", PacketType::kPing, ""},
        {"2probe", PacketType::kPing, "probe"},
        {"3probe", PacketType::kPong, "probe"},
        {"4hello", PacketType::kMessage, "hello"},
        {"40{\"token\":\"123\"}", PacketType::kMessage, "0{\"token\":\"123\"}"},
        {"4", PacketType::kMessage, ""},
        {"4h\xC3\xA9\x1e", PacketType::kMessage, "h\xC3\xA9\x1e"},
        {"5", PacketType::kUpgrade, ""},
        {"6", PacketType::kNoop, ""},
    };
    for (const auto& c : cases) {
        auto packet = decode_text(c.text);
        ASSERT_TRUE(packet) << c.text;
        EXPECT_EQ(*packet, (Packet{c.type, false, std::string(c.data)})) << c.text;
        auto view = decode_text_view(c.text);
        ASSERT_TRUE(view);
        EXPECT_EQ(view->type, c.type);
        EXPECT_FALSE(view->binary);
        EXPECT_EQ(view->data, c.data);
        EXPECT_EQ(view->data.data(), c.text.data() + 1);  // no copy
    }
}

TEST(EngineIoText, RejectsEmptyAndUnknown) {
    EXPECT_EQ(decode_text("").error(), err(Errc::kEmptyPacket));
    EXPECT_EQ(decode_text_view("").error(), err(Errc::kEmptyPacket));
    for (std::string_view bad : {"7", "9", "abc", "bAQID", "/", " 4", "\x04\x61"}) {
        EXPECT_EQ(decode_text(bad).error(), err(Errc::kUnknownPacketType)) << bad;
        EXPECT_EQ(decode_text_view(bad).error(), err(Errc::kUnknownPacketType)) << bad;
    }
}

TEST(EngineIoText, Encodes) {
    std::string out;
    encode_text(out, PacketType::kPing);
    EXPECT_EQ(out, "2");
    encode_text(out, PacketType::kPong, "probe");
    EXPECT_EQ(out, "23probe");
    out.clear();
    encode_text(out, PacketType::kMessage, "2[\"a\"]");
    EXPECT_EQ(out, "42[\"a\"]");
    out.clear();
    encode_text(out, PacketType::kNoop);
    encode_text(out, PacketType::kClose);
    encode_text(out, PacketType::kUpgrade);
    encode_text(out, PacketType::kOpen, "{}");
    EXPECT_EQ(out, "6150{}");
}

TEST(EngineIoText, RoundTripsEveryType) {
    for (int t = 0; t <= 6; ++t) {
        std::string out;
        encode_text(out, static_cast<PacketType>(t), "data");
        auto packet = decode_text(out);
        ASSERT_TRUE(packet);
        EXPECT_EQ(*packet, (Packet{static_cast<PacketType>(t), false, "data"}));
    }
}

TEST(EngineIoPayload, DecodesSuiteExamples) {
    auto one = decode_payload("4hello", 16);
    ASSERT_TRUE(one);
    EXPECT_EQ(*one, (std::vector<Packet>{{PacketType::kMessage, false, "hello"}}));

    auto three = decode_payload(parts({"4test1", "4test2", "4test3"}), 16);
    ASSERT_TRUE(three);
    EXPECT_EQ(*three, (std::vector<Packet>{{PacketType::kMessage, false, "test1"},
                                           {PacketType::kMessage, false, "test2"},
                                           {PacketType::kMessage, false, "test3"}}));

    auto mixed = decode_payload(parts({"4hello", "bAQIDBA=="}), 16);
    ASSERT_TRUE(mixed);
    EXPECT_EQ(*mixed, (std::vector<Packet>{{PacketType::kMessage, false, "hello"},
                                           {PacketType::kMessage, true, "\x01\x02\x03\x04"}}));

    auto control = decode_payload("1", 16);
    ASSERT_TRUE(control);
    EXPECT_EQ(*control, (std::vector<Packet>{{PacketType::kClose, false, ""}}));

    auto pong_and_message = decode_payload(parts({"3", "40/custom,"}), 16);
    ASSERT_TRUE(pong_and_message);
    EXPECT_EQ(*pong_and_message, (std::vector<Packet>{{PacketType::kPong, false, ""},
                                                      {PacketType::kMessage, false, "0/custom,"}}));
}

TEST(EngineIoPayload, EmptyBinaryPart) {
    auto packets = decode_payload("b", 16);
    ASSERT_TRUE(packets);
    EXPECT_EQ(*packets, (std::vector<Packet>{{PacketType::kMessage, true, ""}}));
}

TEST(EngineIoPayload, Errors) {
    EXPECT_EQ(decode_payload("", 16).error(), err(Errc::kEmptyPacket));
    EXPECT_EQ(decode_payload(parts({"4a", ""}), 16).error(), err(Errc::kEmptyPacket));
    EXPECT_EQ(decode_payload(parts({"", "4a"}), 16).error(), err(Errc::kEmptyPacket));
    EXPECT_EQ(decode_payload(parts({"4a", "", "4b"}), 16).error(), err(Errc::kEmptyPacket));
    EXPECT_EQ(decode_payload(parts({"", ""}), 16).error(), err(Errc::kEmptyPacket));
    EXPECT_EQ(decode_payload("abc", 16).error(), err(Errc::kUnknownPacketType));
    EXPECT_EQ(decode_payload(parts({"4a", "9"}), 16).error(), err(Errc::kUnknownPacketType));
    EXPECT_EQ(decode_payload("bAQIDB", 16).error(), err(Errc::kInvalidBase64));
    EXPECT_EQ(decode_payload("b!!!!", 16).error(), err(Errc::kInvalidBase64));
    EXPECT_EQ(decode_payload(parts({"4a", "bAQIDBA="}), 16).error(), err(Errc::kInvalidBase64));
}

TEST(EngineIoPayload, PacketCap) {
    EXPECT_TRUE(decode_payload(parts({"2", "3"}), 2));
    EXPECT_EQ(decode_payload(parts({"2", "3", "4"}), 2).error(), err(Errc::kTooManyPackets));
    EXPECT_EQ(decode_payload("2", 0).error(), err(Errc::kTooManyPackets));
    std::string many;
    for (int i = 0; i < 1000; ++i) {
        many += i == 0 ? "" : "\x1e";
        many += "6";
    }
    EXPECT_EQ(decode_payload(many, 999).error(), err(Errc::kTooManyPackets));
    EXPECT_EQ(decode_payload(many, 1000)->size(), 1000u);
}

TEST(EngineIoPayload, WriterBuildsPollingBodies) {
    PayloadWriter writer;
    EXPECT_TRUE(writer.empty());
    writer.add_text("4hello");
    EXPECT_FALSE(writer.empty());
    EXPECT_EQ(writer.size(), 6u);
    writer.add_binary(std::string("\x01\x02\x03\x04", 4));
    writer.add_text("2");
    const std::string body = writer.take();
    EXPECT_EQ(body, parts({"4hello", "bAQIDBA==", "2"}));
    EXPECT_TRUE(writer.empty());

    auto decoded = decode_payload(body, 16);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, (std::vector<Packet>{{PacketType::kMessage, false, "hello"},
                                             {PacketType::kMessage, true, "\x01\x02\x03\x04"},
                                             {PacketType::kPing, false, ""}}));

    // A taken writer starts a fresh body: no leading separator.
    writer.add_text("6");
    EXPECT_EQ(writer.take(), "6");
    writer.add_binary("");
    EXPECT_EQ(writer.take(), "b");
}

TEST(EngineIoOpen, MatchesReferenceServer) {
    Handshake h;
    h.sid = "abc";
    h.upgrade_to_websocket = true;
    h.ping_interval_ms = 300;
    h.ping_timeout_ms = 200;
    h.max_payload = 1000000;
    EXPECT_EQ(encode_open(h),
              R"(0{"sid":"abc","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,)"
              R"("maxPayload":1000000})");
    h.upgrade_to_websocket = false;
    EXPECT_EQ(encode_open(h), R"(0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200,)"
                              R"("maxPayload":1000000})");
}

TEST(EngineIoOpen, DefaultsAndEscaping) {
    Handshake h;
    h.sid = "a\"b\\c\n";
    const std::string open = encode_open(h);
    EXPECT_EQ(open, R"(0{"sid":"a\"b\\c\n","upgrades":[],"pingInterval":25000,"pingTimeout":20000,)"
                    R"("maxPayload":1000000})");
    auto parsed = parse_json(std::string_view(open).substr(1));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->at("sid").as_string(), "a\"b\\c\n");
}

TEST(EngineIo, GarbageNeverCrashes) {
    const std::string_view pool = "0123456789b\x1e\x41QIDBA==/+abc\xFF";
    std::mt19937 rng(9);
    for (int i = 0; i < 5000; ++i) {
        std::string body(rng() % 32, '\0');
        for (char& c : body) {
            c = i % 2 == 0 ? static_cast<char>(rng()) : pool[rng() % pool.size()];
        }
        auto packets = decode_payload(body, 8);
        if (packets) {
            // Every accepted body re-encodes to itself.
            PayloadWriter writer;
            for (const auto& p : *packets) {
                if (p.binary) {
                    writer.add_binary(p.data);
                } else {
                    std::string text;
                    encode_text(text, p.type, p.data);
                    writer.add_text(text);
                }
            }
            EXPECT_EQ(writer.take(), body);
        }
        auto text = decode_text(body);
        auto view = decode_text_view(body);
        EXPECT_EQ(text.has_value(), view.has_value());
    }
}

}  // namespace
}  // namespace roomcast::protocol::eio
