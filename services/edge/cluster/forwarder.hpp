#pragma once
// Sticky sessions as an optimisation, not a requirement: an Engine.IO long-polling request
// whose session lives on another edge (the session id names it) is forwarded to that edge over
// NATS request/reply (roomcast.edge.<edge id>.http, contract::edge_http_subject) and the answer
// relayed back. This is what keeps polling clients working when the load balancer's affinity
// cookie is lost.
//
// A forwarded long-poll GET may wait up to pingInterval for data, so the request deadline is
// pingInterval + pingTimeout + a margin. When the client of a forwarded GET goes away, the
// owner is told (roomcast.edge.<edge id>.http.abort) so the session ends as it would locally.
//
// An owner can vanish after it received a request (SIGKILL races the NATS server noticing, so
// the request is delivered to a subscription about to go): no reply ever comes. While requests
// wait on an owner, it is probed every `probe_interval` (ForwardedRequest.probe); when a probe
// finds no responder, every request sent to that owner before the probe ends at once with
// "session unknown", as a request that itself found no responder does, and the client reconnects
// (and recovers) instead of hanging until the deadline. A hung but subscribed owner is not
// failed early: the client's own ping timeout is the same deadline.
// WebSocket upgrades cannot be forwarded: an upgrade for a foreign session is refused and the
// client keeps polling (engine.io-client ignores a failed upgrade).

#include "engineio/engine.hpp"
#include "roomcast/transport/shard.hpp"

#include "roomcast/natsbus/natsbus.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace roomcast::edge {

class Forwarder {
public:
    Forwarder(natsbus::Connection& nats, engineio::EngineServer& engine, transport::ShardPool& shards,
              std::string edge_id, std::chrono::milliseconds request_timeout,
              std::chrono::milliseconds probe_interval = std::chrono::seconds(1));
    ~Forwarder();

    // Subscribes to this edge's forwarding subjects and installs the engine's foreign handler.
    natsbus::Result<void> start();
    void stop();

private:
    void forward(std::string edge_id, transport::HttpRequest&& request, transport::HeaderList cors,
                 transport::Responder&& responder);
    void serve(natsbus::Message&& message);

    class Owners;  // requests waiting per owner edge, and their probes

    natsbus::Connection& nats_;
    engineio::EngineServer& engine_;
    transport::ShardPool& shards_;
    std::string edge_id_;
    std::chrono::milliseconds request_timeout_;
    natsbus::Subscription requests_;
    natsbus::Subscription aborts_;
    std::shared_ptr<Owners> owners_;
};

}  // namespace roomcast::edge
