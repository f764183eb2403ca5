// The NATS client flags of every binary: see roomcast/natsbus/client_settings.hpp.
#include "roomcast/natsbus/client_settings.hpp"

#include "roomcast/core/config.hpp"

#include <algorithm>
#include <fstream>

namespace roomcast::natsbus {
namespace {

// A password file holds one password; anything longer is not one (a wrong path, say).
constexpr std::size_t kMaxPasswordFileBytes = 4096;

bool readable(const std::string& path) {
    return std::ifstream(path).good();
}

}  // namespace

void bind_client_settings(core::Config& config, ClientSettings& s) {
    config
        .add_list("nats-url", &s.servers, "NATS server URL(s), comma-separated (nats:// or tls://)")
        .add_string("nats-user", &s.user, "NATS user of this service's role")
        .add_string("nats-password", &s.password,
                    "its password (prefer the environment or --nats-password-file)")
        .add_string(
            "nats-password-file", &s.password_file,
            "file holding the NATS password (a mounted Secret; a trailing newline is dropped)")
        .add_string("nats-tls-ca", &s.tls_ca,
                    "CA bundle (PEM) to verify the NATS server with; turns TLS on")
        .add_string("nats-tls-cert", &s.tls_cert,
                    "client certificate chain (PEM) for NATS servers requiring mutual TLS")
        .add_string("nats-tls-key", &s.tls_key, "the client certificate's private key (PEM)");
}

std::string resolve_client_settings(ClientSettings& s) {
    if (s.servers.empty()) {
        return "--nats-url names no server";
    }
    const bool in_url = std::any_of(s.servers.begin(), s.servers.end(), [](const std::string& url) {
        return url_has_credentials(url);
    });
    if (in_url && !s.user.empty()) {
        return "NATS credentials are given twice: in --nats-url and as --nats-user; give them once";
    }
    if (!s.password.empty() && !s.password_file.empty()) {
        return "--nats-password and --nats-password-file are exclusive";
    }
    if (!s.password_file.empty()) {
        std::ifstream in(s.password_file, std::ios::binary);
        if (!in) {
            return "--nats-password-file: cannot read " + s.password_file;
        }
        std::string text(kMaxPasswordFileBytes + 1, '\0');
        in.read(text.data(), static_cast<std::streamsize>(text.size()));
        text.resize(static_cast<std::size_t>(in.gcount()));
        if (text.size() > kMaxPasswordFileBytes) {
            return "--nats-password-file: " + s.password_file + " is larger than " +
                   std::to_string(kMaxPasswordFileBytes) + " bytes; it must hold one password";
        }
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
            text.pop_back();
        }
        if (text.empty()) {
            return "--nats-password-file: " + s.password_file + " is empty";
        }
        s.password = std::move(text);
        s.password_file.clear();
    }
    if (!s.password.empty() && s.user.empty()) {
        return "--nats-password needs --nats-user";
    }
    if (s.tls_cert.empty() != s.tls_key.empty()) {
        return "--nats-tls-cert and --nats-tls-key go together";
    }
    for (const auto& [flag, path] :
         {std::pair{"--nats-tls-ca", &s.tls_ca}, std::pair{"--nats-tls-cert", &s.tls_cert},
          std::pair{"--nats-tls-key", &s.tls_key}}) {
        if (!path->empty() && !readable(*path)) {
            return std::string(flag) + ": cannot read " + *path;
        }
    }
    return {};
}

Options client_options(const ClientSettings& s) {
    Options o;
    o.servers = s.servers;
    o.user = s.user;
    o.password = s.password;
    o.tls_ca_file = s.tls_ca;
    o.tls_cert_file = s.tls_cert;
    o.tls_key_file = s.tls_key;
    return o;
}

std::string loggable_servers(const ClientSettings& s) {
    std::string joined;
    for (const auto& url : s.servers) {
        joined += (joined.empty() ? "" : ",") + url;
    }
    return redact_urls(joined);
}

}  // namespace roomcast::natsbus
