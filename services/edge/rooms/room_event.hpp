#pragma once
// A room event as clients receive it (PRODUCT.md §2): the Socket.IO packet
//   42["<event>", <data>, {"room": ..., "from": ..., "offset": "<offset>"}, "<offset>"]
// (a BINARY_EVENT with the envelope's attachments when it has any), encoded once per event and
// shared by every recipient. The offset comes last too, as connection state recovery requires
// of every stored event. Pure.

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/transport/http_types.hpp"

#include <cstdint>
#include <string>

namespace roomcast::edge::rooms {

// The envelope is a public interface (anything on NATS may publish one): false for data that
// would break clients' parsers or point at attachments that do not exist.
bool deliverable(const bus::v1::RoomEvent& event);

// The packet for `event` of `room` at `offset`; its tag is the offset.
transport::OutMessagePtr encode_room_event(const std::string& room, std::uint64_t offset,
                                           const bus::v1::RoomEvent& event);

// The packet for an ephemeral `event` of `room` (PRODUCT.md §2): no offset anywhere,
//   42["<event>", <data>, {"room": ..., "from": ...}]
// so a client's connection state recovery never takes it for a stored event (socket.io-client
// keeps the last argument as its offset only when it is a string). Its tag is 0.
transport::OutMessagePtr encode_ephemeral_event(const std::string& room,
                                                const bus::v1::RoomEvent& event);

}  // namespace roomcast::edge::rooms
