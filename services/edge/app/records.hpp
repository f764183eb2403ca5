#pragma once
// Writes each socket's connection state recovery record (SessionStore, KV roomcast_sessions):
// at connect, whenever its rooms change, at disconnect (with the time, so another edge may
// recover it within the window) or deleted after a deliberate leave.
//
// A record is built when the change happens (its rooms from the room fabric at that moment),
// and written through the socket's RecordChain: one write in flight, later records coalesced
// into the newest. A new session's first record waits `delay` (--record-delay) before it is
// written, so the joins a client sends right after connecting go in the same write: one KV
// write per connect + join instead of two. Any other write (a disconnect, a recovered
// session's take-over, an erase) goes at once and ends the wait. The price: if the edge dies
// within `delay` of a connect, that session has no record and cannot be recovered (its
// client reconnects as a new session); a client that merely loses its connection is recorded
// at its disconnect as before. The first write of a recovered session takes the record over (an
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
    SessionRecorder(SessionStore& store, rooms::Fabric& fabric,
                    std::chrono::milliseconds delay = std::chrono::milliseconds(0));

    void rooms_changed(const Caller& caller) override;
    // The socket's record as it is now (recovery, disconnect): written at once.
    void write(const sio::Socket& socket, const SessionPtr& session, transport::Shard& shard);
    // A new session's first record: written after the delay, with what changed meanwhile.
    void write_first(const sio::Socket& socket, const SessionPtr& session, transport::Shard& shard);
    // The session ended deliberately: its record goes (after a write in flight).
    void erase(const SessionPtr& session, transport::Shard& shard);

private:
    // Builds the socket's record as it is now into the chain's `next`.
    void build(const sio::Socket& socket, const SessionPtr& session);
    void flush(const SessionPtr& session, transport::Shard& shard);
    static void delay_over(void* delayed);

    SessionStore& store_;
    rooms::Fabric& fabric_;
    std::chrono::milliseconds delay_;
};

}  // namespace roomcast::edge
