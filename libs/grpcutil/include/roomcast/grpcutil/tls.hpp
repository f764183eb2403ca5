#pragma once
// TLS for the gRPC APIs, a deployment option (docs/operations.md, "gRPC TLS"): plaintext unless
// a certificate is given.
//
// Services (rooms, presence, auth) take, as flags and ROOMCAST_* variables:
//   --grpc-tls-cert             certificate chain (PEM); with --grpc-tls-key turns TLS on
//   --grpc-tls-key              its private key (PEM)
//   --grpc-tls-client-ca        CA bundle (PEM): clients must then present a certificate it signed
//   --grpc-tls-reload-interval  how often the files are read again (a renewed Secret is picked
//                               up without a restart; a broken renewal keeps the old pair)
//
// Clients (roomcastctl) build channel credentials from ClientTls.

#include <boost/system/result.hpp>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

namespace roomcast::core {
class Config;
}

namespace roomcast::grpcutil {

struct ServerTls {
    std::string cert_file;
    std::string key_file;
    std::string client_ca_file;
    std::chrono::milliseconds reload_interval{60'000};

    bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// "off", "on" or "mutual" (clients must present a certificate), for logs.
const char* tls_mode(const ServerTls& tls);

// Registers the --grpc-tls-* flags with `config`, writing into `tls`.
void bind_server_tls(core::Config& config, ServerTls& tls);

// "" when `tls` is off or usable now: certificate and key given together, both readable PEM, the
// key the certificate's, the client CA (if any) holding a certificate. Otherwise the message to
// refuse to start with, naming the flag. Checked at start-up because gRPC itself would only log
// the problem and then fail every handshake.
std::string check_server_tls(const ServerTls& tls);

// Insecure credentials when `tls` is off; otherwise TLS credentials that re-read the files every
// reload_interval. Call check_server_tls first.
std::shared_ptr<grpc::ServerCredentials> server_credentials(const ServerTls& tls);

struct ClientTls {
    bool enabled = false;
    // CA bundle (PEM) the server's certificate is verified with; empty: the system's roots.
    std::string ca_file;
    // Client certificate and key (PEM), for servers started with --grpc-tls-client-ca.
    std::string cert_file;
    std::string key_file;
    // The name the server's certificate must carry when it differs from the address's host
    // (a port-forward to 127.0.0.1, an IP address).
    std::string server_name;
};

struct Channel {
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    grpc::ChannelArguments arguments;
};

// The credentials and arguments of a channel per `tls`, or why the files cannot be used.
boost::system::result<Channel, std::string> client_channel(const ClientTls& tls);

}  // namespace roomcast::grpcutil
