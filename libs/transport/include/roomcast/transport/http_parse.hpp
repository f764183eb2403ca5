#pragma once
// How HttpServer's connections turn bytes into HttpRequests: the read buffer's size and the
// conversion of a parsed Beast request. Shared with the fuzz harness (fuzz/targets/http_input.hpp),
// which feeds bytes to the parser exactly as a connection does.

#include "roomcast/transport/http_server.hpp"
#include "roomcast/transport/http_types.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <string>

namespace roomcast::transport {

// A connection's read buffer holds the largest allowed header block plus one read: a whole
// header must be in the buffer before the parser can judge it, so an oversized header ends with
// the parser's header_limit (431), never with a buffer overflow (400).
constexpr std::size_t read_buffer_bytes(const HttpLimits& limits) noexcept {
    return std::size_t{limits.max_header_bytes} + 4096;
}

// The request as handlers see it: header names lower-cased, the body moved out of `req`.
HttpRequest to_request(boost::beast::http::request<boost::beast::http::string_body>& req,
                       std::string remote_address);

}  // namespace roomcast::transport
