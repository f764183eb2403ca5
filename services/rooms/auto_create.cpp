#include "auto_create.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/contract/timing.hpp"
#include "roomcast/core/log.hpp"

#include <chrono>

namespace roomcast::rooms {
namespace {

namespace log = core::log;

// The client error code (PRODUCT.md §2) an edge passes on for a failed auto-create.
std::string_view client_code(grpc::StatusCode code) {
    switch (code) {
        case grpc::StatusCode::INVALID_ARGUMENT:
            return "bad_request";
        case grpc::StatusCode::PERMISSION_DENIED:
            return "forbidden";
        case grpc::StatusCode::UNAVAILABLE:
        case grpc::StatusCode::DEADLINE_EXCEEDED:
        case grpc::StatusCode::RESOURCE_EXHAUSTED:  // the rooms bucket full
            return "unavailable";
        default:
            return "internal";
    }
}

}  // namespace

AutoCreateResponder::AutoCreateResponder(natsbus::Connection& nats, RoomsService& service,
                                         AutoCreateOptions options)
    : nats_(nats), service_(service), options_(options) {}

natsbus::Result<void> AutoCreateResponder::start() {
    auto sub = nats_.subscribe(
        contract::kRoomAutoCreateSubject,
        [this](natsbus::Message&& m) { on_request(std::move(m)); }, contract::kRoomAutoCreateQueue);
    if (!sub) {
        return sub.error();
    }
    subscription_ = std::move(*sub);
    return nats_.flush(std::chrono::seconds(5));
}

void AutoCreateResponder::stop() {
    subscription_.reset();
}

void AutoCreateResponder::on_request(natsbus::Message&& request) {
    if (request.reply.empty()) {
        return;  // nobody to answer
    }
    bus::v1::AutoCreateRoom body;
    if (!body.ParseFromString(request.data)) {
        reply(request.reply, false, "bad_request", "not an AutoCreateRoom");
        return;
    }
    if (in_flight_.fetch_add(1) >= options_.max_in_flight) {
        in_flight_.fetch_sub(1);
        reply(request.reply, false, "unavailable", "too many auto-create requests at once");
        return;
    }
    // The edge stops waiting after kRoomAutoCreateTimeout: work past that would be wasted.
    const auto deadline = std::chrono::steady_clock::now() + contract::kRoomAutoCreateTimeout;
    nats_.run_async(
        [this, room = std::move(*body.mutable_room()), to = std::move(request.reply), deadline] {
            const grpc::Status status = service_.auto_create_room(room, deadline);
            if (!status.ok() && status.error_code() != grpc::StatusCode::PERMISSION_DENIED &&
                status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) {
                log::warn("room auto-create failed",
                          {{"room", room}, {"error", status.error_message()}});
            }
            reply(to, status.ok(), status.ok() ? "" : client_code(status.error_code()),
                  status.error_message());
            in_flight_.fetch_sub(1);
        });
}

void AutoCreateResponder::reply(const std::string& to, bool ok, std::string_view code,
                                std::string_view message) {
    bus::v1::AutoCreateRoomReply out;
    out.set_ok(ok);
    out.set_code(std::string(code));
    out.set_message(std::string(message));
    if (auto sent = nats_.publish(to, out.SerializeAsString()); !sent) {
        log::warn("cannot answer an auto-create request", {{"error", sent.error().message()}});
    }
}

}  // namespace roomcast::rooms
