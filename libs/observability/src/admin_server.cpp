#include "roomcast/observability/admin_server.hpp"

namespace roomcast::observability {

using transport::plain_text_response;

void HealthEndpoints::on_request(transport::HttpRequest&& request, transport::Responder&& responder) {
    const auto path = request.path();
    if (request.method != "GET" && request.method != "HEAD") {
        responder.respond(plain_text_response(405, "method not allowed\n"));
    } else if (path == "/livez") {
        responder.respond(plain_text_response(200, "ok\n"));
    } else if (path == "/readyz") {
        responder.respond(ready_() ? plain_text_response(200, "ready\n")
                                   : plain_text_response(503, "not ready\n"));
    } else if (path == "/metrics" && metrics_ != nullptr) {
        transport::HttpResponse r;
        r.status = 200;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = metrics_->serialize();
        responder.respond(std::move(r));
    } else {
        responder.respond(plain_text_response(404, "not found\n"));
    }
}

void HealthEndpoints::on_upgrade(transport::HttpRequest&&, transport::WsUpgrade&& upgrade) {
    upgrade.reject(plain_text_response(404, "not found\n"));
}

AdminServer::AdminServer(transport::ShardPool& shards, std::function<bool()> ready,
                         const Metrics* metrics)
    : shards_(shards), health_(std::move(ready), metrics), http_(shards_, transport::HttpLimits{}) {
    http_.add_route(transport::Route{"/", &health_, 0});
}

AdminServer::AdminServer(std::function<bool()> ready, const Metrics* metrics)
    : own_shards_(std::make_unique<transport::ShardPool>(1)),
      shards_(*own_shards_),
      health_(std::move(ready), metrics),
      http_(shards_, transport::HttpLimits{}) {
    http_.add_route(transport::Route{"/", &health_, 0});
}

AdminServer::~AdminServer() { stop(); }

std::uint16_t AdminServer::start(const std::string& host, std::uint16_t port) {
    const auto bound = http_.listen(host, port);
    if (own_shards_) {
        own_shards_->start();
    }
    return bound;
}

void AdminServer::stop() {
    http_.stop_accepting();
    if (own_shards_) {
        own_shards_->stop();
    }
}

}  // namespace roomcast::observability
