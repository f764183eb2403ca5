#pragma once
// roomcast.auth.v1.Auth over the gRPC callback API: admin authentication, then the logic of
// AuthService, finished inline through DefaultReactor(). Signing and verifying are CPU-only and
// take microseconds (RS256 signing about a millisecond), so they run on the gRPC thread; nothing
// here blocks on I/O.
//
// Thread-safety: as AuthService; the adapter holds no state of its own besides the token.

#include "service/auth_service.hpp"
#include "service/errors.hpp"

#include "roomcast/auth/v1/auth.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>

namespace roomcast::auth {

// The one place logic errors become gRPC statuses.
grpc::Status to_status(const Error& error);

class AuthGrpcService final : public v1::Auth::CallbackService {
public:
    // `service` must outlive this object; an empty `admin_token` refuses every admin call.
    // `key_written` runs after RotateKey wrote a key (main: a KeySync round now, which loads
    // and publishes it); it must not block.
    AuthGrpcService(const AuthService& service, std::string admin_token,
                    std::function<void()> key_written = {})
        : service_(service),
          admin_token_(std::move(admin_token)),
          key_written_(std::move(key_written)) {}

    grpc::ServerUnaryReactor* IssueToken(grpc::CallbackServerContext* context,
                                         const v1::IssueTokenRequest* request,
                                         v1::IssueTokenResponse* response) override;
    grpc::ServerUnaryReactor* VerifyToken(grpc::CallbackServerContext* context,
                                          const v1::VerifyTokenRequest* request,
                                          v1::VerifyTokenResponse* response) override;
    // No authentication: the public keys are public (edges and anyone may fetch them).
    grpc::ServerUnaryReactor* GetJwks(grpc::CallbackServerContext* context,
                                      const v1::GetJwksRequest* request,
                                      v1::GetJwksResponse* response) override;

    grpc::ServerUnaryReactor* ListKeys(grpc::CallbackServerContext* context,
                                       const v1::ListKeysRequest* request,
                                       v1::ListKeysResponse* response) override;
    // Generates and writes the key on the gRPC thread: an admin call made rarely, whose cost
    // (ES256 about a millisecond, RS256 up to a second, one small file) is bounded.
    grpc::ServerUnaryReactor* RotateKey(grpc::CallbackServerContext* context,
                                        const v1::RotateKeyRequest* request,
                                        v1::RotateKeyResponse* response) override;

private:
    const AuthService& service_;
    const std::string admin_token_;
    const std::function<void()> key_written_;
};

}  // namespace roomcast::auth
