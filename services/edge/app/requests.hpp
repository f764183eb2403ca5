#pragma once
// The client requests of the collaboration protocol (PRODUCT.md §2, docs/protocol.md
// "Requests"), parsed and validated without any state: the shape of each request, its room id
// and its sizes. Rights (the ACL cache) and state (membership) are the handlers' part, checked
// after these, in the documented order. Room ids and event names follow the bus contract
// (roomcast/contract/ids.hpp). Pure functions, so that they are fuzzed directly
// (fuzz/targets/collab_request_fuzz.cpp) with exactly the input a socket can send.

#include "socketio/server.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace roomcast::edge {

// Error codes of PRODUCT.md §2.
namespace error_code {
inline constexpr std::string_view kBadRequest = "bad_request";
inline constexpr std::string_view kUnauthorized = "unauthorized";
inline constexpr std::string_view kForbidden = "forbidden";
inline constexpr std::string_view kNotFound = "not_found";
inline constexpr std::string_view kNotJoined = "not_joined";
inline constexpr std::string_view kRateLimited = "rate_limited";
inline constexpr std::string_view kPayloadTooLarge = "payload_too_large";
inline constexpr std::string_view kUnavailable = "unavailable";
inline constexpr std::string_view kInternal = "internal";
}  // namespace error_code

// An offset: a decimal string of at most 20 digits (as acks and events carry it) or a
// non-negative integer.
std::optional<std::uint64_t> parse_offset(const boost::json::value& v) noexcept;

namespace requests {

// What the ack carries when a request is refused.
struct Error {
    std::string_view code;
    std::string message;
};

template <class T>
using Parsed = std::variant<T, Error>;

struct Limits {
    std::size_t history_default = 50;
    std::size_t history_max = 1000;
    std::size_t max_publish_bytes = 256 * 1024;  // data JSON + binary attachments
};

// join, leave, presence: {room}.
struct RoomRequest {
    std::string room;
};
Parsed<RoomRequest> parse_room(const sio::Args& args);

// publish: {room, event, data?, echo?, ephemeral?} plus the packet's binary attachments, which
// the data's placeholders name.
struct PublishRequest {
    std::string room;
    std::string event;
    bool echo = false;
    bool ephemeral = false;  // never stored, no offset (PRODUCT.md §2)
    std::string data_json;  // "null" when absent; placeholders as sent
    std::size_t bytes = 0;  // data_json + attachments
};
Parsed<PublishRequest> parse_publish(const sio::Args& args, const Limits& limits);

// history: {room, since?, limit?}.
struct HistoryRequest {
    std::string room;
    std::optional<std::uint64_t> since;  // exclusive
    std::size_t limit = 0;
};
Parsed<HistoryRequest> parse_history(const sio::Args& args, const Limits& limits);

}  // namespace requests
}  // namespace roomcast::edge
