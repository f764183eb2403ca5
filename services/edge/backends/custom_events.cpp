#include "backends/custom_events.hpp"


#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/clock.hpp"
#include "roomcast/protocol/socketio.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

namespace roomcast::edge::backends {

namespace json = boost::json;

namespace {
constexpr std::string_view kOther = "other";
}  // namespace

// --- metrics ---------------------------------------------------------------------------------

void RpcMetrics::attach(observability::Metrics& metrics) {
    std::lock_guard lock(mu_);
    counter_family_ = &prometheus::BuildCounter()
                           .Name("roomcast_edge_rpc_requests_total")
                           .Help("Clients' custom events by event (the first 100 names; then "
                                 "\"other\") and result (ok, error, unavailable, rate_limited, "
                                 "too_large, published: fire-and-forget)")
                           .Register(metrics.registry());
    latency_family_ = &prometheus::BuildHistogram()
                           .Name("roomcast_edge_rpc_request_seconds")
                           .Help("Custom events answered by a backend: request to reply, by event")
                           .Register(metrics.registry());
}

RpcMetrics::Series& RpcMetrics::series(std::string_view event) {
    // Callers hold mu_.
    auto it = events_.find(std::string(event));
    if (it == events_.end()) {
        const bool own = events_.size() < kMaxEvents || event == kOther;
        const std::string label(own ? event : kOther);
        it = events_.find(label);
        if (it == events_.end()) {
            auto s = std::make_unique<Series>();
            if (counter_family_ != nullptr) {
                for (std::size_t r = 0; r < kOutcomes; ++r) {
                    s->counters[r] = &counter_family_->Add({{"event", label}, {"result", kRpcOutcomeNames[r]}});
                }
                s->latency = &latency_family_->Add({{"event", label}}, observability::Metrics::latency_buckets());
            }
            it = events_.emplace(label, std::move(s)).first;
        }
    }
    return *it->second;
}

void RpcMetrics::record(std::string_view event, RpcOutcome outcome,
                        std::optional<std::chrono::steady_clock::duration> took) {
    std::lock_guard lock(mu_);
    auto& s = series(event);
    const auto r = static_cast<std::size_t>(outcome);
    s.counts[r].fetch_add(1, std::memory_order_relaxed);
    if (s.counters[r] != nullptr) {
        s.counters[r]->Increment();
    }
    if (took && s.latency != nullptr) {
        s.latency->Observe(std::chrono::duration<double>(*took).count());
    }
}

std::uint64_t RpcMetrics::value(std::string_view event, RpcOutcome outcome) const {
    std::lock_guard lock(mu_);
    const auto it = events_.find(std::string(event));
    return it == events_.end() ? 0
                               : it->second->counts[static_cast<std::size_t>(outcome)].load(
                                     std::memory_order_relaxed);
}

// --- codec -----------------------------------------------------------------------------------

std::optional<std::string> encode_custom_event(const v1::Client& client, std::string_view event,
                                               const sio::Args& args, std::int64_t deadline_ms,
                                               std::uint64_t max_bytes) {
    v1::CustomEvent e;
    *e.mutable_client() = client;
    e.set_event(std::string(event));
    e.set_args_json(json::serialize(args.values()));
    std::uint64_t bytes = e.args_json().size();
    for (const auto& a : args.attachments()) {
        bytes += a.size();
        e.add_attachments(a);
    }
    if (bytes > max_bytes) {
        return std::nullopt;
    }
    e.set_deadline_ms(deadline_ms);
    return e.SerializeAsString();
}

sio::Args error_ack(std::string_view code, std::string_view message) {
    json::object error;
    error["code"] = code;
    error["message"] = message;
    json::object out;
    out["ok"] = false;
    out["error"] = std::move(error);
    return sio::Args().add(std::move(out));
}

DecodedReply decode_reply(const natsbus::Result<std::string>& reply, const RpcOptions& options) {
    DecodedReply d;
    if (!reply) {
        const auto e = reply.error();
        d.ack = error_ack("unavailable", e == natsbus::Errc::kTimeout        ? "the backend did not answer in time"
                                         : e == natsbus::Errc::kNoResponders ? "no backend handles this event"
                                                                             : "the backend could not be reached");
        return d;
    }
    auto bad = [&d](std::string_view why) {
        d.ack = error_ack("unavailable", why);
        d.outcome = RpcOutcome::kUnavailable;
        d.port_result = Result::kBadReply;
        return d;
    };
    if (reply->size() > options.max_bytes + 1024) {  // room for the envelope around the caps
        return bad("the backend's reply is too large");
    }
    v1::CustomEventReply r;
    if (!r.ParseFromString(*reply)) {
        return bad("the backend's reply is not a CustomEventReply");
    }
    if (!r.ok()) {
        const std::string& code = r.error().code();
        d.ack = error_ack(code.empty() ? std::string_view("internal") : std::string_view(code), r.error().message());
        d.outcome = RpcOutcome::kError;
        d.port_result = Result::kError;
        return d;
    }
    std::uint64_t bytes = r.result_json().size();
    for (const auto& a : r.attachments()) {
        bytes += a.size();
    }
    if (bytes > options.max_bytes || static_cast<std::size_t>(r.attachments_size()) > options.max_attachments) {
        return bad("the backend's reply is too large");
    }
    json::value result;  // "" is null
    if (!r.result_json().empty()) {
        boost::system::error_code ec;
        result = json::parse(r.result_json(), ec);
        if (ec) {
            return bad("the backend's result is not JSON");
        }
    }
    if (!protocol::sio::placeholders_valid(result, static_cast<std::uint32_t>(r.attachments_size()))) {
        return bad("the backend's result names a missing attachment");
    }
    json::object out;
    out["ok"] = true;
    out["result"] = std::move(result);
    std::vector<std::string> attachments(r.attachments().begin(), r.attachments().end());
    d.ack = sio::Args(json::array{std::move(out)}, std::move(attachments));
    d.outcome = RpcOutcome::kOk;
    d.port_result = Result::kOk;
    return d;
}

// --- calls -----------------------------------------------------------------------------------

void CustomEvents::on_event(const sio::SocketPtr& socket, v1::Client client, std::string_view event,
                            sio::Args&& args, sio::Ack&& ack, std::shared_ptr<std::uint32_t> in_flight) {
    Answer answer;
    if (ack) {
        // The Ack holds the socket weakly and does nothing once it left.
        answer = [ack = std::make_shared<sio::Ack>(std::move(ack))](const sio::Args& reply) { (*ack)(reply); };
    }
    transport::Shard* shard = &socket->shard();
    call(std::move(client), event, args, std::move(answer), std::move(in_flight),
         [shard](std::function<void()> fn) { boost::asio::post(shard->ioc(), std::move(fn)); });
}

void CustomEvents::call(v1::Client client, std::string_view event, const sio::Args& args, Answer answer,
                        std::shared_ptr<std::uint32_t> in_flight, Post post) {
    const std::string subject = contract::rpc_subject(client.namespace_(), event);
    if (!answer) {
        auto payload = encode_custom_event(client, event, args, 0, options_.max_bytes);
        if (!payload) {
            metrics_.record(event, RpcOutcome::kTooLarge);
            return;
        }
        metrics_.record(event, port_.publish(Kind::kRpc, subject, *payload) ? RpcOutcome::kPublished
                                                                            : RpcOutcome::kUnavailable);
        return;
    }
    if (*in_flight >= options_.max_in_flight) {
        metrics_.record(event, RpcOutcome::kRateLimited);
        answer(error_ack("rate_limited", "too many requests from this socket are waiting for a backend"));
        return;
    }
    auto payload = encode_custom_event(client, event, args,
                                       core::unix_ms() + options_.timeout.count(), options_.max_bytes);
    if (!payload) {
        metrics_.record(event, RpcOutcome::kTooLarge);
        answer(error_ack("payload_too_large", "the event's arguments are too large"));
        return;
    }
    ++*in_flight;
    const auto sent = std::chrono::steady_clock::now();
    port_.request(Kind::kRpc, subject, std::move(*payload), options_.timeout,
                  [this, event = std::string(event), answer = std::move(answer), in_flight = std::move(in_flight),
                   post = std::move(post), sent](natsbus::Result<std::string> reply) mutable {
                      // NATS thread: decode here (no socket state), answer on the shard.
                      auto decoded = std::make_shared<DecodedReply>(decode_reply(reply, options_));
                      if (reply) {
                          port_.answered(Kind::kRpc, decoded->port_result);
                      }
                      metrics_.record(event, decoded->outcome,
                                      reply ? std::optional(std::chrono::steady_clock::now() - sent)
                                            : std::nullopt);
                      post([decoded, answer = std::move(answer), in_flight = std::move(in_flight)] {
                          --*in_flight;
                          answer(decoded->ack);
                      });
                  });
}

}  // namespace roomcast::edge::backends
