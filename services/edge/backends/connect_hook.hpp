#pragma once
// The connect hook (docs/backends.md "Hooks → connect"): before a socket connects, a backend is
// asked on roomcast.hook.connect with the CONNECT payload, a few handshake headers, the client
// address and, when a token named one, the user. Its ConnectHookReply allows (and names the
// user: required when no token did) or denies.
//
// Modes (--hook-connect): off; tokenless (CONNECTs without a `token` are asked instead of being
// refused); all (every CONNECT: tokenless ones, and token holders after their token verified).
// When no backend answers in time (or NATS fails, or the reply is not a valid
// ConnectHookReply) --hook-connect-fail decides: closed refuses with code "unavailable"; open
// lets a token holder in as its token says. A tokenless connection cannot be let in that way
// (nobody named its user), so it is refused whatever the mode.
//
// Thread-safety: ask() from any thread; `done` runs on a library thread. Pure otherwise.

#include "backends/backend_port.hpp"
#include "socketio/server.hpp"

#include "roomcast/backend/v1/backend.pb.h"

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace roomcast::edge::backends {

namespace v1 = roomcast::backend::v1;

enum class ConnectHookMode : std::uint8_t { kOff, kTokenless, kAll };

struct ConnectHookOptions {
    ConnectHookMode mode = ConnectHookMode::kOff;
    std::chrono::milliseconds timeout{2000};  // --hook-timeout
    bool fail_open = false;                   // --hook-connect-fail open
};

// The headers a connect hook gets (ServerOptions::handshake_headers when the hook is on).
inline constexpr const char* kConnectHookHeaders[] = {"cookie", "authorization", "origin", "user-agent",
                                                      "accept-language"};
// A hook's claims_json is kept per socket: larger ones make the reply invalid.
inline constexpr std::size_t kMaxHookClaimsBytes = 8192;

struct ConnectVerdict {
    enum class Kind : std::uint8_t { kAllow, kDeny, kUnavailable };
    Kind kind = Kind::kUnavailable;
    std::string code;     // deny: the reply's code ("forbidden" when empty); unavailable: "unavailable"
    std::string message;
    // Allow: the user (empty: keep the token's), display name, claims (empty: keep the token's).
    std::string user_id;
    std::string user_name;
    std::string claims_json;
};

// The ConnectHook request. `client` is null for tokenless connections.
std::string encode_connect_hook(std::string_view nsp, const sio::Handshake& hs, const v1::Client* client,
                                std::int64_t deadline_ms);
// The verdict for a reply (or NATS error). `needs_user`: no token named the user, so an allow
// without a valid user_id is an invalid reply. `port_result` is what the port is told.
ConnectVerdict decode_connect_reply(const natsbus::Result<std::string>& reply, bool needs_user,
                                    Result& port_result);

class ConnectHook {
public:
    ConnectHook(BackendPort& port, ConnectHookOptions options) : port_(port), options_(options) {}

    const ConnectHookOptions& options() const noexcept { return options_; }
    // Whether a CONNECT with (or without) a token is asked.
    bool asks(bool has_token) const noexcept {
        return options_.mode == ConnectHookMode::kAll ||
               (options_.mode == ConnectHookMode::kTokenless && !has_token);
    }

    void ask(std::string_view nsp, const sio::Handshake& hs, const v1::Client* client,
             std::function<void(ConnectVerdict)> done);

private:
    BackendPort& port_;
    ConnectHookOptions options_;
};

}  // namespace roomcast::edge::backends
