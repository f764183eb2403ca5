#pragma once
// Development tokens on the client port (local stack only, off by default).

#include "roomcast/transport/http_server.hpp"

#include "roomcast/jwt/jwt.hpp"

#include <chrono>
#include <string>

namespace roomcast::edge {

// POST /roomcast/dev/token {"name":"Alice"} → {"token":"<JWT>","user":{"id":"u-…","name":"Alice"}}
// Signs with the HS256 secret: anyone who can reach it gets a valid identity, so it exists only
// with --dev-tokens (the local stack's demo page signs in through it).
class DevTokenEndpoint final : public transport::HttpHandler {
public:
    // `issuer` / `audience` (when set) go into the tokens, so that an edge that requires them
    // (--jwt-issuer, --jwt-audience) accepts its own development tokens.
    DevTokenEndpoint(jwt::Key key, std::chrono::seconds ttl, std::string issuer = {}, std::string audience = {})
        : key_(std::move(key)), ttl_(ttl), issuer_(std::move(issuer)), audience_(std::move(audience)) {}
    void on_request(transport::HttpRequest&& request, transport::Responder&& responder) override;
    void on_upgrade(transport::HttpRequest&& request, transport::WsUpgrade&& upgrade) override;

private:
    jwt::Key key_;
    std::chrono::seconds ttl_;
    std::string issuer_;
    std::string audience_;
};

}  // namespace roomcast::edge
