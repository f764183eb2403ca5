#include "roomcast/protocol/engineio.hpp"

#include "roomcast/protocol/base64.hpp"
#include "roomcast/protocol/json.hpp"

#include <charconv>

namespace roomcast::protocol::eio {
namespace {

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// One part of a polling payload: a text packet, or "b<base64>" for a binary message.
Result<Packet> decode_part(std::string_view part) {
    if (part.empty()) {
        return make_error_code(Errc::kEmptyPacket);
    }
    if (part.front() == 'b') {
        auto bytes = base64_decode(part.substr(1));
        if (!bytes) {
            return make_error_code(Errc::kInvalidBase64);
        }
        return Packet{PacketType::kMessage, true, std::move(*bytes)};
    }
    return decode_text(part);
}

}  // namespace

Result<PacketView> decode_text_view(std::string_view text) {
    if (text.empty()) {
        return make_error_code(Errc::kEmptyPacket);
    }
    const char c = text.front();
    if (c < '0' || c > '6') {
        return make_error_code(Errc::kUnknownPacketType);
    }
    return PacketView{static_cast<PacketType>(c - '0'), false, text.substr(1)};
}

Result<Packet> decode_text(std::string_view text) {
    auto view = decode_text_view(text);
    if (!view) {
        return view.error();
    }
    return Packet{view->type, false, std::string(view->data)};
}

void encode_text(std::string& out, PacketType type, std::string_view data) {
    out.reserve(out.size() + 1 + data.size());
    out += static_cast<char>('0' + static_cast<int>(type));
    out.append(data);
}

Result<std::vector<Packet>> decode_payload(std::string_view body, std::size_t max_packets) {
    if (body.empty()) {
        return make_error_code(Errc::kEmptyPacket);
    }
    std::vector<Packet> packets;
    std::size_t start = 0;
    while (true) {
        // Count before decoding so that a body of a million separators costs nothing.
        if (packets.size() >= max_packets) {
            return make_error_code(Errc::kTooManyPackets);
        }
        const std::size_t sep = body.find(kSeparator, start);
        const std::size_t end = sep == std::string_view::npos ? body.size() : sep;
        auto packet = decode_part(body.substr(start, end - start));
        if (!packet) {
            return packet.error();
        }
        packets.push_back(std::move(*packet));
        if (sep == std::string_view::npos) {
            break;
        }
        start = sep + 1;
    }
    return packets;
}

void PayloadWriter::separate() {
    if (!out_.empty()) {
        out_ += kSeparator;
    }
}

void PayloadWriter::add_text(std::string_view encoded_packet) {
    separate();
    out_.append(encoded_packet);
}

void PayloadWriter::add_binary(std::string_view bytes) {
    separate();
    out_ += 'b';
    base64_append(out_, bytes);
}

std::string encode_open(const Handshake& h) {
    std::string out;
    out.reserve(128 + h.sid.size());
    out += "0{\"sid\":";
    write_json_string(out, h.sid);
    out += h.upgrade_to_websocket ? ",\"upgrades\":[\"websocket\"]" : ",\"upgrades\":[]";
    out += ",\"pingInterval\":";
    append_uint(out, h.ping_interval_ms);
    out += ",\"pingTimeout\":";
    append_uint(out, h.ping_timeout_ms);
    out += ",\"maxPayload\":";
    append_uint(out, h.max_payload);
    out += '}';
    return out;
}

}  // namespace roomcast::protocol::eio
