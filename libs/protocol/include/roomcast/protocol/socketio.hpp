#pragma once
// Socket.IO protocol v5 codec (the default parser of socket.io-parser 4.x). Pure, no I/O.
//
// Wire format of one packet (carried inside an Engine.IO message, i.e. after its '4'):
//   <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
// The namespace is written only when it is not "/". Binary attachments of BINARY_EVENT and
// BINARY_ACK follow as separate Engine.IO binary messages; inside the JSON each buffer is a
// placeholder {"_placeholder":true,"num":<index>}.
//
// Roomcast never reconstructs binaries into the JSON tree: a decoded packet keeps the
// placeholders in `data` and the buffers in `attachments` (index = num). Re-emitting the same
// JSON with the same buffer vector therefore reproduces the original packet byte for byte.

#include "roomcast/protocol/errors.hpp"
#include "roomcast/protocol/json.hpp"

#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::protocol::sio {

enum class PacketType : std::uint8_t {
    kConnect = 0,
    kDisconnect = 1,
    kEvent = 2,
    kAck = 3,
    kConnectError = 4,
    kBinaryEvent = 5,
    kBinaryAck = 6,
};

struct Packet {
    PacketType type = PacketType::kEvent;
    std::string nsp = "/";
    std::optional<std::uint64_t> id;         // ack id
    std::optional<boost::json::value> data;  // absent when the packet has no payload
    std::vector<std::string> attachments;    // complete only once the decoder returns it
};

struct DecoderLimits {
    // socket.io-parser's default maxAttachments; bounds memory held for a partial packet.
    std::uint32_t max_attachments = 10;
    // The attachments of one packet together (the server sets it to the payload cap): without
    // it a partial packet could hold max_attachments frames of the largest size each.
    std::size_t max_attachment_bytes = 1000000;
    // Namespace names longer than this are rejected.
    std::size_t max_namespace = 256;
    JsonLimits json;
};

// Event names the client may not send (socket.io-parser RESERVED_EVENTS).
bool is_reserved_event(std::string_view name) noexcept;

// Stateful decoder for one connection: a BINARY_* header is followed by its attachments.
// Validation follows socket.io-parser: CONNECT payload object or absent; DISCONNECT no payload;
// CONNECT_ERROR object or string; EVENT non-empty array whose first element is a number or a
// non-reserved string; ACK an array; placeholders must be {"_placeholder":true,"num":i} with
// 0 <= i < attachments. After an error the decoder is reset; the caller should close.
class Decoder {
public:
    explicit Decoder(DecoderLimits limits = {}) : limits_(limits) {}

    // Feeds the text of an Engine.IO message (without the '4'). Returns the packet when it is
    // complete, nullopt when it now waits for attachments.
    Result<std::optional<Packet>> on_text(std::string_view text);
    // Feeds an Engine.IO binary message.
    Result<std::optional<Packet>> on_binary(std::string_view bytes);

    bool awaiting_attachments() const noexcept { return pending_.has_value(); }
    // The namespace of the packet whose attachments are awaited (nullptr when none): the caller
    // can refuse to buffer them for a namespace the connection has not joined.
    const std::string* pending_namespace() const noexcept { return pending_ ? &pending_->nsp : nullptr; }
    void reset() noexcept {
        pending_.reset();
        pending_bytes_ = 0;
    }

private:
    DecoderLimits limits_;
    std::optional<Packet> pending_;
    std::uint32_t expected_ = 0;
    std::size_t pending_bytes_ = 0;
};

// Decodes one text packet header and payload without attachment bookkeeping. Exposed for the
// fuzzer and tests; Decoder::on_text uses it. For BINARY_* packets, `declared_attachments` is set.
struct Header {
    PacketType type = PacketType::kEvent;
    std::uint32_t attachments = 0;
    std::string_view nsp = "/";
    std::optional<std::uint64_t> id;
    std::string_view payload;  // raw JSON text (may be empty)
};
Result<Header> decode_header(std::string_view text, const DecoderLimits& limits = {});

// Encodes the text part of a packet and appends it to `out`. `payload_json` is already
// serialized JSON (may be empty for no payload). `attachments` is written as "<n>-" for
// BINARY_* types. Callers that send over Engine.IO usually start `out` with "4".
void encode(std::string& out, PacketType type, std::string_view nsp,
            std::optional<std::uint64_t> id, std::string_view payload_json,
            std::uint32_t attachments = 0);

// Placeholder helpers.
void write_placeholder(std::string& out, std::uint32_t num);  // {"_placeholder":true,"num":n}
boost::json::value make_placeholder(std::uint32_t num);
// True when `v` is exactly a placeholder object; sets `num`.
bool is_placeholder(const boost::json::value& v, std::uint32_t& num) noexcept;
// Checks every placeholder in `v` has 0 <= num < attachments (and no malformed placeholder).
bool placeholders_valid(const boost::json::value& v, std::uint32_t attachments) noexcept;

}  // namespace roomcast::protocol::sio
