#include "rooms/room_event.hpp"

#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/socketio.hpp"

#include <string_view>

namespace roomcast::edge::rooms {

namespace psio = protocol::sio;

bool deliverable(const bus::v1::RoomEvent& event) {
    if (event.event().empty()) {
        return false;
    }
    if (event.data_json().empty()) {
        return true;
    }
    auto data = protocol::parse_json(event.data_json());
    return data && psio::placeholders_valid(*data, static_cast<std::uint32_t>(event.attachments_size()));
}

namespace {

// `4<packet header>["<event>",<data>,{"room":...,"from":...` — what stored and ephemeral events
// share; the caller closes the meta object.
std::string open_event(const std::string& room, const bus::v1::RoomEvent& ev) {
    const auto attachments = static_cast<std::uint32_t>(ev.attachments_size());
    std::string text = "4";
    psio::encode(text, attachments > 0 ? psio::PacketType::kBinaryEvent : psio::PacketType::kEvent,
                 "/", std::nullopt, {}, attachments);
    text += '[';
    protocol::write_json_string(text, ev.event());
    text += ',';
    text += ev.data_json().empty() ? std::string_view("null") : std::string_view(ev.data_json());
    text += ",{\"room\":";
    protocol::write_json_string(text, room);
    text += ",\"from\":";
    protocol::write_json_string(text, ev.from());
    return text;
}

transport::OutMessagePtr message(std::string&& text, const bus::v1::RoomEvent& ev, std::uint64_t tag) {
    transport::OutMessage msg;
    msg.text = std::move(text);
    msg.binaries.assign(ev.attachments().begin(), ev.attachments().end());
    msg.tag = tag;
    return std::make_shared<const transport::OutMessage>(std::move(msg));
}

}  // namespace

transport::OutMessagePtr encode_room_event(const std::string& room, std::uint64_t offset,
                                           const bus::v1::RoomEvent& ev) {
    const std::string off = std::to_string(offset);
    std::string text = open_event(room, ev);
    text += ",\"offset\":\"";
    text += off;
    text += "\"},\"";
    text += off;
    text += "\"]";
    return message(std::move(text), ev, offset);
}

transport::OutMessagePtr encode_ephemeral_event(const std::string& room, const bus::v1::RoomEvent& ev) {
    std::string text = open_event(room, ev);
    text += "}]";
    return message(std::move(text), ev, 0);
}

}  // namespace roomcast::edge::rooms
