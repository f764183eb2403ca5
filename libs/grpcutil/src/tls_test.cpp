// gRPC TLS against a real server with certificates made by the openssl command for this run:
// the start-up checks, handshakes with the right and wrong CA, mutual TLS, and a renewed
// certificate picked up without a restart.

#include "roomcast/grpcutil/grpcutil.hpp"
#include "roomcast/grpcutil/tls.hpp"

#include "roomcast/core/config.hpp"

#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace roomcast::grpcutil {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TlsTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new fs::path(fs::temp_directory_path() /
                            ("roomcast-grpc-tls-" + std::to_string(::getpid())));
        fs::create_directories(*dir_);
        setup_error_ = new std::string;
        // Two CAs (the right one and a stranger), a server certificate for "localhost" and a
        // second one to renew it with, and a client certificate.
        for (const char* ca : {"ca", "other-ca"}) {
            run(std::string("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                            "-days 2 -subj /CN=") +
                ca + " -keyout " + ca + ".key -out " + ca + ".pem");
        }
        write("san.ext", "subjectAltName=DNS:localhost\n");
        for (const char* leaf : {"server", "renewed", "client"}) {
            run(std::string("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "
                            "/CN=") +
                leaf + " -keyout " + leaf + ".key -out " + leaf + ".csr");
            run(std::string("openssl x509 -req -days 2 -CA ca.pem -CAkey ca.key -CAcreateserial "
                            "-extfile san.ext -in ") +
                leaf + ".csr -out " + leaf + ".pem");
        }
        write("garbage.pem", "not a certificate\n");
    }

    static void TearDownTestSuite() {
        std::error_code ignored;
        fs::remove_all(*dir_, ignored);
        delete dir_;
        delete setup_error_;
    }

    void SetUp() override { ASSERT_EQ(*setup_error_, "") << "certificates not made"; }

    static void run(const std::string& command) {
        const std::string line = "cd '" + dir_->string() + "' && " + command + " >/dev/null 2>&1";
        if (std::system(line.c_str()) != 0 && setup_error_->empty()) {
            *setup_error_ = "failed: " + command;
        }
    }
    static void write(const std::string& name, const std::string& text) {
        std::ofstream(*dir_ / name) << text;
    }
    static std::string path(const std::string& name) { return (*dir_ / name).string(); }

    static ServerTls server_tls(const std::string& leaf = "server") {
        ServerTls tls;
        tls.cert_file = path(leaf + ".pem");
        tls.key_file = path(leaf + ".key");
        return tls;
    }

    // A server on an ephemeral port of 127.0.0.1 with `tls`; returns the port.
    int start(ServerTls tls) {
        server_ = std::make_unique<Server>("127.0.0.1:0");
        server_->set_tls(std::move(tls));
        const int port = server_->start();
        server_->set_serving(true);
        return port;
    }

    // grpc.health.v1.Health/Check over a channel made from `tls`: the status, and the subject of
    // the server's certificate when the handshake was TLS.
    struct Answer {
        grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
        std::string subject;
    };
    static Answer check(int port, const ClientTls& tls) {
        auto made = client_channel(tls);
        EXPECT_TRUE(made.has_value()) << (made ? "" : made.error());
        if (!made) {
            return {};
        }
        // A subchannel of its own: every check makes its own handshake.
        made->arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        // The address literal, not "localhost": no DNS lookup (gRPC's c-ares resolver leaves
        // a few bytes allocated at exit, which LeakSanitizer reports); the certificate's name
        // is checked against ClientTls::server_name.
        auto channel = grpc::CreateCustomChannel("ipv4:127.0.0.1:" + std::to_string(port),
                                                 made->credentials, made->arguments);
        grpc::GenericStub stub(channel);
        grpc::CompletionQueue queue;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + 5s);
        grpc::Slice empty("");
        grpc::ByteBuffer request(&empty, 1);  // HealthCheckRequest{service: ""}
        auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request, &queue);
        call->StartCall();
        grpc::ByteBuffer response;
        grpc::Status status;
        call->Finish(&response, &status, reinterpret_cast<void*>(1));
        void* tag = nullptr;
        bool ok = false;
        EXPECT_TRUE(queue.Next(&tag, &ok));
        queue.Shutdown();
        while (queue.Next(&tag, &ok)) {
        }
        Answer answer{status.error_code(), {}};
        if (auto auth = context.auth_context()) {
            for (const auto& value : auth->FindPropertyValues("x509_subject")) {
                answer.subject.assign(value.data(), value.size());
            }
        }
        return answer;
    }

    static ClientTls trusting(const std::string& ca = "ca") {
        ClientTls tls;
        tls.enabled = true;
        tls.ca_file = path(ca + ".pem");
        tls.server_name = "localhost";  // the name in the server's certificate
        return tls;
    }

    static fs::path* dir_;
    static std::string* setup_error_;
    std::unique_ptr<Server> server_;
};

fs::path* TlsTest::dir_ = nullptr;
std::string* TlsTest::setup_error_ = nullptr;

TEST_F(TlsTest, StartUpChecksNameTheFlagAndTheProblem) {
    EXPECT_EQ(check_server_tls({}), "");
    EXPECT_EQ(check_server_tls(server_tls()), "");

    ServerTls no_key = server_tls();
    no_key.key_file.clear();
    EXPECT_EQ(check_server_tls(no_key), "--grpc-tls-cert and --grpc-tls-key go together");

    ServerTls only_ca;
    only_ca.client_ca_file = path("ca.pem");
    EXPECT_EQ(check_server_tls(only_ca), "--grpc-tls-client-ca needs --grpc-tls-cert and --grpc-tls-key");

    ServerTls missing = server_tls();
    missing.cert_file = path("absent.pem");
    EXPECT_EQ(check_server_tls(missing), "--grpc-tls-cert: cannot read " + path("absent.pem"));

    ServerTls garbage = server_tls();
    garbage.cert_file = path("garbage.pem");
    EXPECT_NE(check_server_tls(garbage).find("holds no PEM certificate"), std::string::npos);

    ServerTls mismatched = server_tls();
    mismatched.key_file = path("client.key");
    EXPECT_NE(check_server_tls(mismatched).find("is not the key of"), std::string::npos);

    ServerTls bad_ca = server_tls();
    bad_ca.client_ca_file = path("garbage.pem");
    EXPECT_NE(check_server_tls(bad_ca).find("--grpc-tls-client-ca"), std::string::npos);
}

TEST_F(TlsTest, FlagsAndVariablesFillTheSettings) {
    ServerTls tls;
    core::Config config("test", "test");
    bind_server_tls(config, tls);
    const char* argv[] = {"test", "--grpc-tls-cert=/c.pem", "--grpc-tls-reload-interval", "5s"};
    const char* envp[] = {"ROOMCAST_GRPC_TLS_KEY=/k.pem", "ROOMCAST_GRPC_TLS_CLIENT_CA=/ca.pem",
                          nullptr};
    const auto parsed = config.parse(4, argv, envp);
    ASSERT_FALSE(parsed.error) << *parsed.error;
    EXPECT_EQ(tls.cert_file, "/c.pem");
    EXPECT_EQ(tls.key_file, "/k.pem");
    EXPECT_EQ(tls.client_ca_file, "/ca.pem");
    EXPECT_EQ(tls.reload_interval, 5s);
    EXPECT_STREQ(tls_mode(tls), "mutual");
    EXPECT_STREQ(tls_mode(ServerTls{}), "off");
    EXPECT_STREQ(tls_mode(ServerTls{.cert_file = "/c.pem", .key_file = "/k.pem"}), "on");
    EXPECT_TRUE(tls.enabled());
}

TEST_F(TlsTest, ClientsTrustingTheCaGetAnswersOthersDoNot) {
    const int port = start(server_tls());

    const Answer trusted = check(port, trusting());
    EXPECT_EQ(trusted.code, grpc::StatusCode::OK);
    EXPECT_NE(trusted.subject.find("CN=server"), std::string::npos) << trusted.subject;

    EXPECT_EQ(check(port, ClientTls{}).code, grpc::StatusCode::UNAVAILABLE) << "plaintext client";
    EXPECT_EQ(check(port, trusting("other-ca")).code, grpc::StatusCode::UNAVAILABLE)
        << "a client trusting another CA";

    ClientTls wrong_name = trusting();
    wrong_name.server_name = "elsewhere.example";
    EXPECT_EQ(check(port, wrong_name).code, grpc::StatusCode::UNAVAILABLE)
        << "a certificate for localhost is no good for another name";
}

TEST_F(TlsTest, PlaintextServerStaysPlaintext) {
    const int port = start({});
    EXPECT_EQ(check(port, ClientTls{}).code, grpc::StatusCode::OK);
    EXPECT_EQ(check(port, trusting()).code, grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheClientCa) {
    ServerTls tls = server_tls();
    tls.client_ca_file = path("ca.pem");
    ASSERT_EQ(check_server_tls(tls), "");
    const int port = start(tls);

    EXPECT_EQ(check(port, trusting()).code, grpc::StatusCode::UNAVAILABLE) << "no client certificate";

    ClientTls with_cert = trusting();
    with_cert.cert_file = path("client.pem");
    with_cert.key_file = path("client.key");
    EXPECT_EQ(check(port, with_cert).code, grpc::StatusCode::OK);

    ClientTls half = trusting();
    half.cert_file = path("client.pem");
    const auto made = client_channel(half);
    ASSERT_FALSE(made.has_value());
    EXPECT_EQ(made.error(), "--cert and --key go together");
}

TEST_F(TlsTest, ARenewedCertificateIsServedWithoutARestart) {
    // The server reads copies, which the test then overwrites as a renewed Secret would be.
    fs::copy_file(path("server.pem"), path("live.pem"), fs::copy_options::overwrite_existing);
    fs::copy_file(path("server.key"), path("live.key"), fs::copy_options::overwrite_existing);
    ServerTls tls = server_tls("live");
    tls.reload_interval = 1s;
    const int port = start(tls);
    EXPECT_NE(check(port, trusting()).subject.find("CN=server"), std::string::npos);

    // Key first, then certificate, each replaced atomically (rename), as the kubelet swaps a
    // Secret's files: a reload in between sees a mismatched pair and keeps the old one.
    fs::copy_file(path("renewed.key"), path("live.key.new"), fs::copy_options::overwrite_existing);
    fs::copy_file(path("renewed.pem"), path("live.pem.new"), fs::copy_options::overwrite_existing);
    fs::rename(path("live.key.new"), path("live.key"));
    fs::rename(path("live.pem.new"), path("live.pem"));

    std::string subject;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
        const Answer answer = check(port, trusting());
        ASSERT_EQ(answer.code, grpc::StatusCode::OK) << "the server kept serving while renewing";
        subject = answer.subject;
        if (subject.find("CN=renewed") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_NE(subject.find("CN=renewed"), std::string::npos) << subject;
}

}  // namespace
}  // namespace roomcast::grpcutil
