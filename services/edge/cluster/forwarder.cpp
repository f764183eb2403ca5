#include "cluster/forwarder.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/log.hpp"

namespace roomcast::edge {

namespace log = core::log;

namespace {

// Answers a forwarded request with a NATS reply instead of an HTTP response.
class NatsReplySink final : public transport::ResponseSink {
public:
    NatsReplySink(natsbus::Connection& nats, transport::Shard& shard, std::string reply)
        : nats_(nats), shard_(shard), reply_(std::move(reply)) {}

    transport::Shard& shard() noexcept override { return shard_; }

    void deliver(std::uint64_t /*seq*/, transport::HttpResponse&& r) override {
        bus::v1::ForwardedResponse out;
        out.set_status(r.status);
        out.set_content_type(r.content_type);
        for (auto& [name, value] : r.headers) {
            auto* h = out.add_headers();
            h->set_name(name);
            h->set_value(value);
        }
        out.set_body(std::move(r.body));
        if (auto sent = nats_.publish(reply_, out.SerializeAsString()); !sent) {
            log::debug("forwarded reply not sent", {{"error", sent.error().message()}});
        }
    }

    // Aborts arrive as their own message (ForwardedAbort), see Forwarder::start.
    void set_abort_callback(std::uint64_t, std::function<void()>) override {}

private:
    natsbus::Connection& nats_;
    transport::Shard& shard_;
    std::string reply_;
};

transport::HttpResponse error_with(transport::HttpResponse r, const transport::HeaderList& cors) {
    r.headers.insert(r.headers.end(), cors.begin(), cors.end());
    return r;
}

}  // namespace

Forwarder::Forwarder(natsbus::Connection& nats, engineio::EngineServer& engine,
                     transport::ShardPool& shards, std::string edge_id,
                     std::chrono::milliseconds request_timeout)
    : nats_(nats),
      engine_(engine),
      shards_(shards),
      edge_id_(std::move(edge_id)),
      request_timeout_(request_timeout) {}

natsbus::Result<void> Forwarder::start() {
    auto requests = nats_.subscribe(contract::edge_http_subject(edge_id_),
                                    [this](natsbus::Message&& m) { serve(std::move(m)); });
    if (!requests) {
        return requests.error();
    }
    requests_ = std::move(*requests);
    auto aborts =
        nats_.subscribe(contract::edge_http_abort_subject(edge_id_), [this](natsbus::Message&& m) {
            bus::v1::ForwardedAbort abort;
            if (abort.ParseFromString(m.data)) {
                engine_.abort_pending_poll(abort.sid());
            }
        });
    if (!aborts) {
        return aborts.error();
    }
    aborts_ = std::move(*aborts);
    engine_.set_foreign_handler([this](std::string edge_id, transport::HttpRequest&& request,
                                       transport::HeaderList cors, transport::Responder&& responder) {
        forward(std::move(edge_id), std::move(request), std::move(cors), std::move(responder));
    });
    return {};
}

void Forwarder::stop() {
    requests_.reset();
    aborts_.reset();
}

void Forwarder::serve(natsbus::Message&& m) {
    // NATS thread: decode and hand to the engine, which posts to the owning shard.
    bus::v1::ForwardedRequest in;
    if (m.reply.empty() || !in.ParseFromString(m.data)) {
        return;
    }
    transport::HttpRequest request;
    request.method = in.method();
    request.target = in.target();
    for (const auto& h : in.headers()) {
        request.headers.emplace_back(h.name(), h.value());
    }
    request.body = in.body();
    request.remote_address = in.remote_address();
    auto sink = std::make_shared<NatsReplySink>(nats_, shards_.shard(0), m.reply);
    engine_.handle_forwarded(std::move(request), transport::Responder(std::move(sink), 1));
}

void Forwarder::forward(std::string edge_id, transport::HttpRequest&& request,
                        transport::HeaderList cors, transport::Responder&& responder) {
    // The node id comes from a client-supplied sid: it must never shape the subject.
    if (!contract::valid_edge_id(edge_id)) {
        responder.respond(error_with(engineio::error_response(1), cors));
        return;
    }
    auto sid = request.query_param("sid").value_or("");
    bus::v1::ForwardedRequest out;
    out.set_method(request.method);
    out.set_target(request.target);
    for (const auto& [name, value] : request.headers) {
        // Only what Engine.IO reads; cookies and credentials stay at the edge that got them.
        if (name == "content-type" || name == "origin" || name == "user-agent" ||
            name == "x-forwarded-for") {
            auto* h = out.add_headers();
            h->set_name(name);
            h->set_value(value);
        }
    }
    out.set_body(std::move(request.body));
    out.set_remote_address(request.remote_address);
    auto shared = std::make_shared<transport::Responder>(std::move(responder));
    transport::Shard& here = *transport::Shard::current();
    shared->on_abort(here, [this, edge_id, sid] {
        bus::v1::ForwardedAbort abort;
        abort.set_sid(sid);
        (void)nats_.publish(contract::edge_http_abort_subject(edge_id), abort.SerializeAsString());
    });
    nats_.request_async(
        contract::edge_http_subject(edge_id), out.SerializeAsString(), request_timeout_,
        [shared, cors = std::move(cors)](natsbus::Result<natsbus::Message> reply) {
            if (!reply) {
                // No responder: the owning edge is gone, and with it the session; the client
                // reconnects (and recovers). A timeout is an overloaded or partitioned owner.
                transport::HttpResponse r = reply.error() == natsbus::Errc::kTimeout
                                                ? transport::HttpResponse{504, "text/plain", {}, "owner edge timed out", false}
                                                : engineio::error_response(1);
                shared->respond(error_with(std::move(r), cors));
                return;
            }
            bus::v1::ForwardedResponse in;
            if (!in.ParseFromString(reply->data)) {
                shared->respond(error_with(transport::HttpResponse{502, "text/plain", {}, "bad reply", false}, cors));
                return;
            }
            transport::HttpResponse r;
            r.status = in.status();
            r.content_type = in.content_type();
            for (const auto& h : in.headers()) {
                r.headers.emplace_back(h.name(), h.value());
            }
            r.body = in.body();
            shared->respond(std::move(r));
        });
}

}  // namespace roomcast::edge
