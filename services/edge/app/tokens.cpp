#include "app/tokens.hpp"

#include "app/requests.hpp"

#include "roomcast/core/log.hpp"

#include <boost/json.hpp>

namespace roomcast::edge {

namespace json = boost::json;
namespace log = core::log;

TokenLifetime::TokenLifetime(transport::ShardPool& shards, Verify verify, std::chrono::seconds leeway)
    : shards_(shards), verify_(std::move(verify)), leeway_(leeway) {
    for (unsigned i = 0; i < shards.size(); ++i) {
        per_shard_.push_back(std::make_unique<Shard>(shards.shard(i).ioc()));
    }
}

TokenLifetime::~TokenLifetime() = default;

void TokenLifetime::watch(const sio::SocketPtr& socket, const SessionPtr& session) {
    if (session->exp <= 0) {
        return;
    }
    // exp is wall-clock seconds; the deadline runs on the steady clock from now.
    const auto wall_now = std::chrono::system_clock::now();
    const auto deadline_wall =
        std::chrono::system_clock::time_point(std::chrono::seconds(session->exp)) + leeway_;
    const auto in = std::max(std::chrono::steady_clock::duration::zero(),
                             std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 deadline_wall - wall_now));
    auto& shard = *per_shard_[socket->shard().index()];
    shard.heap.push(Due{std::chrono::steady_clock::now() + in, socket, session->exp_generation});
    arm(shard);
}

void TokenLifetime::arm(Shard& shard) {
    if (shard.heap.empty()) {
        return;
    }
    const auto next = shard.heap.top().at;
    if (next >= shard.armed) {
        return;  // the timer fires earlier already; expire() re-arms for the rest
    }
    shard.armed = next;
    shard.timer.expires_at(next);
    shard.timer.async_wait([this, s = &shard](const boost::system::error_code& ec) {
        if (ec) {
            return;  // cancelled by an earlier arm, or the shard stopped
        }
        s->armed = std::chrono::steady_clock::time_point::max();
        expire(*s);
    });
}

void TokenLifetime::expire(Shard& shard) {
    const auto now = std::chrono::steady_clock::now();
    std::size_t closed = 0;
    while (!shard.heap.empty() && shard.heap.top().at <= now) {
        Due due = shard.heap.top();
        shard.heap.pop();
        auto socket = due.socket.lock();
        if (!socket || !socket->connected()) {
            continue;
        }
        auto session = session_of(*socket);
        if (!session || session->exp_generation != due.generation) {
            continue;  // refreshed since
        }
        // As a network failure would: the client reconnects (with a new token) and recovers.
        socket->close_transport();
        ++closed;
    }
    if (closed > 0) {
        log::info("tokens expired", {{"sockets", closed}});
    }
    arm(shard);
}

void TokenLifetime::refresh(const Caller& caller, sio::Args&& args, Reply reply) {
    const json::value* token = nullptr;
    if (args.size() >= 1 && args[0].is_object()) {
        token = args[0].as_object().if_contains("token");
    }
    if (token == nullptr || !token->is_string() || token->get_string().empty()) {
        reply.error(error_code::kBadRequest, "refresh needs {token}");
        return;
    }
    auto claims = verify_(token->get_string());
    if (!claims) {
        reply.error(error_code::kUnauthorized, claims.error() == jwt::Errc::kExpired
                                                   ? "the token has expired"
                                                   : "the token is not valid");
        return;
    }
    if (claims->sub != caller.user()) {
        reply.error(error_code::kForbidden, "the token is for another user");
        return;
    }
    caller.session->exp = claims->exp;
    ++caller.session->exp_generation;
    if (caller.socket) {
        watch(caller.socket, caller.session);
    }
    json::object body;
    body["exp"] = claims->exp;
    reply.ok(std::move(body));
}

}  // namespace roomcast::edge
