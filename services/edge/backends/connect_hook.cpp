#include "backends/connect_hook.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/clock.hpp"

#include <boost/json.hpp>

namespace roomcast::edge::backends {

namespace json = boost::json;

std::string encode_connect_hook(std::string_view nsp, const sio::Handshake& hs, const v1::Client* client,
                                std::int64_t deadline_ms) {
    v1::ConnectHook h;
    h.set_namespace_(std::string(nsp));
    h.set_auth_json(hs.auth.is_object() ? json::serialize(hs.auth) : std::string("{}"));
    for (const auto& [name, value] : hs.headers) {
        auto* header = h.add_headers();
        header->set_name(name);
        header->set_value(value);
    }
    h.set_remote_address(hs.remote_address);
    if (client != nullptr) {
        *h.mutable_client() = *client;
    }
    h.set_deadline_ms(deadline_ms);
    return h.SerializeAsString();
}

ConnectVerdict decode_connect_reply(const natsbus::Result<std::string>& reply, bool needs_user,
                                    Result& port_result) {
    ConnectVerdict v;
    v.code = "unavailable";
    if (!reply) {
        v.message = reply.error() == natsbus::Errc::kNoResponders ? "no backend answers the connect hook"
                                                                    : "the connect hook did not answer in time";
        return v;
    }
    port_result = Result::kBadReply;
    v.message = "the connect hook's reply is invalid";
    v1::ConnectHookReply r;
    if (!r.ParseFromString(*reply)) {
        return v;
    }
    if (!r.allow()) {
        v.kind = ConnectVerdict::Kind::kDeny;
        v.code = r.error().code().empty() ? "forbidden" : r.error().code();
        v.message = r.error().message().empty() ? "the application refused this connection" : r.error().message();
        port_result = Result::kError;
        return v;
    }
    if ((needs_user || !r.user_id().empty()) && !contract::valid_user_id(r.user_id())) {
        return v;
    }
    if (r.user_name().size() > contract::kMaxUserNameBytes) {
        return v;
    }
    if (!r.claims_json().empty()) {
        boost::system::error_code ec;
        auto claims = json::parse(r.claims_json(), ec);
        if (ec || !claims.is_object() || r.claims_json().size() > kMaxHookClaimsBytes) {
            return v;
        }
    }
    v.kind = ConnectVerdict::Kind::kAllow;
    v.code.clear();
    v.message.clear();
    v.user_id = r.user_id();
    v.user_name = r.user_name();
    v.claims_json = r.claims_json();
    port_result = Result::kOk;
    return v;
}

void ConnectHook::ask(std::string_view nsp, const sio::Handshake& hs, const v1::Client* client,
                      std::function<void(ConnectVerdict)> done) {
    const bool needs_user = client == nullptr || client->user_id().empty();
    port_.request(Kind::kConnect, std::string(contract::kHookConnectSubject),
                  encode_connect_hook(nsp, hs, client, core::unix_ms() + options_.timeout.count()),
                  options_.timeout,
                  [this, needs_user, done = std::move(done)](natsbus::Result<std::string> reply) {
                      Result result = Result::kOk;
                      auto verdict = decode_connect_reply(reply, needs_user, result);
                      if (reply) {
                          port_.answered(Kind::kConnect, result);
                      }
                      done(std::move(verdict));
                  });
}

}  // namespace roomcast::edge::backends
