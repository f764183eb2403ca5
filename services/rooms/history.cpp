#include "history.hpp"

#include "roomcast/protocol/base64.hpp"
#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/socketio.hpp"

#include <boost/json.hpp>

namespace roomcast::rooms {
namespace {

namespace json = boost::json;

// Placeholders were checked against the attachments before this runs. Recursion depth is
// bounded by the parser's nesting cap (64).
void replace_placeholders(json::value& v, const bus::v1::RoomEvent& event) {
    std::uint32_t num = 0;
    if (protocol::sio::is_placeholder(v, num)) {
        json::object binary;
        binary["_binary"] = protocol::base64_encode(event.attachments(static_cast<int>(num)));
        v = std::move(binary);
        return;
    }
    if (v.is_array()) {
        for (auto& e : v.as_array()) {
            replace_placeholders(e, event);
        }
    } else if (v.is_object()) {
        for (auto& [k, e] : v.as_object()) {
            replace_placeholders(e, event);
        }
    }
}

}  // namespace

std::optional<std::string> history_data_json(const bus::v1::RoomEvent& event) {
    if (event.event().empty()) {
        return std::nullopt;
    }
    auto data = protocol::parse_json(event.data_json().empty() ? "null" : event.data_json());
    if (!data || !protocol::sio::placeholders_valid(
                     *data, static_cast<std::uint32_t>(event.attachments_size()))) {
        return std::nullopt;
    }
    if (event.attachments_size() == 0) {
        return protocol::to_json(*data);
    }
    replace_placeholders(*data, event);
    return protocol::to_json(*data);
}

}  // namespace roomcast::rooms
