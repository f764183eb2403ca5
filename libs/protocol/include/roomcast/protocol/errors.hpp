#pragma once
// Error values for the pure protocol codecs. Every decoder reports failure through these codes
// (never by throwing), so callers can map them to an HTTP status, a WebSocket close code or a
// Socket.IO disconnect reason in one place.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <type_traits>

namespace roomcast::protocol {

enum class Errc {
    kOk = 0,
    // Engine.IO
    kEmptyPacket = 1,    // zero-length packet
    kUnknownPacketType,  // first byte is not '0'..'6' (or 'b' inside a payload)
    kInvalidBase64,      // a "b..." payload part that is not valid base64
    kTooManyPackets,     // payload carries more packets than the caller's cap
    // Socket.IO
    kInvalidAttachments,  // BINARY_* without "<n>-" header, or n over the cap
    kInvalidNamespace,    // namespace not terminated properly / too long
    kInvalidAckId,        // ack id overflows or is malformed
    kInvalidJson,         // payload is not JSON (or invalid UTF-8 inside JSON)
    kJsonTooDeep,         // nesting deeper than the configured cap
    kInvalidPayload,      // JSON of the wrong shape for the packet type
    kInvalidPlaceholder,  // binary placeholder malformed or num out of range
    kUnexpectedBinary,    // binary frame while no binary packet is being assembled
    kUnexpectedText,      // text frame while attachments are still expected
    kAttachmentsTooLarge, // a packet's attachments together over the cap
    // WebSocket (RFC 6455)
    kWsProtocolError,  // maps to close code 1002
    kWsInvalidUtf8,    // maps to close code 1007
    kWsMessageTooBig,  // maps to close code 1009
    kWsBadHandshake,   // upgrade request missing/invalid headers
};

const boost::system::error_category& protocol_category() noexcept;

inline boost::system::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), protocol_category()};
}

template <class T>
using Result = boost::system::result<T, boost::system::error_code>;

}  // namespace roomcast::protocol

namespace boost::system {
template <>
struct is_error_code_enum<roomcast::protocol::Errc> : std::true_type {};
}  // namespace boost::system
