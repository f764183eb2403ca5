#include "backends/emits.hpp"


#include "backends/custom_events.hpp"

#include "roomcast/backend/v1/backend.pb.h"
#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/log.hpp"
#include "roomcast/protocol/socketio.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

namespace roomcast::edge::backends {

namespace json = boost::json;

std::optional<ParsedEmit> parse_emit(std::string_view data, const EmitLimits& limits,
                                     const std::function<bool(std::string_view)>& served) {
    backend::v1::Emit e;
    if (data.size() > limits.max_bytes + 4096 || !e.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
        return std::nullopt;
    }
    ParsedEmit out;
    out.nsp = e.namespace_().empty() ? "/" : e.namespace_();
    if (!contract::valid_namespace(out.nsp) || !served(out.nsp) || !contract::valid_event_name(e.event())) {
        return std::nullopt;
    }
    switch (e.target_case()) {
        case backend::v1::Emit::kUserId:
            if (!contract::valid_user_id(e.user_id())) {
                return std::nullopt;
            }
            out.user_id = e.user_id();
            break;
        case backend::v1::Emit::kSocketId:
            if (!contract::valid_socket_id(e.socket_id())) {
                return std::nullopt;
            }
            out.socket_id = e.socket_id();
            break;
        default:
            return std::nullopt;
    }
    std::uint64_t bytes = e.args_json().size();
    for (const auto& a : e.attachments()) {
        bytes += a.size();
    }
    if (bytes > limits.max_bytes || static_cast<std::size_t>(e.attachments_size()) > limits.max_attachments) {
        return std::nullopt;
    }
    json::array args;
    if (!e.args_json().empty()) {
        boost::system::error_code ec;
        auto v = json::parse(e.args_json(), ec);
        if (ec || !v.is_array()) {
            return std::nullopt;
        }
        args = std::move(v.as_array());
    }
    if (!protocol::sio::placeholders_valid(args, static_cast<std::uint32_t>(e.attachments_size()))) {
        return std::nullopt;
    }
    std::vector<std::string> attachments(e.attachments().begin(), e.attachments().end());
    out.message = sio::encode_event(out.nsp, e.event(), sio::Args(std::move(args), std::move(attachments)));
    return out;
}

// --- UserIndex -------------------------------------------------------------------------------

UserIndex::UserIndex(unsigned shards) : shards_(shards) {}

void UserIndex::add(sio::Socket& socket, const std::string& user) {
    shards_[socket.shard().index()].emplace(user, &socket);
}

void UserIndex::remove(sio::Socket& socket, const std::string& user) {
    auto& index = shards_[socket.shard().index()];
    auto [begin, end] = index.equal_range(user);
    for (auto it = begin; it != end; ++it) {
        if (it->second == &socket) {
            index.erase(it);
            return;
        }
    }
}

std::vector<sio::SocketPtr> UserIndex::sockets(unsigned shard, const sio::Namespace& nsp,
                                               std::string_view user) const {
    std::vector<sio::SocketPtr> out;
    auto [begin, end] = shards_[shard].equal_range(std::string(user));
    for (auto it = begin; it != end; ++it) {
        if (&it->second->nsp() == &nsp) {
            out.push_back(it->second->shared_from_this());
        }
    }
    return out;
}

// --- EmitDelivery ----------------------------------------------------------------------------

EmitDelivery::EmitDelivery(natsbus::Connection& nats, sio::Server& io, EmitLimits limits,
                           std::function<bool(std::string_view)> served, SocketsOfUser sockets_of_user)
    : nats_(nats),
      io_(io),
      limits_(limits),
      served_(std::move(served)),
      sockets_of_user_(std::move(sockets_of_user)) {}

natsbus::Result<void> EmitDelivery::start() {
    // No queue group: every edge delivers to its own sockets.
    auto sub = nats_.subscribe(contract::kEmitSubject, [this](natsbus::Message&& m) { on_message(m.data); });
    if (!sub) {
        return sub.error();
    }
    subscription_ = std::move(*sub);
    return {};
}

std::shared_ptr<prometheus::Collectable> EmitDelivery::attach(observability::Metrics& metrics) {
    auto c = std::make_shared<observability::CallbackCollector>();
    for (std::size_t r = 0; r < counts_.size(); ++r) {
        c->counter("roomcast_edge_emits_total",
                   "Emits to a user or a socket (roomcast.emit) by result: delivered to at least one "
                   "local socket, no_target (none here), invalid (dropped)",
                   [this, r] { return static_cast<double>(counts_[r].load(std::memory_order_relaxed)); },
                   {{"result", kEmitOutcomeNames[r]}});
    }
    metrics.add(c);
    return c;
}

void EmitDelivery::on_message(std::string_view data) {
    auto parsed = parse_emit(data, limits_, served_);
    if (!parsed) {
        counts_[static_cast<std::size_t>(EmitOutcome::kInvalid)].fetch_add(1, std::memory_order_relaxed);
        core::log::debug("invalid emit dropped", {{"bytes", data.size()}});
        return;
    }
    deliver(std::make_shared<const ParsedEmit>(std::move(*parsed)));
}

void EmitDelivery::deliver(std::shared_ptr<const ParsedEmit> emit) {
    sio::Namespace* nsp = io_.find(emit->nsp);
    if (nsp == nullptr) {  // a prefix namespace nobody connected to yet
        counts_[static_cast<std::size_t>(EmitOutcome::kNoTarget)].fetch_add(1, std::memory_order_relaxed);
        return;
    }
    // Each shard delivers to its sockets; the last one to finish counts the emit.
    struct Tally {
        std::atomic<unsigned> pending;
        std::atomic<std::size_t> sent{0};
    };
    const unsigned n = io_.shards().size();
    auto tally = std::make_shared<Tally>();
    tally->pending = n;
    for (unsigned i = 0; i < n; ++i) {
        boost::asio::post(io_.shards().shard(i).ioc(), [this, i, nsp, emit, tally] {
            std::size_t sent = 0;
            if (!emit->socket_id.empty()) {
                if (sio::Socket* s = nsp->find_local(i, emit->socket_id); s != nullptr && s->connected()) {
                    sent += s->send(emit->message) ? 1 : 0;
                }
            } else {
                for (const auto& s : sockets_of_user_(i, *nsp, emit->user_id)) {
                    sent += s->connected() && s->send(emit->message) ? 1 : 0;
                }
            }
            tally->sent.fetch_add(sent, std::memory_order_relaxed);
            if (tally->pending.fetch_sub(1) == 1) {
                const auto r = tally->sent.load() > 0 ? EmitOutcome::kDelivered : EmitOutcome::kNoTarget;
                counts_[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
}

}  // namespace roomcast::edge::backends
