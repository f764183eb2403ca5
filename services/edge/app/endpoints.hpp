#pragma once
// Small HTTP endpoints of the edge: health on the admin port, and development tokens on the
// client port (local stack only, off by default).

#include "transport/http_server.hpp"

#include "roomcast/jwt/jwt.hpp"

#include <chrono>
#include <functional>

namespace roomcast::edge {

// GET /livez: 200 while the process serves. GET /readyz: 200 when `ready()`, else 503.
class HealthEndpoints final : public transport::HttpHandler {
public:
    explicit HealthEndpoints(std::function<bool()> ready) : ready_(std::move(ready)) {}
    void on_request(transport::HttpRequest&& request, transport::Responder&& responder) override;
    void on_upgrade(transport::HttpRequest&& request, transport::WsUpgrade&& upgrade) override;

private:
    std::function<bool()> ready_;
};

// POST /roomcast/dev/token {"name":"Alice"} → {"token":"<JWT>","user":{"id":"u-…","name":"Alice"}}
// Signs with the HS256 secret: anyone who can reach it gets a valid identity, so it exists only
// with --dev-tokens (the local stack's demo page signs in through it).
class DevTokenEndpoint final : public transport::HttpHandler {
public:
    DevTokenEndpoint(jwt::Key key, std::chrono::seconds ttl) : key_(std::move(key)), ttl_(ttl) {}
    void on_request(transport::HttpRequest&& request, transport::Responder&& responder) override;
    void on_upgrade(transport::HttpRequest&& request, transport::WsUpgrade&& upgrade) override;

private:
    jwt::Key key_;
    std::chrono::seconds ttl_;
};

}  // namespace roomcast::edge
