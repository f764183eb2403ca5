#include "app/requests.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/socketio.hpp"

#include <algorithm>
#include <charconv>
#include <climits>

namespace roomcast::edge {

namespace json = boost::json;
namespace psio = protocol::sio;

std::optional<std::uint64_t> parse_offset(const json::value& v) noexcept {
    if (v.is_string()) {
        const auto s = v.get_string();
        if (s.empty() || s.size() > 20) {
            return std::nullopt;
        }
        std::uint64_t out = 0;
        const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        if (ec != std::errc() || p != s.data() + s.size()) {
            return std::nullopt;
        }
        return out;
    }
    if (v.is_uint64()) {
        return v.get_uint64();
    }
    if (v.is_int64() && v.get_int64() >= 0) {
        return static_cast<std::uint64_t>(v.get_int64());
    }
    return std::nullopt;
}

namespace requests {
namespace {

// The request object (the event's first argument) and its valid room, or the error.
Parsed<std::pair<const json::object*, std::string>> request_and_room(const sio::Args& args) {
    const auto room_rule = [] {
        return Error{error_code::kBadRequest,
                     "room must match " + std::string(contract::kRoomIdPattern)};
    };
    if (args.size() < 1 || !args[0].is_object()) {
        return room_rule();
    }
    const json::object& req = args[0].as_object();
    const auto* room = req.if_contains("room");
    if (room == nullptr || !room->is_string() || !contract::valid_room_id(room->get_string())) {
        return room_rule();
    }
    return std::pair{&req, std::string(room->get_string())};
}

}  // namespace

Parsed<RoomRequest> parse_room(const sio::Args& args) {
    auto r = request_and_room(args);
    if (auto* e = std::get_if<Error>(&r)) {
        return std::move(*e);
    }
    return RoomRequest{std::move(std::get<0>(r).second)};
}

Parsed<PublishRequest> parse_publish(const sio::Args& args, const Limits& limits) {
    auto r = request_and_room(args);
    if (auto* e = std::get_if<Error>(&r)) {
        return std::move(*e);
    }
    auto& [req, room] = std::get<0>(r);
    const json::value* event = req->if_contains("event");
    if (event == nullptr || !event->is_string() || !contract::valid_event_name(event->get_string())) {
        return Error{error_code::kBadRequest,
                     "event must be a non-empty string of at most 128 characters and not reserved"};
    }
    const json::value* echo = req->if_contains("echo");
    if (echo != nullptr && !echo->is_bool()) {
        return Error{error_code::kBadRequest, "echo must be a boolean"};
    }
    const json::value* ephemeral = req->if_contains("ephemeral");
    if (ephemeral != nullptr && !ephemeral->is_bool()) {
        return Error{error_code::kBadRequest, "ephemeral must be a boolean"};
    }
    const json::value* data = req->if_contains("data");
    const auto attachments = args.attachments().size();
    // Deliveries refuse data whose placeholders name no attachment (Collab::deliver): refuse it
    // here too, so that an acknowledged publish is always delivered. A text packet's
    // `{"_placeholder":true,"num":0}` is such data.
    if (data != nullptr && !psio::placeholders_valid(*data, static_cast<std::uint32_t>(attachments))) {
        return Error{error_code::kBadRequest,
                     "data holds a binary placeholder ({\"_placeholder\":true,\"num\":N}) with no "
                     "matching attachment"};
    }
    PublishRequest out;
    out.room = std::move(room);
    out.event = std::string(event->get_string());
    out.echo = echo != nullptr && echo->get_bool();
    out.ephemeral = ephemeral != nullptr && ephemeral->get_bool();
    out.data_json = data != nullptr ? protocol::to_json(*data) : "null";
    out.bytes = out.data_json.size();
    for (const auto& a : args.attachments()) {
        out.bytes += a.size();
    }
    if (out.bytes > limits.max_publish_bytes) {
        return Error{error_code::kPayloadTooLarge,
                     "data is larger than " + std::to_string(limits.max_publish_bytes) + " bytes"};
    }
    return out;
}

Parsed<HistoryRequest> parse_history(const sio::Args& args, const Limits& limits) {
    auto r = request_and_room(args);
    if (auto* e = std::get_if<Error>(&r)) {
        return std::move(*e);
    }
    auto& [req, room] = std::get<0>(r);
    HistoryRequest out;
    out.room = std::move(room);
    if (const auto* v = req->if_contains("since"); v != nullptr && !v->is_null()) {
        out.since = parse_offset(*v);
        if (!out.since) {
            return Error{error_code::kBadRequest, "since must be an offset (a decimal string)"};
        }
    }
    out.limit = limits.history_default;
    if (const auto* v = req->if_contains("limit"); v != nullptr && !v->is_null()) {
        const std::int64_t n =
            v->is_int64()    ? v->get_int64()
            : v->is_uint64() ? static_cast<std::int64_t>(std::min<std::uint64_t>(v->get_uint64(), INT64_MAX))
                             : -1;
        if (n < 1 || static_cast<std::uint64_t>(n) > limits.history_max) {
            return Error{error_code::kBadRequest,
                         "limit must be an integer from 1 to " + std::to_string(limits.history_max)};
        }
        out.limit = static_cast<std::size_t>(n);
    }
    return out;
}

}  // namespace requests
}  // namespace roomcast::edge
