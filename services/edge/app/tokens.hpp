#pragma once
// Token lifetime (PRODUCT.md §2): a socket never outlives its token's `exp` plus the leeway.
// At that moment the edge closes the socket's transport — not a Socket.IO DISCONNECT — so
// socket.io-client reconnects by itself, with a fresh token when its `auth` option is a
// function, and recovers the session. `refresh` {token} extends the socket's life without a
// reconnect: the new token must verify and name the same `sub`.
//
// Expiries are kept per shard in a min-heap with one timer armed at the earliest: a socket costs
// one heap entry, re-armed (a new entry, the old one skipped as stale) by every refresh.
//
// Thread-safety: watch() and refresh() on the socket's shard; each shard's heap is touched by
// that shard only.

#include "app/reply.hpp"
#include "app/session.hpp"

#include "roomcast/jwt/jwt.hpp"
#include "roomcast/transport/shard.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <queue>
#include <string_view>
#include <vector>

namespace roomcast::edge {

class TokenLifetime {
public:
    // Verifies a token as the connect hook does (signature, exp/nbf/iat with the leeway).
    using Verify = std::function<jwt::Result<jwt::Claims>(std::string_view token)>;

    TokenLifetime(transport::ShardPool& shards, Verify verify, std::chrono::seconds leeway);
    ~TokenLifetime();

    // Closes the socket's transport at its session's exp + leeway (its shard).
    void watch(const sio::SocketPtr& socket, const SessionPtr& session);

    // The `refresh` request: {token} → {ok: true, exp}; bad_request for a missing token,
    // unauthorized for one that does not verify, forbidden for another user's.
    void refresh(const Caller& caller, sio::Args&& args, Reply reply);

    std::chrono::seconds leeway() const noexcept { return leeway_; }

private:
    struct Due {
        std::chrono::steady_clock::time_point at;
        std::weak_ptr<sio::Socket> socket;
        std::uint64_t generation = 0;
        bool operator>(const Due& o) const noexcept { return at > o.at; }
    };
    struct Shard {
        explicit Shard(boost::asio::io_context& ioc) : timer(ioc) {}
        std::priority_queue<Due, std::vector<Due>, std::greater<>> heap;
        boost::asio::steady_timer timer;
        std::chrono::steady_clock::time_point armed = std::chrono::steady_clock::time_point::max();
    };
    void arm(Shard& shard);
    void expire(Shard& shard);

    transport::ShardPool& shards_;
    Verify verify_;
    std::chrono::seconds leeway_;
    std::vector<std::unique_ptr<Shard>> per_shard_;
};

}  // namespace roomcast::edge
