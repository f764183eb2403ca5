#include "service/grpc_service.hpp"

#include "roomcast/core/log.hpp"
#include "roomcast/grpcutil/grpcutil.hpp"

namespace roomcast::auth {

namespace log = core::log;

grpc::Status to_status(const Error& error) {
    switch (error.code) {
        case Error::Code::kInvalidArgument:
            return {grpc::StatusCode::INVALID_ARGUMENT, error.message};
        case Error::Code::kFailedPrecondition:
            return {grpc::StatusCode::FAILED_PRECONDITION, error.message};
        case Error::Code::kInternal:
            break;
    }
    return {grpc::StatusCode::INTERNAL, error.message};
}

grpc::ServerUnaryReactor* AuthGrpcService::IssueToken(grpc::CallbackServerContext* context,
                                                      const v1::IssueTokenRequest* request,
                                                      v1::IssueTokenResponse* response) {
    auto* reactor = context->DefaultReactor();
    if (auto status = grpcutil::authorize(*context, admin_token_); !status.ok()) {
        reactor->Finish(status);
        return reactor;
    }
    auto issued = service_.issue_token(*request);
    if (!issued) {
        if (issued.error().code == Error::Code::kInternal) {
            log::error("cannot issue a token", {{"error", issued.error().message}});
        }
        reactor->Finish(to_status(issued.error()));
        return reactor;
    }
    // The token itself is a credential: never logged.
    log::debug("token issued", {{"kid", issued->kid()},
                                {"alg", issued->algorithm()},
                                {"exp", issued->expires_at().seconds()}});
    *response = std::move(*issued);
    reactor->Finish(grpc::Status::OK);
    return reactor;
}

grpc::ServerUnaryReactor* AuthGrpcService::VerifyToken(grpc::CallbackServerContext* context,
                                                       const v1::VerifyTokenRequest* request,
                                                       v1::VerifyTokenResponse* response) {
    auto* reactor = context->DefaultReactor();
    if (auto status = grpcutil::authorize(*context, admin_token_); !status.ok()) {
        reactor->Finish(status);
        return reactor;
    }
    *response = service_.verify_token(*request);
    reactor->Finish(grpc::Status::OK);
    return reactor;
}

grpc::ServerUnaryReactor* AuthGrpcService::GetJwks(grpc::CallbackServerContext* context,
                                                   const v1::GetJwksRequest* /*request*/,
                                                   v1::GetJwksResponse* response) {
    auto* reactor = context->DefaultReactor();
    response->set_jwks_json(service_.jwks_json());
    reactor->Finish(grpc::Status::OK);
    return reactor;
}

grpc::ServerUnaryReactor* AuthGrpcService::ListKeys(grpc::CallbackServerContext* context,
                                                    const v1::ListKeysRequest* /*request*/,
                                                    v1::ListKeysResponse* response) {
    auto* reactor = context->DefaultReactor();
    if (auto status = grpcutil::authorize(*context, admin_token_); !status.ok()) {
        reactor->Finish(status);
        return reactor;
    }
    for (const KeyInfo& key : service_.list_keys()) {
        auto* out = response->add_keys();
        out->set_kid(key.kid);
        out->set_algorithm(key.algorithm);
        out->set_signing(key.signing);
        out->set_pending(key.pending);
        out->set_published(key.published);
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
}

grpc::ServerUnaryReactor* AuthGrpcService::RotateKey(grpc::CallbackServerContext* context,
                                                     const v1::RotateKeyRequest* request,
                                                     v1::RotateKeyResponse* response) {
    auto* reactor = context->DefaultReactor();
    if (auto status = grpcutil::authorize(*context, admin_token_); !status.ok()) {
        reactor->Finish(status);
        return reactor;
    }
    auto written = service_.write_new_key(request->algorithm(), request->kid());
    if (!written) {
        if (written.error().code == Error::Code::kInternal) {
            log::error("cannot rotate the signing key", {{"error", written.error().message}});
        }
        reactor->Finish(to_status(written.error()));
        return reactor;
    }
    log::info("signing key written", {{"kid", written->kid}, {"alg", written->algorithm}});
    if (key_written_) {
        key_written_();
    }
    response->set_kid(written->kid);
    response->set_algorithm(written->algorithm);
    reactor->Finish(grpc::Status::OK);
    return reactor;
}

}  // namespace roomcast::auth
