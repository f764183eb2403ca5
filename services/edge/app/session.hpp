#pragma once
// What the edge's application keeps per socket, beside its rooms (which the room fabric owns):
// who it is, its connection state recovery session, its token's expiry and the write chain of
// its session record. Kept in the socket's data (sio::Socket::data()) as a shared pointer, and
// shared with continuations of the socket's requests.
//
// Thread-safety: touched on the socket's shard only.

#include "rooms/fabric.hpp"
#include "socketio/server.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/transport/shard.hpp"

#include <boost/asio/post.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace roomcast::edge {

// The session record's write chain (records.hpp): one write in flight, later changes coalesced
// into the newest record.
struct RecordChain {
    std::uint64_t revision = 0;  // the record's KV revision this edge last wrote (0: none yet)
    bool writing = false;
    // The newest record not yet written (held only between a change and its write: an idle
    // socket keeps none).
    std::unique_ptr<bus::v1::SessionRecord> next;
    bool take_over = false;  // the next write takes a recovered session over (unconditional)
    bool erase = false;      // the next write deletes the record (a deliberate leave)
    bool lost = false;       // another edge owns the record now, or it was erased
    bool attempted = false;  // a write was sent (else there is no record to erase)
};

// A session that the connect hook decided to recover, until the socket is connected.
struct PendingRecovery {
    std::vector<rooms::Fabric::Resume> rooms;  // the rooms it goes back to
    // Rooms it lost while away (room, reason): it gets `kicked` for each once connected.
    std::vector<std::pair<std::string, std::string>> dropped;
    std::shared_ptr<rooms::Fabric::Missed> missed;  // what it missed, read at connect
};

struct SocketSession {
    std::shared_ptr<const rooms::Identity> identity;
    std::string pid;               // private session id (recovery); empty when recovery is off
    std::int64_t exp = 0;          // the token's expiry, Unix seconds (0: none)
    std::uint64_t exp_generation = 0;  // bumped by every refresh (token lifetime, tokens.hpp)
    std::int64_t started_ms = 0;   // when the session began (kept across recoveries)
    std::int64_t disconnected_at_ms = 0;
    std::unique_ptr<PendingRecovery> recovery;
    RecordChain record;
    // The token's claims (or the connect hook's) as compact JSON for application backends
    // (backend.v1.Client.claims_json): "{}" when none, or when they exceed kMaxClaimsJsonBytes.
    std::string claims_json = "{}";
    // Custom events of this socket waiting for a backend (backends::CustomEvents' cap).
    std::uint32_t rpc_in_flight = 0;

    const std::string& user_id() const noexcept { return identity->user_id; }
};
using SessionPtr = std::shared_ptr<SocketSession>;
// Claims are kept per socket for its whole life: larger ones are not passed on.
inline constexpr std::size_t kMaxClaimsJsonBytes = 8192;

// The session of a socket (nullptr when the connect hook did not set one).
inline SessionPtr session_of(const sio::Socket& socket) {
    const auto* p = std::any_cast<SessionPtr>(&const_cast<sio::Socket&>(socket).data());
    return p != nullptr ? *p : nullptr;
}

// The socket a request came from, as handlers see it. In unit tests `socket` and `shard` are
// null: continuations then run inline.
struct Caller {
    sio::SocketPtr socket;
    SessionPtr session;
    transport::Shard* shard = nullptr;
    // Unit tests only (no socket): stands for the socket's connection state, so a test can
    // have the socket leave while a request waits (null: connected).
    std::shared_ptr<const bool> test_connected;

    static Caller of(const sio::SocketPtr& s) { return Caller{s, session_of(*s), &s->shard()}; }

    const std::string& user() const noexcept { return session->user_id(); }
    // False once the socket has left (a late answer is then dropped).
    bool alive() const noexcept {
        return socket ? socket->connected() : (!test_connected || *test_connected);
    }
    // Runs `fn` on the socket's shard (from any thread).
    template <class F>
    void post(F&& fn) const {
        if (shard == nullptr) {
            fn();
        } else {
            boost::asio::post(shard->ioc(), std::forward<F>(fn));
        }
    }
};

}  // namespace roomcast::edge
