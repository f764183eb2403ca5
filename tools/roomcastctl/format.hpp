#pragma once
// What roomcastctl prints: aligned tables and field lists for people, JSON for scripts.
// Pure functions of the responses (and, for watch lines, of the time passed in).

#include "command_line.hpp"

#include "roomcast/auth/v1/auth.pb.h"
#include "roomcast/presence/v1/presence.pb.h"
#include "roomcast/rooms/v1/rooms.pb.h"

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace roomcast::ctl {

// Columns separated by three spaces, each as wide as its widest cell; the last column is not
// padded, so lines carry no trailing blanks. Control characters in cells are escaped ("\n"),
// so a label value cannot break the layout.
class Table {
public:
    explicit Table(std::vector<std::string> headers);
    void add_row(std::vector<std::string> cells);
    std::string render() const;

private:
    std::vector<std::vector<std::string>> rows_;
};

// "NAME:   value" lines aligned on the widest name: one resource.
std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields);

// The message as one line of JSON: proto field names, fields at their default values included
// (so `jq .valid` reads false, not null), enums by name, 64-bit integers as strings, as the
// proto3 JSON mapping says.
Checked<std::string> to_json(const google::protobuf::Message& message);

// "2024-05-01T12:00:00Z" (UTC, whole seconds), or "-" when unset.
std::string format_timestamp(const google::protobuf::Timestamp& timestamp);
std::string format_time(std::chrono::system_clock::time_point time);

// "PUBLIC", "PRIVATE", "UNSPECIFIED"; "MEMBER", "VIEWER", "UNSPECIFIED".
std::string visibility_name(rooms::v1::Visibility visibility);
std::string role_name(rooms::v1::Role role);
// "k1=v1,k2=v2" sorted by key, or "<none>".
std::string labels_text(const google::protobuf::Map<std::string, std::string>& labels);

std::string rooms_table(const google::protobuf::RepeatedPtrField<rooms::v1::Room>& rooms);
std::string room_fields(const rooms::v1::Room& room);
std::string members_table(const google::protobuf::RepeatedPtrField<rooms::v1::Member>& members);
std::string history_table(const rooms::v1::HistoryResponse& history);
std::string presence_table(const presence::v1::GetPresenceResponse& presence);
std::string presence_stats_table(const presence::v1::GetPresenceStatsResponse& stats);
// ROOM CLIENTS USERS (rooms list --live).
std::string live_rooms_table(const presence::v1::ListLiveRoomsResponse& rooms);
// ID CONNECTIONS ROOMS VERSION DRAINING ALIVE LAST-SEEN; "-" for what an older edge does not
// report (its version).
std::string edges_table(const presence::v1::ListEdgesResponse& edges);
// KID ALGORITHM SIGNING PENDING PUBLISHED; the HS256 secret's kid as "(secret)".
std::string keys_table(const auth::v1::ListKeysResponse& keys);
// One line per event: "<time> <room> joined: alice (Alice), bob; left: carol".
std::string presence_event_line(const presence::v1::PresenceEvent& event,
                                std::chrono::system_clock::time_point received);
std::string verify_fields(const auth::v1::VerifyTokenResponse& verified);
// KID, KTY, ALG, USE of each key of a JWKS document; an error when it is not JSON of that shape.
Checked<std::string> jwks_table(std::string_view jwks_json);

}  // namespace roomcast::ctl
