#pragma once
// The collaboration protocol on namespace "/" (PRODUCT.md §2): the Socket.IO glue between the
// namespace and the edge's parts. It registers the connect hook, the connection and disconnect
// handlers (Connections), the room requests (RoomHandlers), `refresh` (TokenLifetime) and the
// rate-limit answer, turning each socket into a Caller and each ack into a Reply. The room
// fabric is the namespace's adapter (main installs it).
//
// Thread-safety: install() before the shards start; everything else runs on sockets' shards.

#include "app/connect.hpp"
#include "app/handlers.hpp"
#include "app/presence.hpp"
#include "app/records.hpp"
#include "app/request_metrics.hpp"
#include "app/tokens.hpp"
#include "rooms/fabric.hpp"

namespace roomcast::edge {

// The room fabric as the handlers see it.
class FabricRooms final : public RoomsPort {
public:
    explicit FabricRooms(rooms::Fabric& fabric) : fabric_(fabric) {}

    bool in_room(const Caller& caller, std::string_view room) const override;
    std::size_t room_count(const Caller& caller) const override;
    void enter(const Caller& caller, const std::string& room,
               std::function<void(natsbus::Result<std::uint64_t>)> done) override;
    bool exit(const Caller& caller, std::string_view room) override;
    void publish(const std::string& room, const bus::v1::RoomEvent& event,
                 std::function<void(natsbus::Result<std::uint64_t>)> done) override;
    natsbus::Result<void> publish_ephemeral(const std::string& room, const bus::v1::RoomEvent& event) override;
    void read_after(const std::string& room, std::uint64_t after, std::size_t max, std::uint64_t max_bytes,
                    std::function<void(natsbus::Result<rooms::RoomStream::Page>)> done) override;
    void read_last(const std::string& room, std::size_t count, std::uint64_t max_bytes,
                   std::function<void(natsbus::Result<rooms::RoomStream::Page>)> done) override;

private:
    rooms::Fabric& fabric_;
};

class EdgeApp {
public:
    EdgeApp(sio::Server& io, rooms::Fabric& fabric, RightsPort& rights, PresencePort& presence,
            SessionRecorder& records, Connections& connections, TokenLifetime& tokens, Quotas& quotas,
            HandlerOptions options, HandlerBackends backends = {});

    // Counts the requests' answers in `requests` (which outlives the app). Before install().
    void count_requests(RequestMetrics& requests) noexcept { requests_ = &requests; }

    void install();

private:
    sio::Server& io_;
    Connections& connections_;
    TokenLifetime& tokens_;
    FabricRooms rooms_;
    HandlerBackends backends_;
    RoomHandlers handlers_;
    RequestMetrics* requests_ = nullptr;
};

// The `presence` event members of a room receive for a PresenceChange (serialized) from the
// presence service: {room, joined: [{id, name}], left: [...]}; nullptr when it is not one.
transport::OutMessagePtr encode_presence_event(const std::string& room, std::string&& change);

}  // namespace roomcast::edge
