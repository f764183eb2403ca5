#include "http.hpp"

#include <charconv>

namespace roomcast::loadgen::http {
namespace {

char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool icontains(std::string_view hay, std::string_view needle) noexcept {
    if (needle.size() > hay.size()) {
        return false;
    }
    for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
        if (iequals(hay.substr(i, needle.size()), needle)) {
            return true;
        }
    }
    return false;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

void append_upgrade_request(std::string& out, std::string_view target, std::string_view host,
                            std::string_view key) {
    out += "GET ";
    out += target;
    out += " HTTP/1.1\r\nHost: ";
    out += host;
    out += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
    out += key;
    out += "\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

void append_get(std::string& out, std::string_view target, std::string_view host) {
    out += "GET ";
    out += target;
    out += " HTTP/1.1\r\nHost: ";
    out += host;
    out += "\r\nAccept: */*\r\n\r\n";
}

void append_post(std::string& out, std::string_view target, std::string_view host,
                 std::string_view body) {
    char len[24];
    const auto r = std::to_chars(len, len + sizeof len, body.size());
    out += "POST ";
    out += target;
    out += " HTTP/1.1\r\nHost: ";
    out += host;
    out += "\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: ";
    out.append(len, r.ptr);
    out += "\r\n\r\n";
    out += body;
}

std::string_view header_value(std::string_view head, std::string_view name) {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        const std::size_t start = pos + 2;
        const std::size_t end = head.find("\r\n", start);
        const std::string_view line = head.substr(
            start, end == std::string_view::npos ? std::string_view::npos : end - start);
        const std::size_t colon = line.find(':');
        if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), name)) {
            return trim(line.substr(colon + 1));
        }
        pos = end;
    }
    return {};
}

std::optional<unsigned> status_of(std::string_view head) {
    // "HTTP/1.1 200 OK"
    unsigned status = 0;
    if (!head.starts_with("HTTP/1.") || head.size() < 12 || head[8] != ' ') {
        return std::nullopt;
    }
    const auto [ptr, ec] = std::from_chars(head.data() + 9, head.data() + 12, status);
    if (ec != std::errc() || ptr != head.data() + 12) {
        return std::nullopt;
    }
    return status;
}

Response parse_response(std::string_view buffer, std::size_t max_body) {
    Response r;
    const std::size_t blank = buffer.find("\r\n\r\n");
    if (blank == std::string_view::npos) {
        if (buffer.size() > kMaxHead) {
            r.state = Response::State::kError;
        }
        return r;
    }
    r.head_size = blank + 4;
    const std::string_view head = buffer.substr(0, blank + 2);
    const auto status = status_of(head);
    if (!status) {
        r.state = Response::State::kError;
        return r;
    }
    r.status = *status;
    r.close = icontains(header_value(head, "connection"), "close") || head.starts_with("HTTP/1.0");
    if (!header_value(head, "transfer-encoding").empty()) {
        r.state = Response::State::kError;
        return r;
    }
    const std::string_view length = header_value(head, "content-length");
    std::size_t body = 0;
    if (!length.empty()) {
        const auto [p2, e2] = std::from_chars(length.data(), length.data() + length.size(), body);
        if (e2 != std::errc() || p2 != length.data() + length.size() || body > max_body) {
            r.state = Response::State::kError;
            return r;
        }
    } else if (status != 101 && status != 204 && status != 304 && !r.close) {
        r.state = Response::State::kError;  // body delimited by close: not supported
        return r;
    }
    r.body_size = body;
    if (buffer.size() >= r.head_size + body) {
        r.state = Response::State::kComplete;
    }
    return r;
}

bool upgrade_accepted(std::string_view head, std::string_view expected_accept) {
    if (!head.starts_with("HTTP/1.1 101")) {
        return false;
    }
    return icontains(header_value(head, "upgrade"), "websocket") &&
           header_value(head, "sec-websocket-accept") == expected_accept;
}

}  // namespace roomcast::loadgen::http
