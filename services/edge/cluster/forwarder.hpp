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
// WebSocket upgrades cannot be forwarded: an upgrade for a foreign session is refused and the
// client keeps polling (engine.io-client ignores a failed upgrade).

#include "engineio/engine.hpp"
#include "roomcast/transport/shard.hpp"

#include "roomcast/natsbus/natsbus.hpp"

#include <chrono>
#include <string>

namespace roomcast::edge {

class Forwarder {
public:
    Forwarder(natsbus::Connection& nats, engineio::EngineServer& engine, transport::ShardPool& shards,
              std::string edge_id, std::chrono::milliseconds request_timeout);

    // Subscribes to this edge's forwarding subjects and installs the engine's foreign handler.
    natsbus::Result<void> start();
    void stop();

private:
    void forward(std::string edge_id, transport::HttpRequest&& request, transport::HeaderList cors,
                 transport::Responder&& responder);
    void serve(natsbus::Message&& message);

    natsbus::Connection& nats_;
    engineio::EngineServer& engine_;
    transport::ShardPool& shards_;
    std::string edge_id_;
    std::chrono::milliseconds request_timeout_;
    natsbus::Subscription requests_;
    natsbus::Subscription aborts_;
};

}  // namespace roomcast::edge
