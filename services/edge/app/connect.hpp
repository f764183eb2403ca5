#pragma once
// A socket's life on namespace "/" outside its requests: the connect hook (the JWT, and the
// decision to recover a session: PRODUCT.md §2 "Connect", "Recovery"), the connection (into the
// fabric, its rooms back when recovered, its token's expiry watched, its record written) and
// the disconnect (its record marked lost, or deleted after a deliberate leave).
//
// Thread-safety: the hook runs on the connecting client's shard and answers from a library
// thread (sio posts the answer back); the rest on the socket's shard.

#include "app/acl.hpp"
#include "app/jwks.hpp"
#include "app/metrics.hpp"
#include "app/records.hpp"
#include "app/revocations.hpp"
#include "app/sessions.hpp"
#include "app/tokens.hpp"
#include "backends/connect_hook.hpp"
#include "rooms/fabric.hpp"

#include <mutex>
#include <unordered_set>

namespace roomcast::edge {

struct ConnectOptions {
    bool recovery = true;
    // Leeway, and the issuer and audience when required (--jwt-*).
    jwt::VerifyOptions verify;
};

class Connections {
public:
    Connections(KeyRing& keys, SessionStore& sessions, rooms::Fabric& fabric, RightsPort& rights,
                Revocations& revocations, SessionRecorder& records, TokenLifetime& tokens,
                EdgeCounters& counters, ConnectOptions options);

    // A CONNECT to `nsp` ("/" or one of --namespaces; only "/" recovers sessions).
    void on_connect(const sio::Handshake& handshake, sio::ConnectCallback done, const std::string& nsp = "/");
    // The connect hook (docs/backends.md), asked per its mode; null: off. Before start.
    void set_connect_hook(backends::ConnectHook* hook) noexcept { hook_ = hook; }
    void on_connection(const sio::SocketPtr& socket);
    void on_disconnect(const sio::SocketPtr& socket, sio::DisconnectReason reason);

    // Verifies a client token as the connect hook does (also `refresh`).
    jwt::Result<jwt::Claims> verify(std::string_view token) const;

private:
    // Asks the connect hook; `session` is null for a tokenless CONNECT.
    void ask_hook(const sio::Handshake& hs, const std::string& nsp, SessionPtr session, std::string fresh_pid,
                  sio::ConnectCallback done);
    // Accepts an authenticated CONNECT: fresh, or recovering the session its `pid` names.
    // `fresh_pid` empty: no recovery (off, or not "/"). Any thread.
    void admit(SessionPtr session, const boost::json::value& auth, std::string fresh_pid,
               sio::ConnectCallback done);
    // Looks the session up and decides (library thread).
    void try_recover(SessionPtr session, std::string old_pid, std::string fresh_pid,
                     std::uint64_t offset, sio::ConnectCallback done);
    void recover(const sio::SocketPtr& socket, const SessionPtr& session);

    // Recoveries being decided on this edge, by pid: a second CONNECT of the same session while
    // one is in flight starts anew instead of reading everything again (many parallel
    // recoveries of one pid, each replaying a large room, would pin that memory many times).
    std::mutex recovering_mu_;
    std::unordered_set<std::string> recovering_;

    KeyRing& keys_;
    SessionStore& sessions_;
    rooms::Fabric& fabric_;
    RightsPort& rights_;
    Revocations& revocations_;
    SessionRecorder& records_;
    TokenLifetime& tokens_;
    EdgeCounters& counters_;
    ConnectOptions options_;
    backends::ConnectHook* hook_ = nullptr;
};

}  // namespace roomcast::edge
