#include "app/backend_routes.hpp"

#include "app/reply.hpp"
#include "app/requests.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/protocol/socketio.hpp"

#include <algorithm>

namespace roomcast::edge {

backends::v1::Client backend_client(const sio::Socket& socket, const SocketSession& session,
                                     std::string_view edge_id) {
    backends::v1::Client c;
    c.set_user_id(session.user_id());
    c.set_user_name(session.identity->name);
    c.set_claims_json(session.claims_json);
    c.set_socket_id(socket.id());
    c.set_edge_id(std::string(edge_id));
    c.set_namespace_(socket.nsp().name());
    if (socket.nsp().name() == "/") {
        for (auto& room : socket.rooms()) {
            c.add_rooms(std::move(room));
        }
    }
    c.set_remote_address(socket.handshake().remote_address);
    return c;
}

void route_custom_events(sio::Namespace& nsp, backends::CustomEvents& events, std::string edge_id) {
    const bool root = nsp.name() == "/";
    nsp.on_any([&events, edge_id = std::move(edge_id), root](const sio::SocketPtr& s, std::string_view event,
                                                              sio::Args&& args, sio::Ack&& ack) {
        auto session = session_of(*s);
        if (!session) {
            return;  // not authenticated (never happens: every namespace's hook sets one)
        }
        const bool reserved = root ? contract::reserved_event(event) : protocol::sio::is_reserved_event(event);
        if (reserved || event.empty() || event.size() > contract::kMaxEventNameBytes) {
            Reply(std::move(ack)).error(error_code::kBadRequest, "this event name is reserved or too long");
            return;
        }
        // Aliases the session: the count lives as long as a reply may still decrement it.
        std::shared_ptr<std::uint32_t> in_flight(session, &session->rpc_in_flight);
        events.on_event(s, backend_client(*s, *session, edge_id), event, std::move(args), std::move(ack),
                        std::move(in_flight));
    });
}

std::string ExtraNamespaces::check(const std::vector<std::string>& names) {
    for (const auto& n : names) {
        const bool prefix = !n.empty() && n.back() == '*';
        const std::string base = prefix ? n.substr(0, n.size() - 1) : n;
        if (base == "/" || !contract::valid_namespace(base) ||
            base.find('*') != std::string::npos) {
            return "--namespaces: \"" + n +
                   "\" is not a namespace (\"/name\") or a prefix (\"/name*\") other than \"/\"";
        }
    }
    return {};
}

void ExtraNamespaces::install(const std::vector<std::string>& names) {
    for (const auto& n : names) {
        if (!n.empty() && n.back() == '*') {
            prefixes_.push_back(n.substr(0, n.size() - 1));
            io_.of_prefix(
                prefixes_.back(), [](std::string_view name) { return contract::valid_namespace(name); },
                [this](sio::Namespace& nsp) { setup(nsp); });
        } else {
            exact_.push_back(n);
            setup(io_.of(n));
        }
    }
}

bool ExtraNamespaces::serves(std::string_view nsp) const {
    if (nsp == "/" || std::find(exact_.begin(), exact_.end(), nsp) != exact_.end()) {
        return true;
    }
    return std::any_of(prefixes_.begin(), prefixes_.end(), [nsp](const std::string& p) {
        return nsp.size() > p.size() && nsp.substr(0, p.size()) == p && contract::valid_namespace(nsp);
    });
}

void ExtraNamespaces::setup(sio::Namespace& nsp) {
    nsp.use([this, name = nsp.name()](const sio::Handshake& hs, sio::ConnectCallback done) {
        connections_.on_connect(hs, std::move(done), name);
    });
    nsp.on_connection([this](const sio::SocketPtr& s) {
        if (auto session = session_of(*s)) {
            s->release_handshake_auth();
            users_.add(*s, session->user_id());
        }
    });
    nsp.on_disconnect([this](const sio::SocketPtr& s, sio::DisconnectReason) {
        if (auto session = session_of(*s)) {
            users_.remove(*s, session->user_id());
        }
    });
    nsp.on_rate_limited([](const sio::SocketPtr&, std::string_view, sio::Ack&& ack) {
        Reply(std::move(ack)).error(error_code::kRateLimited, "too many events from this socket: slow down");
    });
    route_custom_events(nsp, events_, edge_id_);
}

}  // namespace roomcast::edge
