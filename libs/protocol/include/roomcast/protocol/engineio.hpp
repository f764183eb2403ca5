#pragma once
// Engine.IO protocol v4 codec: packets, HTTP long-polling payloads and the handshake.
// Pure functions, no I/O. See docs/protocol.md for the wire format.

#include "roomcast/protocol/errors.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::protocol::eio {

enum class PacketType : std::uint8_t {
    kOpen = 0,
    kClose = 1,
    kPing = 2,
    kPong = 3,
    kMessage = 4,
    kUpgrade = 5,
    kNoop = 6,
};

// The record separator between packets of a polling payload.
inline constexpr char kSeparator = '\x1e';

// A decoded packet. `binary` is true only for a message carrying raw bytes (a WebSocket binary
// frame, or a "b<base64>" part of a polling payload); its `data` holds the decoded bytes.
struct Packet {
    PacketType type = PacketType::kMessage;
    bool binary = false;
    std::string data;

    friend bool operator==(const Packet&, const Packet&) = default;
};

// A text packet as sent in a WebSocket text frame or one part of a polling payload:
// "<type digit><data>". Errors: kEmptyPacket, kUnknownPacketType.
Result<Packet> decode_text(std::string_view text);

// Same as decode_text but without copying: `data` points into `text`.
struct PacketView {
    PacketType type = PacketType::kMessage;
    bool binary = false;
    std::string_view data;
};
Result<PacketView> decode_text_view(std::string_view text);

// Appends "<type digit><data>".
void encode_text(std::string& out, PacketType type, std::string_view data = {});

// Decodes an HTTP long-polling request body: packets separated by '\x1e', binary parts as
// "b<base64>". Errors: any part's error, kInvalidBase64, kTooManyPackets (more than
// `max_packets` parts).
Result<std::vector<Packet>> decode_payload(std::string_view body, std::size_t max_packets);

// Builds a polling response body packet by packet.
class PayloadWriter {
public:
    // Appends an already-encoded text packet ("4hello", "2", "6" ...).
    void add_text(std::string_view encoded_packet);
    // Appends a binary message as "b<base64>".
    void add_binary(std::string_view bytes);
    bool empty() const noexcept { return out_.empty(); }
    std::size_t size() const noexcept { return out_.size(); }
    std::string take() noexcept { return std::move(out_); }

private:
    void separate();
    std::string out_;
};

// The open packet: 0{"sid":"...","upgrades":[...],"pingInterval":N,"pingTimeout":N,"maxPayload":N}
// (keys in exactly this order, as the reference server writes them).
struct Handshake {
    std::string_view sid;
    bool upgrade_to_websocket = false;  // upgrades ["websocket"] when true, [] otherwise
    std::uint64_t ping_interval_ms = 25000;
    std::uint64_t ping_timeout_ms = 20000;
    std::uint64_t max_payload = 1000000;
};
std::string encode_open(const Handshake& h);

}  // namespace roomcast::protocol::eio
