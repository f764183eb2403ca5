#include "roomcast/protocol/websocket.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace roomcast::protocol::ws {
namespace {

boost::system::error_code err(Errc e) {
    return make_error_code(e);
}

// RFC 6455 §5.7 uses this masking key in its examples.
constexpr std::uint8_t kKey[4] = {0x37, 0xfa, 0x21, 0x3d};

std::string bytes(std::initializer_list<int> list) {
    std::string s;
    for (int b : list) {
        s += static_cast<char>(b);
    }
    return s;
}

// Records every callback as one string; can refuse to continue after `stop_after` events.
class RecordingSink : public ReaderSink {
public:
    std::vector<std::string> events;
    std::vector<const char*> payload_pointers;
    std::size_t stop_after = SIZE_MAX;

    bool on_message(Opcode opcode, std::string_view payload) override {
        payload_pointers.push_back(payload.data());
        return record((opcode == Opcode::kText ? "text:" : "binary:") + std::string(payload));
    }
    bool on_ping(std::string_view payload) override {
        return record("ping:" + std::string(payload));
    }
    bool on_pong(std::string_view payload) override {
        return record("pong:" + std::string(payload));
    }
    bool on_close(std::uint16_t code, std::string_view reason) override {
        return record("close:" + std::to_string(code) + ":" + std::string(reason));
    }

private:
    bool record(std::string event) {
        events.push_back(std::move(event));
        return events.size() < stop_after;
    }
};

// A frame as a client (masked, the default) or a server sends it. `first_byte_bits` ORs into
// byte 0, for RSV bits.
std::string frame(Opcode opcode, std::string_view payload, bool fin = true, bool masked = true,
                  std::uint8_t first_byte_bits = 0) {
    std::uint8_t header[kMaxHeaderSize];
    const std::size_t n =
        encode_header(header, opcode, fin, payload.size(), masked ? kKey : nullptr);
    header[0] |= first_byte_bits;
    std::string out(reinterpret_cast<const char*>(header), n);
    const std::size_t start = out.size();
    out += payload;
    if (masked) {
        apply_mask(out.data() + start, payload.size(), kKey);
    }
    return out;
}

// A masked frame whose length uses the 64-bit (or 16-bit) form even when shorter would do, to
// exercise those paths with small payloads.
std::string long_form_frame(Opcode opcode, std::string_view payload, bool use64) {
    std::string out;
    out += static_cast<char>(0x80 | static_cast<int>(opcode));
    out += static_cast<char>(0x80 | (use64 ? 127 : 126));
    const int len_bytes = use64 ? 8 : 2;
    for (int i = len_bytes - 1; i >= 0; --i) {
        out += static_cast<char>((payload.size() >> (8 * i)) & 0xFF);
    }
    out.append(reinterpret_cast<const char*>(kKey), 4);
    const std::size_t start = out.size();
    out += payload;
    apply_mask(out.data() + start, payload.size(), kKey);
    return out;
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xFF);
    p += reason;
    return p;
}

struct Outcome {
    Result<void> result;
    std::vector<std::string> events;
    std::size_t buffered = 0;
};

bool same(const Result<void>& a, const Result<void>& b) {
    return a.has_value() == b.has_value() && (a.has_value() || a.error() == b.error());
}

// Feeds `stream` cut into pieces of the given sizes (the rest as a final piece); stops at the
// first error, as a transport would.
Outcome feed_chunks(Role role, const std::string& stream, const std::vector<std::size_t>& sizes,
                    ReaderLimits limits = {}) {
    Reader reader(role, limits);
    RecordingSink sink;
    std::vector<char> buffer(stream.begin(), stream.end());
    std::size_t pos = 0;
    Outcome outcome{Result<void>(), {}, 0};
    auto feed = [&](std::size_t n) {
        std::span<char> piece(buffer.data() + pos, n);
        pos += n;
        outcome.result = reader.feed(piece, sink);
        return outcome.result.has_value();
    };
    bool ok = true;
    for (std::size_t size : sizes) {
        if (!ok || pos == buffer.size()) {
            break;
        }
        ok = feed(std::min(size, buffer.size() - pos));
    }
    if (ok && pos < buffer.size()) {
        feed(buffer.size() - pos);
    }
    outcome.events = sink.events;
    outcome.buffered = reader.buffered();
    return outcome;
}

Outcome feed_whole(Role role, const std::string& stream, ReaderLimits limits = {}) {
    return feed_chunks(role, stream, {}, limits);
}

Outcome feed_bytewise(Role role, const std::string& stream, ReaderLimits limits = {}) {
    return feed_chunks(role, stream, std::vector<std::size_t>(stream.size(), 1), limits);
}

// ---------------------------------------------------------------------------------------------
// Handshake helpers

TEST(WebSocketHandshake, AcceptKeyRfcExample) {
    // RFC 6455 §1.3.
    EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, ValidClientKey) {
    EXPECT_TRUE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
    EXPECT_TRUE(valid_client_key("AAAAAAAAAAAAAAAAAAAAAA=="));
    EXPECT_FALSE(valid_client_key(""));
    EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ="));    // truncated
    EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZSE="));   // 17 bytes
    EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25j"));       // 15 bytes
    EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ!!"));   // bad characters
    EXPECT_FALSE(valid_client_key(" dGhlIHNhbXBsZSBub25jZQ=="));  // whitespace
}

// ---------------------------------------------------------------------------------------------
// Writing

TEST(WebSocketWrite, HeaderUsesMinimalLengthEncoding) {
    std::uint8_t h[kMaxHeaderSize];
    auto header = [&h](std::size_t n) { return std::string(reinterpret_cast<char*>(h), n); };

    EXPECT_EQ(header(encode_header(h, Opcode::kText, true, 0)), bytes({0x81, 0x00}));
    EXPECT_EQ(header(encode_header(h, Opcode::kText, true, 125)), bytes({0x81, 0x7D}));
    EXPECT_EQ(header(encode_header(h, Opcode::kBinary, true, 126)),
              bytes({0x82, 0x7E, 0x00, 0x7E}));
    EXPECT_EQ(header(encode_header(h, Opcode::kBinary, true, 65535)),
              bytes({0x82, 0x7E, 0xFF, 0xFF}));
    EXPECT_EQ(header(encode_header(h, Opcode::kBinary, true, 65536)),
              bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}));
    EXPECT_EQ(header(encode_header(h, Opcode::kBinary, true, 0x0102030405060708ULL)),
              bytes({0x82, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(header(encode_header(h, Opcode::kText, false, 3)), bytes({0x01, 0x03}));
    EXPECT_EQ(header(encode_header(h, Opcode::kContinuation, true, 2)), bytes({0x80, 0x02}));
    EXPECT_EQ(header(encode_header(h, Opcode::kPing, true, 5, kKey)),
              bytes({0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d}));
    EXPECT_EQ(encode_header(h, Opcode::kBinary, true, 65536, kKey), kMaxHeaderSize);
    EXPECT_EQ(header(14), bytes({0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0x37, 0xfa, 0x21, 0x3d}));
}

TEST(WebSocketWrite, RfcExampleFrames) {
    std::string out;
    append_frame(out, Opcode::kText, "Hello");
    EXPECT_EQ(out, bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));

    out.clear();
    append_frame(out, Opcode::kText, "Hello", kKey);
    EXPECT_EQ(out, bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));

    out.clear();
    append_frame(out, Opcode::kPing, "Hello");
    EXPECT_EQ(out, bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));

    out.clear();
    append_frame(out, Opcode::kPong, "Hello", kKey);
    EXPECT_EQ(out, bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));

    out.clear();
    append_frame(out, Opcode::kBinary, std::string(256, 'x'));
    EXPECT_EQ(out.substr(0, 4), bytes({0x82, 0x7E, 0x01, 0x00}));
    EXPECT_EQ(out.size(), 4u + 256u);

    out.clear();
    append_frame(out, Opcode::kBinary, std::string(65536, 'x'));
    EXPECT_EQ(out.substr(0, 10), bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}));
    EXPECT_EQ(out.size(), 10u + 65536u);
}

TEST(WebSocketWrite, ApplyMaskMatchesBytewiseXorAtAnyOffsetAndAlignment) {
    std::mt19937 rng(21);
    for (std::size_t align = 0; align < 8; ++align) {
        for (std::size_t len = 0; len <= 40; ++len) {
            for (std::size_t offset = 0; offset < 8; ++offset) {
                std::vector<char> storage(align + len);
                for (char& c : storage) {
                    c = static_cast<char>(rng());
                }
                std::vector<char> expected = storage;
                for (std::size_t i = 0; i < len; ++i) {
                    expected[align + i] = static_cast<char>(
                        static_cast<std::uint8_t>(expected[align + i]) ^ kKey[(offset + i) % 4]);
                }
                apply_mask(storage.data() + align, len, kKey, offset);
                ASSERT_EQ(storage, expected) << align << " " << len << " " << offset;
            }
        }
    }
}

TEST(WebSocketWrite, ApplyMaskInPiecesEqualsWhole) {
    std::string data(1000, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<char>(i * 7);
    }
    std::string whole = data;
    apply_mask(whole.data(), whole.size(), kKey);
    std::string pieces = data;
    std::size_t done = 0;
    for (std::size_t step : {1, 3, 8, 13, 100, 875}) {
        apply_mask(pieces.data() + done, step, kKey, done);
        done += step;
    }
    ASSERT_EQ(done, data.size());
    EXPECT_EQ(pieces, whole);
    apply_mask(whole.data(), whole.size(), kKey);
    EXPECT_EQ(whole, data);  // masking is an involution
}

TEST(WebSocketWrite, CloseFrames) {
    std::string out;
    append_close(out, close_code::kNormal, "bye");
    EXPECT_EQ(out, bytes({0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'}));

    out.clear();
    append_close(out, close_code::kGoingAway);
    EXPECT_EQ(out, bytes({0x88, 0x02, 0x03, 0xE9}));

    out.clear();
    append_close(out, close_code::kNoStatus, "ignored");
    EXPECT_EQ(out, bytes({0x88, 0x00}));

    out.clear();
    append_close(out, close_code::kNormal, "", kKey);
    EXPECT_EQ(out, bytes({0x88, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x03 ^ 0x37, 0xE8 ^ 0xfa}));

    // Long reasons are cut to 123 bytes, at a character boundary.
    out.clear();
    append_close(out, close_code::kPolicyViolation, std::string(200, 'r'));
    EXPECT_EQ(out.size(), 2u + 125u);
    EXPECT_EQ(out.substr(4), std::string(123, 'r'));

    out.clear();
    const std::string reason = std::string(122, 'r') + "\xC3\xA9" + "tail";  // é spans 122..123
    append_close(out, close_code::kPolicyViolation, reason);
    EXPECT_EQ(out.size(), 2u + 2u + 122u);
    EXPECT_EQ(out.substr(4), std::string(122, 'r'));

    // What we write, a peer reader accepts.
    Reader reader(Role::kClient);
    RecordingSink sink;
    out.clear();
    append_close(out, close_code::kPolicyViolation, reason);
    ASSERT_TRUE(reader.feed(std::span<char>(out.data(), out.size()), sink));
    EXPECT_EQ(sink.events, (std::vector<std::string>{"close:1008:" + std::string(122, 'r')}));
}

TEST(WebSocketWrite, CloseCodeForErrors) {
    EXPECT_EQ(close_code_for(err(Errc::kWsProtocolError)), 1002);
    EXPECT_EQ(close_code_for(err(Errc::kWsInvalidUtf8)), 1007);
    EXPECT_EQ(close_code_for(err(Errc::kWsMessageTooBig)), 1009);
    EXPECT_EQ(close_code_for(err(Errc::kInvalidJson)), 1011);
    EXPECT_EQ(close_code_for(boost::system::error_code()), 1011);
    EXPECT_EQ(close_code_for(make_error_code(boost::system::errc::protocol_error)), 1011);
}

// ---------------------------------------------------------------------------------------------
// Reading

TEST(WebSocketReader, RfcExamples) {
    // Server role: the masked "Hello" from a client.
    auto masked = feed_whole(
        Role::kServer, bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
    ASSERT_TRUE(masked.result);
    EXPECT_EQ(masked.events, (std::vector<std::string>{"text:Hello"}));

    // Client role: unmasked single frame, fragmented message, ping.
    auto client =
        feed_whole(Role::kClient, bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f,     // "Hello"
                                         0x01, 0x03, 0x48, 0x65, 0x6c,                 // "Hel"
                                         0x80, 0x02, 0x6c, 0x6f,                       // "lo"
                                         0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));  // ping
    ASSERT_TRUE(client.result);
    EXPECT_EQ(client.events, (std::vector<std::string>{"text:Hello", "text:Hello", "ping:Hello"}));
    EXPECT_EQ(client.buffered, 0u);
}

TEST(WebSocketReader, CompleteFramesAreDeliveredWithoutCopying) {
    std::string stream = frame(Opcode::kText, "first") + frame(Opcode::kBinary, "second");
    std::vector<char> buffer(stream.begin(), stream.end());
    Reader reader(Role::kServer);
    RecordingSink sink;
    ASSERT_TRUE(reader.feed(std::span<char>(buffer), sink));
    ASSERT_EQ(sink.payload_pointers.size(), 2u);
    for (const char* p : sink.payload_pointers) {
        EXPECT_GE(p, buffer.data());
        EXPECT_LT(p, buffer.data() + buffer.size());
    }
    EXPECT_EQ(sink.events, (std::vector<std::string>{"text:first", "binary:second"}));
    // Unmasked in place.
    EXPECT_EQ(std::string(buffer.begin() + 6, buffer.begin() + 11), "first");
    EXPECT_EQ(reader.buffered(), 0u);
}

TEST(WebSocketReader, PartialFrameIsHeldUntilComplete) {
    const std::string f = frame(Opcode::kText, "hello world");
    std::vector<char> buffer(f.begin(), f.end());
    Reader reader(Role::kServer);
    RecordingSink sink;
    ASSERT_TRUE(reader.feed(std::span<char>(buffer.data(), 9), sink));
    EXPECT_TRUE(sink.events.empty());
    EXPECT_EQ(reader.buffered(), 9u);
    ASSERT_TRUE(reader.feed(std::span<char>(buffer.data() + 9, buffer.size() - 9), sink));
    EXPECT_EQ(sink.events, (std::vector<std::string>{"text:hello world"}));
    EXPECT_EQ(reader.buffered(), 0u);
    reader.shrink();
    EXPECT_EQ(reader.buffered(), 0u);
    ASSERT_TRUE(reader.feed(std::span<char>(), sink));  // empty input is fine
}

TEST(WebSocketReader, LengthForms) {
    const std::string s16(300, 'a');
    const std::string s64(70000, 'b');
    auto out = feed_whole(Role::kServer, frame(Opcode::kText, s16) + frame(Opcode::kBinary, s64) +
                                             long_form_frame(Opcode::kText, "x", false) +
                                             long_form_frame(Opcode::kBinary, "yz", true) +
                                             frame(Opcode::kText, ""));
    ASSERT_TRUE(out.result);
    EXPECT_EQ(out.events, (std::vector<std::string>{"text:" + s16, "binary:" + s64, "text:x",
                                                    "binary:yz", "text:"}));
}

TEST(WebSocketReader, ControlFramesInterleavedWithFragments) {
    const std::string stream =
        frame(Opcode::kText, "He", false) + frame(Opcode::kPing, "p1") +
        frame(Opcode::kContinuation, "l", false) + frame(Opcode::kPong, "p2") +
        frame(Opcode::kContinuation, "lo", true) + frame(Opcode::kBinary, "\x01\x02", false) +
        frame(Opcode::kContinuation, "", false) + frame(Opcode::kContinuation, "\x03", true);
    auto out = feed_whole(Role::kServer, stream);
    ASSERT_TRUE(out.result);
    EXPECT_EQ(out.events, (std::vector<std::string>{"ping:p1", "pong:p2", "text:Hello",
                                                    "binary:\x01\x02\x03"}));

    // While a message is unfinished its fragments are held.
    Reader reader(Role::kServer);
    RecordingSink sink;
    std::string first = frame(Opcode::kBinary, "12345", false);
    ASSERT_TRUE(reader.feed(std::span<char>(first.data(), first.size()), sink));
    EXPECT_EQ(reader.buffered(), 5u);
    reader.shrink();  // nothing freed while fragments are held
    EXPECT_EQ(reader.buffered(), 5u);
    std::string last = frame(Opcode::kContinuation, "6", true);
    ASSERT_TRUE(reader.feed(std::span<char>(last.data(), last.size()), sink));
    EXPECT_EQ(sink.events, (std::vector<std::string>{"binary:123456"}));
    EXPECT_EQ(reader.buffered(), 0u);
}

TEST(WebSocketReader, Utf8AcrossFragments) {
    // "€" split between fragments is fine...
    auto ok = feed_whole(Role::kServer, frame(Opcode::kText, "a\xE2\x82", false) +
                                            frame(Opcode::kContinuation, "\xAC\x62"));
    ASSERT_TRUE(ok.result);
    EXPECT_EQ(ok.events, (std::vector<std::string>{"text:a\xE2\x82\xAC\x62"}));

    // ...an impossible sequence fails at the fragment that shows it, before the message ends...
    auto fast = feed_whole(Role::kServer, frame(Opcode::kText, "ab\xC0", false));
    EXPECT_EQ(fast.result.error(), err(Errc::kWsInvalidUtf8));
    auto fast2 = feed_whole(Role::kServer, frame(Opcode::kText, "a\xED", false) +
                                               frame(Opcode::kContinuation, "\xA0", false));
    EXPECT_EQ(fast2.result.error(), err(Errc::kWsInvalidUtf8));

    // ...and a message may not end inside a sequence.
    auto truncated = feed_whole(
        Role::kServer, frame(Opcode::kText, "a", false) + frame(Opcode::kContinuation, "\xE2\x82"));
    EXPECT_EQ(truncated.result.error(), err(Errc::kWsInvalidUtf8));

    // A new text message starts with a fresh validator.
    auto two =
        feed_whole(Role::kServer,
                   frame(Opcode::kText, "\xC3", false) + frame(Opcode::kContinuation, "\xA9") +
                       frame(Opcode::kText, "\xC3\xA9", false) + frame(Opcode::kContinuation, ""));
    ASSERT_TRUE(two.result);
    EXPECT_EQ(two.events, (std::vector<std::string>{"text:\xC3\xA9", "text:\xC3\xA9"}));
}

TEST(WebSocketReader, Utf8InSingleFrames) {
    EXPECT_EQ(feed_whole(Role::kServer, frame(Opcode::kText, "\xED\xA0\x80")).result.error(),
              err(Errc::kWsInvalidUtf8));
    EXPECT_EQ(feed_whole(Role::kServer, frame(Opcode::kText, "ok\xF4\x90\x80\x80")).result.error(),
              err(Errc::kWsInvalidUtf8));
    EXPECT_EQ(feed_whole(Role::kServer, frame(Opcode::kText, "\xE2\x82")).result.error(),
              err(Errc::kWsInvalidUtf8));
    // Binary messages and ping payloads are not text.
    auto binary = feed_whole(Role::kServer,
                             frame(Opcode::kBinary, "\xFF\xC0") + frame(Opcode::kPing, "\xFF"));
    ASSERT_TRUE(binary.result);
    EXPECT_EQ(binary.events, (std::vector<std::string>{"binary:\xFF\xC0", "ping:\xFF"}));
}

TEST(WebSocketReader, CloseFrames) {
    auto empty = feed_whole(Role::kServer, frame(Opcode::kClose, ""));
    ASSERT_TRUE(empty.result);
    EXPECT_EQ(empty.events, (std::vector<std::string>{"close:1005:"}));

    auto with_reason = feed_whole(Role::kServer, frame(Opcode::kClose, close_payload(1000, "bye")));
    ASSERT_TRUE(with_reason.result);
    EXPECT_EQ(with_reason.events, (std::vector<std::string>{"close:1000:bye"}));

    auto longest = feed_whole(Role::kServer,
                              frame(Opcode::kClose, close_payload(4999, std::string(123, 'r'))));
    ASSERT_TRUE(longest.result);

    EXPECT_EQ(feed_whole(Role::kServer, frame(Opcode::kClose, "\x03")).result.error(),
              err(Errc::kWsProtocolError));
    EXPECT_EQ(feed_whole(Role::kServer, frame(Opcode::kClose, close_payload(1000, "\xC0")))
                  .result.error(),
              err(Errc::kWsInvalidUtf8));
    EXPECT_EQ(
        feed_whole(Role::kServer, frame(Opcode::kClose, close_payload(1000, std::string(124, 'r'))))
            .result.error(),
        err(Errc::kWsProtocolError));
}

TEST(WebSocketReader, CloseCodeValidity) {
    for (int code :
         {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}) {
        auto out = feed_whole(
            Role::kServer, frame(Opcode::kClose, close_payload(static_cast<std::uint16_t>(code))));
        ASSERT_TRUE(out.result) << code;
        EXPECT_EQ(out.events, (std::vector<std::string>{"close:" + std::to_string(code) + ":"}));
    }
    for (int code :
         {0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        auto out = feed_whole(
            Role::kServer, frame(Opcode::kClose, close_payload(static_cast<std::uint16_t>(code))));
        EXPECT_EQ(out.result.error(), err(Errc::kWsProtocolError)) << code;
        EXPECT_TRUE(out.events.empty());
    }
}

struct BadStream {
    const char* name;
    Role role;
    std::string stream;
    Errc error;
};

std::vector<BadStream> bad_streams() {
    std::vector<BadStream> cases = {
        {"unmasked from client", Role::kServer, frame(Opcode::kText, "a", true, false),
         Errc::kWsProtocolError},
        {"masked from server", Role::kClient, frame(Opcode::kText, "a", true, true),
         Errc::kWsProtocolError},
        {"rsv1", Role::kServer, frame(Opcode::kText, "a", true, true, 0x40),
         Errc::kWsProtocolError},
        {"rsv2", Role::kServer, frame(Opcode::kText, "a", true, true, 0x20),
         Errc::kWsProtocolError},
        {"rsv3", Role::kServer, frame(Opcode::kPing, "", true, true, 0x10), Errc::kWsProtocolError},
        {"ping too long", Role::kServer, frame(Opcode::kPing, std::string(126, 'p')),
         Errc::kWsProtocolError},
        {"pong too long", Role::kServer, frame(Opcode::kPong, std::string(200, 'p')),
         Errc::kWsProtocolError},
        {"fragmented ping", Role::kServer, frame(Opcode::kPing, "p", false),
         Errc::kWsProtocolError},
        {"fragmented close", Role::kServer, frame(Opcode::kClose, "", false),
         Errc::kWsProtocolError},
        {"continuation first", Role::kServer, frame(Opcode::kContinuation, "a"),
         Errc::kWsProtocolError},
        {"continuation after complete message", Role::kServer,
         frame(Opcode::kText, "a") + frame(Opcode::kContinuation, "b"), Errc::kWsProtocolError},
        {"text inside fragmented message", Role::kServer,
         frame(Opcode::kText, "a", false) + frame(Opcode::kText, "b"), Errc::kWsProtocolError},
        {"binary inside fragmented message", Role::kServer,
         frame(Opcode::kBinary, "a", false) + frame(Opcode::kBinary, "b", false),
         Errc::kWsProtocolError},
        {"64-bit length top bit", Role::kServer,
         bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}), Errc::kWsProtocolError},
        {"64-bit length huge", Role::kServer,
         bytes({0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}), Errc::kWsMessageTooBig},
        {"close one byte", Role::kServer, frame(Opcode::kClose, "x"), Errc::kWsProtocolError},
        {"invalid text", Role::kServer, frame(Opcode::kText, "\xFF"), Errc::kWsInvalidUtf8},
    };
    for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
        cases.push_back({"reserved opcode", Role::kServer, frame(static_cast<Opcode>(op), "x"),
                         Errc::kWsProtocolError});
    }
    return cases;
}

TEST(WebSocketReader, ProtocolViolations) {
    for (const auto& c : bad_streams()) {
        SCOPED_TRACE(c.name);
        auto whole = feed_whole(c.role, c.stream);
        ASSERT_FALSE(whole.result);
        EXPECT_EQ(whole.result.error(), err(c.error));
        auto bytewise = feed_bytewise(c.role, c.stream);
        ASSERT_FALSE(bytewise.result);
        EXPECT_EQ(bytewise.result.error(), err(c.error));
        EXPECT_EQ(bytewise.events, whole.events);
    }
}

TEST(WebSocketReader, MessageSizeDecidedFromHeader) {
    const ReaderLimits limits{.max_message = 100};
    auto at_limit =
        feed_whole(Role::kServer, frame(Opcode::kBinary, std::string(100, 'x')), limits);
    ASSERT_TRUE(at_limit.result);

    // Only the 8 header bytes of a 101-byte frame: refused before any payload arrives.
    const std::string too_big = frame(Opcode::kBinary, std::string(101, 'x'));
    Reader reader(Role::kServer, limits);
    RecordingSink sink;
    std::vector<char> buffer(too_big.begin(), too_big.end());
    ASSERT_TRUE(reader.feed(std::span<char>(buffer.data(), 3), sink));
    auto result = reader.feed(std::span<char>(buffer.data() + 3, 5), sink);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error(), err(Errc::kWsMessageTooBig));

    // The same when the header arrives in one piece with nothing after it.
    Reader reader2(Role::kServer, limits);
    auto header_only = reader2.feed(std::span<char>(buffer.data(), 8), sink);
    EXPECT_EQ(header_only.error(), err(Errc::kWsMessageTooBig));

    // Fragments count together.
    auto sum_at_limit = feed_whole(Role::kServer,
                                   frame(Opcode::kText, std::string(60, 'a'), false) +
                                       frame(Opcode::kContinuation, std::string(40, 'b')),
                                   limits);
    ASSERT_TRUE(sum_at_limit.result);
    auto sum_over = feed_whole(Role::kServer,
                               frame(Opcode::kText, std::string(60, 'a'), false) +
                                   frame(Opcode::kContinuation, std::string(41, 'b')),
                               limits);
    EXPECT_EQ(sum_over.result.error(), err(Errc::kWsMessageTooBig));
    // Control frames are not counted.
    auto with_ping = feed_whole(Role::kServer,
                                frame(Opcode::kText, std::string(60, 'a'), false) +
                                    frame(Opcode::kPing, std::string(100, 'p')) +
                                    frame(Opcode::kContinuation, std::string(40, 'b')),
                                limits);
    ASSERT_TRUE(with_ping.result);
}

TEST(WebSocketReader, SinkStopsParsing) {
    const std::string stream =
        frame(Opcode::kText, "one") + frame(Opcode::kText, "two") + frame(Opcode::kText, "three");
    {
        Reader reader(Role::kServer);
        RecordingSink sink;
        sink.stop_after = 1;
        std::vector<char> buffer(stream.begin(), stream.end() - 2);  // third frame incomplete
        ASSERT_TRUE(reader.feed(std::span<char>(buffer), sink));
        EXPECT_EQ(sink.events, (std::vector<std::string>{"text:one"}));
        EXPECT_EQ(reader.buffered(), 0u);  // the rest was dropped, not kept
    }
    {
        // Stopping on a frame completed from held bytes drops what followed it.
        Reader reader(Role::kServer);
        RecordingSink sink;
        sink.stop_after = 1;
        std::vector<char> buffer(stream.begin(), stream.end());
        ASSERT_TRUE(reader.feed(std::span<char>(buffer.data(), 4), sink));
        ASSERT_TRUE(reader.feed(std::span<char>(buffer.data() + 4, buffer.size() - 4), sink));
        EXPECT_EQ(sink.events, (std::vector<std::string>{"text:one"}));
        EXPECT_EQ(reader.buffered(), 0u);
    }
    {
        Reader reader(Role::kServer);
        RecordingSink sink;
        sink.stop_after = 1;
        std::string close = frame(Opcode::kClose, close_payload(1000)) + frame(Opcode::kText, "x");
        ASSERT_TRUE(reader.feed(std::span<char>(close.data(), close.size()), sink));
        EXPECT_EQ(sink.events, (std::vector<std::string>{"close:1000:"}));
    }
}

// A stream touching every feature; no 64 KiB frame so that every split point stays cheap.
std::string mixed_stream() {
    return frame(Opcode::kText, "Hello") + frame(Opcode::kPing, "ping!") +
           frame(Opcode::kBinary, std::string_view("\x00\x01\x02", 3), false) +
           frame(Opcode::kPong, "") + frame(Opcode::kContinuation, "\x03\x04", false) +
           frame(Opcode::kContinuation, "\x05", true) +
           frame(Opcode::kText, std::string(200, 'z') + "\xE2\x82\xAC") +
           long_form_frame(Opcode::kText, "long64", true) +
           long_form_frame(Opcode::kBinary, "long16", false) + frame(Opcode::kText, "") +
           frame(Opcode::kText, "\xF0\x9D", false) + frame(Opcode::kContinuation, "\x84\x9E") +
           frame(Opcode::kClose, close_payload(1001, "going"));
}

const std::vector<std::string>& mixed_events() {
    static const std::vector<std::string> events = {
        "text:Hello",
        "ping:ping!",
        "pong:",
        std::string("binary:\x00\x01\x02\x03\x04\x05", 13),
        "text:" + std::string(200, 'z') + "\xE2\x82\xAC",
        "text:long64",
        "binary:long16",
        "text:",
        "text:\xF0\x9D\x84\x9E",
        "close:1001:going",
    };
    return events;
}

TEST(WebSocketReader, MixedStreamWholeAndBytewise) {
    const std::string stream = mixed_stream();
    auto whole = feed_whole(Role::kServer, stream);
    ASSERT_TRUE(whole.result);
    EXPECT_EQ(whole.events, mixed_events());
    auto bytewise = feed_bytewise(Role::kServer, stream);
    ASSERT_TRUE(bytewise.result);
    EXPECT_EQ(bytewise.events, mixed_events());
    EXPECT_EQ(bytewise.buffered, 0u);
}

TEST(WebSocketReader, MixedStreamSplitAtEveryPoint) {
    const std::string stream = mixed_stream();
    for (std::size_t split = 0; split <= stream.size(); ++split) {
        auto out = feed_chunks(Role::kServer, stream, {split});
        ASSERT_TRUE(out.result) << split;
        ASSERT_EQ(out.events, mixed_events()) << split;
        ASSERT_EQ(out.buffered, 0u);
    }
}

TEST(WebSocketReader, RandomChunkings) {
    // Includes a 64-bit-length frame of 70000 bytes.
    const std::string big(70000, 'q');
    const std::string stream = mixed_stream() + frame(Opcode::kBinary, big) + mixed_stream();
    std::vector<std::string> expected = mixed_events();
    expected.push_back("binary:" + big);
    expected.insert(expected.end(), mixed_events().begin(), mixed_events().end());
    std::mt19937 rng(99);
    for (int iteration = 0; iteration < 200; ++iteration) {
        std::vector<std::size_t> sizes;
        const std::size_t max_chunk = iteration % 2 == 0 ? 16 : 4096;
        for (std::size_t total = 0; total < stream.size();) {
            const std::size_t n = rng() % max_chunk;  // zero-length feeds included
            sizes.push_back(n);
            total += n;
        }
        auto out = feed_chunks(Role::kServer, stream, sizes);
        ASSERT_TRUE(out.result) << iteration;
        ASSERT_EQ(out.events, expected) << iteration;
    }
    auto bytewise = feed_bytewise(Role::kServer, stream);
    ASSERT_TRUE(bytewise.result);
    EXPECT_EQ(bytewise.events, expected);
}

TEST(WebSocketReader, ClientRoleReadsServerFrames) {
    std::string stream;
    append_frame(stream, Opcode::kText, "0{\"sid\":\"x\"}");
    append_frame(stream, Opcode::kBinary, std::string(1000, '\x01'));
    append_close(stream, close_code::kNormal, "done");
    auto out = feed_bytewise(Role::kClient, stream);
    ASSERT_TRUE(out.result);
    EXPECT_EQ(out.events,
              (std::vector<std::string>{"text:0{\"sid\":\"x\"}",
                                        "binary:" + std::string(1000, '\x01'), "close:1000:done"}));
}

TEST(WebSocketReader, WrittenFramesReadBackInBothRoles) {
    // What one role writes the other role reads, for every length form.
    for (std::size_t len : {0, 1, 125, 126, 127, 65535, 65536, 100000}) {
        const std::string payload(len, 'm');
        std::string masked;
        append_frame(masked, Opcode::kBinary, payload, kKey);
        auto server = feed_whole(Role::kServer, masked);
        ASSERT_TRUE(server.result) << len;
        EXPECT_EQ(server.events, (std::vector<std::string>{"binary:" + payload}));
        std::string plain;
        append_frame(plain, Opcode::kBinary, payload);
        auto client = feed_whole(Role::kClient, plain);
        ASSERT_TRUE(client.result) << len;
        EXPECT_EQ(client.events, (std::vector<std::string>{"binary:" + payload}));
    }
}

TEST(WebSocketReader, GarbageNeverCrashes) {
    std::mt19937 rng(1234);
    const std::string valid = mixed_stream();
    for (int i = 0; i < 4000; ++i) {
        std::string stream;
        if (i % 2 == 0) {
            stream.resize(rng() % 64);
            for (char& c : stream) {
                c = static_cast<char>(rng());
            }
        } else {
            // A valid stream with a few bytes flipped reaches deeper states.
            stream = valid;
            for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
                stream[rng() % stream.size()] ^= static_cast<char>(1u << (rng() % 8));
            }
        }
        const Role role = rng() % 2 == 0 ? Role::kServer : Role::kClient;
        const ReaderLimits limits{.max_message = rng() % 2 == 0 ? 1000000u : 64u};
        auto whole = feed_whole(role, stream, limits);
        // Chunking never changes the outcome.
        std::vector<std::size_t> sizes;
        for (std::size_t total = 0; total < stream.size();) {
            const std::size_t n = 1 + rng() % 20;
            sizes.push_back(n);
            total += n;
        }
        auto chunked = feed_chunks(role, stream, sizes, limits);
        ASSERT_TRUE(same(whole.result, chunked.result)) << i;
        ASSERT_EQ(whole.events, chunked.events) << i;
    }
}

}  // namespace
}  // namespace roomcast::protocol::ws
