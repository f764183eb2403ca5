#pragma once
// How a stored room event becomes a roomcast.rooms.v1.HistoryMessage.
//
// Binary data: a RoomEvent keeps binary values out of its JSON, as Socket.IO placeholders
// {"_placeholder":true,"num":i} standing for attachments[i]. A gRPC client has no attachment
// channel, so History replaces each placeholder by the object {"_binary":"<base64>"}, where
// <base64> is the standard base64 (RFC 4648 §4, with padding) of attachments[i]. Everything else
// is the event's JSON as stored (compact, as JSON.stringify writes it).
//
// Events that no edge would deliver (data that is not JSON, placeholders pointing past the
// attachments, an empty event name) are skipped, exactly as the edge's own history skips them.
//
// Pure functions, thread-safe.

#include "roomcast/bus/v1/bus.pb.h"

#include <optional>
#include <string>

namespace roomcast::rooms {

// The data_json of the history entry, or nullopt when the event must be skipped.
std::optional<std::string> history_data_json(const bus::v1::RoomEvent& event);

}  // namespace roomcast::rooms
