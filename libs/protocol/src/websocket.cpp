#include "roomcast/protocol/websocket.hpp"

#include "roomcast/protocol/base64.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

namespace roomcast::protocol::ws {
namespace {

// RFC 6455 §1.3: the server proves it read the key by hashing it with this GUID.
constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

constexpr std::size_t kMaxControlPayload = 125;
constexpr std::size_t kMaxCloseReason = kMaxControlPayload - 2;

struct FrameHeader {
    bool fin = false;
    std::uint8_t rsv = 0;
    std::uint8_t opcode = 0;
    bool masked = false;
    std::uint8_t mask[4] = {};
    std::uint64_t len = 0;
    std::size_t size = 0;  // header bytes, including the extended length and the mask key
};

// Reads the frame header at `p`. Returns 0 when the `n` bytes hold all of it (and fills `h`);
// otherwise the number of bytes needed to know the whole header (2 until the length byte is
// seen, then the exact header size).
std::size_t read_header(const unsigned char* p, std::size_t n, FrameHeader& h) noexcept {
    if (n < 2) {
        return 2;
    }
    const bool masked = (p[1] & 0x80) != 0;
    const std::uint8_t len7 = p[1] & 0x7F;
    const std::size_t ext = len7 == 126 ? 2 : (len7 == 127 ? 8 : 0);
    const std::size_t size = 2 + ext + (masked ? 4 : 0);
    if (n < size) {
        return size;
    }
    h.fin = (p[0] & 0x80) != 0;
    h.rsv = p[0] & 0x70;
    h.opcode = p[0] & 0x0F;
    h.masked = masked;
    h.len = len7;
    if (ext != 0) {
        h.len = 0;
        for (std::size_t i = 0; i < ext; ++i) {
            h.len = (h.len << 8) | p[2 + i];
        }
    }
    if (masked) {
        std::memcpy(h.mask, p + 2 + ext, 4);
    }
    h.size = size;
    return 0;
}

bool is_control(std::uint8_t opcode) noexcept {
    return (opcode & 0x08) != 0;
}

bool is_known_opcode(std::uint8_t opcode) noexcept {
    switch (static_cast<Opcode>(opcode)) {
        case Opcode::kContinuation:
        case Opcode::kText:
        case Opcode::kBinary:
        case Opcode::kClose:
        case Opcode::kPing:
        case Opcode::kPong:
            return true;
    }
    return false;
}

// Codes a peer may send (RFC 6455 §7.4, as Autobahn tests them): 1004-1006 and 1015 are
// reserved or local-only, 1012-2999 are unassigned for our purposes, 3000-4999 belong to
// libraries and applications.
bool valid_close_code(std::uint16_t code) noexcept {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

// Every check that needs only the header, so that a bad or oversized frame is refused before
// a byte of its payload is buffered.
Result<void> check_header(const FrameHeader& h, Role role, const ReaderLimits& limits,
                          Opcode message_opcode, std::size_t message_size) noexcept {
    if (h.rsv != 0 || !is_known_opcode(h.opcode)) {
        return make_error_code(Errc::kWsProtocolError);
    }
    // Clients must mask (so that intermediaries cannot be poisoned), servers must not.
    if (h.masked != (role == Role::kServer)) {
        return make_error_code(Errc::kWsProtocolError);
    }
    if ((h.len >> 63) != 0) {
        return make_error_code(Errc::kWsProtocolError);
    }
    if (is_control(h.opcode)) {
        if (!h.fin || h.len > kMaxControlPayload) {
            return make_error_code(Errc::kWsProtocolError);
        }
        return {};
    }
    const bool in_message = message_opcode != Opcode::kContinuation;
    if (static_cast<Opcode>(h.opcode) == Opcode::kContinuation) {
        if (!in_message) {
            return make_error_code(Errc::kWsProtocolError);
        }
        if (h.len > limits.max_message - std::min(message_size, limits.max_message)) {
            return make_error_code(Errc::kWsMessageTooBig);
        }
        return {};
    }
    if (in_message) {
        return make_error_code(Errc::kWsProtocolError);
    }
    if (h.len > limits.max_message) {
        return make_error_code(Errc::kWsMessageTooBig);
    }
    return {};
}

}  // namespace

std::string accept_key(std::string_view client_key) {
    std::string input;
    input.reserve(client_key.size() + kAcceptGuid.size());
    input.append(client_key);
    input.append(kAcceptGuid);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

bool valid_client_key(std::string_view key) noexcept {
    // 16 bytes encode to exactly 24 characters; checking the length first keeps the decode
    // (which allocates) off attacker-sized input.
    if (key.size() != 24) {
        return false;
    }
    try {
        const auto decoded = base64_decode(key);
        return decoded && decoded->size() == 16;
    } catch (...) {
        return false;  // allocation failure of 16 bytes; treat as invalid rather than abort
    }
}

std::size_t encode_header(std::uint8_t* out, Opcode opcode, bool fin, std::uint64_t payload_len,
                          const std::uint8_t* mask) noexcept {
    out[0] = static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(opcode));
    const std::uint8_t mask_bit = mask != nullptr ? 0x80 : 0x00;
    std::size_t n = 0;
    if (payload_len <= 125) {
        out[1] = static_cast<std::uint8_t>(mask_bit | payload_len);
        n = 2;
    } else if (payload_len <= 0xFFFF) {
        out[1] = mask_bit | 126;
        out[2] = static_cast<std::uint8_t>(payload_len >> 8);
        out[3] = static_cast<std::uint8_t>(payload_len);
        n = 4;
    } else {
        out[1] = mask_bit | 127;
        for (std::size_t i = 0; i < 8; ++i) {
            out[2 + i] = static_cast<std::uint8_t>(payload_len >> (56 - 8 * i));
        }
        n = 10;
    }
    if (mask != nullptr) {
        std::memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void apply_mask(char* data, std::size_t len, const std::uint8_t* key, std::size_t offset) noexcept {
    // The key rotated to `offset` and repeated twice: byte j of the data (counted from `data`)
    // is XORed with rotated[j % 8], so whole 8-byte words can use one 64-bit XOR. Building the
    // word with memcpy makes it independent of endianness.
    std::uint8_t rotated[8];
    for (std::size_t i = 0; i < 8; ++i) {
        rotated[i] = key[(offset + i) % 4];
    }
    std::uint64_t word;
    std::memcpy(&word, rotated, sizeof word);
    std::size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        std::uint64_t chunk;
        std::memcpy(&chunk, data + i, sizeof chunk);
        chunk ^= word;
        std::memcpy(data + i, &chunk, sizeof chunk);
    }
    for (; i < len; ++i) {
        data[i] = static_cast<char>(static_cast<std::uint8_t>(data[i]) ^ rotated[i % 8]);
    }
}

void append_frame(std::string& out, Opcode opcode, std::string_view payload,
                  const std::uint8_t* mask) {
    std::uint8_t header[kMaxHeaderSize];
    const std::size_t n = encode_header(header, opcode, true, payload.size(), mask);
    out.reserve(out.size() + n + payload.size());
    out.append(reinterpret_cast<const char*>(header), n);
    const std::size_t start = out.size();
    out.append(payload);
    if (mask != nullptr) {
        apply_mask(out.data() + start, payload.size(), mask);
    }
}

// kNoStatus means "no code" and must never appear on the wire (RFC 6455 §7.4.1), so it is
// sent as an empty close payload. The reason is cut at a character boundary so the peer never
// sees invalid UTF-8 (which it would answer with 1007).
void append_close(std::string& out, std::uint16_t code, std::string_view reason,
                  const std::uint8_t* mask) {
    if (code == close_code::kNoStatus) {
        append_frame(out, Opcode::kClose, {}, mask);
        return;
    }
    std::size_t n = std::min(reason.size(), kMaxCloseReason);
    if (n < reason.size()) {
        while (n > 0 && (static_cast<std::uint8_t>(reason[n]) & 0xC0) == 0x80) {
            --n;
        }
    }
    char payload[kMaxControlPayload];
    payload[0] = static_cast<char>(code >> 8);
    payload[1] = static_cast<char>(code & 0xFF);
    std::copy_n(reason.data(), n, payload + 2);  // not memcpy: reason.data() may be null
    append_frame(out, Opcode::kClose, std::string_view(payload, 2 + n), mask);
}

std::uint16_t close_code_for(const boost::system::error_code& ec) noexcept {
    if (ec.category() == protocol_category()) {
        switch (static_cast<Errc>(ec.value())) {
            case Errc::kWsProtocolError:
                return close_code::kProtocolError;
            case Errc::kWsInvalidUtf8:
                return close_code::kInvalidPayload;
            case Errc::kWsMessageTooBig:
                return close_code::kTooBig;
            default:
                break;
        }
    }
    return close_code::kInternalError;
}

Result<void> Reader::feed(std::span<char> data, ReaderSink& sink) {
    std::size_t off = 0;
    // First finish the frame held from the previous call, copying only the bytes it still
    // needs. partial_ never holds more than one frame.
    while (!partial_.empty()) {
        FrameHeader h;
        std::size_t target = read_header(reinterpret_cast<const unsigned char*>(partial_.data()),
                                         partial_.size(), h);
        const bool header_complete = target == 0;
        if (header_complete) {
            auto checked = check_header(h, role_, limits_, message_opcode_, message_.size());
            if (!checked) {
                return checked;
            }
            // No reserve(target) here: a peer could announce max_message and trickle bytes,
            // making us hold the whole allowance up front; growth follows the bytes received.
            target = h.size + static_cast<std::size_t>(h.len);
        }
        const std::size_t take = std::min(target - partial_.size(), data.size() - off);
        partial_.append(data.data() + off, take);
        off += take;
        if (partial_.size() < target) {
            return {};
        }
        if (!header_complete) {
            continue;
        }
        bool stopped = false;
        auto used = parse_frames(std::span<char>(partial_.data(), partial_.size()), sink, stopped);
        if (!used) {
            return used.error();
        }
        partial_.clear();
        if (stopped) {
            return {};
        }
    }

    // Then every complete frame straight from the caller's buffer.
    const std::span<char> rest = data.subspan(off);
    bool stopped = false;
    auto used = parse_frames(rest, sink, stopped);
    if (!used) {
        return used.error();
    }
    if (!stopped && *used < rest.size()) {
        partial_.assign(rest.data() + *used, rest.size() - *used);
    }
    return {};
}

Result<std::size_t> Reader::parse_frames(std::span<char> data, ReaderSink& sink, bool& stopped) {
    std::size_t pos = 0;
    while (pos < data.size()) {
        FrameHeader h;
        const auto* at = reinterpret_cast<const unsigned char*>(data.data() + pos);
        const std::size_t remaining = data.size() - pos;
        if (read_header(at, remaining, h) != 0) {
            break;
        }
        auto checked = check_header(h, role_, limits_, message_opcode_, message_.size());
        if (!checked) {
            return checked.error();
        }
        if (h.len > remaining - h.size) {
            break;  // incomplete payload; the header has been vetted already
        }
        const auto len = static_cast<std::size_t>(h.len);
        char* payload_ptr = data.data() + pos + h.size;
        if (h.masked) {
            apply_mask(payload_ptr, len, h.mask);
        }
        pos += h.size + len;
        const std::string_view payload(payload_ptr, len);

        bool keep_going = true;
        switch (static_cast<Opcode>(h.opcode)) {
            case Opcode::kPing:
                keep_going = sink.on_ping(payload);
                break;
            case Opcode::kPong:
                keep_going = sink.on_pong(payload);
                break;
            case Opcode::kClose: {
                if (payload.empty()) {
                    keep_going = sink.on_close(close_code::kNoStatus, {});
                    break;
                }
                if (payload.size() == 1) {
                    return make_error_code(Errc::kWsProtocolError);
                }
                const auto code =
                    static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                               static_cast<std::uint8_t>(payload[1]));
                if (!valid_close_code(code)) {
                    return make_error_code(Errc::kWsProtocolError);
                }
                const std::string_view reason = payload.substr(2);
                if (!is_valid_utf8(reason)) {
                    return make_error_code(Errc::kWsInvalidUtf8);
                }
                keep_going = sink.on_close(code, reason);
                break;
            }
            case Opcode::kText:
            case Opcode::kBinary: {
                const auto opcode = static_cast<Opcode>(h.opcode);
                if (h.fin) {
                    if (opcode == Opcode::kText && !is_valid_utf8(payload)) {
                        return make_error_code(Errc::kWsInvalidUtf8);
                    }
                    keep_going = sink.on_message(opcode, payload);
                    break;
                }
                if (opcode == Opcode::kText) {
                    utf8_.reset();
                    if (!utf8_.feed(payload)) {
                        return make_error_code(Errc::kWsInvalidUtf8);
                    }
                }
                message_opcode_ = opcode;
                message_.assign(payload);
                break;
            }
            case Opcode::kContinuation: {
                // Validate each fragment as it arrives so bad text fails before the rest of
                // the message is buffered.
                if (message_opcode_ == Opcode::kText && !utf8_.feed(payload)) {
                    return make_error_code(Errc::kWsInvalidUtf8);
                }
                message_.append(payload);
                if (!h.fin) {
                    break;
                }
                if (message_opcode_ == Opcode::kText && !utf8_.complete()) {
                    return make_error_code(Errc::kWsInvalidUtf8);
                }
                const Opcode opcode = message_opcode_;
                message_opcode_ = Opcode::kContinuation;
                keep_going = sink.on_message(opcode, message_);
                message_.clear();
                break;
            }
        }
        if (!keep_going) {
            stopped = true;
            return pos;
        }
    }
    return pos;
}

void Reader::shrink() noexcept {
    if (partial_.empty()) {
        std::string().swap(partial_);
    }
    if (message_.empty()) {
        std::string().swap(message_);
    }
}

}  // namespace roomcast::protocol::ws
