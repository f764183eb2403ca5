#include "roomcast/protocol/socketio.hpp"

#include "roomcast/protocol/utf8.hpp"

#include <boost/json/object.hpp>

#include <array>
#include <charconv>
#include <limits>

namespace roomcast::protocol::sio {
namespace json = boost::json;

namespace {

// 19 decimal digits always fit in a uint64 (its maximum has 20), so capping the length is
// enough to rule out overflow.
constexpr std::size_t kMaxAckIdDigits = 19;

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

bool is_binary(PacketType type) noexcept {
    return type == PacketType::kBinaryEvent || type == PacketType::kBinaryAck;
}

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

std::string_view as_view(const json::string& s) noexcept {
    return {s.data(), s.size()};
}

// socket.io-parser's Decoder.isPayloadValid, except that EVENT and ACK (binary or not) must
// carry a payload: the reference client always sends one, and requiring it spares every
// handler from checking for a missing argument list.
bool payload_valid(PacketType type, const std::optional<json::value>& data) noexcept {
    switch (type) {
        case PacketType::kConnect:
            return !data || data->is_object();
        case PacketType::kDisconnect:
            return !data;
        case PacketType::kConnectError:
            return !data || data->is_object() || data->is_string();
        case PacketType::kEvent:
        case PacketType::kBinaryEvent: {
            if (!data || !data->is_array() || data->get_array().empty()) {
                return false;
            }
            const json::value& name = data->get_array().front();
            if (name.is_number()) {
                return true;
            }
            return name.is_string() && !is_reserved_event(as_view(name.get_string()));
        }
        case PacketType::kAck:
        case PacketType::kBinaryAck:
            return data && data->is_array();
    }
    return false;
}

}  // namespace

bool is_reserved_event(std::string_view name) noexcept {
    static constexpr std::array<std::string_view, 6> kReserved = {
        "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
    };
    for (std::string_view reserved : kReserved) {
        if (name == reserved) {
            return true;
        }
    }
    return false;
}

// The grammar is socket.io-parser's decodeString, with its JavaScript leniencies removed:
// the attachment count must be at least one digit (JS accepts "5-" as 0), and only ASCII
// digits count for the ack id (JS's Number(c) == c also admits a space).
Result<Header> decode_header(std::string_view text, const DecoderLimits& limits) {
    if (text.empty() || text.front() < '0' || text.front() > '6') {
        return make_error_code(Errc::kUnknownPacketType);
    }
    Header h;
    h.type = static_cast<PacketType>(text.front() - '0');
    std::size_t i = 1;

    if (is_binary(h.type)) {
        const std::size_t start = i;
        std::uint64_t count = 0;
        for (; i < text.size() && is_digit(text[i]); ++i) {
            count = count * 10 + static_cast<std::uint64_t>(text[i] - '0');
            if (count > limits.max_attachments) {
                return make_error_code(Errc::kInvalidAttachments);
            }
        }
        if (i == start || i == text.size() || text[i] != '-') {
            return make_error_code(Errc::kInvalidAttachments);
        }
        ++i;
        h.attachments = static_cast<std::uint32_t>(count);
    }

    if (i < text.size() && text[i] == '/') {
        // Up to the next ',' or the end: "0/random" names "/random" with no payload.
        const std::size_t comma = text.find(',', i);
        const std::size_t end = comma == std::string_view::npos ? text.size() : comma;
        const std::string_view nsp = text.substr(i, end - i);
        // Namespaces become map keys, log fields and JSON strings: bound them and keep them
        // valid UTF-8 (a polling body is not checked for UTF-8 before it gets here).
        if (nsp.size() > limits.max_namespace || !is_valid_utf8(nsp)) {
            return make_error_code(Errc::kInvalidNamespace);
        }
        h.nsp = nsp;
        i = comma == std::string_view::npos ? text.size() : comma + 1;
    }

    if (i < text.size() && is_digit(text[i])) {
        const std::size_t start = i;
        while (i < text.size() && is_digit(text[i])) {
            ++i;
        }
        if (i - start > kMaxAckIdDigits) {
            return make_error_code(Errc::kInvalidAckId);
        }
        std::uint64_t id = 0;
        std::from_chars(text.data() + start, text.data() + i, id);
        h.id = id;
    }

    h.payload = text.substr(i);
    return h;
}

Result<std::optional<Packet>> Decoder::on_text(std::string_view text) {
    if (pending_) {
        reset();
        return make_error_code(Errc::kUnexpectedText);
    }
    auto header = decode_header(text, limits_);
    if (!header) {
        return header.error();
    }
    Packet packet;
    packet.type = header->type;
    packet.nsp.assign(header->nsp);
    packet.id = header->id;
    if (!header->payload.empty()) {
        auto value = parse_json(header->payload, limits_.json);
        if (!value) {
            return value.error();
        }
        packet.data = std::move(*value);
    }
    if (!payload_valid(packet.type, packet.data)) {
        return make_error_code(Errc::kInvalidPayload);
    }
    if (is_binary(packet.type)) {
        // Checked now, before any attachment is buffered, so a bad packet costs no memory.
        if (!placeholders_valid(*packet.data, header->attachments)) {
            return make_error_code(Errc::kInvalidPlaceholder);
        }
        if (header->attachments > 0) {
            expected_ = header->attachments;
            pending_ = std::move(packet);
            return std::optional<Packet>();
        }
    }
    return std::optional<Packet>(std::move(packet));
}

Result<std::optional<Packet>> Decoder::on_binary(std::string_view bytes) {
    if (!pending_) {
        return make_error_code(Errc::kUnexpectedBinary);
    }
    pending_bytes_ += bytes.size();
    if (pending_bytes_ > limits_.max_attachment_bytes) {
        reset();
        return make_error_code(Errc::kAttachmentsTooLarge);
    }
    pending_->attachments.emplace_back(bytes);
    if (pending_->attachments.size() < expected_) {
        return std::optional<Packet>();
    }
    std::optional<Packet> done = std::move(pending_);
    reset();
    expected_ = 0;
    return done;
}

void encode(std::string& out, PacketType type, std::string_view nsp,
            std::optional<std::uint64_t> id, std::string_view payload_json,
            std::uint32_t attachments) {
    out.reserve(out.size() + 24 + nsp.size() + payload_json.size());
    out += static_cast<char>('0' + static_cast<int>(type));
    if (is_binary(type)) {
        append_uint(out, attachments);
        out += '-';
    }
    if (!nsp.empty() && nsp != "/") {
        out.append(nsp);
        out += ',';
    }
    if (id) {
        append_uint(out, *id);
    }
    out.append(payload_json);
}

void write_placeholder(std::string& out, std::uint32_t num) {
    out += "{\"_placeholder\":true,\"num\":";
    append_uint(out, num);
    out += '}';
}

json::value make_placeholder(std::uint32_t num) {
    json::object o;
    o.reserve(2);
    o.emplace("_placeholder", true);
    // int64, the kind the parser produces for the same text, so parsed and built placeholders
    // compare equal.
    o.emplace("num", static_cast<std::int64_t>(num));
    return o;
}

bool is_placeholder(const json::value& v, std::uint32_t& num) noexcept {
    const json::object* o = v.if_object();
    if (o == nullptr || o->size() != 2) {
        return false;
    }
    const json::value* flag = o->if_contains("_placeholder");
    const json::value* index = o->if_contains("num");
    if (flag == nullptr || index == nullptr || !flag->is_bool() || !flag->get_bool()) {
        return false;
    }
    std::uint64_t n = 0;
    if (const std::int64_t* i = index->if_int64()) {
        if (*i < 0) {
            return false;
        }
        n = static_cast<std::uint64_t>(*i);
    } else if (const std::uint64_t* u = index->if_uint64()) {
        n = *u;
    } else {
        return false;
    }
    if (n > std::numeric_limits<std::uint32_t>::max()) {
        return false;
    }
    num = static_cast<std::uint32_t>(n);
    return true;
}

// Recursion depth is bounded by the parser's max_depth for decoded packets.
bool placeholders_valid(const json::value& v, std::uint32_t attachments) noexcept {
    if (const json::array* a = v.if_array()) {
        for (const json::value& element : *a) {
            if (!placeholders_valid(element, attachments)) {
                return false;
            }
        }
        return true;
    }
    if (const json::object* o = v.if_object()) {
        // Like socket.io-parser, anything with "_placeholder": true is meant as a placeholder,
        // so it must be a well-formed one; other objects are searched for nested ones.
        const json::value* flag = o->if_contains("_placeholder");
        if (flag != nullptr && flag->is_bool() && flag->get_bool()) {
            std::uint32_t num = 0;
            return is_placeholder(v, num) && num < attachments;
        }
        for (const json::key_value_pair& member : *o) {
            if (!placeholders_valid(member.value(), attachments)) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace roomcast::protocol::sio
