#include "roomcast/grpcutil/grpcutil.hpp"

#include "roomcast/natsbus/natsbus.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <openssl/crypto.h>

#include <stdexcept>

namespace roomcast::grpcutil {

grpc::Status authorize(const grpc::ServerContextBase& context, std::string_view admin_token) {
    static constexpr std::string_view kPrefix = "Bearer ";
    const auto& metadata = context.client_metadata();
    const auto it = metadata.find("authorization");
    if (admin_token.empty() || it == metadata.end()) {
        return {grpc::StatusCode::UNAUTHENTICATED, "missing authorization: Bearer <admin token>"};
    }
    const std::string_view value(it->second.data(), it->second.size());
    // Constant time over the token's length: the comparison reveals nothing about a prefix.
    const bool shape = value.size() == kPrefix.size() + admin_token.size() &&
                       value.substr(0, kPrefix.size()) == kPrefix;
    const std::string_view given = shape ? value.substr(kPrefix.size()) : admin_token;
    const bool equal = CRYPTO_memcmp(given.data(), admin_token.data(), admin_token.size()) == 0;
    if (!shape || !equal) {
        return {grpc::StatusCode::UNAUTHENTICATED, "invalid admin token"};
    }
    return grpc::Status::OK;
}

std::chrono::milliseconds time_left(const grpc::ServerContextBase& context,
                                    std::chrono::milliseconds cap) {
    const auto deadline = context.deadline();
    const auto now = std::chrono::system_clock::now();
    if (deadline <= now) {
        return std::chrono::milliseconds(1);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    return std::max(std::chrono::milliseconds(1), std::min(left, cap));
}

grpc::Status invalid_argument(std::string message) {
    return {grpc::StatusCode::INVALID_ARGUMENT, std::move(message)};
}
grpc::Status not_found(std::string message) { return {grpc::StatusCode::NOT_FOUND, std::move(message)}; }
grpc::Status already_exists(std::string message) {
    return {grpc::StatusCode::ALREADY_EXISTS, std::move(message)};
}

grpc::Status from_error(const boost::system::error_code& ec, std::string_view what) {
    using natsbus::Errc;
    std::string message = std::string(what) + ": " + ec.message();
    if (ec.category() == natsbus::natsbus_category()) {
        switch (static_cast<Errc>(ec.value())) {
            case Errc::kTimeout: return {grpc::StatusCode::DEADLINE_EXCEEDED, message};
            case Errc::kNotConnected:
            case Errc::kClosed:
            case Errc::kNoResponders: return {grpc::StatusCode::UNAVAILABLE, message};
            case Errc::kNotFound: return {grpc::StatusCode::NOT_FOUND, message};
            case Errc::kAlreadyExists: return {grpc::StatusCode::ALREADY_EXISTS, message};
            case Errc::kWrongRevision: return {grpc::StatusCode::ABORTED, message};
            case Errc::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, message};
            // A bucket at its byte budget (or the JetStream store full): no retry helps until an
            // operator raises the budget or deletes something.
            case Errc::kStorageFull:
                return {grpc::StatusCode::RESOURCE_EXHAUSTED, message};
            default: break;
        }
    }
    return {grpc::StatusCode::INTERNAL, message};
}

namespace {

// Counts and times every call at the transport level, whatever the method's code does.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
public:
    MetricsInterceptor(prometheus::Family<prometheus::Counter>& requests,
                       prometheus::Family<prometheus::Histogram>& durations, std::string service,
                       std::string method)
        : requests_(requests),
          durations_(durations),
          service_(std::move(service)),
          method_(std::move(method)),
          start_(std::chrono::steady_clock::now()) {}

    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
        using Hook = grpc::experimental::InterceptionHookPoints;
        if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
            const auto code = methods->GetSendStatus().error_code();
            requests_.Add({{"service", service_}, {"method", method_}, {"code", code_name(code)}})
                .Increment();
            const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start_;
            durations_
                .Add({{"service", service_}, {"method", method_}},
                     prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                             0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
                .Observe(took.count());
        }
        methods->Proceed();
    }

    static std::string code_name(grpc::StatusCode code) {
        static constexpr const char* kNames[] = {
            "OK",        "CANCELLED",         "UNKNOWN",         "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
            "NOT_FOUND", "ALREADY_EXISTS",    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
            "ABORTED",   "OUT_OF_RANGE",      "UNIMPLEMENTED",   "INTERNAL",           "UNAVAILABLE",
            "DATA_LOSS", "UNAUTHENTICATED"};
        const auto i = static_cast<std::size_t>(code);
        return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
    }

private:
    prometheus::Family<prometheus::Counter>& requests_;
    prometheus::Family<prometheus::Histogram>& durations_;
    std::string service_;
    std::string method_;
    std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
public:
    MetricsInterceptorFactory(prometheus::Registry& registry, std::string service)
        : requests_(prometheus::BuildCounter()
                        .Name("roomcast_grpc_requests_total")
                        .Help("gRPC calls handled, by method and status code")
                        .Register(registry)),
          durations_(prometheus::BuildHistogram()
                         .Name("roomcast_grpc_request_duration_seconds")
                         .Help("gRPC call latency, from the request's metadata to its status")
                         .Register(registry)),
          service_(std::move(service)) {}

    grpc::experimental::Interceptor* CreateServerInterceptor(
        grpc::experimental::ServerRpcInfo* info) override {
        return new MetricsInterceptor(requests_, durations_, service_, info->method());
    }

private:
    prometheus::Family<prometheus::Counter>& requests_;
    prometheus::Family<prometheus::Histogram>& durations_;
    std::string service_;
};

}  // namespace

Server::Server(std::string address, prometheus::Registry* metrics, std::string service_label)
    : metrics_(metrics), service_label_(std::move(service_label)), address_(std::move(address)) {}

Server::~Server() { shutdown(std::chrono::milliseconds(0)); }

void Server::add_service(grpc::Service* service) { services_.push_back(service); }

void Server::set_tls(ServerTls tls) { tls_ = std::move(tls); }

int Server::start() {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    int port = 0;
    // Plaintext in the local stack; TLS a deployment option (--grpc-tls-cert).
    builder.AddListeningPort(address_, server_credentials(tls_), &port);
    for (auto* s : services_) {
        builder.RegisterService(s);
    }
    if (metrics_ != nullptr) {
        std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
        creators.push_back(std::make_unique<MetricsInterceptorFactory>(*metrics_, service_label_));
        builder.experimental().SetInterceptorCreators(std::move(creators));
    }
    server_ = builder.BuildAndStart();
    if (!server_ || port == 0) {
        server_.reset();
        throw std::runtime_error("cannot listen on " + address_);
    }
    return port;
}

void Server::set_serving(bool serving) {
    if (!server_) {
        return;
    }
    if (auto* health = server_->GetHealthCheckService()) {
        health->SetServingStatus(serving);
    }
}

void Server::shutdown(std::chrono::milliseconds grace) {
    if (!server_) {
        return;
    }
    set_serving(false);
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
    server_.reset();
}

std::shared_ptr<grpc::Channel> Server::in_process_channel() {
    return server_->InProcessChannel(grpc::ChannelArguments{});
}

void add_bearer(grpc::ClientContext& context, std::string_view token) {
    context.AddMetadata("authorization", "Bearer " + std::string(token));
}

}  // namespace roomcast::grpcutil
