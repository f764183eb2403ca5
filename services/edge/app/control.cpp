#include "app/control.hpp"

#include "app/handlers.hpp"

#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/log.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <set>

namespace roomcast::edge {

namespace asio = boost::asio;
namespace json = boost::json;
namespace log = core::log;

ControlHandler::ControlHandler(natsbus::Connection& nats, sio::Server& io, rooms::Fabric& fabric,
                               AclCache& acl, Revocations& revocations, SessionRecorder& records,
                               EdgeCounters& counters, std::chrono::milliseconds rights_wait)
    : nats_(nats),
      io_(io),
      fabric_(fabric),
      acl_(acl),
      revocations_(revocations),
      records_(records),
      counters_(counters),
      rights_wait_(rights_wait) {}

natsbus::Result<void> ControlHandler::start() {
    auto sub = nats_.subscribe(std::string(contract::kControlSubject), [this](natsbus::Message&& m) {
        bus::v1::Control control;
        if (control.ParseFromString(m.data)) {
            on_message(control);
        }
    });
    if (!sub) {
        return sub.error();
    }
    subscription_ = std::move(*sub);
    return {};
}

void ControlHandler::stop() { subscription_.reset(); }

void ControlHandler::on_message(const bus::v1::Control& control) {
    // NATS delivery thread: record the revocation first (a session recovering right now checks
    // it), then take effect in order with the room events.
    if (control.has_kick()) {
        const auto& k = control.kick();
        const std::string reason = k.reason().empty() ? "kicked" : k.reason();
        if (k.at_ms() != 0) {
            if (k.user_id().empty()) {
                revocations_.room(k.room(), reason, k.at_ms());
            } else {
                revocations_.kick(k.room(), k.user_id(), reason, k.at_ms());
            }
        }
        fabric_.in_order([this, room = k.room(), user = k.user_id(), reason] { kick(room, user, reason); });
        return;
    }
    if (control.has_disconnect()) {
        const auto& d = control.disconnect();
        if (d.at_ms() != 0) {
            revocations_.user(d.user_id(), d.reason(), d.at_ms());
        }
        fabric_.in_order([this, user = d.user_id(), reason = d.reason()] { disconnect(user, reason); });
        return;
    }
    if (control.has_rights()) {
        const auto& r = control.rights();
        const std::string reason = r.reason().empty() ? "room_private" : r.reason();
        if (r.at_ms() != 0) {
            revocations_.room(r.room(), reason, r.at_ms());
        }
        fabric_.in_order([this, room = r.room(), reason, revision = r.rights_revision()] {
            // Fabric thread: nothing of the room published after this point is delivered until
            // the members who lost it are gone. The rights cache may lag the message a little:
            // wait for it (bounded), then check.
            fabric_.hold_room(room);
            auto once = std::make_shared<std::atomic<bool>>(false);
            auto timer = std::make_shared<asio::steady_timer>(fabric_.executor(), rights_wait_);
            auto go = [this, room, reason, once, timer] {
                if (once->exchange(true)) {
                    return;
                }
                asio::post(fabric_.executor(), [this, room, reason, timer] {
                    timer->cancel();
                    recheck(room, reason);
                });
            };
            timer->async_wait([go, room](const boost::system::error_code& ec) {
                if (!ec) {
                    log::warn("rights change checked before the rights cache had it",
                              {{"room_len", room.size()}});
                    go();
                }
            });
            acl_.after_revision(revision, go);
        });
    }
}

void ControlHandler::kicked(const sio::SocketPtr& socket, const std::string& room,
                            const std::string& reason) {
    json::object body;
    body["room"] = room;
    body["reason"] = reason;
    socket->emit("kicked", sio::Args().add(std::move(body)));
    if (auto session = session_of(*socket)) {
        records_.write(*socket, session, socket->shard());
        if (lifecycle_ != nullptr) {
            lifecycle_->kicked(lifecycle_socket(Caller::of(socket)), room, reason);
        }
    }
}

void ControlHandler::kick(const std::string& room, const std::string& user, const std::string& reason) {
    // Fabric thread: the shards get the kick before any later event of the room.
    for (unsigned i = 0; i < io_.shards().size(); ++i) {
        asio::post(io_.shards().shard(i).ioc(), [this, i, room, user, reason] {
            auto removed = fabric_.remove(i, room, user);
            for (const auto& s : removed) {
                kicked(s, room, reason);
            }
            if (!removed.empty()) {
                counters_.kicks.fetch_add(removed.size(), std::memory_order_relaxed);
                log::info("kicked", {{"sockets", removed.size()}, {"reason", reason}});
            }
        });
    }
}

void ControlHandler::disconnect(const std::string& user, const std::string& reason) {
    for (unsigned i = 0; i < io_.shards().size(); ++i) {
        asio::post(io_.shards().shard(i).ioc(), [this, i, user, reason] {
            auto sockets = fabric_.sockets_of(i, user);
            for (const auto& s : sockets) {
                s->disconnect();
            }
            if (!sockets.empty()) {
                counters_.user_disconnects.fetch_add(sockets.size(), std::memory_order_relaxed);
                log::info("user disconnected", {{"sockets", sockets.size()}, {"reason", reason}});
            }
        });
    }
}

void ControlHandler::recheck(const std::string& room, const std::string& reason) {
    // Fabric thread, the room held. Each shard removes its members who may no longer join;
    // the release is posted after those tasks, so the held events reach each shard after them.
    auto pending = std::make_shared<std::atomic<unsigned>>(io_.shards().size());
    for (unsigned i = 0; i < io_.shards().size(); ++i) {
        asio::post(io_.shards().shard(i).ioc(), [this, i, room, reason, pending] {
            std::set<std::string> users;
            for (const auto& s : fabric_.members(i, room)) {
                if (auto session = session_of(*s)) {
                    users.insert(session->user_id());
                }
            }
            std::size_t n = 0;
            for (const auto& user : users) {
                if (acl_.may_join(room, user) != Verdict::kForbidden) {
                    continue;
                }
                for (const auto& s : fabric_.remove(i, room, user)) {
                    kicked(s, room, reason);
                    ++n;
                }
            }
            if (n > 0) {
                counters_.kicks.fetch_add(n, std::memory_order_relaxed);
                log::info("kicked", {{"sockets", n}, {"reason", reason}});
            }
            if (pending->fetch_sub(1) == 1) {
                fabric_.in_order([this, room] { fabric_.release_room(room); });
            }
        });
    }
}

}  // namespace roomcast::edge
