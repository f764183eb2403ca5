#pragma once
// The NATS client settings every Roomcast binary takes, as flags and ROOMCAST_* variables
// (docs/operations.md, "NATS roles"): the servers, the credentials of the process's role, TLS.
//
//   --nats-url            ROOMCAST_NATS_URL            servers, comma-separated (nats:// or
//                                                      tls://; user:password@ is accepted too)
//   --nats-user           ROOMCAST_NATS_USER           the role's user
//   --nats-password       ROOMCAST_NATS_PASSWORD       its password
//   --nats-password-file  ROOMCAST_NATS_PASSWORD_FILE  or a file holding it (a mounted Secret)
//   --nats-tls-ca         ROOMCAST_NATS_TLS_CA         CA bundle (PEM) the server is verified with;
//                                                      turns TLS on
//   --nats-tls-cert       ROOMCAST_NATS_TLS_CERT       client certificate chain (PEM), with
//   --nats-tls-key        ROOMCAST_NATS_TLS_KEY        its key, for servers requiring mutual TLS
//
// Secrets belong in the environment or the file, not on the command line (ps shows it). None
// of them is ever logged: URLs go through redact_urls.
//
// Pure data and functions; thread-compatible.

#include "roomcast/natsbus/natsbus.hpp"

#include <string>
#include <vector>

namespace roomcast::core {
class Config;
}

namespace roomcast::natsbus {

struct ClientSettings {
    std::vector<std::string> servers{"nats://127.0.0.1:4222"};
    std::string user;
    std::string password;
    std::string password_file;
    std::string tls_ca;
    std::string tls_cert;
    std::string tls_key;
};

// Registers the flags above with `config`, writing into `settings`.
void bind_client_settings(core::Config& config, ClientSettings& settings);

// Checks what the flags cannot (a server at all, credentials given once, a password only with a
// user, certificate and key together) and reads --nats-password-file into `password`. Returns
// an error naming the option, empty when the settings are usable.
std::string resolve_client_settings(ClientSettings& settings);

// The connection options of resolved settings: servers, credentials, TLS. The caller adds its
// connection name and tuning.
Options client_options(const ClientSettings& settings);

// The servers, comma-separated, with any credentials masked (redact_urls): for log lines.
std::string loggable_servers(const ClientSettings& settings);

}  // namespace roomcast::natsbus
