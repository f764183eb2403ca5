#pragma once
// What the request handlers need from the rest of the edge, as interfaces: the room fabric, the
// rights, presence and the session record. Production implementations forward to
// rooms::Fabric, AclCache, PresenceTracker and SessionRecorder (edge_app.cpp); unit tests use
// fakes (handlers_test.cpp).

#include "app/session.hpp"
#include "rooms/room_stream.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/natsbus/natsbus.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace roomcast::edge {

// A rights decision (PRODUCT.md §2 "Join rules").
enum class Verdict : std::uint8_t {
    kAllow,
    kCreate,       // the room does not exist but may be created (auto-create prefixes)
    kForbidden,
    kNotFound,
    kUnavailable,  // the registry is not loaded yet
};

class RightsPort {
public:
    virtual ~RightsPort() = default;
    // May `user` join `room` (and read its history and presence)?
    virtual Verdict may_join(const std::string& room, const std::string& user) const = 0;
    // May `user` publish to `room` (which it joined)?
    virtual Verdict may_publish(const std::string& room, const std::string& user) const = 0;
    // Creates `room` as PUBLIC (auto-create); `done(true)` on any thread once it exists.
    virtual void create(const std::string& room, std::function<void(bool)> done) = 0;
};

class RoomsPort {
public:
    virtual ~RoomsPort() = default;
    virtual bool in_room(const Caller& caller, std::string_view room) const = 0;
    virtual std::size_t room_count(const Caller& caller) const = 0;
    // Puts the caller in `room`; `done` on the caller's shard with the room's offset.
    virtual void enter(const Caller& caller, const std::string& room,
                       std::function<void(natsbus::Result<std::uint64_t>)> done) = 0;
    virtual bool exit(const Caller& caller, std::string_view room) = 0;
    // `done` on a library thread.
    virtual void publish(const std::string& room, const bus::v1::RoomEvent& event,
                         std::function<void(natsbus::Result<std::uint64_t>)> done) = 0;
    // An ephemeral event (never stored): an error when the bus refused it at once.
    virtual natsbus::Result<void> publish_ephemeral(const std::string& room,
                                                    const bus::v1::RoomEvent& event) = 0;
    // Stored events of `room` within `max_bytes` (0: no limit); `done` on a library thread.
    virtual void read_after(const std::string& room, std::uint64_t after, std::size_t max,
                            std::uint64_t max_bytes,
                            std::function<void(natsbus::Result<rooms::RoomStream::Page>)> done) = 0;
    virtual void read_last(const std::string& room, std::size_t count, std::uint64_t max_bytes,
                           std::function<void(natsbus::Result<rooms::RoomStream::Page>)> done) = 0;
};

class PresencePort {
public:
    virtual ~PresencePort() = default;
    // Counts (and up to `limit` users) of `room`; `done` on a library thread.
    virtual void query(const std::string& room, std::uint32_t limit,
                       std::function<void(natsbus::Result<bus::v1::PresenceQueryResult>)> done) = 0;
};

class RecordsPort {
public:
    virtual ~RecordsPort() = default;
    // The caller's rooms changed: its session record is rewritten (on the caller's shard).
    virtual void rooms_changed(const Caller& caller) = 0;
};

}  // namespace roomcast::edge
