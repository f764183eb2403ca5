// The NATS client flags (client_settings.hpp), URL redaction, and connections to servers that
// require credentials or TLS: each test starts its own nats-server with a users or TLS config.
#include "roomcast/natsbus/client_settings.hpp"
#include "roomcast/natsbus/testing.hpp"

#include "roomcast/core/config.hpp"
#include "roomcast/core/log.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

namespace roomcast::natsbus {
namespace {

using namespace std::chrono_literals;
using testing::NatsServer;

// Parses flags and an environment into settings (as each binary does) and resolves them.
struct Parsed {
    ClientSettings settings;
    std::string parse_error;
    std::string resolve_error;
};
Parsed parse(std::vector<const char*> args, std::vector<const char*> env = {}) {
    Parsed out;
    core::Config config("test", "test");
    bind_client_settings(config, out.settings);
    args.insert(args.begin(), "test");
    env.push_back(nullptr);
    auto parsed = config.parse(static_cast<int>(args.size()), args.data(), env.data());
    if (parsed.error) {
        out.parse_error = *parsed.error;
        return out;
    }
    out.resolve_error = resolve_client_settings(out.settings);
    return out;
}

class TempDir {
public:
    TempDir() {
        char path[] = "/tmp/natsbus-settings-XXXXXX";
        if (::mkdtemp(path) != nullptr) {
            path_ = path;
        }
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        const std::string file = path_ + "/" + name;
        std::ofstream(file, std::ios::binary) << text;
        return file;
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

TEST(ClientSettings, FlagsAndEnvironment) {
    TempDir dir;
    const std::string file = dir.write("password", "s3cret-pw\n");
    const std::string env_file = "ROOMCAST_NATS_PASSWORD_FILE=" + file;
    auto p = parse({"--nats-url", "nats://a:4222, nats://b:4222", "--nats-user", "edge"},
                   {env_file.c_str(), "ROOMCAST_NATS_USER=ignored"});
    ASSERT_EQ(p.parse_error, "");
    ASSERT_EQ(p.resolve_error, "");
    EXPECT_EQ(p.settings.servers, (std::vector<std::string>{"nats://a:4222", "nats://b:4222"}));
    EXPECT_EQ(p.settings.user, "edge");           // the flag wins over the environment
    EXPECT_EQ(p.settings.password, "s3cret-pw");  // one trailing newline dropped
    const Options o = client_options(p.settings);
    EXPECT_EQ(o.servers, p.settings.servers);
    EXPECT_EQ(o.user, "edge");
    EXPECT_EQ(o.password, "s3cret-pw");
    EXPECT_FALSE(o.tls);

    auto env = parse({}, {"ROOMCAST_NATS_USER=rooms", "ROOMCAST_NATS_PASSWORD=pw"});
    ASSERT_EQ(env.resolve_error, "");
    EXPECT_EQ(env.settings.servers, (std::vector<std::string>{"nats://127.0.0.1:4222"}));
    EXPECT_EQ(env.settings.user, "rooms");
    EXPECT_EQ(env.settings.password, "pw");
}

TEST(ClientSettings, RefusesWhatCannotWork) {
    TempDir dir;
    const std::string empty = dir.write("empty", "\n");
    const std::string pw = dir.write("pw", "x");
    const struct {
        std::vector<const char*> args;
        std::string error_has;
    } cases[] = {
        {{"--nats-url", ","}, "--nats-url names no server"},
        {{"--nats-url", "nats://u:p@h:4222", "--nats-user", "u"}, "given twice"},
        {{"--nats-password", "p"}, "--nats-password needs --nats-user"},
        {{"--nats-user", "u", "--nats-password", "p", "--nats-password-file", pw.c_str()},
         "exclusive"},
        {{"--nats-user", "u", "--nats-password-file", "/nonexistent/pw"}, "cannot read"},
        {{"--nats-user", "u", "--nats-password-file", empty.c_str()}, "is empty"},
        {{"--nats-tls-cert", pw.c_str()}, "go together"},
        {{"--nats-tls-ca", "/nonexistent/ca.pem"}, "--nats-tls-ca: cannot read"},
    };
    for (const auto& c : cases) {
        auto p = parse(c.args);
        EXPECT_NE(p.resolve_error.find(c.error_has), std::string::npos)
            << c.error_has << " / got: " << p.resolve_error;
    }
}

TEST(RedactUrls, MasksEveryCredential) {
    EXPECT_EQ(redact_urls("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    EXPECT_EQ(redact_urls("nats://edge:s3cret@127.0.0.1:4222"), "nats://edge:***@127.0.0.1:4222");
    EXPECT_EQ(redact_urls("nats://tok3n@host:4222"), "nats://***@host:4222");
    EXPECT_EQ(redact_urls("edge:pw@host:4222"), "edge:***@host:4222");
    EXPECT_EQ(redact_urls("nats://u:p@ss@host:4222/x@y"), "nats://u:***@host:4222/x@y");
    EXPECT_EQ(redact_urls("nats://a:1@h1:4222,tls://h2:4222,nats://t@h3"),
              "nats://a:***@h1:4222,tls://h2:4222,nats://***@h3");
    EXPECT_EQ(redact_urls(""), "");
    ClientSettings s;
    s.servers = {"nats://u:pw@a:4222", "nats://b:4222"};
    EXPECT_EQ(loggable_servers(s), "nats://u:***@a:4222,nats://b:4222");
    EXPECT_TRUE(url_has_credentials("nats://u:p@h"));
    EXPECT_TRUE(url_has_credentials("nats://t@h"));
    EXPECT_FALSE(url_has_credentials("nats://h:4222"));
    EXPECT_FALSE(url_has_credentials("nats://h:4222/a@b"));
}

// Collects every log line written while it lives.
class LogCapture {
public:
    LogCapture() {
        core::log::set_sink_for_testing([this](std::string_view line) {
            std::lock_guard lock(mu_);
            text_ += line;
        });
    }
    ~LogCapture() { core::log::set_sink_for_testing(nullptr); }
    std::string text() const {
        std::lock_guard lock(mu_);
        return text_;
    }

private:
    mutable std::mutex mu_;
    std::string text_;
};

constexpr const char* kUsersConfig = R"(
authorization {
  users = [
    { user: "svc", password: "right-pw-4f1c", permissions: {
        publish: { allow: ["allowed.>"] }, subscribe: { allow: ["allowed.>", "_INBOX.>"] },
        allow_responses: true } }
  ]
}
)";

Options options_for(const std::string& url) {
    Options o = testing::test_options(url);
    o.initial_connect_deadline = 3000ms;  // a refusal must not wait for this
    return o;
}

TEST(Authentication, WrongOrMissingCredentialsAreRefusedRightOnesConnect) {
    auto server = NatsServer::start(kUsersConfig);
    ASSERT_NE(server, nullptr);
    LogCapture logs;

    Options none = options_for(server->url());
    const auto start = std::chrono::steady_clock::now();
    auto anonymous = Connection::connect(none);
    ASSERT_FALSE(anonymous);
    EXPECT_EQ(anonymous.error(), make_error_code(Errc::kNotPermitted));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "an auth failure is not retried";

    Options wrong = options_for(server->url());
    wrong.user = "svc";
    wrong.password = "wrong-pw-9a2b";
    auto refused = Connection::connect(wrong);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), make_error_code(Errc::kNotPermitted));

    Options right = options_for(server->url());
    right.user = "svc";
    right.password = "right-pw-4f1c";
    auto conn = Connection::connect(right);
    ASSERT_TRUE(conn) << conn.error().message();
    EXPECT_TRUE((*conn)->connected());
    EXPECT_EQ((*conn)->connected_url(), server->url());

    // The same credentials in the URL: connected, and the URL it reports carries no password.
    const std::string with_userinfo = "nats://svc:right-pw-4f1c@" + server->url().substr(7);
    auto by_url = Connection::connect(options_for(with_userinfo));
    ASSERT_TRUE(by_url) << by_url.error().message();
    EXPECT_EQ((*by_url)->connected_url(), "nats://svc:***@" + server->url().substr(7));

    // The permissions hold: a request to an allowed subject works end to end (the inbox may be
    // subscribed to; the answer goes out through allow_responses, as every role's does).
    testing::Collector<Message> seen;
    auto sub = (*conn)->subscribe("allowed.echo", [&](Message&& m) {
        (void)(*conn)->publish(m.reply, m.data);
        seen.push(std::move(m));
    });
    ASSERT_TRUE(sub);
    ASSERT_TRUE((*conn)->flush(2s));  // the server has the subscription
    auto reply = (*by_url)->request("allowed.echo", "ping", 2s);
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(reply->data, "ping");

    by_url->reset();
    conn->reset();
    const std::string text = logs.text();
    EXPECT_EQ(text.find("right-pw-4f1c"), std::string::npos) << text;
    EXPECT_EQ(text.find("wrong-pw-9a2b"), std::string::npos) << text;
}

TEST(Authentication, AFileHeldPasswordConnects) {
    auto server = NatsServer::start(kUsersConfig);
    ASSERT_NE(server, nullptr);
    TempDir dir;
    const std::string env_url = "ROOMCAST_NATS_URL=" + server->url();
    const std::string env_file =
        "ROOMCAST_NATS_PASSWORD_FILE=" + dir.write("pw", "right-pw-4f1c\n");
    auto p = parse({"--nats-user", "svc"}, {env_url.c_str(), env_file.c_str()});
    ASSERT_EQ(p.resolve_error, "");
    Options o = client_options(p.settings);
    o.initial_connect_deadline = 3000ms;
    auto conn = Connection::connect(o);
    ASSERT_TRUE(conn) << conn.error().message();
}

// A CA, and a server and a client certificate it signed, made with the openssl command (a
// dependency of ca-certificates, which the build installs).
bool make_certificates(const TempDir& dir) {
    dir.write("server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    const std::string d = dir.path();
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string quiet = " >>" + d + "/openssl.log 2>&1";
    const std::string commands[] = {
        "openssl req -x509" + key + " -keyout " + d + "/ca.key -out " + d +
            "/ca.pem -days 1 -subj /CN=natsbus-test-ca" + quiet,
        "openssl req" + key + " -keyout " + d + "/server.key -out " + d +
            "/server.csr -subj /CN=localhost" + quiet,
        "openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d +
            "/ca.key -CAcreateserial -out " + d + "/server.pem -days 1 -extfile " + d +
            "/server.ext" + quiet,
        "openssl req" + key + " -keyout " + d + "/client.key -out " + d +
            "/client.csr -subj /CN=natsbus-test-client" + quiet,
        "openssl x509 -req -in " + d + "/client.csr -CA " + d + "/ca.pem -CAkey " + d +
            "/ca.key -CAcreateserial -out " + d + "/client.pem -days 1" + quiet,
    };
    for (const auto& c : commands) {
        if (std::system(c.c_str()) != 0) {
            return false;
        }
    }
    return true;
}

TEST(Tls, MutualTlsWithTheFlagsConnectsAndPlaintextDoesNot) {
    TempDir dir;
    ASSERT_TRUE(make_certificates(dir)) << "openssl failed; see " << dir.path() << "/openssl.log";
    const std::string d = dir.path();
    auto server = NatsServer::start("tls {\n  cert_file: \"" + d + "/server.pem\"\n  key_file: \"" +
                                    d + "/server.key\"\n  ca_file: \"" + d +
                                    "/ca.pem\"\n  verify: true\n  timeout: 2\n}\n");
    ASSERT_NE(server, nullptr);

    const std::string env_url = "ROOMCAST_NATS_URL=" + server->url();
    const std::string ca = "ROOMCAST_NATS_TLS_CA=" + d + "/ca.pem";
    const std::string cert = "ROOMCAST_NATS_TLS_CERT=" + d + "/client.pem";
    const std::string key = "ROOMCAST_NATS_TLS_KEY=" + d + "/client.key";
    auto p = parse({}, {env_url.c_str(), ca.c_str(), cert.c_str(), key.c_str()});
    ASSERT_EQ(p.resolve_error, "");
    Options o = client_options(p.settings);
    o.initial_connect_deadline = 3000ms;
    auto conn = Connection::connect(o);
    ASSERT_TRUE(conn) << conn.error().message();
    EXPECT_TRUE((*conn)->connected());

    Options plain = options_for(server->url());
    plain.initial_connect_deadline = 0ms;
    EXPECT_FALSE(Connection::connect(plain));

    Options no_client_cert = o;
    no_client_cert.tls_cert_file.clear();
    no_client_cert.tls_key_file.clear();
    no_client_cert.initial_connect_deadline = 0ms;
    EXPECT_FALSE(Connection::connect(no_client_cert)) << "the server requires a client certificate";
}

}  // namespace
}  // namespace roomcast::natsbus
