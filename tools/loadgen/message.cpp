#include "message.hpp"

#include "roomcast/protocol/json.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <charconv>

namespace roomcast::loadgen {
namespace {

namespace json = boost::json;

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// A cursor over the exact bytes the fast path expects.
struct Scanner {
    std::string_view s;

    bool literal(std::string_view lit) {
        if (!s.starts_with(lit)) {
            return false;
        }
        s.remove_prefix(lit.size());
        return true;
    }
    std::optional<std::uint64_t> uint() {
        std::uint64_t v = 0;
        const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc() || ptr == s.data()) {
            return std::nullopt;
        }
        s.remove_prefix(static_cast<std::size_t>(ptr - s.data()));
        return v;
    }
    // A string without escapes (ids are validated to need none), after its opening quote.
    std::optional<std::string_view> plain_string() {
        const std::size_t end = s.find_first_of("\"\\");
        if (end == std::string_view::npos || s[end] != '"') {
            return std::nullopt;
        }
        const std::string_view v = s.substr(0, end);
        s.remove_prefix(end + 1);
        return v;
    }
    std::optional<std::int64_t> quoted_int() {
        if (!literal("\"")) {
            return std::nullopt;
        }
        std::int64_t v = 0;
        const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc() || ptr == s.data()) {
            return std::nullopt;
        }
        s.remove_prefix(static_cast<std::size_t>(ptr - s.data()));
        if (!literal("\"")) {
            return std::nullopt;
        }
        return v;
    }
};

// The fast path: `s` starts right after `["<event>",`.
bool scan_data(std::string_view s, LgMessage& out) {
    Scanner sc{s};
    if (!sc.literal("{\"p\":\"")) {
        return false;
    }
    const auto p = sc.plain_string();
    if (!p) {
        return false;
    }
    out.publisher = *p;
    if (sc.literal(",\"s\":")) {
        const auto seq = sc.uint();
        if (!seq || !sc.literal(",\"t\":")) {
            return false;
        }
        const auto t = sc.quoted_int();
        if (!t) {
            return false;
        }
        out.kind = LgMessage::Kind::kData;
        out.seq = *seq;
        out.sent_ns = *t;
        // The padding and the rest (meta, offset) need no reading.
        return sc.literal(",\"pad\":\"") || sc.literal("}");
    }
    if (sc.literal(",\"end\":")) {
        const auto end = sc.uint();
        if (!end || !sc.literal(",\"refused\":")) {
            return false;
        }
        const auto refused = sc.uint();
        if (!refused || !sc.literal("}")) {
            return false;
        }
        out.kind = LgMessage::Kind::kEnd;
        out.end = *end;
        out.refused = *refused;
        return true;
    }
    if (sc.literal(",\"churn\":")) {
        const auto cycle = sc.uint();
        if (!cycle || !sc.literal(",\"t\":")) {
            return false;
        }
        const auto t = sc.quoted_int();
        if (!t || !sc.literal("}")) {
            return false;
        }
        out.kind = LgMessage::Kind::kChurn;
        out.seq = *cycle;
        out.sent_ns = *t;
        return true;
    }
    return false;
}

std::optional<std::uint64_t> as_uint(const json::value* v) {
    if (v == nullptr) {
        return std::nullopt;
    }
    if (v->is_uint64()) {
        return v->get_uint64();
    }
    if (v->is_int64() && v->get_int64() >= 0) {
        return static_cast<std::uint64_t>(v->get_int64());
    }
    return std::nullopt;
}

std::optional<std::int64_t> as_ns(const json::value* v) {
    if (v == nullptr || !v->is_string()) {
        return std::nullopt;
    }
    const auto& s = v->get_string();
    std::int64_t n = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || ptr != s.data() + s.size()) {
        return std::nullopt;
    }
    return n;
}

// The slow path: any JSON layout of the same fields.
EventMatch parse_full(std::string_view payload, std::string_view event_json, LgMessage& out,
                      std::string& storage) {
    auto parsed = protocol::parse_json(payload);
    if (!parsed || !parsed->is_array() || parsed->get_array().empty()) {
        return EventMatch::kOther;
    }
    const json::array& args = parsed->get_array();
    if (!args[0].is_string() || protocol::to_json(args[0]) != event_json) {
        return EventMatch::kOther;
    }
    if (args.size() < 2 || !args[1].is_object()) {
        return EventMatch::kForeign;
    }
    const json::object& data = args[1].get_object();
    const json::value* p = data.if_contains("p");
    if (p == nullptr || !p->is_string()) {
        return EventMatch::kForeign;
    }
    storage.assign(p->get_string().data(), p->get_string().size());
    out.publisher = storage;
    out.offset = args.size() >= 4 && args[3].is_string();
    if (const auto seq = as_uint(data.if_contains("s"))) {
        out.kind = LgMessage::Kind::kData;
        out.seq = *seq;
        out.sent_ns = as_ns(data.if_contains("t"));
        return EventMatch::kMessage;
    }
    if (const auto end = as_uint(data.if_contains("end"))) {
        out.kind = LgMessage::Kind::kEnd;
        out.end = *end;
        out.refused = as_uint(data.if_contains("refused")).value_or(0);
        return EventMatch::kMessage;
    }
    if (const auto cycle = as_uint(data.if_contains("churn"))) {
        out.kind = LgMessage::Kind::kChurn;
        out.seq = *cycle;
        out.sent_ns = as_ns(data.if_contains("t"));
        return EventMatch::kMessage;
    }
    return EventMatch::kForeign;
}

}  // namespace

void append_publish_open(std::string& out, std::string_view room, std::string_view event_json) {
    out += "[\"publish\",{\"room\":\"";
    out += room;  // validated: [A-Za-z0-9_:@-] needs no escaping
    out += "\",\"event\":";
    out += event_json;
    out += ",\"data\":";
}

void append_publish_close(std::string& out, Delivery delivery) {
    out += delivery == Delivery::kEphemeral ? ",\"ephemeral\":true}]" : "}]";
}

void append_publish(std::string& out, std::string_view room, std::string_view event_json,
                    std::string_view data_json, Delivery delivery) {
    append_publish_open(out, room, event_json);
    out += data_json;
    append_publish_close(out, delivery);
}

bool is_ok_ack(std::string_view payload) noexcept {
    return payload.starts_with("[{\"ok\":true");
}

void append_data(std::string& out, std::string_view publisher, std::uint64_t seq,
                 std::int64_t sent_ns, std::size_t pad_bytes) {
    out += "{\"p\":\"";
    out += publisher;
    out += "\",\"s\":";
    append_uint(out, seq);
    out += ",\"t\":\"";
    append_int(out, sent_ns);
    out += "\",\"pad\":\"";
    out.append(pad_bytes, 'x');
    out += "\"}";
}

void append_end(std::string& out, std::string_view publisher, std::uint64_t end,
                std::uint64_t refused) {
    out += "{\"p\":\"";
    out += publisher;
    out += "\",\"end\":";
    append_uint(out, end);
    out += ",\"refused\":";
    append_uint(out, refused);
    out += '}';
}

void append_churn(std::string& out, std::string_view client, std::uint64_t cycle,
                  std::int64_t sent_ns) {
    out += "{\"p\":\"";
    out += client;
    out += "\",\"churn\":";
    append_uint(out, cycle);
    out += ",\"t\":\"";
    append_int(out, sent_ns);
    out += "\"}";
}

EventMatch decode_event(std::string_view payload, std::string_view event_json, LgMessage& out,
                        std::string& storage) {
    // Fast rejection of other events (presence, kicked) without parsing.
    if (payload.size() < 2 || payload[0] != '[') {
        return EventMatch::kOther;
    }
    const std::string_view rest = payload.substr(1);
    if (rest.starts_with(event_json)) {
        const std::string_view after = rest.substr(event_json.size());
        if (after.starts_with(',') && scan_data(after.substr(1), out)) {
            // A stored event ends with its offset argument `,"<offset>"]`, an ephemeral one
            // with its meta object `}]`: the last two bytes tell, nothing needs parsing.
            out.offset = payload.ends_with("\"]");
            return EventMatch::kMessage;
        }
    } else if (rest.starts_with('"') && rest.find('\\') > rest.find('"', 1)) {
        return EventMatch::kOther;  // a plain event name that is not ours
    }
    return parse_full(payload, event_json, out, storage);
}

}  // namespace roomcast::loadgen
