#pragma once
// RFC 6455 WebSocket framing for both roles, pure and allocation-lean.
//
// Roomcast does its own framing instead of using beast::websocket so that an idle connection
// holds no read buffer at all: the transport reads into a per-thread scratch buffer and the
// Reader keeps only the bytes of an incomplete frame (see docs/benchmarks.md, memory per
// connection). No extensions are negotiated (permessage-deflate offers are ignored), so RSV
// bits must be zero.

#include "roomcast/protocol/errors.hpp"
#include "roomcast/protocol/utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace roomcast::protocol::ws {

enum class Opcode : std::uint8_t {
    kContinuation = 0x0,
    kText = 0x1,
    kBinary = 0x2,
    kClose = 0x8,
    kPing = 0x9,
    kPong = 0xA,
};

// kServer reads masked frames (from clients) and writes unmasked ones; kClient the reverse.
enum class Role : std::uint8_t { kServer, kClient };

inline constexpr std::size_t kMaxHeaderSize = 14;

namespace close_code {
inline constexpr std::uint16_t kNormal = 1000;
inline constexpr std::uint16_t kGoingAway = 1001;
inline constexpr std::uint16_t kProtocolError = 1002;
inline constexpr std::uint16_t kNoStatus = 1005;  // never sent; reported when a close has no code
inline constexpr std::uint16_t kInvalidPayload = 1007;
inline constexpr std::uint16_t kPolicyViolation = 1008;
inline constexpr std::uint16_t kTooBig = 1009;
inline constexpr std::uint16_t kInternalError = 1011;
}  // namespace close_code

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (SHA-1 + base64 of key + RFC GUID).
std::string accept_key(std::string_view client_key);
// True when `key` is the base64 encoding of exactly 16 bytes.
bool valid_client_key(std::string_view key) noexcept;

// Writes a frame header into `out` (room for kMaxHeaderSize bytes) and returns its length.
// With a non-null `mask`, sets the MASK bit and appends the 4 key bytes; the caller masks the
// payload with apply_mask.
std::size_t encode_header(std::uint8_t* out, Opcode opcode, bool fin, std::uint64_t payload_len,
                          const std::uint8_t* mask = nullptr) noexcept;
// XORs `data` with the 4-byte `key`, starting at key position `offset % 4`.
void apply_mask(char* data, std::size_t len, const std::uint8_t* key,
                std::size_t offset = 0) noexcept;

// Appends a whole single-frame message (header + payload, masked when `mask` is non-null).
void append_frame(std::string& out, Opcode opcode, std::string_view payload,
                  const std::uint8_t* mask = nullptr);
// Appends a close frame with `code` and `reason` (reason truncated to fit 125 bytes).
void append_close(std::string& out, std::uint16_t code, std::string_view reason = {},
                  const std::uint8_t* mask = nullptr);

// The close code to send for a Reader error (1002, 1007 or 1009; 1011 otherwise).
std::uint16_t close_code_for(const boost::system::error_code& ec) noexcept;

struct ReaderLimits {
    // Largest message (after reassembly of fragments) accepted; larger → kWsMessageTooBig.
    // Checked against frame headers before any payload is buffered.
    std::size_t max_message = 1000000;
};

// Receives what Reader::feed parses. Views are valid only during the call. Returning false
// stops parsing: feed() returns at once and discards the bytes it has not parsed yet (the
// connection is closing).
class ReaderSink {
public:
    virtual ~ReaderSink() = default;
    // A complete data message; text is already checked to be valid UTF-8.
    virtual bool on_message(Opcode opcode, std::string_view payload) = 0;
    virtual bool on_ping(std::string_view payload) = 0;
    virtual bool on_pong(std::string_view payload) = 0;
    // A close frame; `code` is close_code::kNoStatus when the frame had no payload.
    virtual bool on_close(std::uint16_t code, std::string_view reason) = 0;
};

// Incremental frame reader with fragmentation, control frames interleaved in fragmented
// messages, UTF-8 validation of text (incremental, fails fast) and close-frame validation.
// Not thread-safe; one per connection.
class Reader {
public:
    explicit Reader(Role role, ReaderLimits limits = {}) : role_(role), limits_(limits) {}

    // Parses `data`. Masked payloads are unmasked in place, so complete frames in `data` are
    // delivered without copying; only an incomplete trailing frame (and the fragments of an
    // unfinished message) are copied into the reader. Errors: kWsProtocolError,
    // kWsInvalidUtf8, kWsMessageTooBig; after an error the reader must not be fed again.
    Result<void> feed(std::span<char> data, ReaderSink& sink);

    // Bytes held between calls (partial frame + unfinished fragmented message).
    std::size_t buffered() const noexcept { return partial_.size() + message_.size(); }
    // Frees buffer capacity when nothing is held (call when the connection goes idle).
    void shrink() noexcept;

private:
    // Parses complete frames at the front of `data`; returns bytes consumed, or an error.
    Result<std::size_t> parse_frames(std::span<char> data, ReaderSink& sink, bool& stopped);

    Role role_;
    ReaderLimits limits_;
    std::string partial_;                            // bytes of an incomplete frame
    std::string message_;                            // payload of an unfinished fragmented message
    Opcode message_opcode_ = Opcode::kContinuation;  // kContinuation: no message in progress
    Utf8Validator utf8_;                             // state for the text message in progress
};

}  // namespace roomcast::protocol::ws
