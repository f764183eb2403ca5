#include "validation.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/grpcutil/grpcutil.hpp"
#include "roomcast/protocol/base64.hpp"
#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/socketio.hpp"
#include "roomcast/protocol/utf8.hpp"

#include <algorithm>
#include <charconv>

namespace roomcast::rooms {
namespace {

using grpcutil::invalid_argument;

}  // namespace

grpc::Status check_room_id(std::string_view room_id) {
    if (!contract::valid_room_id(room_id)) {
        return invalid_argument("room_id must match " + std::string(contract::kRoomIdPattern));
    }
    return grpc::Status::OK;
}

grpc::Status check_user_id(std::string_view user_id) {
    if (!contract::valid_user_id(user_id)) {
        return invalid_argument("user_id must be 1 to " +
                                std::to_string(contract::kMaxUserIdBytes) + " bytes of UTF-8");
    }
    return grpc::Status::OK;
}

grpc::Status check_socket_id(std::string_view socket_id) {
    if (!contract::valid_socket_id(socket_id)) {
        return invalid_argument("socket_id must be 1 to " +
                                std::to_string(contract::kMaxSocketIdBytes) +
                                " characters of [A-Za-z0-9_-]");
    }
    return grpc::Status::OK;
}

grpc::Status check_namespace(std::string_view nsp) {
    if (!nsp.empty() && !contract::valid_namespace(nsp)) {
        return invalid_argument("namespace must be \"/\" or \"/\" followed by 1 to 127 printable "
                                "ASCII characters other than space");
    }
    return grpc::Status::OK;
}

grpc::Status check_room_prefix(std::string_view prefix) {
    if (!contract::valid_room_id_prefix(prefix)) {
        return invalid_argument("prefix must match ^[A-Za-z0-9_:@-]{0,128}$");
    }
    return grpc::Status::OK;
}

grpc::Status check_page_size(std::int32_t page_size, std::int32_t& effective) {
    if (page_size < 0 || page_size > kMaxPageSize) {
        return invalid_argument("page_size must be from 0 to 1000 (0 means 100)");
    }
    effective = page_size == 0 ? kDefaultPageSize : page_size;
    return grpc::Status::OK;
}

grpc::Status check_visibility(int visibility) {
    if (visibility < 0 || visibility > 2) {
        return invalid_argument(
            "visibility must be VISIBILITY_UNSPECIFIED, VISIBILITY_PUBLIC or VISIBILITY_PRIVATE");
    }
    return grpc::Status::OK;
}

grpc::Status check_role(int role) {
    if (role < 0 || role > 2) {
        return invalid_argument("role must be ROLE_UNSPECIFIED, ROLE_MEMBER or ROLE_VIEWER");
    }
    return grpc::Status::OK;
}

grpc::Status check_labels(const google::protobuf::Map<std::string, std::string>& labels) {
    if (labels.size() > kMaxLabels) {
        return invalid_argument("at most 64 labels");
    }
    for (const auto& [key, value] : labels) {
        if (key.empty() || key.size() > kMaxLabelBytes) {
            return invalid_argument("label keys must be 1 to 256 bytes");
        }
        if (value.size() > kMaxLabelBytes) {
            return invalid_argument("label values must be at most 256 bytes");
        }
    }
    return grpc::Status::OK;
}

grpc::Status check_reason(std::string_view reason) {
    if (reason.size() > kMaxReasonBytes || !protocol::is_valid_utf8(reason)) {
        return invalid_argument("reason must be at most 256 bytes of UTF-8");
    }
    return grpc::Status::OK;
}

grpc::Status check_event(std::string_view event) {
    if (!contract::valid_event_name(event)) {
        return invalid_argument(
            "event must be a non-empty string of at most 128 characters and not reserved "
            "(connect, connect_error, disconnect, disconnecting, newListener, removeListener, "
            "join, leave, publish, history, presence, kicked, refresh)");
    }
    return grpc::Status::OK;
}

grpc::Status check_update_mask(const google::protobuf::RepeatedPtrField<std::string>& mask) {
    for (const auto& field : mask) {
        if (field != "visibility" && field != "labels") {
            return invalid_argument("update_mask may name \"visibility\" and \"labels\" only");
        }
    }
    return grpc::Status::OK;
}

grpc::Status check_history_limit(std::int32_t limit, std::int32_t& effective) {
    if (limit < 0 || limit > kMaxHistoryLimit) {
        return invalid_argument("limit must be from 0 to 1000 (0 means 50)");
    }
    effective = limit == 0 ? kDefaultHistoryLimit : limit;
    return grpc::Status::OK;
}

grpc::Status normalize_data_json(std::string_view data_json, std::string& normalized) {
    if (data_json.empty()) {
        normalized = "null";
        return grpc::Status::OK;
    }
    // The size cap comes before the parse: it bounds the parser's work too.
    if (data_json.size() > kMaxDataBytes) {
        return invalid_argument("data_json is larger than 262144 bytes");
    }
    auto parsed = protocol::parse_json(data_json);
    if (!parsed) {
        return invalid_argument("data_json must be one valid JSON text (nesting at most 64)");
    }
    if (!protocol::sio::placeholders_valid(*parsed, 0)) {
        return invalid_argument(
            "data_json must not contain Socket.IO binary placeholders ({\"_placeholder\":...})");
    }
    normalized = protocol::to_json(*parsed);
    return grpc::Status::OK;
}

grpc::Status parse_since(std::string_view since, std::optional<std::uint64_t>& out) {
    out.reset();
    if (since.empty()) {
        return grpc::Status::OK;
    }
    std::uint64_t value = 0;
    const bool digits =
        std::all_of(since.begin(), since.end(), [](char c) { return c >= '0' && c <= '9'; });
    const auto [end, ec] = std::from_chars(since.data(), since.data() + since.size(), value);
    if (!digits || ec != std::errc() || end != since.data() + since.size()) {
        return invalid_argument("since must be an offset (a decimal string) or empty");
    }
    out = value;
    return grpc::Status::OK;
}

std::string make_page_token(std::string_view last_id) {
    return protocol::base64url_encode(last_id);
}

grpc::Status parse_room_page_token(std::string_view token, std::optional<std::string>& after) {
    after.reset();
    if (token.empty()) {
        return grpc::Status::OK;
    }
    auto id = token.size() <= 4 * contract::kMaxRoomIdBytes ? protocol::base64url_decode(token)
                                                            : std::nullopt;
    if (!id || !contract::valid_room_id(*id)) {
        return invalid_argument("page_token is not a token from a previous ListRooms response");
    }
    after = std::move(*id);
    return grpc::Status::OK;
}

grpc::Status parse_member_page_token(std::string_view token, std::optional<std::string>& after) {
    after.reset();
    if (token.empty()) {
        return grpc::Status::OK;
    }
    auto id = token.size() <= 4 * contract::kMaxUserIdBytes ? protocol::base64url_decode(token)
                                                            : std::nullopt;
    if (!id || !contract::valid_user_id(*id)) {
        return invalid_argument("page_token is not a token from a previous ListMembers response");
    }
    after = std::move(*id);
    return grpc::Status::OK;
}

}  // namespace roomcast::rooms
