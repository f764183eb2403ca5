#pragma once
// Writes each socket's connection state recovery record (SessionStore, KV roomcast_sessions):
// at connect, whenever its rooms change, at disconnect (with the time, so another edge may
// recover it within the window) or deleted after a deliberate leave.
//
// A record is built when the change happens (its rooms from the room fabric at that moment),
// and written through the socket's RecordChain: one write in flight, later records coalesced
// into the newest. A new session's first record is written at its first join (or its disconnect,
// whichever comes first), not at connect: a connect + join costs one KV write, not two, and a
// session that never joins writes nothing until it is lost. Nothing recoverable waits: until
// its first join a session has no room and so no event to miss; if its edge dies then, the
// client reconnects as a new session (a new socket id, `recovered` false) and loses nothing; a
// client that loses its connection is recorded at its disconnect as always. The first write of a recovered session takes the record over (an
// unconditional put); every other write is a compare-and-set on the revision this edge wrote
// last, so once another edge has recovered the session this edge's late writes fail and it
// stops writing (RecordChain::lost).
//
// Thread-safety: call on the socket's shard; completions are posted back to it.

#include "app/ports.hpp"
#include "app/sessions.hpp"

namespace roomcast::edge {

class SessionRecorder final : public RecordsPort {
public:
    SessionRecorder(SessionStore& store, rooms::Fabric& fabric);

    void rooms_changed(const Caller& caller) override;
    // The socket's record as it is now (a join or leave, a recovery's take-over, a
    // disconnect): written at once.
    void write(const sio::Socket& socket, const SessionPtr& session, transport::Shard& shard);
    // The session ended deliberately: its record goes (after a write in flight).
    void erase(const SessionPtr& session, transport::Shard& shard);

private:
    void flush(const SessionPtr& session, transport::Shard& shard);

    SessionStore& store_;
    rooms::Fabric& fabric_;
};

}  // namespace roomcast::edge
