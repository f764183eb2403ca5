#include "app/records.hpp"

#include "roomcast/core/log.hpp"

namespace roomcast::edge {

namespace asio = boost::asio;
namespace log = core::log;

SessionRecorder::SessionRecorder(SessionStore& store, rooms::Fabric& fabric)
    : store_(store), fabric_(fabric) {}

void SessionRecorder::rooms_changed(const Caller& caller) {
    if (caller.socket && caller.shard != nullptr) {
        write(*caller.socket, caller.session, *caller.shard);
    }
}

void SessionRecorder::write(const sio::Socket& socket, const SessionPtr& s, transport::Shard& shard) {
    if (s->record.lost || s->pid.empty() || s->record.erase) {
        return;
    }
    auto next = std::make_unique<bus::v1::SessionRecord>();
    auto& rec = *next;
    rec.set_socket_id(socket.id());
    rec.set_user_id(s->identity->user_id);
    rec.set_user_name(s->identity->name);
    rec.set_edge_id(store_.edge_id());
    rec.set_disconnected_at_ms(s->disconnected_at_ms);
    rec.set_started_ms(s->started_ms);
    for (const auto& [room, info] : fabric_.memberships(socket)) {
        auto* m = rec.add_rooms();
        m->set_room(room);
        m->set_since(info.since);
        m->set_joined_ms(info.joined_ms);
    }
    s->record.next = std::move(next);
    flush(s, shard);
}

void SessionRecorder::erase(const SessionPtr& s, transport::Shard& shard) {
    if (s->record.lost || s->pid.empty()) {
        return;
    }
    s->record.erase = true;
    s->record.next.reset();
    flush(s, shard);
}

void SessionRecorder::flush(const SessionPtr& s, transport::Shard& shard) {
    auto& chain = s->record;
    if (chain.writing || chain.lost) {
        return;  // the write in flight continues with the newest record when it completes
    }
    if (chain.erase) {
        chain.lost = true;
        if (chain.attempted || chain.take_over) {  // one that left before its first join has none
            store_.erase(s->pid);
        }
        return;
    }
    if (!chain.next) {
        return;
    }
    bus::v1::SessionRecord rec = std::move(*chain.next);
    chain.next.reset();
    chain.writing = true;
    chain.attempted = true;
    transport::Shard* home = &shard;
    auto done = [this, s, home](natsbus::Result<std::uint64_t> r) {
        asio::post(home->ioc(), [this, s, home, r = std::move(r)] {
            auto& chain = s->record;
            chain.writing = false;
            if (r) {
                chain.revision = *r;
            } else if (r.error() == natsbus::Errc::kWrongRevision ||
                       r.error() == natsbus::Errc::kAlreadyExists) {
                chain.lost = true;  // another edge recovered this session
                return;
            } else {
                log::warn("session record not written", {{"error", r.error().message()}});
            }
            flush(s, *home);
        });
    };
    if (chain.take_over) {
        chain.take_over = false;
        store_.take_over(s->pid, rec, std::move(done));
    } else {
        store_.write(s->pid, rec, chain.revision, std::move(done));
    }
}

}  // namespace roomcast::edge
