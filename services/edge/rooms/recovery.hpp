#pragma once
// Connection state recovery's merge (PRODUCT.md §2 "Recovery"): what a recovered socket is
// sent, in what order. Pure.
//
// A recovering socket has three sources of room events:
//   replay    — events read from the stream after each room's start offset, when the edge
//               decided to recover the session (before it answered the CONNECT);
//   catch-up  — a second read, made after the socket was back in its rooms (live events from
//               then on reach it), covering what was stored between the two;
//   held      — live events that reached the socket while it was recovering (ShardRooms).
// Together they cover every event of every room after its start: the replay and catch-up up
// to the moment of the catch-up read, the held events from the moment the socket was back.
// Their overlaps are removed by offset (offsets are stream sequences: one event, one offset),
// and everything is sent in offset order, so the client sees each missed event once, in
// order, then live events.
//
// Only rooms the socket is still in when the merge runs are sent: a room taken away meanwhile
// (a kick, a right lost) sends nothing more, since a read may hold events published after the
// right was lost. Events at or below a room's start offset are ones the client already has
// (or that predate its membership).

#include "rooms/shard_rooms.hpp"

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace roomcast::edge::rooms {

// `start(room)`: the offset after which the socket's events of `room` are missing, or nullopt
// when the socket is no longer in `room`.
std::vector<transport::OutMessagePtr> merge_recovery(
    std::vector<RoomMessage> replay, std::vector<RoomMessage> held,
    const std::function<std::optional<std::uint64_t>(std::string_view room)>& start);

}  // namespace roomcast::edge::rooms
