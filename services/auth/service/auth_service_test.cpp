// The auth service in process: the logic (AuthService, the key directory), the gRPC adapter on
// a real grpcutil::Server (in-process channel), and the JWKS publication into a real
// nats-server's KV bucket roomcast_config.

#include "service/auth_service.hpp"
#include "service/grpc_service.hpp"
#include "service/key_dir.hpp"
#include "service/key_sync.hpp"

#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/grpcutil/grpcutil.hpp"
#include "roomcast/jwt/jwt.hpp"
#include "roomcast/natsbus/testing.hpp"

#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

namespace roomcast::auth {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using natsbus::testing::connect_or_fail;
using natsbus::testing::eventually;
using natsbus::testing::shared_server;
using natsbus::testing::test_options;

constexpr std::string_view kAdminToken = "admin-token-for-tests";
constexpr std::string_view kSecret = "hs256-secret-for-tests";

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A fresh directory, removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "roomcast-auth-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

void write_file(const fs::path& path, std::string_view text) {
    // Written beside and renamed into place, as an operator rotating keys should.
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
    }
    fs::rename(tmp, path);
}

// A fresh private key written to <dir>/<kid>.pem.
jwt::Key write_key(const fs::path& dir, jwt::Algorithm alg, const std::string& kid) {
    auto key = jwt::generate(alg, kid);
    EXPECT_TRUE(key) << key.error().message();
    auto pem = jwt::private_pem(*key);
    EXPECT_TRUE(pem) << pem.error().message();
    write_file(dir / (kid + ".pem"), *pem);
    return *key;
}

std::string base64url_decode(std::string_view in) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : in) {
        int v = -1;
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '-') {
            v = 62;
        } else if (c == '_') {
            v = 63;
        }
        if (v < 0) {
            throw std::runtime_error("not base64url");
        }
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return out;
}

json::object token_part(const std::string& token, int index) {
    std::size_t begin = 0;
    for (int i = 0; i < index; ++i) {
        begin = token.find('.', begin) + 1;
    }
    const std::size_t end = token.find('.', begin);
    return json::parse(base64url_decode(token.substr(begin, end - begin))).as_object();
}

std::set<std::string> jwks_kids(const std::string& jwks) {
    std::set<std::string> kids;
    const json::value doc = json::parse(jwks);
    for (const auto& key : doc.at("keys").as_array()) {
        kids.insert(std::string(key.at("kid").as_string()));
    }
    return kids;
}

std::string sign_with(const jwt::Key& key, const std::string& sub, std::int64_t exp) {
    json::object claims;
    claims["sub"] = sub;
    claims["exp"] = exp;
    return jwt::sign(claims, key).value();
}

// grpc.health.v1.Health/Check for the server as a whole, through the generic stub (the health
// proto's C++ stubs are not installed). HealthCheckResponse{status} is the varint field 1:
// SERVING = 1, NOT_SERVING = 2.
int health_status(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::GenericStub stub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::Slice empty(std::string{});
    const grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                   &response, [&done](grpc::Status status) { done.set_value(status); });
    auto future = done.get_future();
    if (future.wait_for(10s) != std::future_status::ready || !future.get().ok()) {
        return -1;
    }
    std::vector<grpc::Slice> slices;
    (void)response.Dump(&slices);
    std::string bytes;
    for (const auto& slice : slices) {
        bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : 0;
}

template <class Response>
struct Reply {
    grpc::Status status;
    Response response;
};

// ---------------------------------------------------------------------------------------------
// The service on a gRPC server, with its KeySync against the shared nats-server.

class AuthServiceTest : public ::testing::Test {
protected:
    void SetUp() override {
        nats_ = connect_or_fail(test_options(shared_server().url()));
        ASSERT_NE(nats_, nullptr);
        auto kv = nats_->jetstream().key_value(contract::config_bucket(1, {}));
        ASSERT_TRUE(kv) << kv.error().message();
        kv_ = std::move(*kv);
        // The bucket outlives each test in the shared server: start from no document.
        (void)kv_->erase(contract::kJwksKey);
    }

    void TearDown() override {
        sync_.reset();
        server_.reset();
        grpc_.reset();
        service_.reset();
        kv_.reset();
        nats_.reset();
    }

    AuthOptions options() const {
        AuthOptions o;
        o.key_dir = keys_.path();
        return o;
    }

    void start(AuthOptions options, KeySyncOptions sync_options = {}) {
        auto service = AuthService::create(std::move(options));
        ASSERT_TRUE(service) << service.error().message;
        service_ = std::move(*service);
        grpc_ = std::make_unique<AuthGrpcService>(*service_, std::string(kAdminToken));
        server_ = std::make_unique<grpcutil::Server>("127.0.0.1:0");
        server_->add_service(grpc_.get());
        port_ = server_->start();
        ASSERT_GT(port_, 0);
        server_->set_serving(false);
        readiness_ =
            std::make_unique<Readiness>([this](bool ready) { server_->set_serving(ready); });
        readiness_->set_nats_connected(nats_->connected());
        sync_ = std::make_unique<KeySync>(*service_, *kv_, sync_options,
                                          [this] { readiness_->set_published(); });
        channel_ = server_->in_process_channel();
        stub_ = v1::Auth::NewStub(channel_);
    }

    void sync() {
        const auto outcome = sync_->sync_now();
        ASSERT_FALSE(outcome.reload_error) << outcome.reload_error->message;
        ASSERT_FALSE(outcome.publish_error) << outcome.publish_error.message();
    }

    std::string kv_jwks() {
        auto entry = kv_->get(contract::kJwksKey);
        EXPECT_TRUE(entry) << entry.error().message();
        return entry && *entry ? (*entry)->value : std::string();
    }

    static void authorize(grpc::ClientContext& context, std::string_view token) {
        context.set_deadline(std::chrono::system_clock::now() + 10s);
        if (!token.empty()) {
            grpcutil::add_bearer(context, token);
        }
    }

    Reply<v1::IssueTokenResponse> issue(const std::string& user_id, const std::string& name = {},
                                        std::int64_t ttl = 0,
                                        std::string_view token = kAdminToken) {
        v1::IssueTokenRequest request;
        request.set_user_id(user_id);
        request.set_name(name);
        request.set_ttl_seconds(ttl);
        grpc::ClientContext context;
        authorize(context, token);
        Reply<v1::IssueTokenResponse> reply;
        reply.status = stub_->IssueToken(&context, request, &reply.response);
        return reply;
    }

    Reply<v1::VerifyTokenResponse> verify(const std::string& jwt,
                                          std::string_view token = kAdminToken) {
        v1::VerifyTokenRequest request;
        request.set_token(jwt);
        grpc::ClientContext context;
        authorize(context, token);
        Reply<v1::VerifyTokenResponse> reply;
        reply.status = stub_->VerifyToken(&context, request, &reply.response);
        return reply;
    }

    Reply<v1::GetJwksResponse> get_jwks() {
        grpc::ClientContext context;
        authorize(context, {});
        Reply<v1::GetJwksResponse> reply;
        reply.status = stub_->GetJwks(&context, v1::GetJwksRequest{}, &reply.response);
        return reply;
    }

    std::string issue_ok(const std::string& user_id) {
        auto reply = issue(user_id);
        EXPECT_TRUE(reply.status.ok()) << reply.status.error_message();
        return reply.response.token();
    }

    TempDir keys_;
    std::unique_ptr<natsbus::Connection> nats_;
    std::unique_ptr<natsbus::KeyValue> kv_;
    std::unique_ptr<AuthService> service_;
    std::unique_ptr<AuthGrpcService> grpc_;
    std::unique_ptr<grpcutil::Server> server_;
    std::unique_ptr<Readiness> readiness_;
    std::unique_ptr<KeySync> sync_;
    int port_ = 0;
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<v1::Auth::Stub> stub_;
};

TEST_F(AuthServiceTest, AdminMethodsRefuseMissingOrWrongToken) {
    AuthOptions o;
    o.jwt_secret = kSecret;
    start(o);
    for (const std::string_view token : {std::string_view(), std::string_view("wrong-token"),
                                         std::string_view("admin-token-for-test")}) {
        SCOPED_TRACE(token);
        EXPECT_EQ(issue("alice", {}, 0, token).status.error_code(),
                  grpc::StatusCode::UNAUTHENTICATED);
        EXPECT_EQ(verify("x.y.z", token).status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    }
    // A token that is right but not sent as a Bearer credential is refused too.
    {
        grpc::ClientContext context;
        context.AddMetadata("authorization", std::string(kAdminToken));
        v1::IssueTokenResponse response;
        v1::IssueTokenRequest request;
        request.set_user_id("alice");
        EXPECT_EQ(stub_->IssueToken(&context, request, &response).error_code(),
                  grpc::StatusCode::UNAUTHENTICATED);
    }
    // GetJwks needs no credential.
    EXPECT_TRUE(get_jwks().status.ok());
    EXPECT_TRUE(issue("alice").status.ok());
}

class RoundTripTest : public AuthServiceTest,
                      public ::testing::WithParamInterface<jwt::Algorithm> {};

TEST_P(RoundTripTest, IssuedTokensVerifyHereAndWithThePublishedKeys) {
    const jwt::Algorithm alg = GetParam();
    AuthOptions o;
    jwt::KeySet edge_keys;  // what an edge would verify with
    if (alg == jwt::Algorithm::kHS256) {
        o.jwt_secret = kSecret;
        edge_keys.add(jwt::Key::hs256(std::string(kSecret)));
    } else {
        write_key(keys_.path(), alg, "k1");
        o.key_dir = keys_.path();
    }
    start(o);
    sync();
    if (alg != jwt::Algorithm::kHS256) {
        auto published = jwt::KeySet::from_jwks(kv_jwks());
        ASSERT_TRUE(published) << published.error().message();
        edge_keys = *published;
    }

    const std::int64_t before = unix_now();
    auto issued = issue("alice", "Alice Liddell", 120);
    ASSERT_TRUE(issued.status.ok()) << issued.status.error_message();
    const std::string expected_kid = alg == jwt::Algorithm::kHS256 ? "" : "k1";
    EXPECT_EQ(issued.response.kid(), expected_kid);
    EXPECT_EQ(issued.response.algorithm(), jwt::to_string(alg));
    EXPECT_GE(issued.response.expires_at().seconds(), before + 120);
    EXPECT_LE(issued.response.expires_at().seconds(), unix_now() + 120);

    const auto header = token_part(issued.response.token(), 0);
    EXPECT_EQ(header.at("alg").as_string(), jwt::to_string(alg));
    if (expected_kid.empty()) {
        EXPECT_FALSE(header.contains("kid"));
    } else {
        EXPECT_EQ(header.at("kid").as_string(), expected_kid);
    }
    const auto claims = token_part(issued.response.token(), 1);
    EXPECT_EQ(claims.at("sub").as_string(), "alice");
    EXPECT_EQ(claims.at("name").as_string(), "Alice Liddell");
    EXPECT_EQ(claims.at("exp").as_int64(), issued.response.expires_at().seconds());
    EXPECT_EQ(claims.at("exp").as_int64() - claims.at("iat").as_int64(), 120);
    EXPECT_EQ(claims.size(), 4u);

    auto verified = verify(issued.response.token());
    ASSERT_TRUE(verified.status.ok()) << verified.status.error_message();
    EXPECT_TRUE(verified.response.valid()) << verified.response.error_message();
    EXPECT_EQ(verified.response.user_id(), "alice");
    EXPECT_EQ(verified.response.name(), "Alice Liddell");
    EXPECT_EQ(verified.response.expires_at().seconds(), issued.response.expires_at().seconds());
    EXPECT_TRUE(verified.response.error_code().empty());

    auto at_edge = jwt::verify(issued.response.token(), edge_keys);
    ASSERT_TRUE(at_edge) << at_edge.error().message();
    EXPECT_EQ(at_edge->sub, "alice");

    // Without a name the claim is left out and the name is the user id, as on an edge.
    auto unnamed = issue("bob");
    ASSERT_TRUE(unnamed.status.ok());
    EXPECT_FALSE(token_part(unnamed.response.token(), 1).contains("name"));
    EXPECT_EQ(verify(unnamed.response.token()).response.name(), "bob");
}

INSTANTIATE_TEST_SUITE_P(Algorithms, RoundTripTest,
                         ::testing::Values(jwt::Algorithm::kHS256, jwt::Algorithm::kRS256,
                                           jwt::Algorithm::kES256),
                         [](const auto& info) { return std::string(jwt::to_string(info.param)); });

TEST_F(AuthServiceTest, IssueTokenValidatesItsInput) {
    AuthOptions o;
    o.jwt_secret = kSecret;
    o.default_ttl = 600s;
    o.max_ttl = 7200s;
    start(o);
    const auto expect_invalid = [&](const Reply<v1::IssueTokenResponse>& reply,
                                    std::string_view mentions) {
        EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
        EXPECT_NE(reply.status.error_message().find(mentions), std::string::npos)
            << reply.status.error_message();
    };
    expect_invalid(issue(""), "user_id is required");
    expect_invalid(issue(std::string(257, 'u')), "user_id is longer than 256 bytes");
    expect_invalid(issue("alice", std::string(257, 'n')), "name is longer than 256 bytes");
    expect_invalid(issue("alice", {}, -1), "ttl_seconds");
    expect_invalid(issue("alice", {}, 7201), "from 1 to 7200");

    // The limits themselves are fine: 256 bytes of two-byte characters, the longest ttl.
    std::string wide;
    for (int i = 0; i < 128; ++i) {
        wide += "\xC3\xA9";
    }
    auto longest = issue(wide, wide, 7200);
    ASSERT_TRUE(longest.status.ok()) << longest.status.error_message();
    EXPECT_EQ(verify(longest.response.token()).response.user_id(), wide);
    auto shortest = issue("a", {}, 1);
    EXPECT_TRUE(shortest.status.ok()) << shortest.status.error_message();

    // ttl 0 is the configured default.
    const std::int64_t before = unix_now();
    auto defaulted = issue("alice");
    ASSERT_TRUE(defaulted.status.ok());
    EXPECT_GE(defaulted.response.expires_at().seconds(), before + 600);
    EXPECT_LE(defaulted.response.expires_at().seconds(), unix_now() + 600);

    // Invalid UTF-8 cannot even cross gRPC as a proto3 string; the logic refuses it itself.
    for (const std::string bad :
         {"\xFF", "a\xC0\xAF", "\xED\xA0\x80", "\xE2\x82", "\xF4\x90\x80\x80"}) {
        v1::IssueTokenRequest request;
        request.set_user_id(bad);
        auto refused = service_->issue_token(request);
        ASSERT_FALSE(refused);
        EXPECT_EQ(refused.error().code, Error::Code::kInvalidArgument);
        EXPECT_EQ(refused.error().message, "user_id is not valid UTF-8");
        request.set_user_id("alice");
        request.set_name(bad);
        refused = service_->issue_token(request);
        ASSERT_FALSE(refused);
        EXPECT_EQ(refused.error().message, "name is not valid UTF-8");
    }
}

TEST(Utf8Test, AcceptsWellFormedAndRefusesTheRest) {
    EXPECT_TRUE(valid_utf8(""));
    EXPECT_TRUE(valid_utf8("plain ascii"));
    EXPECT_TRUE(valid_utf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF"));
    EXPECT_TRUE(valid_utf8(std::string_view("nul\0inside", 10)));
    EXPECT_FALSE(valid_utf8("\x80"));              // lone continuation
    EXPECT_FALSE(valid_utf8("\xC1\xBF"));          // overlong two bytes
    EXPECT_FALSE(valid_utf8("\xE0\x9F\xBF"));      // overlong three bytes
    EXPECT_FALSE(valid_utf8("\xF0\x8F\xBF\xBF"));  // overlong four bytes
    EXPECT_FALSE(valid_utf8("\xED\xBF\xBF"));      // surrogate
    EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    EXPECT_FALSE(valid_utf8("\xF5\x80\x80\x80"));
    EXPECT_FALSE(valid_utf8("\xE2\x28\xA1"));  // bad continuation
    EXPECT_FALSE(valid_utf8("\xF0\x9F\x98"));  // truncated
}

TEST_F(AuthServiceTest, VerifyTokenReportsTheEdgesErrorCodes) {
    const jwt::Key rsa = write_key(keys_.path(), jwt::Algorithm::kRS256, "r1");
    AuthOptions o = options();
    o.jwt_secret = kSecret;
    start(o);
    const std::int64_t now = unix_now();
    const auto expect_code = [&](const std::string& token, std::string_view code) {
        auto reply = verify(token);
        ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
        EXPECT_FALSE(reply.response.valid());
        EXPECT_EQ(reply.response.error_code(), code);
        EXPECT_FALSE(reply.response.error_message().empty());
        EXPECT_TRUE(reply.response.user_id().empty());
    };
    expect_code("", "token_missing");
    expect_code("not-a-token", "token_invalid");
    expect_code("a.b.c", "token_invalid");
    expect_code(sign_with(rsa, "alice", now - 60), "token_expired");
    // Another key under the same kid, an unknown kid, another secret.
    expect_code(sign_with(jwt::generate(jwt::Algorithm::kRS256, "r1").value(), "alice", now + 60),
                "token_invalid");
    expect_code(sign_with(jwt::generate(jwt::Algorithm::kES256, "e9").value(), "alice", now + 60),
                "token_invalid");
    expect_code(sign_with(jwt::Key::hs256("another secret"), "alice", now + 60), "token_invalid");

    // 30 s of leeway on exp, as the edges have.
    auto late = verify(sign_with(rsa, "alice", now - 10));
    EXPECT_TRUE(late.response.valid()) << late.response.error_message();
    // Tokens signed elsewhere with the shared secret verify too.
    auto shared = verify(sign_with(jwt::Key::hs256(std::string(kSecret)), "carol", now + 60));
    EXPECT_TRUE(shared.response.valid()) << shared.response.error_message();
    EXPECT_EQ(shared.response.user_id(), "carol");
}

TEST_F(AuthServiceTest, JwksHoldsExactlyTheKeyDirPublicKeysAndIsPublished) {
    const jwt::Key rsa = write_key(keys_.path(), jwt::Algorithm::kRS256, "a");
    const jwt::Key ec = write_key(keys_.path(), jwt::Algorithm::kES256, "b");
    write_file(keys_.path() / "c.pem", "not a key");
    write_file(keys_.path() / "notes.txt", "ignored");
    AuthOptions o = options();
    o.jwt_secret = kSecret;
    start(o);

    auto reply = get_jwks();
    ASSERT_TRUE(reply.status.ok());
    const auto doc = json::parse(reply.response.jwks_json()).as_object();
    ASSERT_EQ(doc.size(), 1u);
    const auto& keys = doc.at("keys").as_array();
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].as_object(), rsa.public_jwk().value());
    EXPECT_EQ(keys[1].as_object(), ec.public_jwk().value());
    for (const auto& key : keys) {
        // Public halves only: no private RSA/EC members, and no HS256 secret.
        for (const char* member : {"d", "p", "q", "dp", "dq", "qi", "k"}) {
            EXPECT_FALSE(key.as_object().contains(member)) << member;
        }
        EXPECT_NE(key.at("kty").as_string(), "oct");
    }
    EXPECT_EQ(reply.response.jwks_json().find(std::string(kSecret)), std::string::npos);

    EXPECT_EQ(kv_jwks(), "");
    sync();
    EXPECT_EQ(kv_jwks(), reply.response.jwks_json());
    EXPECT_TRUE(sync_->published());
}

TEST_F(AuthServiceTest, HealthIsServingOnceTheJwksIsPublished) {
    write_key(keys_.path(), jwt::Algorithm::kES256, "e1");
    start(options());
    EXPECT_EQ(health_status(channel_), 2);
    EXPECT_FALSE(readiness_->ready());
    sync();
    EXPECT_TRUE(readiness_->ready());
    EXPECT_EQ(health_status(channel_), 1);
    // Over TCP too, as a Kubernetes gRPC probe would ask.
    EXPECT_EQ(health_status(grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                                grpc::InsecureChannelCredentials())),
              1);
    readiness_->set_stopping();
    EXPECT_EQ(health_status(channel_), 2);
}

TEST_F(AuthServiceTest, RotationAddsThenRetiresAKey) {
    write_key(keys_.path(), jwt::Algorithm::kRS256, "2025-01");
    start(options());
    sync();
    auto first = issue("alice");
    ASSERT_TRUE(first.status.ok());
    EXPECT_EQ(first.response.kid(), "2025-01");
    EXPECT_EQ(first.response.algorithm(), "RS256");
    const std::string first_jwks = kv_jwks();
    EXPECT_EQ(jwks_kids(first_jwks), (std::set<std::string>{"2025-01"}));

    // A greater kid appears: it signs new tokens, both keys are published, old tokens verify.
    write_key(keys_.path(), jwt::Algorithm::kES256, "2025-02");
    sync();
    auto second = issue("alice");
    ASSERT_TRUE(second.status.ok());
    EXPECT_EQ(second.response.kid(), "2025-02");
    EXPECT_EQ(second.response.algorithm(), "ES256");
    EXPECT_EQ(token_part(second.response.token(), 0).at("kid").as_string(), "2025-02");
    EXPECT_EQ(jwks_kids(get_jwks().response.jwks_json()),
              (std::set<std::string>{"2025-01", "2025-02"}));
    EXPECT_EQ(kv_jwks(), get_jwks().response.jwks_json());
    EXPECT_NE(kv_jwks(), first_jwks);
    EXPECT_TRUE(verify(first.response.token()).response.valid());
    EXPECT_TRUE(verify(second.response.token()).response.valid());

    // The old key is retired: it leaves the JWKS (in KV too) and its tokens are refused.
    fs::remove(keys_.path() / "2025-01.pem");
    sync();
    EXPECT_EQ(jwks_kids(get_jwks().response.jwks_json()), (std::set<std::string>{"2025-02"}));
    EXPECT_EQ(kv_jwks(), get_jwks().response.jwks_json());
    auto refused = verify(first.response.token());
    EXPECT_FALSE(refused.response.valid());
    EXPECT_EQ(refused.response.error_code(), "token_invalid");
    EXPECT_TRUE(verify(second.response.token()).response.valid());
    EXPECT_EQ(issue("alice").response.kid(), "2025-02");
}

// RotateKey (roomcastctl keys rotate): a new ES256 key file, pending until the next sync round
// publishes it, then signing; ListKeys shows each step. Older tokens keep verifying.
TEST_F(AuthServiceTest, RotateKeyWritesAKeyThatSignsOncePublished) {
    write_key(keys_.path(), jwt::Algorithm::kRS256, "2025-01");
    start(options());
    sync();
    const auto list = [this](std::string_view token = kAdminToken) {
        grpc::ClientContext context;
        authorize(context, token);
        Reply<v1::ListKeysResponse> reply;
        reply.status = stub_->ListKeys(&context, v1::ListKeysRequest{}, &reply.response);
        return reply;
    };
    const auto rotate = [this](const std::string& alg, const std::string& kid,
                               std::string_view token = kAdminToken) {
        v1::RotateKeyRequest request;
        request.set_algorithm(alg);
        request.set_kid(kid);
        grpc::ClientContext context;
        authorize(context, token);
        Reply<v1::RotateKeyResponse> reply;
        reply.status = stub_->RotateKey(&context, request, &reply.response);
        return reply;
    };
    const auto shown = [&] {
        std::vector<std::string> rows;
        const auto reply = list();
        for (const auto& k : reply.response.keys()) {
            rows.push_back(k.kid() + " " + k.algorithm() + (k.signing() ? " signing" : "") +
                           (k.pending() ? " pending" : "") + (k.published() ? " published" : ""));
        }
        return rows;
    };
    EXPECT_EQ(shown(), (std::vector<std::string>{"2025-01 RS256 signing published"}));
    const std::string old_token = issue_ok("alice");

    const auto rotated = rotate("", "");
    ASSERT_TRUE(rotated.status.ok()) << rotated.status.error_message();
    const std::string kid = rotated.response.kid();
    EXPECT_EQ(rotated.response.algorithm(), "ES256");
    EXPECT_EQ(kid.size(), 15U) << kid;  // YYYYMMDD-HHMMSS
    const fs::path file = keys_.path() / (kid + ".pem");
    ASSERT_TRUE(fs::exists(file));
    EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);

    sync();  // loads and publishes it: what the callback asks of the KeySync in main
    EXPECT_EQ(shown(), (std::vector<std::string>{"2025-01 RS256 published",
                                                 kid + " ES256 signing published"}));
    EXPECT_EQ(issue("alice").response.kid(), kid);
    EXPECT_TRUE(verify(old_token).response.valid()) << "the old key still verifies";
    EXPECT_EQ(jwks_kids(kv_jwks()), (std::set<std::string>{"2025-01", kid}));

    EXPECT_EQ(rotate("", "2000").status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << "a kid that sorts first would never sign";
    EXPECT_EQ(rotate("", kid).status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(rotate("HS256", "").status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(rotate("", "../x").status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(rotate("", "", "wrong").status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(list("").status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    const auto rsa = rotate("RS256", "zz-rsa");
    ASSERT_TRUE(rsa.status.ok()) << rsa.status.error_message();
    EXPECT_EQ(rsa.response.algorithm(), "RS256");
}

TEST(AuthLogicTest, RotationNeedsAKeyDirectoryAndNoPinnedKid) {
    AuthOptions secret_only;
    secret_only.jwt_secret = std::string(kSecret);
    auto service = AuthService::create(secret_only).value();
    ASSERT_EQ(service->list_keys().size(), 1U);
    EXPECT_EQ(service->list_keys()[0].kid, "");
    EXPECT_EQ(service->list_keys()[0].algorithm, "HS256");
    EXPECT_TRUE(service->list_keys()[0].signing);
    EXPECT_FALSE(service->list_keys()[0].published) << "the secret is never published";
    auto refused = service->write_new_key("", "");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Error::Code::kFailedPrecondition);

    TempDir dir;
    write_key(dir.path(), jwt::Algorithm::kES256, "a");
    AuthOptions pinned;
    pinned.key_dir = dir.path();
    pinned.active_kid = "a";
    auto pinned_service = AuthService::create(pinned).value();
    auto pinned_refused = pinned_service->write_new_key("", "b");
    ASSERT_FALSE(pinned_refused);
    EXPECT_EQ(pinned_refused.error().code, Error::Code::kFailedPrecondition);
    EXPECT_FALSE(fs::exists(dir.path() / "b.pem"));
}

TEST_F(AuthServiceTest, SighupPathReloadsOnTheSyncThread) {
    write_key(keys_.path(), jwt::Algorithm::kRS256, "a");
    KeySyncOptions slow;
    slow.reload_interval = 3600s;
    start(options(), slow);
    sync();
    sync_->start();
    write_key(keys_.path(), jwt::Algorithm::kRS256, "b");
    sync_->request_reload();
    EXPECT_TRUE(eventually([&] { return jwks_kids(kv_jwks()).size() == 2; }, 10s));
    EXPECT_TRUE(eventually([&] { return service_->signing_kid() == "b"; }));
    EXPECT_EQ(issue("alice").response.kid(), "b");
    sync_->stop();
}

TEST_F(AuthServiceTest, TheIntervalPicksUpNewKeys) {
    write_key(keys_.path(), jwt::Algorithm::kES256, "a");
    KeySyncOptions fast;
    fast.reload_interval = 100ms;
    start(options(), fast);
    sync();
    sync_->start();
    write_key(keys_.path(), jwt::Algorithm::kES256, "b");
    EXPECT_TRUE(eventually([&] { return jwks_kids(kv_jwks()).size() == 2; }, 10s));
    fs::remove(keys_.path() / "a.pem");
    EXPECT_TRUE(eventually([&] { return jwks_kids(kv_jwks()).size() == 1; }, 10s));
    EXPECT_EQ(service_->signing_kid(), "b");
}

TEST_F(AuthServiceTest, ARepublishRestoresTheKvValue) {
    write_key(keys_.path(), jwt::Algorithm::kES256, "a");
    KeySyncOptions slow;
    slow.reload_interval = 3600s;
    start(options(), slow);
    sync();
    sync_->start();
    ASSERT_TRUE(kv_->put(contract::kJwksKey, R"({"keys":[]})"));
    sync_->request_republish();
    EXPECT_TRUE(eventually([&] { return kv_jwks() == service_->jwks_json(); }, 10s));
}

// ---------------------------------------------------------------------------------------------
// The logic alone.

TEST(AuthLogicTest, ANewKeySignsOnlyOnceItIsPublished) {
    TempDir dir;
    write_key(dir.path(), jwt::Algorithm::kRS256, "a");
    AuthOptions o;
    o.key_dir = dir.path();
    auto service = AuthService::create(o).value();
    // Nothing published yet and nothing else to sign with: the key signs.
    EXPECT_EQ(service->signing_kid(), "a");
    EXPECT_FALSE(service->mark_published(service->jwks_json()));

    write_key(dir.path(), jwt::Algorithm::kES256, "b");
    auto report = service->reload().value();
    EXPECT_TRUE(report.changed);
    EXPECT_EQ(report.signing_kid, "a");
    EXPECT_EQ(report.desired_kid, "b");
    v1::IssueTokenRequest request;
    request.set_user_id("alice");
    EXPECT_EQ(service->issue_token(request).value().kid(), "a");
    EXPECT_EQ(jwks_kids(service->jwks_json()), (std::set<std::string>{"a", "b"}));

    EXPECT_TRUE(service->mark_published(service->jwks_json()));
    EXPECT_EQ(service->signing_kid(), "b");
    EXPECT_EQ(service->issue_token(request).value().kid(), "b");
    EXPECT_FALSE(service->reload().value().changed);

    // The next greater kid waits for its publication too.
    write_key(dir.path(), jwt::Algorithm::kES256, "c");
    (void)service->reload().value();
    EXPECT_EQ(service->signing_kid(), "b");
    // When the signing key disappears before the new one is published, the new one signs.
    fs::remove(dir.path() / "b.pem");
    EXPECT_EQ(service->reload().value().signing_kid, "c");
}

TEST(AuthLogicTest, StartupRefusesUnusableKeyConfiguration) {
    TempDir dir;
    const auto refused = [](const AuthOptions& o, std::string_view mentions) {
        auto service = AuthService::create(o);
        ASSERT_FALSE(service);
        EXPECT_EQ(service.error().code, Error::Code::kFailedPrecondition);
        EXPECT_NE(service.error().message.find(mentions), std::string::npos)
            << service.error().message;
    };
    refused(AuthOptions{}, "no signing key");
    AuthOptions o;
    o.key_dir = dir.path() / "missing";
    refused(o, "missing");
    o.key_dir = dir.path();
    refused(o, "no signing key");
    write_file(dir.path() / "broken.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n");
    refused(o, "broken.pem: not an RSA or EC P-256 key");
    write_key(dir.path(), jwt::Algorithm::kRS256, "a");
    o.active_kid = "z";
    refused(o, "the active kid 'z'");
    o.active_kid = "bad kid";
    refused(o, "--active-kid");
    o.active_kid.clear();
    o.default_ttl = 7200s;
    o.max_ttl = 3600s;
    refused(o, "default ttl");
    AuthOptions kid_without_dir;
    kid_without_dir.jwt_secret = kSecret;
    kid_without_dir.active_kid = "a";
    refused(kid_without_dir, "--key-dir");

    // A secret with an empty key directory signs with the secret and publishes no key.
    TempDir empty;
    AuthOptions secret_only;
    secret_only.jwt_secret = kSecret;
    secret_only.key_dir = empty.path();
    auto service = AuthService::create(secret_only).value();
    EXPECT_EQ(service->signing_kid(), "");
    EXPECT_EQ(json::parse(service->jwks_json()), json::parse(R"({"keys":[]})"));

    // An explicit active kid wins over the greatest one.
    write_key(dir.path(), jwt::Algorithm::kES256, "b");
    AuthOptions pinned;
    pinned.key_dir = dir.path();
    pinned.active_kid = "a";
    EXPECT_EQ(AuthService::create(pinned).value()->signing_kid(), "a");
    pinned.active_kid.clear();
    EXPECT_EQ(AuthService::create(pinned).value()->signing_kid(), "b");
}

TEST(AuthLogicTest, IssuerAndAudienceAreIssuedAndRequired) {
    AuthOptions o;
    o.jwt_secret = kSecret;
    o.issuer = "https://auth.example";
    o.audience = "roomcast";
    auto service = AuthService::create(o).value();
    v1::IssueTokenRequest request;
    request.set_user_id("alice");
    const auto token = service->issue_token(request).value().token();
    const auto payload = token_part(token, 1);
    EXPECT_EQ(payload.at("iss"), "https://auth.example");
    EXPECT_EQ(payload.at("aud"), "roomcast");
    v1::VerifyTokenRequest verify;
    verify.set_token(token);
    EXPECT_TRUE(service->verify_token(verify).valid());

    // A token of the same key without them is refused by this service (as by the edges).
    AuthOptions plain;
    plain.jwt_secret = kSecret;
    verify.set_token(AuthService::create(plain).value()->issue_token(request).value().token());
    const auto refused = service->verify_token(verify);
    EXPECT_FALSE(refused.valid());
    EXPECT_EQ(refused.error_code(), "token_invalid");
}

TEST(AuthLogicTest, AFailedReloadKeepsThePreviousKeys) {
    TempDir dir;
    write_key(dir.path(), jwt::Algorithm::kRS256, "a");
    write_key(dir.path(), jwt::Algorithm::kRS256, "b");
    AuthOptions o;
    o.key_dir = dir.path();
    o.active_kid = "a";
    auto service = AuthService::create(o).value();
    const std::string jwks = service->jwks_json();
    fs::remove(dir.path() / "a.pem");
    auto reloaded = service->reload();
    ASSERT_FALSE(reloaded);
    EXPECT_NE(reloaded.error().message.find("'a'"), std::string::npos);
    EXPECT_EQ(service->signing_kid(), "a");
    EXPECT_EQ(service->jwks_json(), jwks);
    v1::IssueTokenRequest request;
    request.set_user_id("alice");
    EXPECT_EQ(service->issue_token(request).value().kid(), "a");
}

TEST(KeyDirTest, LoadsPrivateKeysAndReportsWhatItSkips) {
    TempDir dir;
    TempDir elsewhere;
    write_key(dir.path(), jwt::Algorithm::kRS256, "r");
    write_key(elsewhere.path(), jwt::Algorithm::kES256, "e");
    // A Kubernetes Secret volume: the key files are symlinks, its bookkeeping starts with '.'.
    fs::create_symlink(elsewhere.path() / "e.pem", dir.path() / "e.pem");
    fs::create_directory(dir.path() / "..data");
    write_file(dir.path() / ".hidden.pem", "x");
    write_file(dir.path() / "notes.txt", "x");
    write_file(dir.path() / "r2.pem.tmp", "x");
    write_file(dir.path() / "garbage.pem", "x");
    write_file(dir.path() / "bad kid.pem", "x");
    fs::create_directory(dir.path() / "dir.pem");
    fs::create_symlink(dir.path() / "gone", dir.path() / "dangling.pem");
    auto loaded = load_key_dir(dir.path());
    ASSERT_TRUE(loaded) << loaded.error().message;
    ASSERT_EQ(loaded->keys.size(), 2u);
    EXPECT_EQ(loaded->keys[0].kid(), "e");
    EXPECT_EQ(loaded->keys[0].algorithm(), jwt::Algorithm::kES256);
    EXPECT_EQ(loaded->keys[1].kid(), "r");
    EXPECT_EQ(loaded->keys[1].algorithm(), jwt::Algorithm::kRS256);
    ASSERT_EQ(loaded->problems.size(), 4u) << ::testing::PrintToString(loaded->problems);
    EXPECT_EQ(loaded->problems[0].rfind("bad kid.pem: the kid must be", 0), 0u);
    EXPECT_EQ(loaded->problems[1], "dangling.pem: not a regular file");
    EXPECT_EQ(loaded->problems[2], "dir.pem: not a regular file");
    EXPECT_EQ(loaded->problems[3], "garbage.pem: not an RSA or EC P-256 key in PEM");

    KeyDirLimits tight;
    tight.max_keys = 2;  // e, r and garbage are key files
    EXPECT_FALSE(load_key_dir(dir.path(), tight));
    tight.max_keys = 64;
    tight.max_file_bytes = 100;
    auto small = load_key_dir(dir.path(), tight);
    ASSERT_TRUE(small);
    EXPECT_TRUE(small->keys.empty());

    EXPECT_TRUE(valid_kid("2025-01-15.rsa_main"));
    EXPECT_FALSE(valid_kid(""));
    EXPECT_FALSE(valid_kid(".x"));
    EXPECT_FALSE(valid_kid("a/b"));
    EXPECT_FALSE(valid_kid(std::string(129, 'k')));
}

TEST(AuthLogicTest, KeysChangeUnderConcurrentIssueAndVerify) {
    TempDir dir;
    write_key(dir.path(), jwt::Algorithm::kES256, "a");
    AuthOptions o;
    o.key_dir = dir.path();
    o.jwt_secret = kSecret;
    auto service = AuthService::create(o).value();
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t) {
        workers.emplace_back([&] {
            v1::IssueTokenRequest request;
            request.set_user_id("alice");
            while (!stop.load()) {
                auto issued = service->issue_token(request);
                if (!issued) {
                    ++failures;
                    continue;
                }
                v1::VerifyTokenRequest check;
                check.set_token(issued->token());
                // The key may be retired between the two calls; then the token is refused.
                const auto verified = service->verify_token(check);
                if (!verified.valid() && verified.error_code() != "token_invalid") {
                    ++failures;
                }
            }
        });
    }
    for (int i = 0; i < 20; ++i) {
        write_key(dir.path(), jwt::Algorithm::kES256, "b");
        ASSERT_TRUE(service->reload());
        (void)service->mark_published(service->jwks_json());
        fs::remove(dir.path() / "b.pem");
        ASSERT_TRUE(service->reload());
    }
    stop = true;
    for (auto& worker : workers) {
        worker.join();
    }
    EXPECT_EQ(failures.load(), 0);
}

TEST(ReadinessTest, ReadyWhenConnectedAndPublishedUntilStopping) {
    std::vector<bool> changes;
    Readiness readiness([&changes](bool ready) { changes.push_back(ready); });
    EXPECT_FALSE(readiness.ready());
    readiness.set_published();
    EXPECT_FALSE(readiness.ready());
    readiness.set_nats_connected(true);
    EXPECT_TRUE(readiness.ready());
    readiness.set_nats_connected(true);
    readiness.set_nats_connected(false);
    EXPECT_FALSE(readiness.ready());
    readiness.set_nats_connected(true);
    readiness.set_stopping();
    readiness.set_nats_connected(true);
    EXPECT_FALSE(readiness.ready());
    EXPECT_EQ(changes, (std::vector<bool>{true, false, true, false}));
}

}  // namespace
}  // namespace roomcast::auth
