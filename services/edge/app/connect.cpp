#include "app/connect.hpp"

#include "app/recovery_plan.hpp"
#include "app/requests.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/core/clock.hpp"
#include "roomcast/core/log.hpp"

#include <boost/json.hpp>

namespace roomcast::edge {

namespace json = boost::json;
namespace log = core::log;

Connections::Connections(KeyRing& keys, SessionStore& sessions, rooms::Fabric& fabric,
                         RightsPort& rights, Revocations& revocations, SessionRecorder& records,
                         TokenLifetime& tokens, EdgeCounters& counters, ConnectOptions options)
    : keys_(keys),
      sessions_(sessions),
      fabric_(fabric),
      rights_(rights),
      revocations_(revocations),
      records_(records),
      tokens_(tokens),
      counters_(counters),
      options_(options) {}

jwt::Result<jwt::Claims> Connections::verify(std::string_view token) const {
    const auto keys = keys_.current();
    return jwt::verify(token, *keys, options_.verify);
}

void Connections::on_connect(const sio::Handshake& hs, sio::ConnectCallback done, const std::string& nsp) {
    auto refuse = [this, &done](std::string_view code) {
        const std::size_t i = code == "token_missing" ? 0 : code == "token_expired" ? 2 : 1;
        counters_.auth_failures[i].fetch_add(1, std::memory_order_relaxed);
        sio::ConnectDecision d;
        json::object data;
        data["code"] = code;
        d.error = sio::ConnectError{"unauthorized", json::value(std::move(data))};
        done(std::move(d));
    };
    // Connection state recovery is for "/" (the rooms); other namespaces start anew each time.
    const bool recoverable = options_.recovery && nsp == "/";
    // A fresh private session id, used unless the session is recovered (drawn here, on the
    // shard: a connect hook's answer continues on a library thread).
    std::string fresh_pid = recoverable ? transport::Shard::current()->random_id(22) : std::string();
    const json::object* auth = hs.auth.is_object() ? &hs.auth.as_object() : nullptr;
    const json::value* token = auth != nullptr ? auth->if_contains("token") : nullptr;
    if (token == nullptr || !token->is_string() || token->get_string().empty()) {
        if (hook_ != nullptr && hook_->asks(false)) {
            ask_hook(hs, nsp, nullptr, std::move(fresh_pid), std::move(done));
            return;
        }
        refuse("token_missing");
        return;
    }
    auto claims = verify(token->get_string());
    if (!claims) {
        refuse(claims.error() == jwt::Errc::kExpired ? "token_expired" : "token_invalid");
        return;
    }
    auto session = std::make_shared<SocketSession>();
    session->identity = std::make_shared<const rooms::Identity>(
        rooms::Identity{std::move(claims->sub), std::move(claims->name)});
    session->exp = claims->exp;
    session->started_ms = core::unix_ms();
    if (auto text = json::serialize(claims->all); text.size() <= kMaxClaimsJsonBytes) {
        session->claims_json = std::move(text);
    }
    if (hook_ != nullptr && hook_->asks(true)) {
        ask_hook(hs, nsp, std::move(session), std::move(fresh_pid), std::move(done));
        return;
    }
    admit(std::move(session), hs.auth, std::move(fresh_pid), std::move(done));
}

void Connections::ask_hook(const sio::Handshake& hs, const std::string& nsp, SessionPtr session,
                           std::string fresh_pid, sio::ConnectCallback done) {
    std::optional<backends::v1::Client> client;
    if (session) {
        client.emplace();
        client->set_user_id(session->user_id());
        client->set_user_name(session->identity->name);
        client->set_claims_json(session->claims_json);
        client->set_namespace_(nsp);
        client->set_remote_address(hs.remote_address);
    }
    hook_->ask(nsp, hs, client ? &*client : nullptr,
               [this, session = std::move(session), auth = hs.auth, fresh_pid = std::move(fresh_pid),
                done = std::move(done)](backends::ConnectVerdict v) mutable {
                   // Library thread.
                   using K = backends::ConnectVerdict::Kind;
                   if (v.kind == K::kUnavailable && hook_->options().fail_open && session) {
                       admit(std::move(session), auth, std::move(fresh_pid), std::move(done));
                       return;
                   }
                   if (v.kind != K::kAllow) {
                       sio::ConnectDecision d;
                       json::object data;
                       data["code"] = v.code;
                       data["message"] = v.message;
                       d.error = sio::ConnectError{"unauthorized", json::value(std::move(data))};
                       done(std::move(d));
                       return;
                   }
                   if (!session) {
                       session = std::make_shared<SocketSession>();
                       session->started_ms = core::unix_ms();
                   }
                   if (!v.user_id.empty() || !session->identity) {
                       std::string name = v.user_name.empty() ? v.user_id : v.user_name;
                       session->identity = std::make_shared<const rooms::Identity>(
                           rooms::Identity{std::move(v.user_id), std::move(name)});
                   } else if (!v.user_name.empty()) {
                       session->identity = std::make_shared<const rooms::Identity>(
                           rooms::Identity{session->identity->user_id, std::move(v.user_name)});
                   }
                   if (!v.claims_json.empty()) {
                       session->claims_json = std::move(v.claims_json);
                   }
                   admit(std::move(session), auth, std::move(fresh_pid), std::move(done));
               });
}

void Connections::admit(SessionPtr session, const json::value& auth_value, std::string fresh_pid,
                        sio::ConnectCallback done) {
    if (fresh_pid.empty()) {  // no recovery here
        sio::ConnectDecision d;
        d.data = session;
        done(std::move(d));
        return;
    }
    const json::object* auth = auth_value.is_object() ? &auth_value.as_object() : nullptr;
    const json::value* pid = auth != nullptr ? auth->if_contains("pid") : nullptr;
    const json::value* offset = auth != nullptr ? auth->if_contains("offset") : nullptr;
    if (pid == nullptr || !pid->is_string() || !contract::valid_pid(pid->get_string()) ||
        (offset != nullptr && !parse_offset(*offset))) {
        sio::ConnectDecision d;
        session->pid = fresh_pid;
        d.pid = std::move(fresh_pid);
        d.data = session;
        done(std::move(d));
        return;
    }
    // socket.io-client sends no offset until it has received an event that carries one: then
    // it has seen nothing since joining, and replay starts at each room's join offset.
    const std::uint64_t last_offset = offset != nullptr ? parse_offset(*offset).value_or(0) : 0;
    try_recover(std::move(session), std::string(pid->get_string()), std::move(fresh_pid), last_offset,
                std::move(done));
}

void Connections::try_recover(SessionPtr session, std::string old_pid, std::string fresh_pid,
                              std::uint64_t offset, sio::ConnectCallback done) {
    auto fresh = [this](const SessionPtr& session, std::string pid, sio::ConnectCallback& done,
                        RecoveryMiss why) {
        counters_.not_recovered.fetch_add(1, std::memory_order_relaxed);
        counters_.recovery_misses[static_cast<std::size_t>(why)].fetch_add(
            1, std::memory_order_relaxed);
        log::debug("session not recovered",
                   {{"why", kRecoveryMissNames[static_cast<std::size_t>(why)]}});
        sio::ConnectDecision d;
        session->pid = pid;
        d.pid = std::move(pid);
        d.data = session;
        done(std::move(d));
    };
    {
        std::lock_guard lock(recovering_mu_);
        if (!recovering_.insert(old_pid).second) {
            fresh(session, fresh_pid, done, RecoveryMiss::kInFlight);
            return;
        }
    }
    // Erased when the decision is made (the last continuation holding it goes).
    struct InFlight {
        Connections* self;
        std::string pid;
        ~InFlight() {
            std::lock_guard lock(self->recovering_mu_);
            self->recovering_.erase(pid);
        }
    };
    auto in_flight = std::make_shared<InFlight>(this, old_pid);
    const std::string user = session->user_id();
    sessions_.lookup(
        old_pid, user,
        [this, session, old_pid, fresh_pid, offset, fresh, in_flight, done = std::move(done)](
            std::optional<Recoverable> rec) mutable {
            if (!rec) {
                fresh(session, fresh_pid, done, RecoveryMiss::kNoRecord);
                return;
            }
            auto plan = plan_recovery(rec->record, offset, rights_, revocations_);
            if (!plan.recover) {
                fresh(session, fresh_pid, done, RecoveryMiss::kRevoked);
                return;
            }
            // The missed events are read before answering: when a room lost some of them (more
            // were published than the stream keeps) the session is not recovered, as Socket.IO
            // does when an offset left its buffer.
            std::vector<std::pair<std::string, std::uint64_t>> reads;
            for (const auto& r : plan.rooms) {
                reads.emplace_back(r.room, r.start);
            }
            std::string socket_id = rec->record.socket_id();
            const std::int64_t started_ms = rec->record.started_ms();
            fabric_.read_missed(
                std::move(reads), socket_id, started_ms,
                [this, session, old_pid, fresh_pid, fresh, socket_id, in_flight,
                 rec = std::move(*rec), plan = std::move(plan),
                 done = std::move(done)](std::shared_ptr<rooms::Fabric::Missed> missed) mutable {
                    if (missed->failed || missed->truncated || missed->gone) {
                        fresh(session, fresh_pid, done,
                              missed->failed      ? RecoveryMiss::kReadFailed
                              : missed->truncated ? RecoveryMiss::kTooMuchMissed
                                                  : RecoveryMiss::kEventsDropped);
                        return;
                    }
                    counters_.recovered.fetch_add(1, std::memory_order_relaxed);
                    session->pid = old_pid;
                    session->record.revision = rec.revision;
                    session->record.take_over = true;
                    if (rec.record.started_ms() != 0) {
                        session->started_ms = rec.record.started_ms();
                    }
                    auto pending = std::make_unique<PendingRecovery>();
                    pending->rooms = std::move(plan.rooms);
                    pending->dropped = std::move(plan.dropped);
                    pending->missed = std::move(missed);
                    session->recovery = std::move(pending);
                    sio::ConnectDecision d;
                    d.socket_id = socket_id;
                    d.pid = old_pid;
                    d.recovered = true;
                    d.data = session;
                    done(std::move(d));
                });
        });
}

void Connections::on_connection(const sio::SocketPtr& socket) {
    auto session = session_of(*socket);
    if (!session) {
        return;
    }
    socket->release_handshake_auth();  // the claims are in the session; the token is not needed
    fabric_.attach(*socket, session->identity);
    tokens_.watch(socket, session);
    if (session->pid.empty()) {
        return;  // recovery off
    }
    if (socket->recovered() && session->recovery) {
        recover(socket, session);
        return;
    }
    // A new session's record is first written at its first join or its disconnect (records.hpp).
}

void Connections::recover(const sio::SocketPtr& socket, const SessionPtr& session) {
    auto pending = std::move(session->recovery);
    // Rights lost between the decision and now (a control message that arrived meanwhile) are
    // honoured here; any later one reaches the socket in its rooms like any other.
    if (!revocations_.session_recoverable(session->user_id(), session->started_ms)) {
        socket->disconnect();  // a DisconnectUser arrived meanwhile
        return;
    }
    std::vector<rooms::Fabric::Resume> keep;
    for (auto& r : pending->rooms) {
        if (auto reason = room_lost(r.room, session->user_id(), r.info.joined_ms, rights_, revocations_)) {
            pending->dropped.emplace_back(r.room, std::move(*reason));
        } else {
            keep.push_back(std::move(r));
        }
    }
    fabric_.recover(socket, std::move(keep), std::move(pending->missed));
    records_.write(*socket, session, socket->shard());  // taken over from the previous edge
    for (const auto& [room, reason] : pending->dropped) {
        json::object body;
        body["room"] = room;
        body["reason"] = reason;
        socket->emit("kicked", sio::Args().add(std::move(body)));
    }
    if (!pending->dropped.empty()) {
        counters_.kicks.fetch_add(pending->dropped.size(), std::memory_order_relaxed);
    }
}

void Connections::on_disconnect(const sio::SocketPtr& socket, sio::DisconnectReason reason) {
    auto session = session_of(*socket);
    if (!session || session->pid.empty()) {
        return;
    }
    switch (reason) {
        case sio::DisconnectReason::kClientNamespaceDisconnect:
        case sio::DisconnectReason::kServerNamespaceDisconnect:
        case sio::DisconnectReason::kForcedServerClose:
            records_.erase(session, socket->shard());  // a deliberate leave: nothing to recover
            break;
        default:
            // The fabric still has the socket's rooms here (it lets go after the handlers).
            session->disconnected_at_ms = core::unix_ms();
            records_.write(*socket, session, socket->shard());
            break;
    }
}

}  // namespace roomcast::edge
