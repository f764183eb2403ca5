#pragma once
// The admin HTTP port every Roomcast service has (never the client port): GET /livez (200
// while the process serves), GET /readyz (200 when the service can do its work, 503 while it
// cannot or drains) and GET /metrics (Prometheus text format). Kubernetes probes, Prometheus
// and scripts/up use them.

#include "roomcast/observability/metrics.hpp"
#include "roomcast/transport/http_server.hpp"
#include "roomcast/transport/shard.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace roomcast::observability {

// Answers /livez, /readyz and (with metrics) /metrics. `ready` runs on an I/O thread for every
// /readyz request: it must be cheap and thread-safe (an atomic load).
class HealthEndpoints final : public transport::HttpHandler {
public:
    explicit HealthEndpoints(std::function<bool()> ready, const Metrics* metrics = nullptr)
        : ready_(std::move(ready)), metrics_(metrics) {}
    void on_request(transport::HttpRequest&& request, transport::Responder&& responder) override;
    void on_upgrade(transport::HttpRequest&& request, transport::WsUpgrade&& upgrade) override;

private:
    std::function<bool()> ready_;
    const Metrics* metrics_;
};

class AdminServer {
public:
    // On the caller's shards (the edge), or on one I/O thread of its own (gRPC services).
    AdminServer(transport::ShardPool& shards, std::function<bool()> ready,
                const Metrics* metrics = nullptr);
    explicit AdminServer(std::function<bool()> ready, const Metrics* metrics = nullptr);
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    // Listens and, with its own thread, starts serving. Returns the bound port; throws
    // std::runtime_error when the address cannot be bound.
    std::uint16_t start(const std::string& host, std::uint16_t port);
    void stop();

private:
    std::unique_ptr<transport::ShardPool> own_shards_;
    transport::ShardPool& shards_;
    HealthEndpoints health_;
    transport::HttpServer http_;
};

}  // namespace roomcast::observability
