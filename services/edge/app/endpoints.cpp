#include "app/endpoints.hpp"

#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/utf8.hpp"

#include <boost/json.hpp>

namespace roomcast::edge {

namespace json = boost::json;

using transport::plain_text_response;

void DevTokenEndpoint::on_request(transport::HttpRequest&& request, transport::Responder&& responder) {
    if (request.method != "POST") {
        responder.respond(plain_text_response(405, "POST a JSON object {\"name\": \"...\"}\n"));
        return;
    }
    auto body = protocol::parse_json(request.body, protocol::JsonLimits{4});
    const json::value* name = body && body->is_object() ? body->as_object().if_contains("name") : nullptr;
    if (name == nullptr || !name->is_string() || name->get_string().empty() ||
        name->get_string().size() > 64) {
        responder.respond(plain_text_response(400, "name must be a string of 1 to 64 bytes\n"));
        return;
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string user_id = "u-" + transport::Shard::current()->random_id(10);
    json::object claims;
    claims["sub"] = user_id;
    claims["name"] = name->get_string();
    claims["iat"] = now;
    claims["exp"] = now + ttl_.count();
    if (!issuer_.empty()) {
        claims["iss"] = issuer_;
    }
    if (!audience_.empty()) {
        claims["aud"] = audience_;
    }
    auto token = jwt::sign(claims, key_);
    if (!token) {
        responder.respond(plain_text_response(500, "cannot sign\n"));
        return;
    }
    json::object out;
    out["token"] = *token;
    json::object user;
    user["id"] = user_id;
    user["name"] = name->get_string();
    out["user"] = std::move(user);
    transport::HttpResponse r;
    r.status = 200;
    r.content_type = "application/json";
    r.headers.emplace_back("Cache-Control", "no-store");
    r.body = protocol::to_json(out);
    responder.respond(std::move(r));
}

void DevTokenEndpoint::on_upgrade(transport::HttpRequest&&, transport::WsUpgrade&& upgrade) {
    upgrade.reject(plain_text_response(404, "not found\n"));
}

}  // namespace roomcast::edge
