#pragma once
// What every Roomcast gRPC service shares: a server with health checking and reflection,
// admin bearer authentication, deadlines, and the one place errors become grpc::Status.
//
// Services use the callback API: a method validates its request, then runs its NATS work on the
// natsbus worker pool and finishes the reactor from there; gRPC threads never block.

#include "roomcast/grpcutil/tls.hpp"

#include <boost/system/error_code.hpp>
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::grpcutil {

// OK when the call carries `authorization: Bearer <admin_token>` (compared in constant time);
// UNAUTHENTICATED otherwise. An empty admin token refuses everything.
grpc::Status authorize(const grpc::ServerContextBase& context, std::string_view admin_token);

// Time left before the call's deadline, at most `cap` (and at least 1 ms), for NATS waits.
std::chrono::milliseconds time_left(const grpc::ServerContextBase& context,
                                    std::chrono::milliseconds cap);

grpc::Status invalid_argument(std::string message);
grpc::Status not_found(std::string message);
grpc::Status already_exists(std::string message);
// natsbus errors: kTimeout → DEADLINE_EXCEEDED (or UNAVAILABLE), kNotConnected / kClosed /
// kNoResponders → UNAVAILABLE, kNotFound → NOT_FOUND, kAlreadyExists → ALREADY_EXISTS,
// kWrongRevision → ABORTED (a concurrent change: retry), kStorageFull → RESOURCE_EXHAUSTED (a
// full bucket), others → INTERNAL. `what` prefixes the message.
grpc::Status from_error(const boost::system::error_code& ec, std::string_view what);

// A started gRPC server with grpc.health.v1.Health and server reflection. With a metrics
// registry, every call is counted in roomcast_grpc_requests_total{service,method,code} and
// timed in roomcast_grpc_request_duration_seconds{service,method} (method = full gRPC path).
class Server {
public:
    explicit Server(std::string address, prometheus::Registry* metrics = nullptr,
                    std::string service_label = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void add_service(grpc::Service* service);
    // TLS per `tls` (check_server_tls first); plaintext when never called or `tls` is off.
    void set_tls(ServerTls tls);
    // Builds and starts; returns the bound port. Throws std::runtime_error when it cannot bind.
    int start();
    // Health status of the server ("") and of every added service.
    void set_serving(bool serving);
    // Stops accepting and waits up to `grace` for calls in flight.
    void shutdown(std::chrono::milliseconds grace);
    // A channel to this server that bypasses the network (tests).
    std::shared_ptr<grpc::Channel> in_process_channel();

private:
    prometheus::Registry* metrics_;
    std::string service_label_;
    std::string address_;
    ServerTls tls_;
    std::vector<grpc::Service*> services_;
    std::unique_ptr<grpc::Server> server_;
};

// Adds `authorization: Bearer <token>` to an outgoing call.
void add_bearer(grpc::ClientContext& context, std::string_view token);

}  // namespace roomcast::grpcutil
