#pragma once
// Bytes → Beast's request parser → roomcast::transport::HttpRequest, as HttpConnection reads a
// keep-alive connection (libs/transport/src/http_server.cpp): same parser, same limits,
// pipelined requests one after another, and the same conversion to an HttpRequest. The
// conversion is a copy of HttpConnection::to_request, which is private to the connection;
// the two must stay in step (see docs/reliability.md, "Fuzzing").

#include "roomcast/transport/http_parse.hpp"
#include "roomcast/transport/http_types.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::fuzz {

struct ParsedHttp {
    std::vector<transport::HttpRequest> requests;
    // The error that ended parsing (a connection would answer 400/413/431 and close), if any.
    boost::system::error_code error;
};

// HttpServer's defaults: HttpLimits::max_header_bytes and the Engine.IO route's max_body.
inline constexpr std::uint32_t kHeaderLimit = transport::HttpLimits{}.max_header_bytes;
inline constexpr std::uint64_t kBodyLimit = 1000000;
// The connection's read buffer (a read with that many bytes unparsed fails with
// http::error::buffer_overflow).
inline constexpr std::size_t kReadBufferBytes = transport::read_buffer_bytes(transport::HttpLimits{});

inline transport::HttpRequest to_request(
    boost::beast::http::request_parser<boost::beast::http::string_body>& parser) {
    return transport::to_request(parser.get(), "127.0.0.1");
}

// Parses `bytes` as a connection would receive them, at most `next_chunk()` bytes per read
// and never more than the read buffer holds. Stops at the first error, or at a request the connection would not read past (one
// that is not keep-alive, or a WebSocket upgrade).
template <class NextChunk>
ParsedHttp parse_requests(std::string_view bytes, NextChunk next_chunk) {
    namespace http = boost::beast::http;
    ParsedHttp out;
    std::optional<http::request_parser<http::string_body>> parser;
    auto fresh = [&] {
        parser.emplace();
        parser->header_limit(kHeaderLimit);
        parser->body_limit(kBodyLimit);
        parser->eager(true);
    };
    fresh();
    std::string buffer;
    std::size_t fed = 0;
    while (true) {
        if (fed < bytes.size()) {
            if (buffer.size() >= kReadBufferBytes) {
                out.error = make_error_code(http::error::buffer_overflow);
                return out;
            }
            const std::size_t n = std::min(
                {next_chunk(), bytes.size() - fed, kReadBufferBytes - buffer.size()});
            buffer.append(bytes.substr(fed, n));
            fed += n;
        }
        bool progressed = true;
        while (progressed) {
            progressed = false;
            if (buffer.empty()) {
                break;
            }
            boost::system::error_code ec;
            const std::size_t used = parser->put(boost::asio::buffer(buffer), ec);
            buffer.erase(0, used);
            if (ec == http::error::need_more) {
                break;
            }
            if (ec) {
                out.error = ec;
                return out;
            }
            if (parser->is_done()) {
                auto request = to_request(*parser);
                const bool last = !request.keep_alive || request.websocket_upgrade;
                out.requests.push_back(std::move(request));
                if (last) {
                    return out;
                }
                fresh();
            }
            progressed = used > 0;
        }
        if (fed >= bytes.size()) {
            break;
        }
    }
    if (parser->got_some()) {
        boost::system::error_code ec;
        parser->put_eof(ec);
        if (!ec && parser->is_done()) {
            out.requests.push_back(to_request(*parser));
        } else {
            out.error = ec ? ec : make_error_code(http::error::partial_message);
        }
    }
    return out;
}

}  // namespace roomcast::fuzz
