#include "backends/hooks.hpp"

#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/clock.hpp"
#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/socketio.hpp"

namespace roomcast::edge::backends {

namespace {

constexpr std::string_view kForbidden = "forbidden";
constexpr std::string_view kUnavailable = "unavailable";

// At most `cap` bytes of `s`, cut at a UTF-8 character boundary (protobuf strings are valid
// UTF-8, and the ack must stay so).
std::string capped(std::string_view s, std::size_t cap) {
    if (s.size() <= cap) {
        return std::string(s);
    }
    std::size_t n = cap;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
        --n;
    }
    return std::string(s.substr(0, n));
}

Refusal refusal_of(const pb::Error& e) {
    return Refusal{e.code().empty() ? std::string(kForbidden) : capped(e.code(), kMaxRefusalCodeBytes),
                   capped(e.message(), kMaxRefusalMessageBytes)};
}

// What the fail mode makes of a request that got no usable answer.
std::optional<Refusal> failed(FailMode fail, std::string_view hook) {
    if (fail == FailMode::kOpen) {
        return std::nullopt;
    }
    return Refusal{std::string(kUnavailable),
                   "the application backend's " + std::string(hook) + " hook did not answer"};
}

Result transport_outcome(const boost::system::error_code& e) {
    return e == natsbus::Errc::kTimeout        ? Result::kTimeout
           : e == natsbus::Errc::kNoResponders ? Result::kNoResponders
                                               : Result::kFailed;
}

// A replacement is stored and delivered as if the client had sent it, so it is held to what
// the edge accepts from a client: one JSON value, placeholders naming existing attachments,
// the attachment count and the publish byte cap.
std::optional<Replacement> valid_replacement(pb::PublishHookReply& reply, const HookOptions& limits) {
    std::string data = reply.data_json().empty() ? std::string("null") : std::move(*reply.mutable_data_json());
    if (static_cast<std::size_t>(reply.attachments_size()) > limits.max_attachments) {
        return std::nullopt;
    }
    std::size_t bytes = data.size();
    for (const auto& a : reply.attachments()) {
        bytes += a.size();
    }
    if (bytes > limits.max_publish_bytes) {
        return std::nullopt;
    }
    auto value = protocol::parse_json(data);
    if (!value || !protocol::sio::placeholders_valid(*value, static_cast<std::uint32_t>(reply.attachments_size()))) {
        return std::nullopt;
    }
    Replacement r;
    r.data_json = std::move(data);
    r.attachments.reserve(static_cast<std::size_t>(reply.attachments_size()));
    for (auto& a : *reply.mutable_attachments()) {
        r.attachments.push_back(std::move(a));
    }
    return r;
}

}  // namespace

std::optional<FailMode> parse_fail_mode(std::string_view text) noexcept {
    if (text == "open") {
        return FailMode::kOpen;
    }
    if (text == "closed") {
        return FailMode::kClosed;
    }
    return std::nullopt;
}

bool matches_prefix(const std::vector<std::string>& prefixes, std::string_view room) noexcept {
    for (const auto& p : prefixes) {
        if (p == "*" || room.starts_with(p)) {
            return true;
        }
    }
    return false;
}

JoinVerdict decide_join(const natsbus::Result<std::string>& reply, FailMode fail) {
    if (!reply) {
        return JoinVerdict{failed(fail, "join"), transport_outcome(reply.error())};
    }
    pb::JoinHookReply r;
    if (!r.ParseFromString(*reply)) {
        return JoinVerdict{failed(fail, "join"), Result::kBadReply};
    }
    if (!r.allow()) {
        return JoinVerdict{refusal_of(r.error()), Result::kError};
    }
    return JoinVerdict{std::nullopt, Result::kOk};
}

PublishVerdict decide_publish(const natsbus::Result<std::string>& reply, FailMode fail,
                              const HookOptions& limits) {
    if (!reply) {
        return PublishVerdict{failed(fail, "publish"), std::nullopt, transport_outcome(reply.error())};
    }
    pb::PublishHookReply r;
    if (!r.ParseFromString(*reply)) {
        return PublishVerdict{failed(fail, "publish"), std::nullopt, Result::kBadReply};
    }
    if (!r.allow()) {
        return PublishVerdict{refusal_of(r.error()), std::nullopt, Result::kError};
    }
    if (!r.replace()) {
        return PublishVerdict{std::nullopt, std::nullopt, Result::kOk};
    }
    auto replacement = valid_replacement(r, limits);
    if (!replacement) {
        return PublishVerdict{failed(fail, "publish"), std::nullopt, Result::kBadReply};
    }
    return PublishVerdict{std::nullopt, std::move(replacement), Result::kOk};
}

Hooks::Hooks(BackendPort& port, HookOptions options, std::string edge_id)
    : port_(port), options_(std::move(options)), edge_id_(std::move(edge_id)) {}

void Hooks::join(pb::Client client, std::string room, std::function<void(JoinVerdict)> done) {
    pb::JoinHook req;
    client.set_edge_id(edge_id_);
    *req.mutable_client() = std::move(client);
    req.set_room(std::move(room));
    req.set_deadline_ms(core::unix_ms() + options_.timeout.count());
    port_.request(Kind::kJoin, std::string(contract::kHookJoinSubject), req.SerializeAsString(),
                  options_.timeout, [this, done = std::move(done)](natsbus::Result<std::string> reply) {
                      auto verdict = decide_join(reply, options_.join_fail);
                      if (reply) {
                          port_.answered(Kind::kJoin, verdict.outcome);
                      }
                      done(std::move(verdict));
                  });
}

void Hooks::publish(pb::Client client, std::string room, std::string event, std::string data_json,
                    std::vector<std::string> attachments, std::function<void(PublishVerdict)> done) {
    pb::PublishHook req;
    client.set_edge_id(edge_id_);
    *req.mutable_client() = std::move(client);
    req.set_room(std::move(room));
    req.set_event(std::move(event));
    req.set_data_json(std::move(data_json));
    for (auto& a : attachments) {
        req.add_attachments(std::move(a));
    }
    req.set_deadline_ms(core::unix_ms() + options_.timeout.count());
    port_.request(Kind::kPublish, std::string(contract::kHookPublishSubject), req.SerializeAsString(),
                  options_.timeout, [this, done = std::move(done)](natsbus::Result<std::string> reply) {
                      auto verdict = decide_publish(reply, options_.publish_fail, options_);
                      if (reply) {
                          port_.answered(Kind::kPublish, verdict.outcome);
                      }
                      done(std::move(verdict));
                  });
}

}  // namespace roomcast::edge::backends
