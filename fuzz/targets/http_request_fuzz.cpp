// The edge's HTTP request path without sockets: bytes → Beast's request_parser (HttpServer's
// limits, pipelined keep-alive requests) → HttpRequest → path(), query(), header() and
// query_param() as the Engine.IO layer calls them.
//
// Input: byte 0 seeds the chunk sizes; the rest is what a client sends on one connection.
//
// Checks: the requests read do not depend on how the bytes are split; path() and
// query() split the target at its first '?' and put it back together; header() finds the
// first field of a name; query_param() never throws and is stable; a header within HttpLimits'
// max_header_bytes fits the connection's read buffer.

#include "fuzz_check.hpp"
#include "http_input.hpp"

#include <algorithm>
#include <string>

using roomcast::fuzz::Chunker;
using roomcast::fuzz::Input;
using roomcast::transport::HttpRequest;

namespace {

bool same(const HttpRequest& a, const HttpRequest& b) {
    return a.method == b.method && a.target == b.target && a.headers == b.headers &&
           a.body == b.body && a.keep_alive == b.keep_alive &&
           a.websocket_upgrade == b.websocket_upgrade;
}

void check_request(const HttpRequest& r) {
    const std::string_view path = r.path();
    const std::string_view query = r.query();
    const auto q = r.target.find('?');
    if (q == std::string::npos) {
        FUZZ_CHECK(path == r.target);
        FUZZ_CHECK(query.empty());
    } else {
        FUZZ_CHECK(std::string(path) + "?" + std::string(query) == r.target);
        FUZZ_CHECK(path.find('?') == std::string_view::npos);
    }
    // header() returns the first field of a name (bounded: a 16 KiB header holds thousands).
    const std::size_t n = std::min<std::size_t>(r.headers.size(), 64);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string& name = r.headers[i].first;
        for (const char c : name) {
            FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
        }
        std::size_t first = 0;
        while (r.headers[first].first != name) {
            ++first;
        }
        const auto found = r.header(name);
        FUZZ_CHECK(found.has_value());
        FUZZ_CHECK(found->data() == r.headers[first].second.data());
    }
    for (const std::string_view key : {"EIO", "transport", "sid", "t", "", "b64"}) {
        const auto a = r.query_param(key);
        const auto b = r.query_param(key);
        FUZZ_CHECK(a == b);
        if (a && !key.empty()) {
            FUZZ_CHECK(query.find(key) != std::string_view::npos ||
                       query.find('%') != std::string_view::npos);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    const std::uint8_t seed = in.byte();
    const std::string_view bytes = in.rest();

    const auto whole = roomcast::fuzz::parse_requests(bytes, [&] { return bytes.size() + 1; });
    Chunker chunker(seed, 1 + seed % 64);
    const auto chunked = roomcast::fuzz::parse_requests(bytes, [&] { return chunker.next(); });

    // The read buffer has room for the largest allowed header plus a read, so a header over
    // HttpLimits::max_header_bytes ends with header_limit (431), never with a buffer overflow
    // (400). (Until 2026-11-28 the buffer was 8 KiB: headers of 8-16 KiB got 400.)
    FUZZ_CHECK(whole.error != boost::beast::http::error::buffer_overflow);
    FUZZ_CHECK(chunked.error != boost::beast::http::error::buffer_overflow);

    // Requests both readings complete are the same. Beast may stop at a different point when
    // the input is malformed: a bare LF inside the header is "bad value" when the whole header
    // arrives in one read but "need more" (then the request timeout) when it trickles in,
    // because the end of the header is only looked for as CRLF CRLF. Either way no request is
    // handed on, so only the complete requests are compared.
    if (!whole.error && !chunked.error) {
        FUZZ_CHECK(whole.requests.size() == chunked.requests.size());
    }
    const std::size_t common = std::min(whole.requests.size(), chunked.requests.size());
    for (std::size_t i = 0; i < common; ++i) {
        FUZZ_CHECK(same(whole.requests[i], chunked.requests[i]));
    }
    for (std::size_t i = 0; i < whole.requests.size(); ++i) {
        check_request(whole.requests[i]);
    }
    return 0;
}
