// Socket.IO v5 decoder: sequences of text and binary messages fed to sio::Decoder, as the
// edge feeds what arrives on one Engine.IO session, and decode_header on every text.
//
// Input: an Engine.IO polling payload (parts separated by '\x1e'): "4<sio packet>" is a text
// message, "b<base64>" a binary one, other Engine.IO packets are skipped, and any other part is
// taken as raw binary bytes (so the fuzzer need not learn base64 to make attachments).
//
// Checks, for two decoders (default limits and tight ones): every packet returned obeys the
// rules the decoder promises (namespace, payload shape per type, placeholders against the
// attachments, limits); re-encoding a packet with sio::encode and its JSON with write_json
// and decoding that again gives the same packet (numbers beyond the double range excepted: they
// become null, as in JavaScript); decode_header agrees with on_text; after an
// error the decoder holds nothing.

#include "fuzz_check.hpp"
#include "sio_input.hpp"

#include "roomcast/protocol/engineio.hpp"
#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/socketio.hpp"
#include "roomcast/protocol/utf8.hpp"

#include <boost/json/value.hpp>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace eio = roomcast::protocol::eio;
namespace sio = roomcast::protocol::sio;
namespace protocol = roomcast::protocol;
namespace json = boost::json;

namespace {

bool is_binary_type(sio::PacketType t) {
    return t == sio::PacketType::kBinaryEvent || t == sio::PacketType::kBinaryAck;
}

std::string json_text(const std::optional<json::value>& v) {
    return v ? protocol::to_json(*v) : std::string();
}

void check_packet(const sio::Packet& p, const sio::DecoderLimits& limits) {
    FUZZ_CHECK(!p.nsp.empty() && p.nsp.front() == '/');
    FUZZ_CHECK(p.nsp.size() <= limits.max_namespace);
    FUZZ_CHECK(protocol::is_valid_utf8(p.nsp));
    switch (p.type) {
        case sio::PacketType::kConnect:
            FUZZ_CHECK(!p.data || p.data->is_object());
            break;
        case sio::PacketType::kDisconnect:
            FUZZ_CHECK(!p.data);
            break;
        case sio::PacketType::kConnectError:
            FUZZ_CHECK(!p.data || p.data->is_object() || p.data->is_string());
            break;
        case sio::PacketType::kEvent:
        case sio::PacketType::kBinaryEvent: {
            FUZZ_CHECK(p.data && p.data->is_array() && !p.data->as_array().empty());
            const json::value& name = p.data->as_array().front();
            FUZZ_CHECK(name.is_number() ||
                       (name.is_string() &&
                        !sio::is_reserved_event(std::string_view(name.as_string().data(),
                                                                 name.as_string().size()))));
            break;
        }
        case sio::PacketType::kAck:
        case sio::PacketType::kBinaryAck:
            FUZZ_CHECK(p.data && p.data->is_array());
            break;
    }
    if (is_binary_type(p.type)) {
        FUZZ_CHECK(p.attachments.size() <= limits.max_attachments);
        FUZZ_CHECK(sio::placeholders_valid(*p.data, static_cast<std::uint32_t>(p.attachments.size())));
    } else {
        FUZZ_CHECK(p.attachments.empty());
    }
}

// A number literal beyond the double range parses as ±Infinity and is written as null, as
// JSON.parse and JSON.stringify do; ["x",1e999] survives that, [1e999] (a numeric event name
// that becomes null) does not, exactly as in socket.io-parser. Such packets skip the round trip.
bool has_non_finite(const json::value& v) {
    if (v.is_double()) {
        return !std::isfinite(v.get_double());
    }
    if (v.is_array()) {
        for (const auto& e : v.get_array()) {
            if (has_non_finite(e)) {
                return true;
            }
        }
    }
    if (v.is_object()) {
        for (const auto& kv : v.get_object()) {
            if (has_non_finite(kv.value())) {
                return true;
            }
        }
    }
    return false;
}

// Encodes `p` as the edge would send it and decodes it again with a fresh decoder.
void check_round_trip(const sio::Packet& p, const sio::DecoderLimits& limits) {
    if (p.data && has_non_finite(*p.data)) {
        return;
    }
    std::string text;
    sio::encode(text, p.type, p.nsp, p.id, json_text(p.data),
                static_cast<std::uint32_t>(p.attachments.size()));
    sio::Decoder decoder(limits);
    auto r = decoder.on_text(text);
    FUZZ_CHECK(r.has_value());
    std::optional<sio::Packet> again = std::move(*r);
    for (std::size_t i = 0; i < p.attachments.size(); ++i) {
        FUZZ_CHECK(!again.has_value());
        auto b = decoder.on_binary(p.attachments[i]);
        FUZZ_CHECK(b.has_value());
        again = std::move(*b);
    }
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(!decoder.awaiting_attachments());
    FUZZ_CHECK(again->type == p.type);
    FUZZ_CHECK(again->nsp == p.nsp);
    FUZZ_CHECK(again->id == p.id);
    FUZZ_CHECK(json_text(again->data) == json_text(p.data));
    FUZZ_CHECK(again->attachments == p.attachments);
}

void run(const std::vector<roomcast::fuzz::SioMessage>& messages, const sio::DecoderLimits& limits) {
    sio::Decoder decoder(limits);
    for (const auto& m : messages) {
        if (!m.binary) {
            auto header = sio::decode_header(m.bytes, limits);
            auto r = decoder.on_text(m.bytes);
            if (!r) {
                FUZZ_CHECK(!decoder.awaiting_attachments());
                continue;
            }
            FUZZ_CHECK(header.has_value());
            if (*r) {
                FUZZ_CHECK((*r)->type == header->type);
                FUZZ_CHECK((*r)->nsp == header->nsp);
                FUZZ_CHECK((*r)->id == header->id);
                FUZZ_CHECK((*r)->attachments.size() == header->attachments);
                check_packet(**r, limits);
                check_round_trip(**r, limits);
            } else {
                FUZZ_CHECK(decoder.awaiting_attachments());
                FUZZ_CHECK(header->attachments > 0);
            }
        } else {
            auto r = decoder.on_binary(m.bytes);
            if (!r) {
                FUZZ_CHECK(!decoder.awaiting_attachments());
                continue;
            }
            if (*r) {
                FUZZ_CHECK(!decoder.awaiting_attachments());
                check_packet(**r, limits);
                check_round_trip(**r, limits);
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto messages = roomcast::fuzz::split_messages(std::string_view(reinterpret_cast<const char*>(data), size));
    run(messages, sio::DecoderLimits{});
    sio::DecoderLimits tight;
    tight.max_attachments = 2;
    tight.max_namespace = 8;
    tight.json.max_depth = 4;
    run(messages, tight);
    return 0;
}
