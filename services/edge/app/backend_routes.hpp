#pragma once
// The Socket.IO side of application backends (docs/backends.md): which client events become
// custom events (backends::CustomEvents), what a socket looks like to a backend
// (backend.v1.Client), and the namespaces besides "/" the edge serves for them (--namespaces).
//
// Thread-safety: route_custom_events() and ExtraNamespaces::install() before the shards start;
// the handlers they register run on sockets' shards.

#include "app/connect.hpp"
#include "app/session.hpp"
#include "backends/custom_events.hpp"
#include "backends/emits.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace roomcast::edge {

// The socket as backends see it. Rooms only for "/" (other namespaces have none).
backends::v1::Client backend_client(const sio::Socket& socket, const SocketSession& session,
                                     std::string_view edge_id);

// Every event of `nsp` without a handler of its own becomes a custom event: on "/" unless it is
// reserved (contract::reserved_event: Roomcast's and Socket.IO's names), elsewhere unless it
// is one of Socket.IO's reserved names. A reserved or over-long name is answered bad_request.
void route_custom_events(sio::Namespace& nsp, backends::CustomEvents& events, std::string edge_id);

// --namespaces: "/name" serves that namespace, "/prefix*" every namespace starting with
// "/prefix" (created when a client first connects to one, at most
// ServerOptions::max_dynamic_namespaces). Each is authenticated like "/" (without connection
// state recovery), its events are custom events, and emits reach its sockets.
class ExtraNamespaces {
public:
    ExtraNamespaces(sio::Server& io, Connections& connections, backends::CustomEvents& events,
                    backends::UserIndex& users, std::string edge_id)
        : io_(io), connections_(connections), events_(events), users_(users), edge_id_(std::move(edge_id)) {}

    // The error in a --namespaces list, empty when valid.
    static std::string check(const std::vector<std::string>& names);

    void install(const std::vector<std::string>& names);
    // Whether `nsp` is "/" or one that install() serves (thread-safe).
    bool serves(std::string_view nsp) const;

private:
    void setup(sio::Namespace& nsp);

    sio::Server& io_;
    Connections& connections_;
    backends::CustomEvents& events_;
    backends::UserIndex& users_;
    std::string edge_id_;
    std::vector<std::string> exact_;
    std::vector<std::string> prefixes_;
};

}  // namespace roomcast::edge
