// JSON as JavaScript peers write it: parse_json then write_json.
//
// Checks: whatever parse_json accepts, write_json writes as JSON that parse_json accepts and
// that is the same value, parse(write(parse(x))) == parse(x), with numbers compared as
// JavaScript compares them (one number type: 1.0 and 1 are equal, -0 and 0 are equal) and one
// exception JavaScript shares: a literal beyond the double range parses as ±Infinity, which
// JSON.stringify (and write_json) write as null. Writing is a fixed point:
// write(parse(write(v))) == write(v). parse_json accepts exactly what Boost.JSON's own
// parser accepts at the same depth (it is Boost's grammar with a precise number conversion).

#include "fuzz_check.hpp"

#include "roomcast/protocol/json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <cmath>

namespace json = boost::json;
namespace protocol = roomcast::protocol;

namespace {

double as_double(const json::value& v) {
    if (v.is_int64()) {
        return static_cast<double>(v.get_int64());
    }
    if (v.is_uint64()) {
        return static_cast<double>(v.get_uint64());
    }
    return v.get_double();
}

// a: a parsed value; b: the value parsed back from a's serialization.
bool same_js_value(const json::value& a, const json::value& b) {
    if (a.is_double() && !std::isfinite(a.get_double())) {
        return b.is_null();
    }
    if (a.is_number() || b.is_number()) {
        if (!a.is_number() || !b.is_number()) {
            return false;
        }
        if (a.is_double() || b.is_double()) {
            return as_double(a) == as_double(b);
        }
        return a == b;  // both integers: exact
    }
    if (a.kind() != b.kind()) {
        return false;
    }
    switch (a.kind()) {
        case json::kind::array: {
            const auto& x = a.get_array();
            const auto& y = b.get_array();
            if (x.size() != y.size()) {
                return false;
            }
            for (std::size_t i = 0; i < x.size(); ++i) {
                if (!same_js_value(x[i], y[i])) {
                    return false;
                }
            }
            return true;
        }
        case json::kind::object: {
            const auto& x = a.get_object();
            const auto& y = b.get_object();
            if (x.size() != y.size()) {
                return false;
            }
            auto i = x.begin();
            auto j = y.begin();
            for (; i != x.end(); ++i, ++j) {
                if (i->key() != j->key() || !same_js_value(i->value(), j->value())) {
                    return false;
                }
            }
            return true;
        }
        default:
            return a == b;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    protocol::JsonLimits limits;
    limits.max_depth = 32;
    auto parsed = protocol::parse_json(text, limits);

    json::parse_options options;
    options.max_depth = limits.max_depth;
    boost::system::error_code ec;
    (void)json::parse(text, ec, {}, options);
    FUZZ_CHECK(parsed.has_value() == !ec);
    if (!parsed) {
        return 0;
    }

    const std::string written = protocol::to_json(*parsed);
    auto again = protocol::parse_json(written, limits);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(same_js_value(*parsed, *again));
    FUZZ_CHECK(protocol::to_json(*again) == written);
    return 0;
}
