#include "roomcast/contract/ids.hpp"

#include "roomcast/protocol/socketio.hpp"
#include "roomcast/protocol/utf8.hpp"

#include <algorithm>

namespace roomcast::contract {
namespace {

bool alnum(char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool room_id_char(char c) noexcept {
    return alnum(c) || c == '_' || c == ':' || c == '@' || c == '-';
}

bool edge_id_char(char c) noexcept {
    return alnum(c) || c == '_' || c == '-';
}

}  // namespace

bool room_id_chars(std::string_view text) noexcept {
    return std::all_of(text.begin(), text.end(), room_id_char);
}

bool valid_room_id(std::string_view room) noexcept {
    return !room.empty() && room.size() <= kMaxRoomIdBytes && room_id_chars(room);
}

bool valid_room_id_prefix(std::string_view prefix) noexcept {
    return prefix.size() <= kMaxRoomIdBytes && room_id_chars(prefix);
}

bool valid_user_id(std::string_view user) noexcept {
    return !user.empty() && user.size() <= kMaxUserIdBytes && protocol::is_valid_utf8(user);
}

bool valid_edge_id(std::string_view edge) noexcept {
    return !edge.empty() && edge.size() <= kMaxEdgeIdBytes &&
           std::all_of(edge.begin(), edge.end(), edge_id_char);
}

bool valid_pid(std::string_view pid) noexcept {
    return !pid.empty() && pid.size() <= kMaxPidBytes;
}

bool valid_socket_id(std::string_view socket_id) noexcept {
    if (socket_id.empty() || socket_id.size() > kMaxSocketIdBytes) {
        return false;
    }
    return std::all_of(socket_id.begin(), socket_id.end(), [](unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

bool reserved_event(std::string_view name) noexcept {
    return protocol::sio::is_reserved_event(name) ||
           std::find(kProtocolEvents.begin(), kProtocolEvents.end(), name) != kProtocolEvents.end();
}

bool valid_event_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= kMaxEventNameBytes && !reserved_event(name);
}

bool valid_namespace(std::string_view nsp) noexcept {
    if (nsp.empty() || nsp.size() > kMaxNamespaceBytes || nsp.front() != '/') {
        return false;
    }
    return std::all_of(nsp.begin(), nsp.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c > 0x20 && c < 0x7F;
    });
}

}  // namespace roomcast::contract
