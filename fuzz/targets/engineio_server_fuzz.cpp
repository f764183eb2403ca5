// The edge's Engine.IO request handling without sockets: the bytes a client sends on one
// keep-alive connection are parsed as HttpConnection parses them (http_input.hpp), and every
// request on the Engine.IO route goes to a real EngineServer::on_request (or on_upgrade) on a
// shard thread, answered through a test ResponseSink. This covers the query checks (EIO,
// transport, sid), CORS, handshakes, polling GET/POST on live sessions, payload decoding,
// close packets, draining and requests for other edges' sessions, at libFuzzer speed (a real
// HttpServer on a loopback socket costs a connection per input).
//
// Input: HTTP/1.1 requests back to back. In a request target, "$SID" stands for the id of the
// session most recently opened by this input, so the fuzzer can reach live sessions. Two
// pseudo-methods drive the harness: "ABORT" (the client goes away: every pending request's
// abort callback runs) and "DRAIN" (toggles draining). Messages the session receives are
// echoed; "close", "abort" and "flood" make the application close the session gracefully,
// abort it, or fill its queue past the slow-consumer cap; a message starting with "v" is
// echoed as a volatile message.
//
// Checks: every request is answered exactly once (unless its client went away), never with
// the 500 a dropped Responder sends; statuses are the documented ones; error bodies are
// {"code":0..5,"message":...}; 200 bodies are "ok" (POST) or a polling payload that decodes;
// a handshake is an open packet whose sid names this edge; after the input every session it
// opened is closed and counted out.

#include "fuzz_check.hpp"
#include "http_input.hpp"

#include "engineio/engine.hpp"
#include "roomcast/protocol/engineio.hpp"
#include "roomcast/protocol/json.hpp"
#include "roomcast/transport/http_server.hpp"
#include "roomcast/transport/shard.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace engineio = roomcast::engineio;
namespace transport = roomcast::transport;
namespace eio = roomcast::protocol::eio;
namespace protocol = roomcast::protocol;
namespace asio = boost::asio;

namespace {

constexpr std::string_view kRoute = "/engine.io/";
constexpr std::string_view kNode = "edge1";
constexpr unsigned kForeignStatus = 421;  // what the test foreign handler answers

class TestSink final : public transport::ResponseSink {
public:
    explicit TestSink(transport::Shard& shard) : shard_(shard) {}
    transport::Shard& shard() noexcept override { return shard_; }
    void deliver(std::uint64_t seq, transport::HttpResponse&& response) override {
        FUZZ_CHECK(transport::Shard::current() == &shard_);
        responses[seq].push_back(std::move(response));
    }
    void set_abort_callback(std::uint64_t seq, std::function<void()> callback) override {
        aborts[seq] = std::move(callback);
    }
    void client_gone() {
        auto pending = std::move(aborts);
        aborts.clear();
        for (auto& [seq, cb] : pending) {
            gone.push_back(seq);
            cb();
        }
    }

    std::map<std::uint64_t, std::vector<transport::HttpResponse>> responses;
    std::map<std::uint64_t, std::function<void()>> aborts;
    std::vector<std::uint64_t> gone;

private:
    transport::Shard& shard_;
};

class EchoHandler final : public engineio::SessionHandler {
public:
    explicit EchoHandler(engineio::Session& s) : session_(s.weak_from_this()) {}
    void on_message(std::string_view text) override {
        auto s = session_.lock();
        if (!s) {
            return;
        }
        if (text == "close") {
            s->close(engineio::CloseReason::kForcedClose);
        } else if (text == "abort") {
            s->abort(engineio::CloseReason::kForcedClose);
        } else if (text == "flood") {
            static const auto chunk = std::make_shared<const transport::OutMessage>(
                transport::OutMessage{"4" + std::string(4096, 'x'), {}});
            for (int i = 0; i < 100 && s->send(chunk); ++i) {
            }
        } else {
            s->send(std::make_shared<const transport::OutMessage>(
                        transport::OutMessage{"4" + std::string(text), {}}),
                    // "v…" volatile, "d…" droppable (ephemeral room events), else reliable.
                    text.starts_with('v')   ? engineio::Delivery::kVolatile
                    : text.starts_with('d') ? engineio::Delivery::kDroppable
                                            : engineio::Delivery::kReliable);
        }
    }
    void on_binary(std::string_view bytes) override {
        if (auto s = session_.lock()) {
            s->send(std::make_shared<const transport::OutMessage>(
                transport::OutMessage{{}, {std::string(bytes)}}));
        }
    }
    void on_close(engineio::CloseReason) override {}

private:
    std::weak_ptr<engineio::Session> session_;
};

engineio::Options engine_options() {
    engineio::Options o;
    o.node_id = std::string(kNode);
    o.cors_origins = {"https://app.example"};
    o.cors_credentials = true;
    o.max_payload = 100000;
    o.max_packets_per_payload = 64;
    // Small queue caps so that "flood" reaches the slow-consumer policy.
    o.max_queue_messages = 64;
    o.max_queue_bytes = 64 * 1024;
    return o;
}

// One shard and one EngineServer for the whole process (a leaked singleton: the shard thread
// runs until exit). Every input closes the sessions it opened, so inputs do not interact: a
// later input cannot name an earlier session (ids are random).
struct Harness {
    transport::ShardPool pool{1};
    engineio::EngineServer engine;
    std::vector<std::weak_ptr<engineio::Session>> opened;
    std::string last_sid;
    std::vector<std::string> foreign_nodes;

    Harness()
        : engine(pool, engine_options(),
                 [this](engineio::Session& s, const transport::HttpRequest&) {
                     opened.push_back(s.weak_from_this());
                     last_sid = s.id();
                     return std::make_unique<EchoHandler>(s);
                 }) {
        engine.set_foreign_handler([this](std::string node, transport::HttpRequest&&,
                                          transport::HeaderList, transport::Responder&& r) {
            foreign_nodes.push_back(std::move(node));
            transport::HttpResponse response;
            response.status = kForeignStatus;
            r.respond(std::move(response));
        });
        pool.start();
    }
};

Harness& harness() {
    static Harness* h = new Harness();
    return *h;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
}

struct Run {
    std::vector<transport::HttpRequest> requests;
    std::shared_ptr<TestSink> sink;
    std::vector<std::uint64_t> sent;  // seqs handed to on_request
    std::size_t next = 0;
    bool draining = false;
    std::promise<void> done;
};

void finish(const std::shared_ptr<Run>& run);

// One request per handler, each posted after the previous one, so that what a request posts
// (flushes, deferred aborts) runs before the next request, as on a real shard.
void step(const std::shared_ptr<Run>& run) {
    Harness& h = harness();
    if (run->next == run->requests.size()) {
        finish(run);
        return;
    }
    transport::HttpRequest request = std::move(run->requests[run->next++]);
    replace_all(request.target, "$SID", h.last_sid);
    if (request.method == "ABORT") {
        run->sink->client_gone();
    } else if (request.method == "DRAIN") {
        run->draining = !run->draining;
        h.engine.set_draining(run->draining);
    } else if (request.path().substr(0, kRoute.size()) == kRoute) {
        if (request.websocket_upgrade) {
            // No connection to hand over: accept() and reject() of an empty WsUpgrade do
            // nothing, so this exercises the checks and the routing to the owning shard.
            h.engine.on_upgrade(std::move(request), transport::WsUpgrade());
        } else {
            const std::uint64_t seq = run->sent.size() + 1;
            run->sent.push_back(seq);
            h.engine.on_request(std::move(request), transport::Responder(run->sink, seq));
        }
    }
    asio::post(h.pool.shard(0).ioc(), [run] { step(run); });
}

void finish(const std::shared_ptr<Run>& run) {
    Harness& h = harness();
    for (auto& weak : h.opened) {
        if (auto s = weak.lock()) {
            s->abort(engineio::CloseReason::kForcedClose);
        }
    }
    h.engine.set_draining(false);
    // A close POST may still wait for the GET sent with it (up to closed_poll_linger): answer it
    // now, as the linger would.
    h.engine.release_held_closes();
    // Once what the aborts posted has run, every session must be gone.
    asio::post(h.pool.shard(0).ioc(), [run] {
        Harness& hh = harness();
        for (auto& weak : hh.opened) {
            FUZZ_CHECK(weak.expired());
        }
        FUZZ_CHECK(hh.engine.open_sessions() == 0);
        run->done.set_value();
    });
}

void check_error_body(const transport::HttpResponse& r) {
    auto body = protocol::parse_json(r.body);
    FUZZ_CHECK(body.has_value() && body->is_object());
    const auto* code = body->as_object().if_contains("code");
    const auto* message = body->as_object().if_contains("message");
    FUZZ_CHECK(code != nullptr && code->is_int64());
    FUZZ_CHECK(code->as_int64() >= 0 && code->as_int64() <= 5);
    FUZZ_CHECK(message != nullptr && message->is_string());
}

void check_response(const transport::HttpResponse& r) {
    switch (r.status) {
        case 200: {
            if (r.body == "ok") {
                break;  // a POST's acknowledgement
            }
            auto packets = eio::decode_payload(r.body, 1 << 20);
            FUZZ_CHECK(packets.has_value());
            const auto& first = packets->front();
            if (first.type == eio::PacketType::kOpen) {
                FUZZ_CHECK(packets->size() == 1);
                auto open = protocol::parse_json(first.data);
                FUZZ_CHECK(open.has_value() && open->is_object());
                const auto* sid = open->as_object().if_contains("sid");
                FUZZ_CHECK(sid != nullptr && sid->is_string());
                FUZZ_CHECK(engineio::EngineServer::node_of(
                               std::string_view(sid->as_string().data(), sid->as_string().size())) ==
                           kNode);
            }
            break;
        }
        case 204:
            FUZZ_CHECK(r.body.empty());
            break;
        case 400:
        case 403:
            check_error_body(r);
            break;
        case 503:
            FUZZ_CHECK(r.close);
            break;
        case kForeignStatus:
            break;
        default:
            std::fprintf(stderr, "unexpected status %u\n", r.status);
            FUZZ_CHECK(false);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Harness& h = harness();
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    auto parsed = roomcast::fuzz::parse_requests(bytes, [&] { return bytes.size() + 1; });
    if (parsed.requests.empty()) {
        return 0;
    }
    auto run = std::make_shared<Run>();
    run->requests = std::move(parsed.requests);
    run->sink = std::make_shared<TestSink>(h.pool.shard(0));
    auto finished = run->done.get_future();
    asio::post(h.pool.shard(0).ioc(), [run] {
        Harness& hh = harness();
        hh.opened.clear();
        hh.last_sid.clear();
        hh.foreign_nodes.clear();
        step(run);
    });
    finished.wait();

    // ROOMCAST_FUZZ_VERBOSE=1 prints every answer (for reading what a reproducer does).
    static const bool verbose = std::getenv("ROOMCAST_FUZZ_VERBOSE") != nullptr;
    for (const std::uint64_t seq : run->sent) {
        if (verbose) {
            const auto it = run->sink->responses.find(seq);
            if (it == run->sink->responses.end()) {
                std::fprintf(stderr, "request %llu: no answer (client gone)\n",
                             static_cast<unsigned long long>(seq));
            } else {
                for (const auto& r : it->second) {
                    std::fprintf(stderr, "request %llu: %u %.200s\n",
                                 static_cast<unsigned long long>(seq), r.status, r.body.c_str());
                }
            }
        }
    }
    for (const std::uint64_t seq : run->sent) {
        const auto it = run->sink->responses.find(seq);
        const bool went_away = std::find(run->sink->gone.begin(), run->sink->gone.end(), seq) !=
                               run->sink->gone.end();
        if (it == run->sink->responses.end()) {
            FUZZ_CHECK(went_away);  // unanswered only when the client gave up
            continue;
        }
        FUZZ_CHECK(it->second.size() == 1);
        FUZZ_CHECK(it->second.front().status != 500);
        check_response(it->second.front());
    }
    for (const auto& node : h.foreign_nodes) {
        FUZZ_CHECK(!node.empty() && node != kNode);
    }
    return 0;
}
