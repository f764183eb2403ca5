// Engine.IO v4 codec: decode_text, decode_text_view and decode_payload on arbitrary bytes.
//
// Checks: the copying and the viewing decoder agree; a decoded packet re-encodes to exactly
// the input; a decoded polling payload re-encodes (PayloadWriter) to a body that decodes to the
// same packets; the packet cap is honoured; an open packet built with these bytes as the sid
// is JSON that gives the sid back.

#include "fuzz_check.hpp"

#include "roomcast/protocol/engineio.hpp"
#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/utf8.hpp"

#include <boost/json/value.hpp>

namespace eio = roomcast::protocol::eio;
namespace protocol = roomcast::protocol;

namespace {

// Small enough that the fuzzer reaches the cap with short inputs.
constexpr std::size_t kMaxPackets = 16;

void check_packet(std::string_view text) {
    auto copied = eio::decode_text(text);
    auto viewed = eio::decode_text_view(text);
    FUZZ_CHECK(copied.has_value() == viewed.has_value());
    if (!copied) {
        FUZZ_CHECK(copied.error() == viewed.error());
        return;
    }
    FUZZ_CHECK(copied->type == viewed->type);
    FUZZ_CHECK(copied->data == viewed->data);
    FUZZ_CHECK(!copied->binary);
    std::string encoded;
    eio::encode_text(encoded, copied->type, copied->data);
    FUZZ_CHECK(encoded == text);
}

void check_payload(std::string_view body) {
    auto packets = eio::decode_payload(body, kMaxPackets);
    if (!packets) {
        return;
    }
    FUZZ_CHECK(!packets->empty());
    FUZZ_CHECK(packets->size() <= kMaxPackets);
    eio::PayloadWriter writer;
    for (const auto& p : *packets) {
        if (p.binary) {
            FUZZ_CHECK(p.type == eio::PacketType::kMessage);
            writer.add_binary(p.data);
        } else {
            std::string text;
            eio::encode_text(text, p.type, p.data);
            writer.add_text(text);
        }
    }
    const std::string again = writer.take();
    auto redecoded = eio::decode_payload(again, kMaxPackets);
    FUZZ_CHECK(redecoded.has_value());
    FUZZ_CHECK(*redecoded == *packets);
    if (packets->size() > 1) {
        auto capped = eio::decode_payload(body, packets->size() - 1);
        FUZZ_CHECK(!capped.has_value());
    }
}

void check_open(std::string_view sid) {
    eio::Handshake hs;
    hs.sid = sid;
    const std::string open = eio::encode_open(hs);
    FUZZ_CHECK(!open.empty() && open.front() == '0');
    if (!protocol::is_valid_utf8(sid)) {
        return;  // sids are ours (base64url); a JSON string cannot carry invalid UTF-8
    }
    auto value = protocol::parse_json(std::string_view(open).substr(1));
    FUZZ_CHECK(value.has_value());
    FUZZ_CHECK(value->is_object());
    const auto* got = value->as_object().if_contains("sid");
    FUZZ_CHECK(got != nullptr && got->is_string());
    FUZZ_CHECK(std::string_view(got->as_string().data(), got->as_string().size()) == sid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check_packet(text);
    check_payload(text);
    check_open(text);
    return 0;
}
