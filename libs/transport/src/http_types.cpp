#include "roomcast/transport/http_types.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace roomcast::transport {

std::string_view HttpRequest::path() const noexcept {
    const std::string_view t = target;
    const auto q = t.find('?');
    return q == std::string_view::npos ? t : t.substr(0, q);
}

std::string_view HttpRequest::query() const noexcept {
    const std::string_view t = target;
    const auto q = t.find('?');
    return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::optional<std::string_view> HttpRequest::header(std::string_view lower_name) const noexcept {
    for (const auto& [name, value] : headers) {
        if (name == lower_name) {
            return std::string_view(value);
        }
    }
    return std::nullopt;
}

std::optional<std::string> HttpRequest::query_param(std::string_view name) const {
    auto parsed = boost::urls::parse_origin_form(target);
    if (!parsed) {
        return std::nullopt;
    }
    for (const auto& param : parsed->params()) {
        if (param.key == name) {
            return std::string(param.has_value ? param.value : std::string{});
        }
    }
    return std::nullopt;
}

HttpResponse plain_text_response(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.headers.emplace_back("Cache-Control", "no-store");
    r.body = std::move(body);
    return r;
}

const char* reason_phrase(unsigned status) noexcept {
    switch (status) {
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 204:
            return "No Content";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 413:
            return "Payload Too Large";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "Unknown";
    }
}

}  // namespace roomcast::transport
