// Tables, field lists and JSON; the contract is in format.hpp.
#include "format.hpp"

#include "roomcast/protocol/json.hpp"

#include <google/protobuf/util/json_util.h>
#include <boost/json.hpp>

#include <algorithm>
#include <ctime>
#include <map>

namespace roomcast::ctl {
namespace {

constexpr std::string_view kColumnGap = "   ";

// Escapes what would break a table row: control characters (a newline in a label value would
// start a fake row).
std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else if (byte < 0x20 || byte == 0x7f) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[byte >> 4];
            out += kHex[byte & 0xf];
        } else {
            out += c;
        }
    }
    return out;
}

std::string yes_no(bool value) {
    return value ? "yes" : "no";
}

std::string or_dash(std::string_view text) {
    return text.empty() ? "-" : std::string(text);
}

// "alice (Alice)", or just "alice" when the name adds nothing.
std::string user_text(const presence::v1::PresenceUser& user) {
    if (user.name().empty() || user.name() == user.id()) {
        return user.id();
    }
    return user.id() + " (" + user.name() + ")";
}

std::string users_text(
    const google::protobuf::RepeatedPtrField<presence::v1::PresenceUser>& users) {
    std::string out;
    for (const auto& user : users) {
        out += out.empty() ? "" : ", ";
        out += user_text(user);
    }
    return out;
}

std::string json_string_field(const boost::json::object& object, std::string_view key) {
    const auto* value = object.if_contains(key);
    if (value == nullptr) {
        return "-";
    }
    if (const auto* text = value->if_string()) {
        return or_dash(std::string_view(*text));
    }
    return protocol::to_json(*value);
}

}  // namespace

Table::Table(std::vector<std::string> headers) {
    rows_.push_back(std::move(headers));
}

void Table::add_row(std::vector<std::string> cells) {
    for (auto& cell : cells) {
        cell = printable(cell);
    }
    cells.resize(rows_.front().size());
    rows_.push_back(std::move(cells));
}

std::string Table::render() const {
    // Widths in bytes: the cells we print are ids, enum names, numbers and timestamps, which are
    // ASCII; a label in another script only shifts the columns after it.
    std::vector<std::size_t> widths(rows_.front().size(), 0);
    for (const auto& row : rows_) {
        for (std::size_t i = 0; i < row.size(); ++i) {
            widths[i] = std::max(widths[i], row[i].size());
        }
    }
    std::string out;
    for (const auto& row : rows_) {
        for (std::size_t i = 0; i < row.size(); ++i) {
            out += row[i];
            if (i + 1 < row.size()) {
                out.append(widths[i] - row[i].size(), ' ');
                out += kColumnGap;
            }
        }
        out += '\n';
    }
    return out;
}

std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::size_t width = 0;
    for (const auto& field : fields) {
        width = std::max(width, field.first.size() + 1);
    }
    std::string out;
    for (const auto& [name, value] : fields) {
        out += name;
        out += ':';
        out.append(width - name.size() - 1 + 2, ' ');
        out += printable(value);
        out += '\n';
    }
    return out;
}

Checked<std::string> to_json(const google::protobuf::Message& message) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    std::string out;
    const auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
    if (!status.ok()) {
        return Problem{"cannot print " + message.GetTypeName() +
                       " as JSON: " + std::string(status.message())};
    }
    return ok(std::move(out));
}

std::string format_time(std::chrono::system_clock::time_point time) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[32];
    const std::size_t n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return std::string(buffer, n);
}

std::string format_timestamp(const google::protobuf::Timestamp& timestamp) {
    if (timestamp.seconds() == 0 && timestamp.nanos() == 0) {
        return "-";
    }
    return format_time(
        std::chrono::system_clock::time_point(std::chrono::seconds(timestamp.seconds())));
}

std::string visibility_name(rooms::v1::Visibility visibility) {
    switch (visibility) {
        case rooms::v1::VISIBILITY_PUBLIC:
            return "PUBLIC";
        case rooms::v1::VISIBILITY_PRIVATE:
            return "PRIVATE";
        default:
            return "UNSPECIFIED";
    }
}

std::string role_name(rooms::v1::Role role) {
    switch (role) {
        case rooms::v1::ROLE_MEMBER:
            return "MEMBER";
        case rooms::v1::ROLE_VIEWER:
            return "VIEWER";
        default:
            return "UNSPECIFIED";
    }
}

std::string labels_text(const google::protobuf::Map<std::string, std::string>& labels) {
    if (labels.empty()) {
        return "<none>";
    }
    // Map iteration order is unspecified; sorted output is stable between runs and diffable.
    const std::map<std::string, std::string> sorted(labels.begin(), labels.end());
    std::string out;
    for (const auto& [key, value] : sorted) {
        out += out.empty() ? "" : ",";
        out += key;
        out += '=';
        out += value;
    }
    return out;
}

std::string rooms_table(const google::protobuf::RepeatedPtrField<rooms::v1::Room>& rooms) {
    Table table({"ID", "VISIBILITY", "AUTO", "LABELS", "CREATED"});
    for (const auto& room : rooms) {
        table.add_row({room.id(), visibility_name(room.visibility()), yes_no(room.auto_created()),
                       labels_text(room.labels()), format_timestamp(room.create_time())});
    }
    return table.render();
}

std::string room_fields(const rooms::v1::Room& room) {
    return render_fields({{"ID", room.id()},
                          {"VISIBILITY", visibility_name(room.visibility())},
                          {"AUTO", yes_no(room.auto_created())},
                          {"LABELS", labels_text(room.labels())},
                          {"CREATED", format_timestamp(room.create_time())},
                          {"UPDATED", format_timestamp(room.update_time())}});
}

std::string members_table(const google::protobuf::RepeatedPtrField<rooms::v1::Member>& members) {
    Table table({"USER", "ROLE", "ADDED"});
    for (const auto& member : members) {
        table.add_row(
            {member.user_id(), role_name(member.role()), format_timestamp(member.create_time())});
    }
    return table.render();
}

std::string history_table(const rooms::v1::HistoryResponse& history) {
    Table table({"OFFSET", "EVENT", "FROM", "DATA"});
    for (const auto& message : history.messages()) {
        table.add_row({message.offset(), message.event(), or_dash(message.from()),
                       message.data_json().empty() ? "null" : message.data_json()});
    }
    return table.render();
}

std::string live_rooms_table(const presence::v1::ListLiveRoomsResponse& rooms) {
    Table table({"ROOM", "CLIENTS", "USERS"});
    for (const auto& room : rooms.rooms()) {
        table.add_row(
            {room.room_id(), std::to_string(room.clients()), std::to_string(room.users())});
    }
    return table.render();
}

std::string edges_table(const presence::v1::ListEdgesResponse& edges) {
    Table table({"ID", "CONNECTIONS", "ROOMS", "VERSION", "DRAINING", "ALIVE", "LAST SEEN"});
    for (const auto& edge : edges.edges()) {
        table.add_row({edge.id(), std::to_string(edge.connections()), std::to_string(edge.rooms()),
                       or_dash(edge.version()), yes_no(edge.draining()), yes_no(edge.alive()),
                       edge.last_seen_ms() == 0
                           ? std::string("-")
                           : format_time(std::chrono::system_clock::time_point(
                                 std::chrono::milliseconds(edge.last_seen_ms())))});
    }
    return table.render();
}

std::string keys_table(const auth::v1::ListKeysResponse& keys) {
    Table table({"KID", "ALGORITHM", "SIGNING", "PENDING", "PUBLISHED"});
    for (const auto& key : keys.keys()) {
        table.add_row({key.kid().empty() ? std::string("(secret)") : key.kid(), key.algorithm(),
                       yes_no(key.signing()), yes_no(key.pending()), yes_no(key.published())});
    }
    return table.render();
}

std::string presence_table(const presence::v1::GetPresenceResponse& presence) {
    Table table({"USER", "NAME", "SOCKETS"});
    for (const auto& user : presence.users()) {
        table.add_row({user.id(), or_dash(user.name()), std::to_string(user.sockets())});
    }
    return table.render() + "\n" + std::to_string(presence.users_total()) + " users, " +
           std::to_string(presence.clients()) + " clients in the room\n";
}

std::string presence_stats_table(const presence::v1::GetPresenceStatsResponse& stats) {
    Table table({"CLIENTS", "USERS"});
    table.add_row({std::to_string(stats.clients()), std::to_string(stats.users())});
    return table.render();
}

std::string presence_event_line(const presence::v1::PresenceEvent& event,
                                std::chrono::system_clock::time_point received) {
    std::string line = format_time(received) + " " + event.room_id();
    std::string changes;
    if (event.joined_size() > 0) {
        changes += "joined: " + users_text(event.joined());
    }
    if (event.left_size() > 0) {
        changes += changes.empty() ? "" : "; ";
        changes += "left: " + users_text(event.left());
    }
    if (changes.empty()) {
        changes = "(no change)";
    }
    return printable(line + " " + changes);
}

std::string verify_fields(const auth::v1::VerifyTokenResponse& verified) {
    if (!verified.valid()) {
        return render_fields({{"VALID", "no"},
                              {"ERROR", or_dash(verified.error_code())},
                              {"REASON", or_dash(verified.error_message())}});
    }
    return render_fields({{"VALID", "yes"},
                          {"USER", verified.user_id()},
                          {"NAME", or_dash(verified.name())},
                          {"EXPIRES", format_timestamp(verified.expires_at())}});
}

Checked<std::string> jwks_table(std::string_view jwks_json) {
    auto parsed = protocol::parse_json(jwks_json);
    if (!parsed) {
        return Problem{"the server's JWKS is not JSON: " + parsed.error().message()};
    }
    const auto* document = parsed->if_object();
    const auto* keys = document != nullptr ? document->if_contains("keys") : nullptr;
    if (keys == nullptr || !keys->is_array()) {
        return Problem{"the server's JWKS has no \"keys\" array"};
    }
    Table table({"KID", "KTY", "ALG", "USE"});
    for (const auto& key : keys->get_array()) {
        if (const auto* object = key.if_object()) {
            table.add_row({json_string_field(*object, "kid"), json_string_field(*object, "kty"),
                           json_string_field(*object, "alg"), json_string_field(*object, "use")});
        }
    }
    return ok(table.render());
}

}  // namespace roomcast::ctl
