#include "roomcast/grpcutil/tls.hpp"

#include "roomcast/core/config.hpp"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>

namespace roomcast::grpcutil {

namespace {

// PEM files are small; anything bigger than this is not a certificate bundle.
constexpr std::streamsize kMaxPemBytes = 1 << 20;

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// A file's content, or (error non-empty) why it cannot be read, naming the flag.
struct Pem {
    std::string text;
    std::string error;
    explicit operator bool() const { return error.empty(); }
};

Pem read_pem(const std::string& path, std::string_view flag) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return {{}, "--" + std::string(flag) + ": cannot read " + path};
    }
    std::string text(static_cast<std::size_t>(kMaxPemBytes) + 1, '\0');
    in.read(text.data(), kMaxPemBytes + 1);
    if (in.gcount() > kMaxPemBytes) {
        return {{}, "--" + std::string(flag) + ": " + path + " is larger than 1 MiB"};
    }
    text.resize(static_cast<std::size_t>(in.gcount()));
    return {std::move(text), {}};
}

std::unique_ptr<BIO, BioFree> memory_bio(const std::string& text) {
    return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::unique_ptr<X509, X509Free> first_certificate(const std::string& pem) {
    auto bio = memory_bio(pem);
    return std::unique_ptr<X509, X509Free>(
        bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

std::unique_ptr<EVP_PKEY, KeyFree> private_key(const std::string& pem) {
    auto bio = memory_bio(pem);
    // No passphrase callback: an encrypted key fails here instead of prompting on a terminal.
    return std::unique_ptr<EVP_PKEY, KeyFree>(
        bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, [](char*, int, int, void*) { return 0; },
                                      nullptr)
            : nullptr);
}

}  // namespace

const char* tls_mode(const ServerTls& tls) {
    if (!tls.enabled()) {
        return "off";
    }
    return tls.client_ca_file.empty() ? "on" : "mutual";
}

void bind_server_tls(core::Config& config, ServerTls& tls) {
    config
        .add_string("grpc-tls-cert", &tls.cert_file,
                    "certificate chain (PEM) of the gRPC API; with --grpc-tls-key turns TLS on")
        .add_string("grpc-tls-key", &tls.key_file, "private key (PEM) of --grpc-tls-cert")
        .add_string("grpc-tls-client-ca", &tls.client_ca_file,
                    "CA bundle (PEM): gRPC clients must present a certificate it signed; empty: "
                    "no client certificates")
        .add_duration("grpc-tls-reload-interval", &tls.reload_interval,
                      "how often the TLS files are read again (renewed certificates without a "
                      "restart)",
                      std::chrono::milliseconds(1000), std::chrono::milliseconds(24LL * 3600 * 1000));
}

std::string check_server_tls(const ServerTls& tls) {
    if (!tls.enabled()) {
        if (!tls.client_ca_file.empty()) {
            return "--grpc-tls-client-ca needs --grpc-tls-cert and --grpc-tls-key";
        }
        return {};
    }
    if (tls.cert_file.empty() || tls.key_file.empty()) {
        return "--grpc-tls-cert and --grpc-tls-key go together";
    }
    const auto cert_pem = read_pem(tls.cert_file, "grpc-tls-cert");
    if (!cert_pem) {
        return cert_pem.error;
    }
    const auto key_pem = read_pem(tls.key_file, "grpc-tls-key");
    if (!key_pem) {
        return key_pem.error;
    }
    const auto cert = first_certificate(cert_pem.text);
    if (!cert) {
        return "--grpc-tls-cert: " + tls.cert_file + " holds no PEM certificate";
    }
    const auto key = private_key(key_pem.text);
    if (!key) {
        return "--grpc-tls-key: " + tls.key_file + " holds no unencrypted PEM private key";
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        return "--grpc-tls-key: " + tls.key_file + " is not the key of " + tls.cert_file;
    }
    if (!tls.client_ca_file.empty()) {
        const auto ca_pem = read_pem(tls.client_ca_file, "grpc-tls-client-ca");
        if (!ca_pem) {
            return ca_pem.error;
        }
        if (!first_certificate(ca_pem.text)) {
            return "--grpc-tls-client-ca: " + tls.client_ca_file + " holds no PEM certificate";
        }
    }
    return {};
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const ServerTls& tls) {
    if (!tls.enabled()) {
        return grpc::InsecureServerCredentials();
    }
    using namespace grpc::experimental;
    const auto interval = static_cast<unsigned int>(
        std::chrono::duration_cast<std::chrono::seconds>(tls.reload_interval).count());
    std::shared_ptr<CertificateProviderInterface> provider =
        tls.client_ca_file.empty()
            ? std::make_shared<FileWatcherCertificateProvider>(tls.key_file, tls.cert_file,
                                                               interval)
            : std::make_shared<FileWatcherCertificateProvider>(tls.key_file, tls.cert_file,
                                                               tls.client_ca_file, interval);
    TlsServerCredentialsOptions options(provider);
    options.watch_identity_key_cert_pairs();
    if (tls.client_ca_file.empty()) {
        options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    } else {
        options.watch_root_certs();
        options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    }
    return TlsServerCredentials(options);
}

boost::system::result<Channel, std::string> client_channel(const ClientTls& tls) {
    Channel channel;
    if (!tls.enabled) {
        channel.credentials = grpc::InsecureChannelCredentials();
        return channel;
    }
    grpc::SslCredentialsOptions options;
    if (!tls.ca_file.empty()) {
        auto ca = read_pem(tls.ca_file, "ca");
        if (!ca) {
            return ca.error;
        }
        if (!first_certificate(ca.text)) {
            return "--ca: " + tls.ca_file + " holds no PEM certificate";
        }
        options.pem_root_certs = std::move(ca.text);
    }
    if (tls.cert_file.empty() != tls.key_file.empty()) {
        return std::string("--cert and --key go together");
    }
    if (!tls.cert_file.empty()) {
        auto cert = read_pem(tls.cert_file, "cert");
        if (!cert) {
            return cert.error;
        }
        auto key = read_pem(tls.key_file, "key");
        if (!key) {
            return key.error;
        }
        options.pem_cert_chain = std::move(cert.text);
        options.pem_private_key = std::move(key.text);
    }
    channel.credentials = grpc::SslCredentials(options);
    if (!tls.server_name.empty()) {
        channel.arguments.SetSslTargetNameOverride(tls.server_name);
    }
    return channel;
}

}  // namespace roomcast::grpcutil
