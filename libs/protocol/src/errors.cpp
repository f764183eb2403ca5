#include "roomcast/protocol/errors.hpp"

#include <string>

namespace roomcast::protocol {
namespace {

class ProtocolCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "roomcast.protocol"; }

    std::string message(int ev) const override {
        switch (static_cast<Errc>(ev)) {
            case Errc::kOk:
                return "success";
            case Errc::kEmptyPacket:
                return "empty packet";
            case Errc::kUnknownPacketType:
                return "unknown packet type";
            case Errc::kInvalidBase64:
                return "invalid base64";
            case Errc::kTooManyPackets:
                return "too many packets in payload";
            case Errc::kInvalidAttachments:
                return "invalid attachment count";
            case Errc::kInvalidNamespace:
                return "invalid namespace";
            case Errc::kInvalidAckId:
                return "invalid ack id";
            case Errc::kInvalidJson:
                return "invalid JSON";
            case Errc::kJsonTooDeep:
                return "JSON nested too deeply";
            case Errc::kInvalidPayload:
                return "invalid payload for packet type";
            case Errc::kInvalidPlaceholder:
                return "invalid binary placeholder";
            case Errc::kUnexpectedBinary:
                return "unexpected binary attachment";
            case Errc::kUnexpectedText:
                return "unexpected text while awaiting attachments";
            case Errc::kAttachmentsTooLarge:
                return "attachments of one packet over the size cap";
            case Errc::kWsProtocolError:
                return "websocket protocol error";
            case Errc::kWsInvalidUtf8:
                return "websocket invalid UTF-8";
            case Errc::kWsMessageTooBig:
                return "websocket message too big";
            case Errc::kWsBadHandshake:
                return "websocket bad handshake";
        }
        return "unknown protocol error";
    }
};

}  // namespace

const boost::system::error_category& protocol_category() noexcept {
    // A function-local static: one instance per process, so error_code comparisons by category
    // address work across translation units.
    static const ProtocolCategory category;
    return category;
}

}  // namespace roomcast::protocol
