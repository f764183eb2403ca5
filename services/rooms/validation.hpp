#pragma once
// Input rules of roomcast.rooms.v1.RoomAdmin. Every request field is checked here, before any
// state is read, and a violation is INVALID_ARGUMENT with a message naming the field and what
// it accepts. Each cap says what it protects against. Room ids, user ids and event names follow
// the bus contract (roomcast/contract/ids.hpp), shared with the edges and the presence service;
// the caps below are this API's own. Pure functions, thread-safe.

#include <grpcpp/support/status.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <google/protobuf/map.h>
#include <google/protobuf/repeated_ptr_field.h>

namespace roomcast::rooms {

// Listing pages: one page is at most this many KV reads.
inline constexpr std::int32_t kMaxPageSize = 1000;
inline constexpr std::int32_t kDefaultPageSize = 100;
// Labels are copied into every Room value and every edge's cache: bounded in count and size.
inline constexpr std::size_t kMaxLabels = 64;
inline constexpr std::size_t kMaxLabelBytes = 256;
// Kick and disconnect reasons travel to clients and edge logs.
inline constexpr std::size_t kMaxReasonBytes = 256;
// Server-side publishes follow the client publish rules (docs/protocol.md; the event name's are
// contract::valid_event_name).
inline constexpr std::size_t kMaxDataBytes = std::size_t{256} * 1024;
// History reads: the stream keeps at most 1000 events per room by default.
inline constexpr std::int32_t kMaxHistoryLimit = 1000;
inline constexpr std::int32_t kDefaultHistoryLimit = 50;

grpc::Status check_room_id(std::string_view room_id);
grpc::Status check_user_id(std::string_view user_id);
// A ListRooms prefix: "" or the beginning of a room id (room id characters, at most 128).
grpc::Status check_room_prefix(std::string_view prefix);
// page_size 0..1000; returns the effective size (0 means kDefaultPageSize).
grpc::Status check_page_size(std::int32_t page_size, std::int32_t& effective);
grpc::Status check_visibility(int visibility);
grpc::Status check_role(int role);
grpc::Status check_labels(const google::protobuf::Map<std::string, std::string>& labels);
grpc::Status check_reason(std::string_view reason);
grpc::Status check_event(std::string_view event);
// A socket id (contract::valid_socket_id) and a namespace ("" means "/"; contract::valid_namespace).
grpc::Status check_socket_id(std::string_view socket_id);
grpc::Status check_namespace(std::string_view nsp);
// "visibility" and "labels" only.
grpc::Status check_update_mask(const google::protobuf::RepeatedPtrField<std::string>& mask);
// limit 0..1000; returns the effective limit (0 means kDefaultHistoryLimit).
grpc::Status check_history_limit(std::int32_t limit, std::int32_t& effective);

// `data_json` of a Publish: "" means null; otherwise one JSON text of at most kMaxDataBytes
// without Socket.IO binary placeholders (a server publish has no attachments, so every edge
// would drop an event that had them). Returns the compact form stored in the RoomEvent, or
// INVALID_ARGUMENT.
grpc::Status normalize_data_json(std::string_view data_json, std::string& normalized);

// `since` of a History request: "" (nullopt: the latest events) or a decimal offset.
grpc::Status parse_since(std::string_view since, std::optional<std::uint64_t>& out);

// Page tokens are the base64url of the last id of the previous page. Opaque to clients; they
// stay valid across changes to the bucket (listing resumes after that id).
std::string make_page_token(std::string_view last_id);
// The id a token resumes after, or INVALID_ARGUMENT. "" → nullopt (first page).
grpc::Status parse_room_page_token(std::string_view token, std::optional<std::string>& after);
grpc::Status parse_member_page_token(std::string_view token, std::optional<std::string>& after);

}  // namespace roomcast::rooms
