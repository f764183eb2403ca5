#include "roomcast/protocol/json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value_stack.hpp>

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace roomcast::protocol {
namespace json = boost::json;

namespace {

// Boost.JSON 1.81 converts decimal text to double with up to one ulp of error (about one in
// ten values such as 113.17408141314563 comes out as a neighbour), which would break the
// promise that re-serialized numbers match what the JavaScript peer sent. This handler builds
// the same value tree as boost::json::parser but converts every non-integer number again with
// std::from_chars, which libstdc++ rounds correctly.
class ValueBuilder {
public:
    // Limits basic_parser enforces while parsing; the container maxima, as parser uses.
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    ValueBuilder() { stack_.reset(); }

    json::value release() { return stack_.release(); }

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) { return true; }
    bool on_object_end(std::size_t n, json::error_code&) {
        stack_.push_object(n);
        return true;
    }
    bool on_array_begin(json::error_code&) { return true; }
    bool on_array_end(std::size_t n, json::error_code&) {
        stack_.push_array(n);
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        stack_.push_chars(s);
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code&) {
        stack_.push_key(s);
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
        stack_.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&) {
        stack_.push_string(s);
        return true;
    }
    // Only called when a number straddles two write_some calls; parse_json passes the whole
    // text at once, but keeping the pieces makes the handler correct regardless.
    bool on_number_part(json::string_view s, json::error_code&) {
        number_.append(s.data(), s.size());
        return true;
    }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
        number_.clear();
        stack_.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
        number_.clear();
        stack_.push_uint64(u);
        return true;
    }
    bool on_double(double approx, json::string_view s, json::error_code&) {
        std::string_view text(s.data(), s.size());
        if (!number_.empty()) {
            number_.append(s.data(), s.size());
            text = number_;
        }
        stack_.push_double(precise_double(approx, text));
        number_.clear();
        return true;
    }
    bool on_bool(bool b, json::error_code&) {
        stack_.push_bool(b);
        return true;
    }
    bool on_null(json::error_code&) {
        stack_.push_null();
        return true;
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }

private:
    static double precise_double(double approx, std::string_view text) {
        double d = 0;
        const char* const end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, d);
        if (ec == std::errc() && ptr == end) {
            return d;
        }
        if (ec == std::errc::result_out_of_range) {
            // JSON.parse gives ±Infinity on overflow and ±0 on underflow; Boost's estimate is
            // good enough to tell the two apart.
            const bool negative = !text.empty() && text.front() == '-';
            const double magnitude =
                std::fabs(approx) >= 1.0 ? std::numeric_limits<double>::infinity() : 0.0;
            return negative ? -magnitude : magnitude;
        }
        return approx;
    }

    json::value_stack stack_;
    std::string number_;
};

void write_integer(std::string& out, auto v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// Number.prototype.toString for finite doubles (ECMA-262 Number::toString): the shortest
// digits that round-trip (std::to_chars gives exactly those, nearest first), laid out in
// plain notation when the decimal point falls within 21 digits and after at most 6 leading
// zeros, in exponent notation ("1e+21", "1.5e-7") otherwise.
void write_double(std::string& out, double d) {
    if (!std::isfinite(d)) {
        out += "null";
        return;
    }
    if (d == 0) {
        out += '0';  // also -0, as JSON.stringify prints it
        return;
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    const char* p = buf;
    const char* const end = r.ptr;
    if (*p == '-') {
        out += '-';
        ++p;
    }
    char digits[20];
    int k = 0;
    for (; p != end && *p != 'e'; ++p) {
        if (*p != '.') {
            digits[k++] = *p;
        }
    }
    int exponent = 0;
    if (p != end) {
        ++p;  // 'e'
        const bool negative_exp = *p == '-';
        if (*p == '-' || *p == '+') {
            ++p;
        }
        std::from_chars(p, end, exponent);
        if (negative_exp) {
            exponent = -exponent;
        }
    }
    // n is the position of the decimal point relative to the first digit: value is
    // 0.d1d2...dk × 10^n.
    const int n = exponent + 1;
    if (k <= n && n <= 21) {
        out.append(digits, static_cast<std::size_t>(k));
        out.append(static_cast<std::size_t>(n - k), '0');
    } else if (0 < n && n <= 21) {
        out.append(digits, static_cast<std::size_t>(n));
        out += '.';
        out.append(digits + n, static_cast<std::size_t>(k - n));
    } else if (-6 < n && n <= 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-n), '0');
        out.append(digits, static_cast<std::size_t>(k));
    } else {
        out += digits[0];
        if (k > 1) {
            out += '.';
            out.append(digits + 1, static_cast<std::size_t>(k - 1));
        }
        out += 'e';
        const int e = n - 1;
        out += e < 0 ? '-' : '+';
        write_integer(out, e < 0 ? -e : e);
    }
}

}  // namespace

Result<json::value> parse_json(std::string_view text, const JsonLimits& limits) {
    json::parse_options options;
    options.max_depth = limits.max_depth;
    json::basic_parser<ValueBuilder> parser(options);
    json::error_code ec;
    const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (ec) {
        if (ec == json::error::too_deep) {
            return make_error_code(Errc::kJsonTooDeep);
        }
        return make_error_code(Errc::kInvalidJson);
    }
    if (used != text.size() || !parser.done()) {
        return make_error_code(Errc::kInvalidJson);  // a second value after the first
    }
    return parser.handler().release();
}

void write_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    const char* run = s.data();
    const char* const end = s.data() + s.size();
    for (const char* p = run; p != end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        out.append(run, p);
        run = p + 1;
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default: {
                const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
                out.append(esc, sizeof esc);
                break;
            }
        }
    }
    out.append(run, end);
    out += '"';
}

void write_json(std::string& out, const json::value& value) {
    switch (value.kind()) {
        case json::kind::null:
            out += "null";
            return;
        case json::kind::bool_:
            out += value.get_bool() ? "true" : "false";
            return;
        case json::kind::int64:
            write_integer(out, value.get_int64());
            return;
        case json::kind::uint64:
            write_integer(out, value.get_uint64());
            return;
        case json::kind::double_:
            write_double(out, value.get_double());
            return;
        case json::kind::string: {
            const json::string& s = value.get_string();
            write_json_string(out, std::string_view(s.data(), s.size()));
            return;
        }
        case json::kind::array: {
            out += '[';
            bool first = true;
            for (const json::value& element : value.get_array()) {
                if (!first) {
                    out += ',';
                }
                first = false;
                write_json(out, element);
            }
            out += ']';
            return;
        }
        case json::kind::object: {
            out += '{';
            bool first = true;
            for (const json::key_value_pair& member : value.get_object()) {
                if (!first) {
                    out += ',';
                }
                first = false;
                write_json_string(out, std::string_view(member.key().data(), member.key().size()));
                out += ':';
                write_json(out, member.value());
            }
            out += '}';
            return;
        }
    }
}

std::string to_json(const json::value& value) {
    std::string out;
    write_json(out, value);
    return out;
}

}  // namespace roomcast::protocol
