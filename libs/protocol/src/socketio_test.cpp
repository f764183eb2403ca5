#include "roomcast/protocol/socketio.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace roomcast::protocol::sio {
namespace {

boost::system::error_code err(Errc e) {
    return make_error_code(e);
}

constexpr std::string_view kPh0 = R"({"_placeholder":true,"num":0})";
constexpr std::string_view kPh1 = R"({"_placeholder":true,"num":1})";

std::string cat(std::initializer_list<std::string_view> parts) {
    std::string s;
    for (auto p : parts) {
        s += p;
    }
    return s;
}

// Decodes `text` and then feeds one attachment per declared buffer ("att0", "att1", ...).
Result<Packet> decode_all(std::string_view text, const DecoderLimits& limits = {}) {
    Decoder decoder(limits);
    auto first = decoder.on_text(text);
    if (!first) {
        return first.error();
    }
    for (int i = 0; !first->has_value(); ++i) {
        EXPECT_TRUE(decoder.awaiting_attachments());
        first = decoder.on_binary("att" + std::to_string(i));
        if (!first) {
            return first.error();
        }
    }
    EXPECT_FALSE(decoder.awaiting_attachments());
    return std::move(**first);
}

// Re-encodes a decoded packet the way the server would send it back.
std::string reencode(const Packet& p) {
    std::string out;
    encode(out, p.type, p.nsp, p.id, p.data ? to_json(*p.data) : std::string(),
           static_cast<std::uint32_t>(p.attachments.size()));
    return out;
}

struct Good {
    std::string text;
    PacketType type;
    std::string nsp;
    std::optional<std::uint64_t> id;
    std::optional<std::string> data;  // as JSON
    std::size_t attachments;
    std::string canonical;  // what encode() writes for the decoded packet
};

std::vector<Good> good_packets() {
    const auto none = std::nullopt;
    return {
        {"0", PacketType::kConnect, "/", none, none, 0, "0"},
        {R"(0{"token":"123"})", PacketType::kConnect, "/", none, R"({"token":"123"})", 0,
         R"(0{"token":"123"})"},
        {"0/custom,", PacketType::kConnect, "/custom", none, none, 0, "0/custom,"},
        {R"(0/custom,{"token":"abc"})", PacketType::kConnect, "/custom", none, R"({"token":"abc"})",
         0, R"(0/custom,{"token":"abc"})"},
        {"0/random", PacketType::kConnect, "/random", none, none, 0, "0/random,"},
        {"0/caf\xC3\xA9,", PacketType::kConnect, "/caf\xC3\xA9", none, none, 0, "0/caf\xC3\xA9,"},
        {"0/,{}", PacketType::kConnect, "/", none, "{}", 0, "0{}"},
        {"1", PacketType::kDisconnect, "/", none, none, 0, "1"},
        {"1/custom,", PacketType::kDisconnect, "/custom", none, none, 0, "1/custom,"},
        {R"(2["message",1,"2",{"3":[true]}])", PacketType::kEvent, "/", none,
         R"(["message",1,"2",{"3":[true]}])", 0, R"(2["message",1,"2",{"3":[true]}])"},
        {R"(2456["message-with-ack",1])", PacketType::kEvent, "/", 456, R"(["message-with-ack",1])",
         0, R"(2456["message-with-ack",1])"},
        {R"(212["foo"])", PacketType::kEvent, "/", 12, R"(["foo"])", 0, R"(212["foo"])"},
        {R"(2/admin,13["bar"])", PacketType::kEvent, "/admin", 13, R"(["bar"])", 0,
         R"(2/admin,13["bar"])"},
        {R"(2[42])", PacketType::kEvent, "/", none, "[42]", 0, "2[42]"},
        {R"(2[1.5,"x"])", PacketType::kEvent, "/", none, R"([1.5,"x"])", 0, R"(2[1.5,"x"])"},
        {R"(2 [ "a" , 1.0 ] )", PacketType::kEvent, "/", none, R"(["a",1])", 0, R"(2["a",1])"},
        {R"(29999999999999999999["a"])", PacketType::kEvent, "/", 9999999999999999999ULL,
         R"(["a"])", 0, R"(29999999999999999999["a"])"},
        // Placeholders mean nothing outside BINARY_* packets.
        {cat({R"(2["a",)", R"({"_placeholder":true,"num":5})", "]"}), PacketType::kEvent, "/", none,
         cat({R"(["a",)", R"({"_placeholder":true,"num":5})", "]"}), 0,
         cat({R"(2["a",)", R"({"_placeholder":true,"num":5})", "]"})},
        {R"(3456[1,"2"])", PacketType::kAck, "/", 456, R"([1,"2"])", 0, R"(3456[1,"2"])"},
        {"3[]", PacketType::kAck, "/", none, "[]", 0, "3[]"},
        {R"(3/admin,13["bar"])", PacketType::kAck, "/admin", 13, R"(["bar"])", 0,
         R"(3/admin,13["bar"])"},
        {R"(4{"message":"Invalid namespace"})", PacketType::kConnectError, "/", none,
         R"({"message":"Invalid namespace"})", 0, R"(4{"message":"Invalid namespace"})"},
        {R"(4/random,{"message":"Invalid namespace"})", PacketType::kConnectError, "/random", none,
         R"({"message":"Invalid namespace"})", 0, R"(4/random,{"message":"Invalid namespace"})"},
        {R"(4"plain string")", PacketType::kConnectError, "/", none, R"("plain string")", 0,
         R"(4"plain string")"},
        {"4", PacketType::kConnectError, "/", none, none, 0, "4"},
        // Like socket.io-parser, an ack id is read whatever the type.
        {"41", PacketType::kConnectError, "/", 1, none, 0, "41"},
        {cat({R"(52-["message",)", kPh0, ",", kPh1, "]"}), PacketType::kBinaryEvent, "/", none,
         cat({R"(["message",)", kPh0, ",", kPh1, "]"}), 2,
         cat({R"(52-["message",)", kPh0, ",", kPh1, "]"})},
        {cat({R"(51-["baz",)", kPh0, "]"}), PacketType::kBinaryEvent, "/", none,
         cat({R"(["baz",)", kPh0, "]"}), 1, cat({R"(51-["baz",)", kPh0, "]"})},
        {cat({R"(52-/admin,["baz",)", kPh0, ",", kPh1, "]"}), PacketType::kBinaryEvent, "/admin",
         none, cat({R"(["baz",)", kPh0, ",", kPh1, "]"}), 2,
         cat({R"(52-/admin,["baz",)", kPh0, ",", kPh1, "]"})},
        {cat({R"(51-["nested",{"a":[)", kPh0, "]}]"}), PacketType::kBinaryEvent, "/", none,
         cat({R"(["nested",{"a":[)", kPh0, "]}]"}), 1,
         cat({R"(51-["nested",{"a":[)", kPh0, "]}]"})},
        {R"(50-["a"])", PacketType::kBinaryEvent, "/", none, R"(["a"])", 0, R"(50-["a"])"},
        {cat({"62-789[", kPh0, ",", kPh1, "]"}), PacketType::kBinaryAck, "/", 789,
         cat({"[", kPh0, ",", kPh1, "]"}), 2, cat({"62-789[", kPh0, ",", kPh1, "]"})},
        {cat({R"(61-15["bar",)", kPh0, "]"}), PacketType::kBinaryAck, "/", 15,
         cat({R"(["bar",)", kPh0, "]"}), 1, cat({R"(61-15["bar",)", kPh0, "]"})},
    };
}

TEST(SocketIoDecode, GoodPackets) {
    for (const auto& g : good_packets()) {
        SCOPED_TRACE(g.text);
        auto packet = decode_all(g.text);
        ASSERT_TRUE(packet) << packet.error().message();
        EXPECT_EQ(packet->type, g.type);
        EXPECT_EQ(packet->nsp, g.nsp);
        EXPECT_EQ(packet->id, g.id);
        ASSERT_EQ(packet->data.has_value(), g.data.has_value());
        if (g.data) {
            EXPECT_EQ(to_json(*packet->data), *g.data);
        }
        ASSERT_EQ(packet->attachments.size(), g.attachments);
        for (std::size_t i = 0; i < g.attachments; ++i) {
            EXPECT_EQ(packet->attachments[i], "att" + std::to_string(i));
        }
        // Golden round trip: re-encoding gives the canonical form byte for byte.
        EXPECT_EQ(reencode(*packet), g.canonical);
    }
}

struct Bad {
    std::string text;
    Errc error;
};

std::vector<Bad> bad_packets() {
    return {
        {"", Errc::kUnknownPacketType},
        {"7", Errc::kUnknownPacketType},
        {"a", Errc::kUnknownPacketType},
        {"/0", Errc::kUnknownPacketType},
        {"4abc", Errc::kInvalidJson},
        {"2abc[\"a\"]", Errc::kInvalidJson},
        {"2 ", Errc::kInvalidJson},
        {"2[\"a\"]x", Errc::kInvalidJson},
        {"2[\"\xFF\"]", Errc::kInvalidJson},
        {"0/a,b,{}", Errc::kInvalidJson},
        {"2" + std::string(65, '[') + std::string(65, ']'), Errc::kJsonTooDeep},
        {"2{}", Errc::kInvalidPayload},
        {"2[]", Errc::kInvalidPayload},
        {"2", Errc::kInvalidPayload},
        {"2/admin,", Errc::kInvalidPayload},
        {"2[null]", Errc::kInvalidPayload},
        {"2[true]", Errc::kInvalidPayload},
        {"2[[\"a\"]]", Errc::kInvalidPayload},
        {"2[{}]", Errc::kInvalidPayload},
        {"2\"a\"", Errc::kInvalidPayload},
        {"2[\"connect\"]", Errc::kInvalidPayload},
        {"2[\"connect_error\"]", Errc::kInvalidPayload},
        {"2[\"disconnect\"]", Errc::kInvalidPayload},
        {"2[\"disconnecting\"]", Errc::kInvalidPayload},
        {"2[\"newListener\"]", Errc::kInvalidPayload},
        {"21[\"removeListener\"]", Errc::kInvalidPayload},
        {"3", Errc::kInvalidPayload},
        {"3{}", Errc::kInvalidPayload},
        {"3\"a\"", Errc::kInvalidPayload},
        {"1{}", Errc::kInvalidPayload},
        {"1/custom,[]", Errc::kInvalidPayload},
        {"0[]", Errc::kInvalidPayload},
        {"0null", Errc::kInvalidPayload},
        {"0\"token\"", Errc::kInvalidPayload},
        {"4[]", Errc::kInvalidPayload},
        {"4null", Errc::kInvalidPayload},
        {"5[\"a\"]", Errc::kInvalidAttachments},
        {"5", Errc::kInvalidAttachments},
        {"5-[\"a\"]", Errc::kInvalidAttachments},
        {"51[\"a\"]", Errc::kInvalidAttachments},
        {"51", Errc::kInvalidAttachments},
        {"511-[\"a\"]", Errc::kInvalidAttachments},
        {"5999999999999999999999999-[\"a\"]", Errc::kInvalidAttachments},
        {"6/admin,[]", Errc::kInvalidAttachments},
        {"5[]", Errc::kInvalidAttachments},
        {"51-[\"a\"," + std::string(kPh1) + "]", Errc::kInvalidPlaceholder},
        {"50-[\"a\"," + std::string(kPh0) + "]", Errc::kInvalidPlaceholder},
        {R"(51-["a",{"_placeholder":true,"num":-1}])", Errc::kInvalidPlaceholder},
        {R"(51-["a",{"_placeholder":true,"num":"0"}])", Errc::kInvalidPlaceholder},
        {R"(51-["a",{"_placeholder":true,"num":0.5}])", Errc::kInvalidPlaceholder},
        {R"(51-["a",{"_placeholder":true}])", Errc::kInvalidPlaceholder},
        {R"(51-["a",{"_placeholder":true,"num":0,"x":1}])", Errc::kInvalidPlaceholder},
        {R"(51-["a",{"deep":[{"_placeholder":true,"num":3}]}])", Errc::kInvalidPlaceholder},
        {R"(61-1[{"_placeholder":true,"num":1}])", Errc::kInvalidPlaceholder},
        {R"(51-[])", Errc::kInvalidPayload},
        {R"(61-{})", Errc::kInvalidPayload},
        {"2" + std::string(21, '1') + "[\"a\"]", Errc::kInvalidAckId},
        {"2/a," + std::string(20, '9') + "[\"a\"]", Errc::kInvalidAckId},
        {"0/" + std::string(300, 'x') + ",", Errc::kInvalidNamespace},
        {"0/\xFF,", Errc::kInvalidNamespace},
    };
}

TEST(SocketIoDecode, BadPackets) {
    for (const auto& b : bad_packets()) {
        SCOPED_TRACE(b.text);
        Decoder decoder;
        auto result = decoder.on_text(b.text);
        ASSERT_FALSE(result);
        EXPECT_EQ(result.error(), err(b.error)) << result.error().message();
        EXPECT_FALSE(decoder.awaiting_attachments());
    }
}

TEST(SocketIoDecode, Limits) {
    DecoderLimits limits;
    limits.max_attachments = 2;
    limits.max_namespace = 4;
    limits.json.max_depth = 2;
    EXPECT_TRUE(decode_all(cat({"52-[\"a\",", kPh0, ",", kPh1, "]"}), limits));
    EXPECT_EQ(decode_all("53-[\"a\"]", limits).error(), err(Errc::kInvalidAttachments));
    EXPECT_TRUE(decode_all("0/abc,", limits));  // "/abc" is 4 bytes
    EXPECT_EQ(decode_all("0/abcd,", limits).error(), err(Errc::kInvalidNamespace));
    EXPECT_TRUE(decode_all("2[\"a\",[]]", limits));
    EXPECT_EQ(decode_all("2[\"a\",[[]]]", limits).error(), err(Errc::kJsonTooDeep));
}

TEST(SocketIoDecode, HeaderFieldsPointIntoText) {
    const std::string text = cat({"62-/admin,789[", kPh0, ",", kPh1, "]"});
    auto h = decode_header(text);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->type, PacketType::kBinaryAck);
    EXPECT_EQ(h->attachments, 2u);
    EXPECT_EQ(h->nsp, "/admin");
    EXPECT_EQ(h->nsp.data(), text.data() + 3);
    EXPECT_EQ(h->id, 789u);
    EXPECT_EQ(h->payload, cat({"[", kPh0, ",", kPh1, "]"}));
    EXPECT_EQ(h->payload.data() + h->payload.size(), text.data() + text.size());

    auto random = decode_header("0/random");
    ASSERT_TRUE(random);
    EXPECT_EQ(random->nsp, "/random");
    EXPECT_TRUE(random->payload.empty());
    EXPECT_FALSE(random->id);

    auto plain = decode_header("2[\"a\"]");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->nsp, "/");
    EXPECT_EQ(plain->attachments, 0u);

    // decode_header checks only the header; the payload is the caller's to parse.
    auto raw = decode_header("2{not json");
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->payload, "{not json");
}

TEST(SocketIoDecoder, AssemblesAttachments) {
    Decoder decoder;
    auto first = decoder.on_text(cat({R"(452-["message",)", kPh0, ",", kPh1, "]"}).substr(1));
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->has_value());
    EXPECT_TRUE(decoder.awaiting_attachments());

    auto second = decoder.on_binary(std::string("\x01\x02\x03", 3));
    ASSERT_TRUE(second);
    EXPECT_FALSE(second->has_value());
    EXPECT_TRUE(decoder.awaiting_attachments());

    auto third = decoder.on_binary(std::string("\x04\x05\x06", 3));
    ASSERT_TRUE(third);
    ASSERT_TRUE(third->has_value());
    const Packet& p = **third;
    EXPECT_EQ(p.type, PacketType::kBinaryEvent);
    EXPECT_EQ(p.attachments, (std::vector<std::string>{"\x01\x02\x03", "\x04\x05\x06"}));
    EXPECT_FALSE(decoder.awaiting_attachments());

    // Echoing back: same JSON + same buffers reproduces the suite's expected reply shape.
    std::string out = "4";
    encode(out, PacketType::kBinaryEvent, "/", std::nullopt,
           cat({R"(["message-back",)", kPh0, ",", kPh1, "]"}), 2);
    EXPECT_EQ(out, cat({R"(452-["message-back",)", kPh0, ",", kPh1, "]"}));

    // The decoder is ready for the next packet.
    auto next = decoder.on_text("2[\"x\"]");
    ASSERT_TRUE(next);
    ASSERT_TRUE(next->has_value());
    EXPECT_EQ((*next)->type, PacketType::kEvent);
}

TEST(SocketIoDecoder, ZeroAttachmentsCompleteAtOnce) {
    Decoder decoder;
    auto result = decoder.on_text(R"(60-5["a"])");
    ASSERT_TRUE(result);
    ASSERT_TRUE(result->has_value());
    EXPECT_EQ((*result)->id, 5u);
    EXPECT_FALSE(decoder.awaiting_attachments());
}

TEST(SocketIoDecoder, TextWhileAwaitingAttachmentsResets) {
    Decoder decoder;
    ASSERT_TRUE(decoder.on_text(cat({R"(51-["a",)", kPh0, "]"})));
    ASSERT_TRUE(decoder.awaiting_attachments());
    auto result = decoder.on_text("2[\"b\"]");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error(), err(Errc::kUnexpectedText));
    EXPECT_FALSE(decoder.awaiting_attachments());
    // Reset: a binary now is unexpected, and a new text packet decodes.
    EXPECT_EQ(decoder.on_binary("x").error(), err(Errc::kUnexpectedBinary));
    auto fresh = decoder.on_text("2[\"c\"]");
    ASSERT_TRUE(fresh);
    EXPECT_TRUE(fresh->has_value());
}

TEST(SocketIoDecoder, AttachmentsOfOnePacketAreCappedTogether) {
    DecoderLimits limits;
    limits.max_attachment_bytes = 10;
    Decoder decoder(limits);
    ASSERT_TRUE(decoder.on_text(cat({R"(53-/chat,["a",)", kPh0, ",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":2}]"})));
    ASSERT_NE(decoder.pending_namespace(), nullptr);
    EXPECT_EQ(*decoder.pending_namespace(), "/chat");
    ASSERT_TRUE(decoder.on_binary("12345"));
    ASSERT_TRUE(decoder.on_binary("12345"));  // 10 bytes: at the cap
    auto over = decoder.on_binary("1");
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error(), err(Errc::kAttachmentsTooLarge));
    EXPECT_FALSE(decoder.awaiting_attachments()) << "nothing of it is kept";
    EXPECT_EQ(decoder.pending_namespace(), nullptr);
    // The next packet starts from zero bytes.
    ASSERT_TRUE(decoder.on_text(cat({R"(51-["a",)", kPh0, "]"})));
    auto done = decoder.on_binary("1234567890");
    ASSERT_TRUE(done);
    EXPECT_TRUE(done->has_value());
}

TEST(SocketIoDecoder, BinaryWithoutPendingPacket) {
    Decoder decoder;
    EXPECT_EQ(decoder.on_binary("\x01").error(), err(Errc::kUnexpectedBinary));
    EXPECT_EQ(decoder.on_binary("").error(), err(Errc::kUnexpectedBinary));
    ASSERT_TRUE(decoder.on_text("2[\"a\"]"));
    EXPECT_EQ(decoder.on_binary("\x01").error(), err(Errc::kUnexpectedBinary));
}

TEST(SocketIoDecoder, ExplicitReset) {
    Decoder decoder;
    ASSERT_TRUE(decoder.on_text(cat({R"(51-["a",)", kPh0, "]"})));
    decoder.reset();
    EXPECT_FALSE(decoder.awaiting_attachments());
    EXPECT_EQ(decoder.on_binary("x").error(), err(Errc::kUnexpectedBinary));
}

TEST(SocketIoEncode, Goldens) {
    std::string out;
    encode(out, PacketType::kEvent, "/", std::nullopt, R"(["auth",{}])");
    EXPECT_EQ(out, R"(2["auth",{}])");

    out.clear();
    encode(out, PacketType::kConnect, "/custom", std::nullopt, R"({"sid":"x"})");
    EXPECT_EQ(out, R"(0/custom,{"sid":"x"})");

    out.clear();
    encode(out, PacketType::kBinaryAck, "/", 789, cat({"[", kPh0, ",", kPh1, "]"}), 2);
    EXPECT_EQ(out, cat({"62-789[", kPh0, ",", kPh1, "]"}));

    out.clear();
    encode(out, PacketType::kDisconnect, "/custom", std::nullopt, "");
    EXPECT_EQ(out, "1/custom,");

    out.clear();
    encode(out, PacketType::kConnectError, "/random", std::nullopt,
           R"({"message":"Invalid namespace"})");
    EXPECT_EQ(out, R"(4/random,{"message":"Invalid namespace"})");

    out = "4";  // as sent inside an Engine.IO message
    encode(out, PacketType::kAck, "/", 456, R"([1,"2",{"3":[false]}])");
    EXPECT_EQ(out, R"(43456[1,"2",{"3":[false]}])");

    out.clear();
    encode(out, PacketType::kConnect, "/", std::nullopt, "");
    encode(out, PacketType::kDisconnect, "", std::nullopt, "");  // empty nsp means "/"
    encode(out, PacketType::kBinaryEvent, "/admin", std::nullopt, R"(["a"])", 0);
    EXPECT_EQ(out, R"(0150-/admin,["a"])");

    out.clear();
    encode(out, PacketType::kEvent, "/", std::uint64_t{0}, R"(["a"])");
    EXPECT_EQ(out, R"(20["a"])");
}

TEST(SocketIoEncode, EveryTypeRoundTrips) {
    struct Case {
        PacketType type;
        std::string nsp;
        std::optional<std::uint64_t> id;
        std::string payload;
        std::uint32_t attachments;
    };
    const Case cases[] = {
        {PacketType::kConnect, "/", std::nullopt, "", 0},
        {PacketType::kConnect, "/admin", std::nullopt, R"({"sid":"abc","pid":"def"})", 0},
        {PacketType::kDisconnect, "/admin", std::nullopt, "", 0},
        {PacketType::kEvent, "/", 8446744073709551615ULL, R"(["e",-1,0.5,"s",null,true,{"k":[]}])",
         0},
        {PacketType::kAck, "/chat", 0, "[]", 0},
        {PacketType::kConnectError, "/x", std::nullopt, R"({"message":"no","data":{"a":1}})", 0},
        {PacketType::kConnectError, "/", std::nullopt, R"("Not authorized")", 0},
        {PacketType::kBinaryEvent, "/bin", 3, cat({R"(["up",)", kPh1, ",", kPh0, "]"}), 2},
        {PacketType::kBinaryAck, "/", 7, cat({"[", kPh0, "]"}), 1},
    };
    for (const auto& c : cases) {
        std::string text;
        encode(text, c.type, c.nsp, c.id, c.payload, c.attachments);
        SCOPED_TRACE(text);
        auto packet = decode_all(text);
        ASSERT_TRUE(packet) << packet.error().message();
        EXPECT_EQ(packet->type, c.type);
        EXPECT_EQ(packet->nsp, c.nsp);
        EXPECT_EQ(packet->id, c.id);
        EXPECT_EQ(packet->data ? to_json(*packet->data) : "", c.payload);
        EXPECT_EQ(packet->attachments.size(), c.attachments);
        EXPECT_EQ(reencode(*packet), text);
    }
}

TEST(SocketIoPlaceholder, Helpers) {
    std::string out;
    write_placeholder(out, 3);
    EXPECT_EQ(out, R"({"_placeholder":true,"num":3})");
    EXPECT_EQ(to_json(make_placeholder(0)), kPh0);
    EXPECT_EQ(*parse_json(kPh1), make_placeholder(1));

    std::uint32_t num = 99;
    EXPECT_TRUE(is_placeholder(make_placeholder(7), num));
    EXPECT_EQ(num, 7u);
    EXPECT_TRUE(is_placeholder(*parse_json(R"({"num":4,"_placeholder":true})"), num));
    EXPECT_EQ(num, 4u);

    for (std::string_view text : {
             R"({"_placeholder":true})",
             R"({"_placeholder":false,"num":0})",
             R"({"_placeholder":1,"num":0})",
             R"({"_placeholder":true,"num":-1})",
             R"({"_placeholder":true,"num":1.0})",
             R"({"_placeholder":true,"num":"1"})",
             R"({"_placeholder":true,"num":4294967296})",
             R"({"_placeholder":true,"num":0,"extra":0})",
             R"({"placeholder":true,"num":0})",
             R"([true,0])",
             R"(0)",
         }) {
        EXPECT_FALSE(is_placeholder(*parse_json(text), num)) << text;
    }
}

TEST(SocketIoPlaceholder, Validation) {
    auto v = [](std::string_view text) { return *parse_json(text); };
    EXPECT_TRUE(placeholders_valid(v(R"(["a",1,{"b":[null]}])"), 0));
    EXPECT_TRUE(placeholders_valid(v(cat({"[", kPh0, ",", kPh1, "]"})), 2));
    EXPECT_FALSE(placeholders_valid(v(cat({"[", kPh0, ",", kPh1, "]"})), 1));
    EXPECT_TRUE(placeholders_valid(v(cat({R"({"x":{"y":[)", kPh1, "]}}"})), 2));
    EXPECT_FALSE(placeholders_valid(v(cat({R"({"x":{"y":[)", kPh1, "]}}"})), 1));
    // Not meant as placeholders: left alone (and searched inside).
    EXPECT_TRUE(placeholders_valid(v(R"([{"_placeholder":false,"num":9}])"), 0));
    EXPECT_FALSE(placeholders_valid(v(cat({R"([{"_placeholder":false,"inner":)", kPh0, "}]"})), 0));
    // Meant as placeholders but malformed.
    EXPECT_FALSE(placeholders_valid(v(R"([{"_placeholder":true}])"), 5));
    EXPECT_FALSE(placeholders_valid(v(R"([{"_placeholder":true,"num":0,"x":0}])"), 5));
    EXPECT_TRUE(placeholders_valid(v("\"s\""), 0));
}

TEST(SocketIo, ReservedEvents) {
    for (std::string_view name : {"connect", "connect_error", "disconnect", "disconnecting",
                                  "newListener", "removeListener"}) {
        EXPECT_TRUE(is_reserved_event(name)) << name;
    }
    for (std::string_view name : {"", "message", "Connect", "connect ", "error", "ping"}) {
        EXPECT_FALSE(is_reserved_event(name)) << name;
    }
}

TEST(SocketIo, GarbageNeverCrashes) {
    const std::string_view pool = "0123456-/,[]{}\"_placeholder:truenum\xFF";
    std::mt19937 rng(13);
    Decoder decoder;
    for (int i = 0; i < 20000; ++i) {
        std::string text(rng() % 40, '\0');
        for (char& c : text) {
            c = i % 4 == 0 ? static_cast<char>(rng()) : pool[rng() % pool.size()];
        }
        // Interleave texts and binaries so every state of the decoder sees junk.
        auto result = rng() % 4 == 0 ? decoder.on_binary(text) : decoder.on_text(text);
        if (result && result->has_value()) {
            const Packet& p = **result;
            // Anything accepted re-encodes and decodes to the same packet.
            Decoder again;
            auto round = again.on_text(reencode(p));
            ASSERT_TRUE(round) << reencode(p);
            if (round->has_value()) {
                EXPECT_EQ(reencode(**round), reencode(p));
            }
        }
        (void)decode_header(text);
    }
}

}  // namespace
}  // namespace roomcast::protocol::sio
