#include "cluster/forwarder.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/log.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

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

// One forwarded request: answered once, by whichever comes first (the owner's reply, the
// deadline, or a probe that finds the owner gone), from whichever NATS thread that is.
class PendingCall {
public:
    PendingCall(transport::Responder&& responder, transport::HeaderList cors)
        : responder_(std::move(responder)), cors_(std::move(cors)) {}

    // The owner's answer, relayed as it is.
    void answer(transport::HttpResponse&& r) {
        const std::scoped_lock lock(mutex_);
        responder_.respond(std::move(r));
    }
    // An answer of ours: the CORS headers the edge would have sent go with it.
    void fail(transport::HttpResponse&& r) {
        const std::scoped_lock lock(mutex_);
        if (responder_) {
            responder_.respond(error_with(std::move(r), cors_));
        }
    }

private:
    std::mutex mutex_;
    transport::Responder responder_;  // empty once answered (Responder::respond moves it out)
    transport::HeaderList cors_;
};

}  // namespace

// Requests waiting per owner edge, and one probe per owner per interval while any waits. Runs
// its timer on shard 0; the NATS callbacks and the timer hold it weakly, so the Forwarder can go
// (after the shards and the NATS connection have stopped) whatever is still queued.
class Forwarder::Owners : public std::enable_shared_from_this<Forwarder::Owners> {
public:
    Owners(natsbus::Connection& nats, transport::Shard& shard, std::chrono::milliseconds interval)
        : nats_(nats), timer_(shard.ioc()), interval_(interval) {}

    std::uint64_t add(const std::string& owner, const std::shared_ptr<PendingCall>& call) {
        const std::scoped_lock lock(mutex_);
        const auto id = ++last_id_;
        owners_[owner].calls.emplace(id, call);
        return id;
    }

    void remove(const std::string& owner, std::uint64_t id) {
        const std::scoped_lock lock(mutex_);
        const auto it = owners_.find(owner);
        if (it == owners_.end()) {
            return;
        }
        it->second.calls.erase(id);
        if (it->second.calls.empty() && !it->second.probing) {
            owners_.erase(it);
        }
    }

    // Any thread: arms the timer on its shard.
    void start() {
        boost::asio::post(timer_.get_executor(), [weak = weak_from_this()] {
            if (auto self = weak.lock()) {
                self->arm();
            }
        });
    }
    // The timer stops at its next tick; nothing is probed from now on.
    void stop() { stopped_.store(true, std::memory_order_relaxed); }

private:
    struct Owner {
        std::map<std::uint64_t, std::weak_ptr<PendingCall>> calls;  // by id: sent in id order
        bool probing = false;
    };

    void arm() {
        if (stopped_.load(std::memory_order_relaxed)) {
            return;
        }
        timer_.expires_after(interval_);
        timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
            if (auto self = weak.lock(); self && !ec) {
                self->tick();
                self->arm();
            }
        });
    }

    void tick() {
        std::vector<std::pair<std::string, std::uint64_t>> probes;  // owner, last id before it
        {
            const std::scoped_lock lock(mutex_);
            for (auto& [owner, state] : owners_) {
                if (!state.calls.empty() && !state.probing) {
                    state.probing = true;
                    probes.emplace_back(owner, state.calls.rbegin()->first);
                }
            }
        }
        bus::v1::ForwardedRequest probe;
        probe.set_probe(true);
        const auto payload = probe.SerializeAsString();
        for (auto& [owner, upto] : probes) {
            // NATS keeps one connection's publishes in order, so every request up to `upto`
            // reached the server before this probe did.
            nats_.request_async(contract::edge_http_subject(owner), payload, interval_,
                                [weak = weak_from_this(), owner, upto](natsbus::Result<natsbus::Message> r) {
                                    if (auto self = weak.lock()) {
                                        self->probed(owner, upto, !r && r.error() == natsbus::Errc::kNoResponders);
                                    }
                                });
        }
    }

    void probed(const std::string& owner, std::uint64_t upto, bool owner_gone) {
        std::vector<std::shared_ptr<PendingCall>> orphans;
        {
            const std::scoped_lock lock(mutex_);
            const auto it = owners_.find(owner);
            if (it == owners_.end()) {
                return;
            }
            it->second.probing = false;
            if (owner_gone) {
                auto& calls = it->second.calls;
                for (auto c = calls.begin(); c != calls.end() && c->first <= upto;) {
                    if (auto call = c->second.lock()) {
                        orphans.push_back(std::move(call));
                    }
                    c = calls.erase(c);
                }
            }
            if (it->second.calls.empty()) {
                owners_.erase(it);
            }
        }
        if (!orphans.empty()) {
            log::info("owner edge gone; its forwarded requests end now",
                      {{"owner", owner}, {"requests", orphans.size()}});
        }
        for (auto& call : orphans) {
            call->fail(engineio::error_response(1));
        }
    }

    natsbus::Connection& nats_;
    boost::asio::steady_timer timer_;  // shard 0's thread only
    std::chrono::milliseconds interval_;
    std::atomic<bool> stopped_{false};
    std::mutex mutex_;
    std::unordered_map<std::string, Owner> owners_;
    std::uint64_t last_id_ = 0;
};

Forwarder::Forwarder(natsbus::Connection& nats, engineio::EngineServer& engine,
                     transport::ShardPool& shards, std::string edge_id,
                     std::chrono::milliseconds request_timeout,
                     std::chrono::milliseconds probe_interval)
    : nats_(nats),
      engine_(engine),
      shards_(shards),
      edge_id_(std::move(edge_id)),
      request_timeout_(request_timeout),
      owners_(std::make_shared<Owners>(nats, shards.shard(0), probe_interval)) {}

Forwarder::~Forwarder() = default;

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
    owners_->start();
    engine_.set_foreign_handler([this](std::string edge_id, transport::HttpRequest&& request,
                                       transport::HeaderList cors, transport::Responder&& responder) {
        forward(std::move(edge_id), std::move(request), std::move(cors), std::move(responder));
    });
    return {};
}

void Forwarder::stop() {
    owners_->stop();
    requests_.reset();
    aborts_.reset();
}

void Forwarder::serve(natsbus::Message&& m) {
    // NATS thread: decode and hand to the engine, which posts to the owning shard.
    bus::v1::ForwardedRequest in;
    if (m.reply.empty() || !in.ParseFromString(m.data)) {
        return;
    }
    if (in.probe()) {
        (void)nats_.publish(m.reply, bus::v1::ForwardedResponse{}.SerializeAsString());
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
    transport::Shard& here = *transport::Shard::current();
    responder.on_abort(here, [this, edge_id, sid] {
        bus::v1::ForwardedAbort abort;
        abort.set_sid(sid);
        (void)nats_.publish(contract::edge_http_abort_subject(edge_id), abort.SerializeAsString());
    });
    auto call = std::make_shared<PendingCall>(std::move(responder), std::move(cors));
    const auto id = owners_->add(edge_id, call);
    nats_.request_async(
        contract::edge_http_subject(edge_id), out.SerializeAsString(), request_timeout_,
        [call, id, edge_id, owners = std::weak_ptr<Owners>(owners_)](natsbus::Result<natsbus::Message> reply) {
            if (auto o = owners.lock()) {
                o->remove(edge_id, id);
            }
            if (!reply) {
                // No responder: the owning edge is gone, and with it the session; the client
                // reconnects (and recovers). A timeout is an overloaded or partitioned owner.
                call->fail(reply.error() == natsbus::Errc::kTimeout
                               ? transport::HttpResponse{504, "text/plain", {}, "owner edge timed out", false}
                               : engineio::error_response(1));
                return;
            }
            bus::v1::ForwardedResponse in;
            if (!in.ParseFromString(reply->data)) {
                call->fail(transport::HttpResponse{502, "text/plain", {}, "bad reply", false});
                return;
            }
            transport::HttpResponse r;
            r.status = in.status();
            r.content_type = in.content_type();
            for (const auto& h : in.headers()) {
                r.headers.emplace_back(h.name(), h.value());
            }
            r.body = in.body();
            call->answer(std::move(r));
        });
}

}  // namespace roomcast::edge
