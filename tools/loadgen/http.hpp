#pragma once
// The few HTTP/1.1 pieces a load-generating client needs: request text for the WebSocket
// upgrade and the polling GET/POST, and an incremental reader of one response (status line,
// headers, Content-Length body). Pure, no I/O.
//
// Responses without Content-Length (chunked, or close-delimited) are refused: the edge always
// sends Content-Length, and a load generator that guessed would count garbage as messages.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace roomcast::loadgen::http {

// Largest response head accepted (status line + headers).
inline constexpr std::size_t kMaxHead = 16 * 1024;

void append_upgrade_request(std::string& out, std::string_view target, std::string_view host,
                            std::string_view key);
void append_get(std::string& out, std::string_view target, std::string_view host);
void append_post(std::string& out, std::string_view target, std::string_view host,
                 std::string_view body);

struct Response {
    enum class State : std::uint8_t { kIncomplete, kComplete, kError };
    State state = State::kIncomplete;
    unsigned status = 0;
    std::size_t head_size = 0;  // bytes up to and including the blank line
    std::size_t body_size = 0;
    bool close = false;  // Connection: close
    std::string_view body(std::string_view buffer) const noexcept {
        return buffer.substr(head_size, body_size);
    }
    std::size_t total() const noexcept { return head_size + body_size; }
};

// Examines the bytes received so far. `max_body` caps Content-Length.
Response parse_response(std::string_view buffer, std::size_t max_body);

// The value of header `name` (case-insensitive) in a response head, or empty.
std::string_view header_value(std::string_view head, std::string_view name);

// True when `head` is a complete "101 Switching Protocols" with Upgrade: websocket and the
// Sec-WebSocket-Accept that `expected_accept` names.
bool upgrade_accepted(std::string_view head, std::string_view expected_accept);

// The status code of a response head ("HTTP/1.x NNN ..."), or nullopt when it has none.
std::optional<unsigned> status_of(std::string_view head);

}  // namespace roomcast::loadgen::http
