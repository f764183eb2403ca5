#pragma once
// JSON in and out with the byte-exact shape JavaScript peers expect.
//
// Boost.JSON parses; the writer here serializes like JSON.stringify does for parsed values:
// compact, object keys in insertion order, integers without a fraction, doubles in the
// shortest round-trip form JavaScript prints ("1.5", "1e+21", "-0" as "0"), strings escaped
// exactly as JSON.stringify escapes them (", \, control characters; U+2028/9 left as is).
// Non-finite doubles cannot come from a parse; they are written as null, as JSON.stringify does.

#include "roomcast/protocol/errors.hpp"

#include <boost/json/value.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace roomcast::protocol {

struct JsonLimits {
    // Nesting deeper than this is rejected (kJsonTooDeep): protects the stack and the CPU of
    // every recursive walk over client JSON.
    std::size_t max_depth = 64;
};

// Parses exactly one JSON text (surrounding whitespace allowed). Invalid UTF-8 inside strings
// is an error (kInvalidJson).
Result<boost::json::value> parse_json(std::string_view text, const JsonLimits& limits = {});

void write_json(std::string& out, const boost::json::value& value);
std::string to_json(const boost::json::value& value);
// Appends `s` as a JSON string literal (with quotes).
void write_json_string(std::string& out, std::string_view s);

}  // namespace roomcast::protocol
