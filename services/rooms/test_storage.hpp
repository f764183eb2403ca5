#pragma once
// Test support for the rooms service's tests (not linked into the service): the room stream and
// the rooms service's buckets as a deployment has them, default flags and budgets.

#include "roomcast/contract/storage.hpp"
#include "roomcast/natsbus/natsbus.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace roomcast::rooms::testing {

struct RoomsStorage {
    std::unique_ptr<natsbus::KeyValue> rooms;        // roomcast_rooms
    std::unique_ptr<natsbus::KeyValue> revocations;  // roomcast_revocations
};

// Creates (or binds to) ROOMCAST_ROOMS, roomcast_rooms and roomcast_revocations on `nats`,
// exactly as the edges and the service do. Call with ASSERT_NO_FATAL_FAILURE.
inline void open_rooms_storage(natsbus::Connection& nats, RoomsStorage& out) {
    auto created = nats.jetstream().ensure_stream(contract::room_stream({}, 1, {}));
    ASSERT_TRUE(created) << created.error().message();
    auto rooms = nats.jetstream().key_value(contract::rooms_bucket(1, {}));
    ASSERT_TRUE(rooms) << rooms.error().message();
    out.rooms = std::move(*rooms);
    auto revocations = nats.jetstream().key_value(contract::revocations_bucket(1, {}));
    ASSERT_TRUE(revocations) << revocations.error().message();
    out.revocations = std::move(*revocations);
}

}  // namespace roomcast::rooms::testing
