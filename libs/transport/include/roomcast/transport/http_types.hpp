#pragma once
// Beast-free HTTP request/response values passed between the transport and the protocol
// layers above it (only transport/ includes Beast).

#include "roomcast/transport/shard.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace roomcast::transport {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // origin-form, e.g. "/socket.io/?EIO=4&transport=polling"
    HeaderList headers;  // names lower-cased
    std::string body;
    bool keep_alive = true;
    bool websocket_upgrade = false;  // Upgrade: websocket + Connection: upgrade
    std::string remote_address;
    // When the request's first bytes reached this host: the kernel's receive timestamp
    // (CLOCK_REALTIME, ns), so requests read by different shards, however late each thread ran,
    // can be put in the order they arrived. 0 when unknown (pipelined behind another request,
    // forwarded from another edge).
    std::int64_t arrived_ns = 0;

    std::string_view path() const noexcept;
    std::string_view query() const noexcept;
    // First header with this lower-case name.
    std::optional<std::string_view> header(std::string_view lower_name) const noexcept;
    // Percent-decoded value of the first query parameter `name`; nullopt when absent.
    std::optional<std::string> query_param(std::string_view name) const;
};

struct HttpResponse {
    unsigned status = 200;
    std::string content_type;  // omitted when empty
    HeaderList headers;
    std::string body;
    bool close = false;  // close the TCP connection after this response
};

const char* reason_phrase(unsigned status) noexcept;

// A plain-text (UTF-8) answer with Cache-Control: no-store, so that no proxy or browser keeps
// one endpoint's answer (health, refusals) for a later request.
HttpResponse plain_text_response(unsigned status, std::string body);

// An immutable outbound message, shared by every recipient of a broadcast. `text` is one text
// frame (or one packet of a polling payload); each of `binaries` is one binary frame (or "b" +
// base64 in a polling payload). Empty `text` means none.
struct OutMessage {
    std::string text;
    std::vector<std::string> binaries;
    // Opaque to the transport: an application ordering key (the edge puts a room event's
    // offset here so a recovering socket can merge live and replayed events).
    std::uint64_t tag = 0;

    std::size_t bytes() const noexcept {
        std::size_t n = text.size();
        for (const auto& b : binaries) {
            n += b.size();
        }
        return n;
    }
};
using OutMessagePtr = std::shared_ptr<const OutMessage>;

}  // namespace roomcast::transport
