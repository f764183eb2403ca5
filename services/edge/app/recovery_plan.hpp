#pragma once
// Which rooms a recovering session gets back (PRODUCT.md §2: "Recovery re-checks the rights of
// every restored room"). Pure: decided from the session record, the client's offset, the rights
// as they are now and the revocations recorded while the session was away.
//
//   - a DisconnectUser at or after the session's start: not recovered at all;
//   - a room revoked for the user (a kick, RemoveMember, DeleteRoom) at or after the socket
//     joined it: left out, with the revocation's reason;
//   - a room the user may not join now: left out ("room_private"; "room_deleted" when it no
//     longer exists);
//   - rights that cannot be checked (the registry is not loaded): not recovered.
// Left-out rooms are not replayed, and the client gets `kicked` {room, reason} for each once it
// is connected.

#include "app/ports.hpp"
#include "app/revocations.hpp"
#include "rooms/fabric.hpp"

#include "roomcast/bus/v1/bus.pb.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace roomcast::edge {

struct RecoveryPlan {
    bool recover = false;
    std::vector<rooms::Fabric::Resume> rooms;
    std::vector<std::pair<std::string, std::string>> dropped;  // room, reason
};

RecoveryPlan plan_recovery(const bus::v1::SessionRecord& record, std::uint64_t offset,
                           const RightsPort& rights, const Revocations& revocations);

// The same check for one room of a recovering socket, again, once it is connected (a right may
// have been lost in between): the reason it lost the room, or nullopt when it keeps it.
std::optional<std::string> room_lost(const std::string& room, const std::string& user,
                                     std::int64_t joined_ms, const RightsPort& rights,
                                     const Revocations& revocations);

}  // namespace roomcast::edge
