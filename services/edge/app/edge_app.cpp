#include "app/edge_app.hpp"

#include <boost/json.hpp>

namespace roomcast::edge {

namespace json = boost::json;

bool FabricRooms::in_room(const Caller& caller, std::string_view room) const {
    return fabric_.in_room(*caller.socket, room);
}

std::size_t FabricRooms::room_count(const Caller& caller) const {
    return fabric_.room_count(*caller.socket);
}

void FabricRooms::enter(const Caller& caller, const std::string& room,
                        std::function<void(natsbus::Result<std::uint64_t>)> done) {
    fabric_.enter(caller.socket, room, std::move(done));
}

bool FabricRooms::exit(const Caller& caller, std::string_view room) {
    return fabric_.exit(*caller.socket, room);
}

void FabricRooms::publish(const std::string& room, const bus::v1::RoomEvent& event,
                          std::function<void(natsbus::Result<std::uint64_t>)> done) {
    fabric_.publish(room, event, std::move(done));
}

natsbus::Result<void> FabricRooms::publish_ephemeral(const std::string& room,
                                                    const bus::v1::RoomEvent& event) {
    return fabric_.publish_ephemeral(room, event);
}

void FabricRooms::read_after(const std::string& room, std::uint64_t after, std::size_t max,
                             std::uint64_t max_bytes,
                             std::function<void(natsbus::Result<rooms::RoomStream::Page>)> done) {
    fabric_.read_after(room, after, max, max_bytes, std::move(done));
}

void FabricRooms::read_last(const std::string& room, std::size_t count, std::uint64_t max_bytes,
                            std::function<void(natsbus::Result<rooms::RoomStream::Page>)> done) {
    fabric_.read_last(room, count, max_bytes, std::move(done));
}

EdgeApp::EdgeApp(sio::Server& io, rooms::Fabric& fabric, RightsPort& rights, PresencePort& presence,
                 SessionRecorder& records, Connections& connections, TokenLifetime& tokens,
                 Quotas& quotas, HandlerOptions options, HandlerBackends backends)
    : io_(io),
      connections_(connections),
      tokens_(tokens),
      rooms_(fabric),
      backends_(backends),
      handlers_(rooms_, rights, presence, records, quotas, options, backends) {}

void EdgeApp::install() {
    auto& root = io_.of("/");
    root.use([this](const sio::Handshake& hs, sio::ConnectCallback done) {
        connections_.on_connect(hs, std::move(done));
    });
    root.on_connection([this](const sio::SocketPtr& s) {
        // Reported first: connecting may already disconnect it (a recovery revoked meanwhile),
        // and backends see connect before disconnect.
        if (auto caller = Caller::of(s); caller.session && backends_.lifecycle != nullptr) {
            backends_.lifecycle->connect(lifecycle_socket(caller), s->recovered());
        }
        connections_.on_connection(s);
    });
    root.on_disconnect([this](const sio::SocketPtr& s, sio::DisconnectReason r) {
        connections_.on_disconnect(s, r);
        if (auto caller = Caller::of(s); caller.session && backends_.lifecycle != nullptr) {
            backends_.lifecycle->disconnect(lifecycle_socket(caller), sio::to_string(r));
        }
    });
    // A request from a socket without a session (the hook always sets one) is ignored.
    // Every Reply is metered here, so each request's answer is counted once, by its result.
    auto route = [this](ClientRequest request, void (RoomHandlers::*handler)(const Caller&, sio::Args&&, Reply)) {
        return [this, request, handler](const sio::SocketPtr& s, sio::Args&& args, sio::Ack&& ack) {
            auto caller = Caller::of(s);
            if (caller.session) {
                Reply reply(std::move(ack));
                reply.meter(requests_, request);
                (handlers_.*handler)(caller, std::move(args), std::move(reply));
            }
        };
    };
    root.on("join", route(ClientRequest::kJoin, &RoomHandlers::join));
    root.on("leave", route(ClientRequest::kLeave, &RoomHandlers::leave));
    root.on("publish", route(ClientRequest::kPublish, &RoomHandlers::publish));
    root.on("history", route(ClientRequest::kHistory, &RoomHandlers::history));
    root.on("presence", route(ClientRequest::kPresence, &RoomHandlers::presence));
    root.on("refresh", [this](const sio::SocketPtr& s, sio::Args&& args, sio::Ack&& ack) {
        auto caller = Caller::of(s);
        if (caller.session) {
            Reply reply(std::move(ack));
            reply.meter(requests_, ClientRequest::kRefresh);
            tokens_.refresh(caller, std::move(args), std::move(reply));
        }
    });
    root.on_rate_limited([this](const sio::SocketPtr&, std::string_view event, sio::Ack&& ack) {
        Reply reply(std::move(ack));
        if (auto request = client_request(event)) {
            reply.meter(requests_, *request);
        }
        reply.error(error_code::kRateLimited, "too many events from this socket: slow down");
    });
}

transport::OutMessagePtr encode_presence_event(const std::string& room, std::string&& data) {
    bus::v1::PresenceChange change;
    if (!change.ParseFromString(data) || change.room() != room) {
        return nullptr;
    }
    auto users = [](const auto& list) {
        json::array out;
        for (const auto& u : list) {
            json::object user;
            user["id"] = u.id();
            user["name"] = u.name();
            out.push_back(std::move(user));
        }
        return out;
    };
    json::object body;
    body["room"] = room;
    body["joined"] = users(change.joined());
    body["left"] = users(change.left());
    // Not a stored event: no offset argument, so socket.io-client's recovery offset is untouched.
    return sio::encode_event("/", "presence", sio::Args().add(std::move(body)));
}

}  // namespace roomcast::edge
