#include "roomcast/jwt/jwt.hpp"

#include "base64url.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <ostream>
#include <random>
#include <thread>

namespace roomcast::jwt {

// Readable failures: gtest prints the error's message instead of a byte dump.
void PrintTo(Errc e, std::ostream* os) {
    *os << make_error_code(e).message();
}

namespace {
namespace json = boost::json;

using detail::base64url_decode;
using detail::base64url_encode;

constexpr std::int64_t kNow = 1'700'000'000;

// ---------------------------------------------------------------------------------------------
// Helpers

Errc error_of(const Result<Claims>& result) {
    if (result.has_value()) {
        return Errc::kOk;
    }
    EXPECT_EQ(&result.error().category(), &jwt_category());
    return static_cast<Errc>(result.error().value());
}

template <class T>
Errc error_of(const Result<T>& result) {
    return result.has_value() ? Errc::kOk : static_cast<Errc>(result.error().value());
}

VerifyOptions at(std::int64_t now, std::chrono::seconds leeway = std::chrono::seconds(30)) {
    VerifyOptions options;
    options.now = now;
    options.leeway = leeway;
    return options;
}

json::object claims_until(std::int64_t exp, const std::string& sub = "user-1") {
    json::object claims;
    claims["sub"] = sub;
    claims["exp"] = exp;
    return claims;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
    return std::string(reinterpret_cast<const char*>(out), length);
}

// A token with arbitrary header and payload text, HMAC-signed: how the tests build tokens that
// sign() would never produce.
std::string hs256_token(std::string_view header, std::string_view payload,
                        std::string_view secret) {
    const std::string input = base64url_encode(header) + "." + base64url_encode(payload);
    return input + "." + base64url_encode(hmac_sha256(secret, input));
}

KeySet set_of(std::initializer_list<Key> keys) {
    KeySet set;
    for (const Key& key : keys) {
        set.add(key);
    }
    return set;
}

std::vector<std::string> split(const std::string& token) {
    std::vector<std::string> parts(1);
    for (const char c : token) {
        if (c == '.') {
            parts.emplace_back();
        } else {
            parts.back().push_back(c);
        }
    }
    return parts;
}

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        out += (i == 0 ? "" : ".") + parts[i];
    }
    return out;
}

// Generated once: RSA key generation takes a noticeable fraction of a second under ASan.
const Key& rsa_key() {
    static const Key key = generate(Algorithm::kRS256, "rsa-1").value();
    return key;
}
const Key& ec_key() {
    static const Key key = generate(Algorithm::kES256, "ec-1").value();
    return key;
}
const Key& hs_key() {
    static const Key key = Key::hs256("a shared secret of enough length!", "hs-1");
    return key;
}

struct PkeyFree {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

Pkey read_private(const std::string& pem) {
    const Bio in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return Pkey(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(length));
}

// SPKI ("PUBLIC KEY") PEM of a private key's public half.
std::string public_pem_of(const std::string& private_pem) {
    const Pkey pkey = read_private(private_pem);
    const Bio out(BIO_new(BIO_s_mem()));
    EXPECT_EQ(PEM_write_bio_PUBKEY(out.get(), pkey.get()), 1);
    return bio_text(out.get());
}

std::string traditional_pem_of(const std::string& private_pem) {
    const Pkey pkey = read_private(private_pem);
    const Bio out(BIO_new(BIO_s_mem()));
    EXPECT_EQ(PEM_write_bio_PrivateKey_traditional(out.get(), pkey.get(), nullptr, nullptr, 0,
                                                   nullptr, nullptr),
              1);
    return bio_text(out.get());
}

std::string pkcs8_pem(EVP_PKEY* pkey) {
    const Bio out(BIO_new(BIO_s_mem()));
    EXPECT_EQ(PEM_write_bio_PrivateKey(out.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr), 1);
    return bio_text(out.get());
}

// ---------------------------------------------------------------------------------------------
// Golden vectors: RFC 7515 Appendix A. None of its claim sets has a "sub", so a token whose
// signature and "exp" pass ends in kMissingClaim: that, not kBadSignature or kExpired, is the
// proof the signature verified.

// A.1's key is the JWK {"kty":"oct","k":...}; decoded here because oct JWKs are (by design)
// not accepted by Key::from_jwk.
constexpr char kA1Key[] =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
constexpr char kA1Token[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTk"
    "zODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbU"
    "JU1p1r_wW1gFWFOEjXk";
constexpr std::int64_t kA1Exp = 1300819380;
constexpr char kRfcPayload[] =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19y"
    "b290Ijp0cnVlfQ";

constexpr char kA2Modulus[] =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJ"
    "PMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0"
    "LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uD"
    "Zlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2"
    "PAcDTW9gb54h4FRWyuXpoQ";
constexpr char kA2Signature[] =
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF"
    "5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK"
    "5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqt"
    "FZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw";
constexpr char kA3X[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr char kA3Y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
constexpr char kA3Signature[] =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

KeySet a1_keys() {
    return set_of({Key::hs256(base64url_decode(kA1Key).value())});
}

// Replaces the character at `index` with a different alphabet character that keeps the text
// canonical base64url (so the change reaches the signature check, not the decoder).
std::string tamper(std::string text, std::size_t index) {
    text[index] = text[index] == 'A' ? 'B' : 'A';
    return text;
}

TEST(Rfc7515, A1Hs256VerifiesWhileExpIsInRange) {
    const KeySet keys = a1_keys();
    EXPECT_EQ(error_of(verify(kA1Token, keys, at(kA1Exp - 3600))), Errc::kMissingClaim);
    EXPECT_EQ(error_of(verify(kA1Token, keys, at(kA1Exp))), Errc::kMissingClaim);
    EXPECT_EQ(error_of(verify(kA1Token, keys, at(kA1Exp + 30))), Errc::kMissingClaim);
    EXPECT_EQ(error_of(verify(kA1Token, keys, at(kA1Exp + 31))), Errc::kExpired);
    EXPECT_EQ(error_of(verify(kA1Token, keys, at(kA1Exp + 1, std::chrono::seconds(0)))),
              Errc::kExpired);
}

TEST(Rfc7515, A1Hs256TamperedFails) {
    const KeySet keys = a1_keys();
    const std::vector<std::string> parts = split(kA1Token);
    for (std::size_t part = 0; part < 3; ++part) {
        for (const std::size_t index : {std::size_t{0}, std::size_t{5}, parts[part].size() / 2}) {
            std::vector<std::string> changed = parts;
            changed[part] = tamper(changed[part], index);
            const Errc error = error_of(verify(join(changed), keys, at(kA1Exp)));
            if (part == 0) {
                // A changed header rarely stays valid JSON; it fails before or at the signature.
                EXPECT_TRUE(error == Errc::kMalformed || error == Errc::kBadSignature) << index;
            } else {
                EXPECT_EQ(error, Errc::kBadSignature) << "part " << part << " index " << index;
            }
        }
    }
    // An equivalent header with different bytes: the signature covers the bytes.
    std::vector<std::string> reheadered = parts;
    reheadered[0] = base64url_encode(R"({"typ":"JWT","alg":"HS256"})");
    EXPECT_EQ(error_of(verify(join(reheadered), keys, at(kA1Exp))), Errc::kBadSignature);
    // The right signature under a different key.
    EXPECT_EQ(error_of(verify(kA1Token, set_of({Key::hs256("another key")}), at(kA1Exp))),
              Errc::kBadSignature);
}

TEST(Rfc7515, A2Rs256FromJwk) {
    json::object jwk;
    jwk["kty"] = "RSA";
    jwk["n"] = kA2Modulus;
    jwk["e"] = "AQAB";
    auto key = Key::from_jwk(jwk);
    ASSERT_TRUE(key.has_value()) << key.error().message();
    EXPECT_EQ(key->algorithm(), Algorithm::kRS256);
    EXPECT_FALSE(key->can_sign());
    const KeySet keys = set_of({*key});
    const std::string token =
        std::string("eyJhbGciOiJSUzI1NiJ9.") + kRfcPayload + "." + kA2Signature;
    EXPECT_EQ(error_of(verify(token, keys, at(kA1Exp))), Errc::kMissingClaim);
    EXPECT_EQ(error_of(verify(tamper(token, 30), keys, at(kA1Exp))), Errc::kBadSignature);
    EXPECT_EQ(error_of(verify(tamper(token, token.size() - 100), keys, at(kA1Exp))),
              Errc::kBadSignature);
}

TEST(Rfc7515, A3Es256FromJwkWithRawSignature) {
    json::object jwk;
    jwk["kty"] = "EC";
    jwk["crv"] = "P-256";
    jwk["x"] = kA3X;
    jwk["y"] = kA3Y;
    auto key = Key::from_jwk(jwk);
    ASSERT_TRUE(key.has_value()) << key.error().message();
    EXPECT_EQ(key->algorithm(), Algorithm::kES256);
    const KeySet keys = set_of({*key});
    const std::string input = std::string("eyJhbGciOiJFUzI1NiJ9.") + kRfcPayload;
    EXPECT_EQ(error_of(verify(input + "." + kA3Signature, keys, at(kA1Exp))), Errc::kMissingClaim);
    EXPECT_EQ(error_of(verify(input + "." + tamper(kA3Signature, 10), keys, at(kA1Exp))),
              Errc::kBadSignature);
    EXPECT_EQ(error_of(verify(tamper(input, 40) + "." + kA3Signature, keys, at(kA1Exp))),
              Errc::kBadSignature);
}

// Produced independently (Python's hmac module) from the A.1 key: pins sign()'s exact output,
// header member order included.
TEST(Golden, Hs256TokenWithSubject) {
    const Key key = Key::hs256(base64url_decode(kA1Key).value(), "rfc7515-a1");
    json::object claims;
    claims["sub"] = "user-42";
    claims["name"] = "Ada";
    claims["exp"] = 2000000000;
    claims["iat"] = 1700000000;
    const std::string expected =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJmYzc1MTUtYTEifQ."
        "eyJzdWIiOiJ1c2VyLTQyIiwibmFtZSI6IkFkYSIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMDAwMDAwfQ."
        "Hwb_ECF95UCR7I-2YQ-fHFA3vzTzVUJf9SeMiTTlocs";
    EXPECT_EQ(sign(claims, key).value(), expected);

    const auto verified = verify(expected, set_of({key}), at(kNow));
    ASSERT_TRUE(verified.has_value()) << verified.error().message();
    EXPECT_EQ(verified->sub, "user-42");
    EXPECT_EQ(verified->name, "Ada");
    EXPECT_EQ(verified->exp, 2000000000);
    EXPECT_EQ(verified->iat, 1700000000);
    EXPECT_FALSE(verified->nbf);
    EXPECT_EQ(verified->all, claims);
}

// ---------------------------------------------------------------------------------------------
// Round trips

class RoundTrip : public ::testing::TestWithParam<Algorithm> {};

TEST_P(RoundTrip, SignThenVerify) {
    const auto key = generate(GetParam(), "k1");
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(key->algorithm(), GetParam());
    EXPECT_EQ(key->kid(), "k1");
    EXPECT_TRUE(key->can_sign());
    json::object claims = claims_until(kNow + 600, "alice");
    claims["room"] = "lobby";
    claims["nbf"] = kNow - 5;
    const auto token = sign(claims, *key);
    ASSERT_TRUE(token.has_value());

    const auto header = json::parse(base64url_decode(split(*token)[0]).value());
    EXPECT_EQ(header.at("alg").as_string(), to_string(GetParam()));
    EXPECT_EQ(header.at("typ"), "JWT");
    EXPECT_EQ(header.at("kid"), "k1");

    const auto verified = verify(*token, set_of({*key}), at(kNow));
    ASSERT_TRUE(verified.has_value()) << verified.error().message();
    EXPECT_EQ(verified->sub, "alice");
    EXPECT_EQ(verified->name, "alice");
    EXPECT_EQ(verified->exp, kNow + 600);
    EXPECT_EQ(verified->nbf, kNow - 5);
    EXPECT_EQ(verified->all.at("room"), "lobby");

    // Signed by another key of the same algorithm and kid: refused.
    const auto other = generate(GetParam(), "k1");
    EXPECT_EQ(error_of(verify(*token, set_of({*other}), at(kNow))), Errc::kBadSignature);
}

INSTANTIATE_TEST_SUITE_P(Jwt, RoundTrip,
                         ::testing::Values(Algorithm::kHS256, Algorithm::kRS256, Algorithm::kES256),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(RoundTrip, SignatureSizes) {
    const auto rs = sign(claims_until(kNow + 60), rsa_key()).value();
    const auto es = sign(claims_until(kNow + 60), ec_key()).value();
    const auto hs = sign(claims_until(kNow + 60), hs_key()).value();
    EXPECT_EQ(base64url_decode(split(rs)[2])->size(), 256U);
    EXPECT_EQ(base64url_decode(split(es)[2])->size(), 64U);  // raw R || S, not DER
    EXPECT_EQ(base64url_decode(split(hs)[2])->size(), 32U);
}

TEST(RoundTrip, NoKidTriesEveryKeyOfTheAlgorithm) {
    const Key a = Key::hs256("secret-a");
    const Key b = Key::hs256("secret-b");
    const Key c = Key::hs256("secret-c");
    const KeySet keys = set_of({rsa_key(), a, ec_key(), b, c});
    for (const Key* key : {&a, &b, &c}) {
        EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), *key).value(), keys, at(kNow))),
                  Errc::kOk);
    }
    const Key stranger = Key::hs256("secret-d");
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), stranger).value(), keys, at(kNow))),
              Errc::kBadSignature);
}

// ---------------------------------------------------------------------------------------------
// ES256 signature encoding

TEST(Es256, RejectsWrongLengthsAndDer) {
    const KeySet keys = set_of({ec_key()});
    const std::string token = sign(claims_until(kNow + 60), ec_key()).value();
    std::vector<std::string> parts = split(token);
    const std::string raw = base64url_decode(parts[2]).value();
    ASSERT_EQ(raw.size(), 64U);

    auto with_signature = [&](const std::string& signature) {
        std::vector<std::string> changed = parts;
        changed[2] = base64url_encode(signature);
        return error_of(verify(join(changed), keys, at(kNow)));
    };
    EXPECT_EQ(with_signature(raw), Errc::kOk);
    EXPECT_EQ(with_signature(raw.substr(0, 63)), Errc::kBadSignature);
    EXPECT_EQ(with_signature(raw + '\0'), Errc::kBadSignature);
    EXPECT_EQ(with_signature('\0' + raw), Errc::kBadSignature);
    EXPECT_EQ(with_signature(""), Errc::kBadSignature);
    EXPECT_EQ(with_signature(std::string(64, '\0')), Errc::kBadSignature);    // r = s = 0
    EXPECT_EQ(with_signature(std::string(64, '\xff')), Errc::kBadSignature);  // r, s >= n

    // The same signature DER-encoded (what OpenSSL itself produces) is not a JWS signature.
    ECDSA_SIG* sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
    unsigned char* der = nullptr;
    const int der_length = i2d_ECDSA_SIG(sig, &der);
    ASSERT_GT(der_length, 0);
    const std::string der_text(reinterpret_cast<const char*>(der),
                               static_cast<std::size_t>(der_length));
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    EXPECT_EQ(with_signature(der_text), Errc::kBadSignature);
}

// ---------------------------------------------------------------------------------------------
// Algorithm selection and confusion

TEST(Confusion, RsaPublicKeyPemAsHmacSecretNeverVerifies) {
    const std::string public_pem = public_pem_of(private_pem(rsa_key()).value());
    const auto public_key = Key::from_pem(Algorithm::kRS256, public_pem, "rsa-1");
    ASSERT_TRUE(public_key.has_value()) << public_key.error().message();
    const KeySet keys = set_of({*public_key});
    const std::string payload = json::serialize(claims_until(kNow + 600, "mallory"));

    // The attacker knows the public PEM (it is public) and HMACs with it, naming the RSA kid.
    EXPECT_EQ(error_of(verify(
                  hs256_token(R"({"alg":"HS256","typ":"JWT","kid":"rsa-1"})", payload, public_pem),
                  keys, at(kNow))),
              Errc::kAlgMismatch);
    // Without a kid: no HS256 key is configured at all.
    EXPECT_EQ(error_of(verify(hs256_token(R"({"alg":"HS256","typ":"JWT"})", payload, public_pem),
                              keys, at(kNow))),
              Errc::kUnsupportedAlg);
    // The same forgery through the library's own signer, with and without the final newline.
    for (const std::string& secret : {public_pem, public_pem.substr(0, public_pem.size() - 1)}) {
        const std::string forged =
            sign(claims_until(kNow + 600, "mallory"), Key::hs256(secret, "rsa-1")).value();
        EXPECT_EQ(error_of(verify(forged, keys, at(kNow))), Errc::kAlgMismatch);
    }
    // And the PEM can never become an HS256 key through from_pem.
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kHS256, public_pem, "rsa-1")), Errc::kBadKey);

    // The genuine RS256 token still verifies against the public key.
    const std::string genuine = sign(claims_until(kNow + 600), rsa_key()).value();
    EXPECT_EQ(error_of(verify(genuine, keys, at(kNow))), Errc::kOk);
}

TEST(Confusion, HeaderAlgMustMatchTheKeyWithThatKid) {
    // An ES256 key and an RS256 key share the kid "shared": a token claiming RS256 is checked
    // against the RSA key only, and vice versa.
    const Key rsa = generate(Algorithm::kRS256, "shared").value();
    const Key ec = generate(Algorithm::kES256, "shared").value();
    const KeySet both = set_of({rsa, ec});
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), rsa).value(), both, at(kNow))),
              Errc::kOk);
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), ec).value(), both, at(kNow))),
              Errc::kOk);

    // An ES256 token naming an RS256-only kid.
    const KeySet rsa_only = set_of({rsa});
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), ec).value(), rsa_only, at(kNow))),
              Errc::kAlgMismatch);
    // An RS256 signature relabelled ES256: the header changes, so would the signature check,
    // but the key selection refuses first.
    std::vector<std::string> parts = split(sign(claims_until(kNow + 60), rsa).value());
    parts[0] = base64url_encode(R"({"alg":"ES256","kid":"shared"})");
    EXPECT_EQ(error_of(verify(join(parts), rsa_only, at(kNow))), Errc::kAlgMismatch);
}

TEST(Confusion, NoneAndUnknownAlgorithmsAreRefused) {
    const KeySet keys = set_of({hs_key(), rsa_key(), ec_key()});
    const std::string payload =
        base64url_encode(json::serialize(claims_until(kNow + 600, "mallory")));
    for (const char* header :
         {R"({"alg":"none"})", R"({"alg":"none","kid":"hs-1"})", R"({"alg":"None"})",
          R"({"alg":"NONE","typ":"JWT"})", R"({"alg":"HS512"})", R"({"alg":"hs256"})",
          R"({"alg":"RS384"})", R"({"alg":"PS256"})", R"({"alg":"ES256K"})", R"({"alg":""})",
          R"({"alg":"HS256 "})"}) {
        const std::string input = base64url_encode(header) + "." + payload;
        EXPECT_EQ(error_of(verify(input + ".", keys, at(kNow))), Errc::kUnsupportedAlg) << header;
        EXPECT_EQ(error_of(verify(input + "." + base64url_encode(hmac_sha256("x", input)), keys,
                                  at(kNow))),
                  Errc::kUnsupportedAlg)
            << header;
    }
    // A header without a usable "alg" is not a JWS header at all.
    for (const char* header : {R"({})", R"({"typ":"JWT"})", R"({"alg":null})", R"({"alg":256})",
                               R"({"alg":["HS256"]})"}) {
        EXPECT_EQ(error_of(verify(hs256_token(header, "{}", "x"), keys, at(kNow))),
                  Errc::kMalformed)
            << header;
    }
}

TEST(Confusion, AlgorithmWithoutConfiguredKey) {
    const KeySet hs_only = set_of({hs_key()});
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), Key::hs256("k")).value(), KeySet{},
                              at(kNow))),
              Errc::kUnsupportedAlg);
    EXPECT_EQ(error_of(verify(
                  sign(claims_until(kNow + 60), generate(Algorithm::kES256, "").value()).value(),
                  hs_only, at(kNow))),
              Errc::kUnsupportedAlg);
}

// ---------------------------------------------------------------------------------------------
// Key ids and rotation

TEST(Kid, SelectsTheNamedKey) {
    const Key a = Key::hs256("secret-a", "a");
    const Key b = Key::hs256("secret-b", "b");
    const KeySet keys = set_of({a, b});
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), b).value(), keys, at(kNow))),
              Errc::kOk);
    // Signed with b's secret but naming a: checked against a only.
    const std::string lying = hs256_token(R"({"alg":"HS256","kid":"a"})",
                                          json::serialize(claims_until(kNow + 60)), "secret-b");
    EXPECT_EQ(error_of(verify(lying, keys, at(kNow))), Errc::kBadSignature);
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), Key::hs256("secret-a", "c")).value(),
                              keys, at(kNow))),
              Errc::kUnknownKey);
}

TEST(Kid, ATokenWithKidNeedsAKeyWithThatKid) {
    // The contract: with a "kid" the key must match it, so a kid-less key does not stand in.
    const KeySet keys = set_of({Key::hs256("secret")});
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), Key::hs256("secret", "x")).value(),
                              keys, at(kNow))),
              Errc::kUnknownKey);
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), Key::hs256("secret")).value(), keys,
                              at(kNow))),
              Errc::kOk);
    // A kid that is not a string is malformed, not "no kid".
    EXPECT_EQ(error_of(verify(hs256_token(R"({"alg":"HS256","kid":7})",
                                          json::serialize(claims_until(kNow + 60)), "secret"),
                              keys, at(kNow))),
              Errc::kMalformed);
}

TEST(Kid, RotationRemovesTheOldKey) {
    const Key old_key = generate(Algorithm::kES256, "2026-01").value();
    const Key new_key = generate(Algorithm::kES256, "2026-02").value();
    const std::string old_token = sign(claims_until(kNow + 600), old_key).value();
    const std::string new_token = sign(claims_until(kNow + 600), new_key).value();

    // During the overlap both verify.
    const auto overlap = KeySet::from_jwks(set_of({old_key, new_key}).to_jwks()).value();
    EXPECT_EQ(error_of(verify(old_token, overlap, at(kNow))), Errc::kOk);
    EXPECT_EQ(error_of(verify(new_token, overlap, at(kNow))), Errc::kOk);

    // After the refresh the old kid is gone.
    const auto rotated = KeySet::from_jwks(set_of({new_key}).to_jwks()).value();
    EXPECT_EQ(error_of(verify(old_token, rotated, at(kNow))), Errc::kUnknownKey);
    EXPECT_EQ(error_of(verify(new_token, rotated, at(kNow))), Errc::kOk);
}

// ---------------------------------------------------------------------------------------------
// PEM

TEST(Pem, PrivateRoundTripAndPublicHalf) {
    for (const Key* key : {&rsa_key(), &ec_key()}) {
        const std::string pem = private_pem(*key).value();
        EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0U) << pem.substr(0, 40);

        const auto loaded = Key::from_pem(key->algorithm(), pem, "loaded");
        ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
        EXPECT_TRUE(loaded->can_sign());
        EXPECT_EQ(loaded->kid(), "loaded");
        EXPECT_EQ(loaded->public_jwk()->at("alg").as_string(), to_string(key->algorithm()));
        // Signed by the loaded copy, verified by the original: the same key.
        const std::string token = sign(claims_until(kNow + 60), *loaded).value();
        EXPECT_EQ(error_of(verify(token, set_of({Key::hs256("unused"), *key}), at(kNow))),
                  Errc::kUnknownKey);  // kid "loaded" is not "rsa-1"/"ec-1"
        const auto same_kid = Key::from_pem(key->algorithm(), pem, key->kid()).value();
        EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), same_kid).value(), set_of({*key}),
                                  at(kNow))),
                  Errc::kOk);

        const auto public_key = Key::from_pem(key->algorithm(), public_pem_of(pem), key->kid());
        ASSERT_TRUE(public_key.has_value());
        EXPECT_FALSE(public_key->can_sign());
        EXPECT_EQ(error_of(sign(claims_until(kNow + 60), *public_key)), Errc::kBadKey);
        EXPECT_EQ(error_of(private_pem(*public_key)), Errc::kBadKey);
        EXPECT_EQ(public_key->public_jwk(), key->public_jwk());
        EXPECT_EQ(
            error_of(verify(
                token,
                set_of({Key::from_pem(key->algorithm(), public_pem_of(pem), "loaded").value()}),
                at(kNow))),
            Errc::kOk);
    }
}

TEST(Pem, TraditionalFormats) {
    for (const Key* key : {&rsa_key(), &ec_key()}) {
        const std::string traditional = traditional_pem_of(private_pem(*key).value());
        const char* label = key->algorithm() == Algorithm::kRS256
                                ? "-----BEGIN RSA PRIVATE KEY-----"
                                : "-----BEGIN EC PRIVATE KEY-----";
        EXPECT_EQ(traditional.rfind(label, 0), 0U);
        const auto loaded = Key::from_pem(key->algorithm(), traditional, key->kid());
        ASSERT_TRUE(loaded.has_value());
        EXPECT_TRUE(loaded->can_sign());
        EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), *loaded).value(), set_of({*key}),
                                  at(kNow))),
                  Errc::kOk);
    }
}

TEST(Pem, Pkcs1RsaPublicKey) {
    const Pkey rsa = read_private(private_pem(rsa_key()).value());
    OSSL_ENCODER_CTX* encoder = OSSL_ENCODER_CTX_new_for_pkey(rsa.get(), EVP_PKEY_PUBLIC_KEY, "PEM",
                                                              "type-specific", nullptr);
    ASSERT_NE(encoder, nullptr);
    unsigned char* data = nullptr;
    std::size_t length = 0;
    ASSERT_EQ(OSSL_ENCODER_to_data(encoder, &data, &length), 1);
    const std::string pem(reinterpret_cast<const char*>(data), length);
    OPENSSL_free(data);
    OSSL_ENCODER_CTX_free(encoder);
    EXPECT_EQ(pem.rfind("-----BEGIN RSA PUBLIC KEY-----", 0), 0U) << pem;

    const auto key = Key::from_pem(Algorithm::kRS256, pem, "rsa-1");
    ASSERT_TRUE(key.has_value());
    EXPECT_FALSE(key->can_sign());
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), rsa_key()).value(), set_of({*key}),
                              at(kNow))),
              Errc::kOk);
}

TEST(Pem, KeyTypeMustMatchTheAlgorithm) {
    const std::string rsa_pem = private_pem(rsa_key()).value();
    const std::string ec_pem = private_pem(ec_key()).value();
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kES256, rsa_pem, "")), Errc::kBadKey);
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kRS256, ec_pem, "")), Errc::kBadKey);
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kES256, public_pem_of(rsa_pem), "")),
              Errc::kBadKey);
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kHS256, rsa_pem, "")), Errc::kBadKey);
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kRS256, "", "")), Errc::kBadKey);
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kRS256, "not a pem", "")), Errc::kBadKey);
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kRS256, rsa_pem.substr(0, rsa_pem.size() / 2), "")),
              Errc::kBadKey);
}

TEST(Pem, RefusesWeakCurvesSmallRsaAndEncryptedKeys) {
    const Pkey small_rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024}));
    ASSERT_TRUE(small_rsa);
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kRS256, pkcs8_pem(small_rsa.get()), "")),
              Errc::kBadKey);

    const Pkey p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    ASSERT_TRUE(p384);
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kES256, pkcs8_pem(p384.get()), "")), Errc::kBadKey);

    const Pkey ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    ASSERT_TRUE(ed25519);
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kES256, pkcs8_pem(ed25519.get()), "")),
              Errc::kBadKey);

    // Encrypted: refused, and in particular no passphrase prompt on the terminal.
    const Pkey ec = read_private(private_pem(ec_key()).value());
    const Bio out(BIO_new(BIO_s_mem()));
    char passphrase[] = "hunter2";
    ASSERT_EQ(
        PEM_write_bio_PKCS8PrivateKey(out.get(), ec.get(), EVP_aes_256_cbc(), passphrase,
                                      static_cast<int>(sizeof passphrase - 1), nullptr, nullptr),
        1);
    const std::string encrypted = bio_text(out.get());
    EXPECT_NE(encrypted.find("ENCRYPTED"), std::string::npos);
    EXPECT_EQ(error_of(Key::from_pem(Algorithm::kES256, encrypted, "")), Errc::kBadKey);
}

// ---------------------------------------------------------------------------------------------
// JWK / JWKS

TEST(Jwks, RoundTripVerifiesTokensFromThePrivateKeys) {
    const KeySet issuer = set_of({rsa_key(), ec_key(), hs_key()});
    const std::string document = issuer.to_jwks();
    const json::value parsed = json::parse(document);
    const json::array& keys = parsed.at("keys").as_array();
    ASSERT_EQ(keys.size(), 2U);  // the HS256 secret is never published

    const json::object& rsa = keys[0].as_object();
    EXPECT_EQ(rsa.at("kty"), "RSA");
    EXPECT_EQ(rsa.at("kid"), "rsa-1");
    EXPECT_EQ(rsa.at("use"), "sig");
    EXPECT_EQ(rsa.at("alg"), "RS256");
    EXPECT_EQ(base64url_decode(rsa.at("n").as_string().c_str())->size(), 256U);
    EXPECT_EQ(rsa.at("e"), "AQAB");
    EXPECT_FALSE(rsa.contains("d"));
    const json::object& ec = keys[1].as_object();
    EXPECT_EQ(ec.at("kty"), "EC");
    EXPECT_EQ(ec.at("kid"), "ec-1");
    EXPECT_EQ(ec.at("use"), "sig");
    EXPECT_EQ(ec.at("alg"), "ES256");
    EXPECT_EQ(ec.at("crv"), "P-256");
    EXPECT_EQ(base64url_decode(ec.at("x").as_string().c_str())->size(), 32U);
    EXPECT_EQ(base64url_decode(ec.at("y").as_string().c_str())->size(), 32U);
    EXPECT_FALSE(ec.contains("d"));

    std::size_t skipped = 99;
    const auto verifier = KeySet::from_jwks(document, &skipped);
    ASSERT_TRUE(verifier.has_value());
    EXPECT_EQ(skipped, 0U);
    ASSERT_EQ(verifier->keys().size(), 2U);
    for (const Key& key : verifier->keys()) {
        EXPECT_FALSE(key.can_sign());
    }
    EXPECT_EQ(verifier->to_jwks(), document);

    for (const Key* key : {&rsa_key(), &ec_key()}) {
        const auto verified =
            verify(sign(claims_until(kNow + 60, "bob"), *key).value(), *verifier, at(kNow));
        ASSERT_TRUE(verified.has_value()) << verified.error().message();
        EXPECT_EQ(verified->sub, "bob");
    }
    EXPECT_EQ(
        error_of(verify(sign(claims_until(kNow + 60), hs_key()).value(), *verifier, at(kNow))),
        Errc::kUnknownKey);
    EXPECT_FALSE(hs_key().public_jwk());
    EXPECT_FALSE(Key().public_jwk());
}

TEST(Jwks, SkipsUnusableKeysAndCountsThem) {
    const json::object good_ec = *ec_key().public_jwk();
    json::array keys;
    keys.push_back(good_ec);
    auto variant = [&](auto change) {
        json::object jwk = good_ec;
        change(jwk);
        keys.push_back(jwk);
    };
    variant([](json::object& k) { k.erase("kty"); });
    variant([](json::object& k) { k["kty"] = "oct"; });
    variant([](json::object& k) { k["kty"] = 3; });
    variant([](json::object& k) { k["crv"] = "P-384"; });
    variant([](json::object& k) { k["x"] = base64url_encode(std::string(31, 'x')); });
    variant([](json::object& k) { k["y"] = k["y"].as_string().c_str() + std::string("AA"); });
    variant([](json::object& k) { k["x"] = "not base64!"; });
    variant([](json::object& k) { k["x"] = k["x"].as_string().c_str() + std::string("="); });
    variant([](json::object& k) {  // a point that is not on the curve
        std::string y = base64url_decode(k["y"].as_string().c_str()).value();
        y[31] = static_cast<char>(y[31] ^ 1);
        k["y"] = base64url_encode(y);
    });
    variant([](json::object& k) { k["use"] = "enc"; });
    variant([](json::object& k) { k["alg"] = "RS256"; });
    variant([](json::object& k) { k["alg"] = "ES384"; });
    variant([](json::object& k) { k["kid"] = 17; });
    variant([](json::object& k) { k.erase("y"); });
    keys.push_back(json::object{{"kty", "RSA"}, {"n", kA2Modulus}});                // no e
    keys.push_back(json::object{{"kty", "RSA"}, {"n", kA2Modulus}, {"e", "AQA"}});  // even e
    keys.push_back(json::object{{"kty", "RSA"}, {"n", kA2Modulus}, {"e", "AQ"}});   // e = 1
    keys.push_back(
        json::object{{"kty", "RSA"}, {"n", kA2Modulus}, {"e", "AQAB"}, {"alg", "PS256"}});
    keys.push_back(json::object{{"kty", "RSA"},
                                {"n", base64url_encode(std::string(128, '\xc1'))},
                                {"e", "AQAB"}});  // 1024 bits
    keys.push_back(json::object{{"kty", "oct"}, {"k", kA1Key}});
    keys.push_back(42);
    keys.push_back("string");
    keys.push_back(nullptr);
    keys.push_back(json::object{{"kty", "RSA"}, {"n", kA2Modulus}, {"e", "AQAB"}, {"kid", "a2"}});

    std::size_t skipped = 0;
    const auto set = KeySet::from_jwks(json::serialize(json::object{{"keys", keys}}), &skipped);
    ASSERT_TRUE(set.has_value());
    EXPECT_EQ(set->keys().size(), 2U);
    EXPECT_EQ(skipped, keys.size() - 2);
    EXPECT_EQ(set->keys()[0].kid(), "ec-1");
    EXPECT_EQ(set->keys()[1].kid(), "a2");
    EXPECT_EQ(set->keys()[1].algorithm(), Algorithm::kRS256);
}

TEST(Jwks, MalformedDocuments) {
    for (const char* document : {"", "not json", "[]", "{}", R"({"keys":{}})", R"({"keys":null})",
                                 R"({"keys":[]]})", R"({"keys":[],})", "{\"keys\":[]} trailing"}) {
        EXPECT_EQ(error_of(KeySet::from_jwks(document)), Errc::kMalformed) << document;
    }
    const auto empty = KeySet::from_jwks(R"({"keys":[]})");
    ASSERT_TRUE(empty.has_value());
    EXPECT_TRUE(empty->empty());
    EXPECT_EQ(empty->to_jwks(), R"({"keys":[]})");

    const std::string deep = R"({"keys":[)" + std::string(20, '[') + std::string(20, ']') + "]}";
    EXPECT_EQ(error_of(KeySet::from_jwks(deep)), Errc::kMalformed);
    const std::string huge = R"({"keys":[],"pad":")" + std::string(2 << 20, 'a') + "\"}";
    EXPECT_EQ(error_of(KeySet::from_jwks(huge)), Errc::kTooLarge);
}

TEST(Jwks, CapsTheNumberOfKeys) {
    json::array keys;
    for (int i = 0; i < 100; ++i) {
        json::object jwk = *ec_key().public_jwk();
        jwk["kid"] = "k" + std::to_string(i);
        keys.push_back(std::move(jwk));
    }
    std::size_t skipped = 0;
    const auto set = KeySet::from_jwks(json::serialize(json::object{{"keys", keys}}), &skipped);
    ASSERT_TRUE(set.has_value());
    EXPECT_EQ(set->keys().size(), 64U);
    EXPECT_EQ(skipped, 36U);
}

// ---------------------------------------------------------------------------------------------
// Claims

class ClaimsTest : public ::testing::Test {
protected:
    Errc check(const json::object& claims, VerifyOptions options = at(kNow)) {
        return error_of(verify(sign(claims, hs_key()).value(), keys_, options));
    }
    Errc check_text(std::string_view payload, VerifyOptions options = at(kNow)) {
        return error_of(verify(hs256_token(R"({"alg":"HS256","kid":"hs-1"})", payload,
                                           "a shared secret of enough length!"),
                               keys_, options));
    }
    KeySet keys_ = set_of({hs_key()});
};

TEST_F(ClaimsTest, ExpiryWithAndWithoutLeeway) {
    EXPECT_EQ(check(claims_until(kNow + 1)), Errc::kOk);
    EXPECT_EQ(check(claims_until(kNow - 30)), Errc::kOk);  // inside the default 30 s
    EXPECT_EQ(check(claims_until(kNow - 31)), Errc::kExpired);
    EXPECT_EQ(check(claims_until(kNow), at(kNow, std::chrono::seconds(0))), Errc::kOk);
    EXPECT_EQ(check(claims_until(kNow - 1), at(kNow, std::chrono::seconds(0))), Errc::kExpired);
    EXPECT_EQ(check(claims_until(kNow - 300), at(kNow, std::chrono::seconds(300))), Errc::kOk);
    // A negative leeway is treated as none, never as a stricter window.
    EXPECT_EQ(check(claims_until(kNow), at(kNow, std::chrono::seconds(-100))), Errc::kOk);
}

TEST_F(ClaimsTest, NotBeforeWithAndWithoutLeeway) {
    json::object claims = claims_until(kNow + 600);
    claims["nbf"] = kNow + 30;
    EXPECT_EQ(check(claims), Errc::kOk);
    claims["nbf"] = kNow + 31;
    EXPECT_EQ(check(claims), Errc::kNotYetValid);
    claims["nbf"] = kNow;
    EXPECT_EQ(check(claims, at(kNow, std::chrono::seconds(0))), Errc::kOk);
    claims["nbf"] = kNow + 1;
    EXPECT_EQ(check(claims, at(kNow, std::chrono::seconds(0))), Errc::kNotYetValid);
}

TEST_F(ClaimsTest, IssuedInTheFuture) {
    json::object claims = claims_until(kNow + 600);
    claims["iat"] = kNow - 3600;
    EXPECT_EQ(check(claims), Errc::kOk);
    claims["iat"] = kNow + 30;
    EXPECT_EQ(check(claims), Errc::kOk);
    claims["iat"] = kNow + 31;
    EXPECT_EQ(check(claims), Errc::kNotYetValid);
    claims["iat"] = kNow + 1;
    EXPECT_EQ(check(claims, at(kNow, std::chrono::seconds(0))), Errc::kNotYetValid);
    claims["iat"] = kNow;
    EXPECT_EQ(check(claims, at(kNow, std::chrono::seconds(0))), Errc::kOk);
}

TEST_F(ClaimsTest, IssuerAndAudienceWhenExpected) {
    VerifyOptions expect = at(kNow);
    expect.issuer = "https://auth.example";
    expect.audience = "roomcast";
    json::object claims = claims_until(kNow + 600);
    EXPECT_EQ(check(claims), Errc::kOk) << "nothing expected: not checked";
    EXPECT_EQ(check(claims, expect), Errc::kWrongIssuer);
    claims["iss"] = "https://auth.example";
    EXPECT_EQ(check(claims, expect), Errc::kWrongAudience);
    claims["aud"] = "roomcast";
    EXPECT_EQ(check(claims, expect), Errc::kOk);
    claims["aud"] = json::array{"other", "roomcast"};
    EXPECT_EQ(check(claims, expect), Errc::kOk);
    claims["aud"] = json::array{"other", 7};
    EXPECT_EQ(check(claims, expect), Errc::kWrongAudience);
    claims["aud"] = "roomcast";
    claims["iss"] = "https://evil.example";
    EXPECT_EQ(check(claims, expect), Errc::kWrongIssuer);
    claims["iss"] = 5;
    EXPECT_EQ(check(claims, expect), Errc::kWrongIssuer);
    // An expired token reports kExpired whatever its issuer.
    EXPECT_EQ(check(claims_until(kNow - 600), expect), Errc::kExpired);
}

TEST_F(ClaimsTest, SystemClockWhenNowIsUnset) {
    const std::int64_t real_now = std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
    EXPECT_EQ(check(claims_until(real_now + 3600), VerifyOptions{}), Errc::kOk);
    EXPECT_EQ(check(claims_until(real_now - 3600), VerifyOptions{}), Errc::kExpired);
}

TEST_F(ClaimsTest, NumericDatesMayBeDoublesAndAreTruncated) {
    EXPECT_EQ(check_text(R"({"sub":"u","exp":1700000100.9,"nbf":1699999999.5,"iat":1.7e9})"),
              Errc::kOk);
    const auto claims =
        verify(hs256_token(R"({"alg":"HS256"})", R"({"sub":"u","exp":1700000100.9,"iat":-1.5})",
                           "a shared secret of enough length!"),
               keys_, at(kNow));
    ASSERT_TRUE(claims.has_value());
    EXPECT_EQ(claims->exp, 1700000100);
    EXPECT_EQ(claims->iat, -1);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":1699999968.9})"), Errc::kExpired);
}

TEST_F(ClaimsTest, ExtremeNumbersNeitherOverflowNorPass) {
    constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
    constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
    EXPECT_EQ(check(claims_until(kMax)), Errc::kOk);
    EXPECT_EQ(check(claims_until(kMin)), Errc::kExpired);
    EXPECT_EQ(check(claims_until(kMax), at(kMax, std::chrono::seconds(kMax))), Errc::kOk);
    EXPECT_EQ(check(claims_until(kMin), at(kMin, std::chrono::seconds(kMax))), Errc::kOk);
    json::object claims = claims_until(kMax);
    claims["nbf"] = kMin;
    claims["iat"] = kMin;
    EXPECT_EQ(check(claims, at(kMax, std::chrono::seconds(kMax))), Errc::kOk);
    claims["nbf"] = kMax;
    EXPECT_EQ(check(claims, at(kMin, std::chrono::seconds(kMax))), Errc::kNotYetValid);
    claims["nbf"] = kNow;
    claims["iat"] = kMax;
    EXPECT_EQ(check(claims, at(kMin)), Errc::kNotYetValid);

    EXPECT_EQ(check_text(R"({"sub":"u","exp":18446744073709551615})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":9223372036854775808})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":1e300})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":-1e300})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":9.3e18})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":-9.223372036854775808e18})"), Errc::kExpired);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":9223372036854775807})"), Errc::kOk);
}

TEST_F(ClaimsTest, MissingOrMistypedRequiredClaims) {
    EXPECT_EQ(check_text(R"({"exp":1700000600})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"","exp":1700000600})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":42,"exp":1700000600})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":null,"exp":1700000600})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":["u"],"exp":1700000600})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u"})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":"1700000600"})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":true})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":null})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":{}})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":1700000600,"nbf":"0"})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":1700000600,"iat":[]})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":1700000600,"nbf":null})"), Errc::kMissingClaim);
    EXPECT_EQ(check_text("{}"), Errc::kMissingClaim);
    EXPECT_EQ(check_text(R"({"sub":"u","exp":1700000600})"), Errc::kOk);
}

TEST_F(ClaimsTest, NameFallsBackToSubject) {
    auto name_of = [&](std::string_view payload) {
        const auto claims =
            verify(hs256_token(R"({"alg":"HS256"})", payload, "a shared secret of enough length!"),
                   keys_, at(kNow));
        return claims.has_value() ? claims->name : "<" + claims.error().message() + ">";
    };
    EXPECT_EQ(name_of(R"({"sub":"u1","exp":1700000600,"name":"Ada"})"), "Ada");
    EXPECT_EQ(name_of(R"({"sub":"u1","exp":1700000600,"name":""})"), "u1");
    EXPECT_EQ(name_of(R"({"sub":"u1","exp":1700000600,"name":7})"), "u1");
    EXPECT_EQ(name_of(R"({"sub":"u1","exp":1700000600,"name":null})"), "u1");
    EXPECT_EQ(name_of(R"({"sub":"u1","exp":1700000600})"), "u1");
    EXPECT_EQ(name_of(R"({"sub":"\u00e9l\u00e8ve","exp":1700000600})"), "\xc3\xa9l\xc3\xa8ve");
}

// ---------------------------------------------------------------------------------------------
// Malformed tokens and limits

TEST(Malformed, WrongNumberOfParts) {
    const KeySet keys = set_of({hs_key()});
    const std::string good = sign(claims_until(kNow + 60), hs_key()).value();
    const std::vector<std::string> parts = split(good);
    ASSERT_EQ(error_of(verify(good, keys, at(kNow))), Errc::kOk);
    for (const std::string& token :
         {std::string(), std::string("."), std::string(".."), std::string("..."),
          parts[0] + "." + parts[1], parts[0], good + ".", good + "." + parts[2], "." + good,
          parts[0] + ".." + parts[1] + "." + parts[2]}) {
        EXPECT_EQ(error_of(verify(token, keys, at(kNow))), Errc::kMalformed) << token;
    }
}

TEST(Malformed, BadBase64Url) {
    const KeySet keys = set_of({hs_key()});
    const std::vector<std::string> parts = split(sign(claims_until(kNow + 60), hs_key()).value());
    for (std::size_t part = 0; part < 3; ++part) {
        for (const std::string& change :
             {std::string("+"), std::string("/"), std::string("="), std::string(" "),
              std::string("*"), std::string("\n"), std::string("%3D")}) {
            std::vector<std::string> changed = parts;
            changed[part].insert(changed[part].size() / 2, change);
            EXPECT_EQ(error_of(verify(join(changed), keys, at(kNow))), Errc::kMalformed)
                << part << " " << change;
        }
        // Padding appended to an otherwise valid part.
        std::vector<std::string> padded = parts;
        padded[part] += padded[part].size() % 4 == 2 ? "==" : "=";
        if (parts[part].size() % 4 != 0) {
            EXPECT_EQ(error_of(verify(join(padded), keys, at(kNow))), Errc::kMalformed) << part;
        }
    }
}

TEST(Malformed, HeaderOrPayloadNotAJsonObject) {
    const KeySet keys = set_of({Key::hs256("k")});
    const std::string payload = json::serialize(claims_until(kNow + 60));
    for (const char* header :
         {"[1]", "\"HS256\"", "null", "42", "", "{", "{\"alg\":\"HS256\",}",
          "{\"alg\":\"HS256\"} {}", "{'alg':'HS256'}", "{\"alg\":\"HS256\",\"x\":\"\xff\"}"}) {
        EXPECT_EQ(error_of(verify(hs256_token(header, payload, "k"), keys, at(kNow))),
                  Errc::kMalformed)
            << header;
    }
    // Correctly signed payloads that are not objects: the signature holds, the claims do not.
    for (const char* bad_payload : {"[1]", "\"sub\"", "null", "", "{\"sub\":", "not json",
                                    "{\"sub\":\"u\",\"exp\":1700000060,}"}) {
        EXPECT_EQ(
            error_of(verify(hs256_token(R"({"alg":"HS256"})", bad_payload, "k"), keys, at(kNow))),
            Errc::kMalformed)
            << bad_payload;
    }
}

TEST(Malformed, CriticalHeaderExtensionsAreRefused) {
    const KeySet keys = set_of({Key::hs256("k")});
    const std::string payload = json::serialize(claims_until(kNow + 60));
    EXPECT_EQ(
        error_of(verify(hs256_token(R"({"alg":"HS256","crit":["exp"],"exp":1})", payload, "k"),
                        keys, at(kNow))),
        Errc::kMalformed);
    EXPECT_EQ(
        error_of(verify(hs256_token(R"({"alg":"HS256","b64":false,"crit":["b64"]})", payload, "k"),
                        keys, at(kNow))),
        Errc::kMalformed);
}

TEST(Malformed, DeepNesting) {
    const KeySet keys = set_of({Key::hs256("k")});
    const std::string payload = json::serialize(claims_until(kNow + 60));
    auto nested = [](int depth) {  // total depth including the enclosing object
        return std::string(static_cast<std::size_t>(depth - 1), '[') +
               std::string(static_cast<std::size_t>(depth - 1), ']');
    };
    auto header_with = [&](int depth) { return R"({"alg":"HS256","x":)" + nested(depth) + "}"; };
    auto payload_with = [&](int depth) {
        return R"({"sub":"u","exp":1700000060,"x":)" + nested(depth) + "}";
    };
    EXPECT_EQ(error_of(verify(hs256_token(header_with(16), payload, "k"), keys, at(kNow))),
              Errc::kOk);
    EXPECT_EQ(error_of(verify(hs256_token(header_with(17), payload, "k"), keys, at(kNow))),
              Errc::kMalformed);
    EXPECT_EQ(
        error_of(verify(hs256_token(R"({"alg":"HS256"})", payload_with(16), "k"), keys, at(kNow))),
        Errc::kOk);
    EXPECT_EQ(
        error_of(verify(hs256_token(R"({"alg":"HS256"})", payload_with(17), "k"), keys, at(kNow))),
        Errc::kMalformed);
    // Far beyond the limit, with the size cap lifted: refused, not a stack overflow.
    VerifyOptions wide = at(kNow);
    wide.max_token_bytes = 1 << 20;
    EXPECT_EQ(error_of(verify(hs256_token(header_with(100000), payload, "k"), keys, wide)),
              Errc::kMalformed);
    EXPECT_EQ(
        error_of(verify(hs256_token(R"({"alg":"HS256"})", payload_with(100000), "k"), keys, wide)),
        Errc::kMalformed);
}

TEST(Limits, TokenSizeCap) {
    const KeySet keys = set_of({hs_key()});
    json::object claims = claims_until(kNow + 60);
    claims["pad"] = std::string(7000, 'p');
    const std::string token = sign(claims, hs_key()).value();
    ASSERT_GT(token.size(), 8192U);
    EXPECT_EQ(error_of(verify(token, keys, at(kNow))), Errc::kTooLarge);

    VerifyOptions exact = at(kNow);
    exact.max_token_bytes = token.size();
    EXPECT_EQ(error_of(verify(token, keys, exact)), Errc::kOk);
    exact.max_token_bytes = token.size() - 1;
    EXPECT_EQ(error_of(verify(token, keys, exact)), Errc::kTooLarge);
    // The cap comes first: even garbage of that size is only "too large".
    EXPECT_EQ(error_of(verify(std::string(9000, '.'), keys, at(kNow))), Errc::kTooLarge);
}

// ---------------------------------------------------------------------------------------------
// Keys that cannot be used

TEST(BadKey, EmptyOrDefaultKeys) {
    EXPECT_FALSE(Key().can_sign());
    EXPECT_FALSE(Key::hs256("").can_sign());
    EXPECT_EQ(error_of(sign(claims_until(kNow + 60), Key())), Errc::kBadKey);
    EXPECT_EQ(error_of(sign(claims_until(kNow + 60), Key::hs256(""))), Errc::kBadKey);
    EXPECT_EQ(error_of(private_pem(Key())), Errc::kBadKey);
    EXPECT_EQ(error_of(private_pem(hs_key())), Errc::kBadKey);

    // An empty secret would make every attacker a signer; it never verifies anything.
    const std::string forged =
        hs256_token(R"({"alg":"HS256"})", json::serialize(claims_until(kNow + 60)), "");
    EXPECT_EQ(error_of(verify(forged, set_of({Key::hs256("")}), at(kNow))), Errc::kBadKey);
    EXPECT_EQ(error_of(verify(forged, set_of({Key()}), at(kNow))), Errc::kBadKey);
    // Next to a usable key, the failure is the signature.
    EXPECT_EQ(error_of(verify(forged, set_of({Key::hs256(""), hs_key()}), at(kNow))),
              Errc::kBadSignature);
}

TEST(Generate, FreshKeysDiffer) {
    const Key a = generate(Algorithm::kHS256, "a").value();
    const Key b = generate(Algorithm::kHS256, "a").value();
    EXPECT_TRUE(a.can_sign());
    EXPECT_FALSE(a.public_jwk());
    EXPECT_EQ(error_of(verify(sign(claims_until(kNow + 60), a).value(), set_of({b}), at(kNow))),
              Errc::kBadSignature);
    EXPECT_NE(ec_key().public_jwk(), generate(Algorithm::kES256, "ec-1").value().public_jwk());
}

TEST(Errors, CategoryAndMessages) {
    EXPECT_STREQ(jwt_category().name(), "roomcast.jwt");
    for (int e = 0; e <= static_cast<int>(Errc::kWrongAudience); ++e) {
        EXPECT_FALSE(make_error_code(static_cast<Errc>(e)).message().empty());
    }
    const boost::system::error_code ec = Errc::kExpired;
    EXPECT_EQ(ec, Errc::kExpired);
    EXPECT_NE(ec, Errc::kNotYetValid);
    EXPECT_EQ(to_string(Algorithm::kHS256), "HS256");
    EXPECT_EQ(to_string(Algorithm::kRS256), "RS256");
    EXPECT_EQ(to_string(Algorithm::kES256), "ES256");
}

// ---------------------------------------------------------------------------------------------
// Concurrency: Keys and a KeySet are read-only after construction and shared by every session.

TEST(Concurrency, ParallelVerificationOfSharedKeys) {
    const KeySet keys = set_of({hs_key(), rsa_key(), ec_key()});
    std::vector<std::string> tokens;
    tokens.reserve(3);
    for (const Key* key : {&hs_key(), &rsa_key(), &ec_key()}) {
        tokens.push_back(sign(claims_until(kNow + 60), *key).value());
    }
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 30; ++i) {
                const std::string& token = tokens[static_cast<std::size_t>(i + t) % 3];
                if (!verify(token, keys, at(kNow)).has_value()) {
                    ++failures;
                }
                if (!sign(claims_until(kNow + 60), ec_key()).has_value()) {
                    ++failures;
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(failures.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Fuzz: random and mutated tokens must produce an error, never a crash (ASan/UBSan build), and
// never a success for a token that differs from one that was really signed.

TEST(Fuzz, MutatedTokensNeverCrashOrPass) {
    const KeySet keys = set_of({hs_key(), rsa_key(), ec_key()});
    json::object claims = claims_until(kNow + 600);
    claims["name"] = "fuzz";
    const std::vector<std::string> originals = {
        sign(claims, hs_key()).value(), sign(claims, rsa_key()).value(),
        sign(claims, ec_key()).value(), std::string(kA1Token)};
    // Base64url, the separator, and characters that must be refused (a NUL included).
    const std::string alphabet = std::string(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00\xff{}\"", 74);
    const std::vector<std::string> headers = {R"({"alg":"HS256"})",
                                              R"({"alg":"none"})",
                                              R"({"alg":"RS256","kid":"rsa-1"})",
                                              R"({"alg":"ES256","kid":"ec-1"})",
                                              R"({"alg":"HS256","kid":"hs-1"})",
                                              R"({"alg":1})",
                                              R"({"alg":"HS256","kid":null})",
                                              R"([])",
                                              R"({"alg":"ES256","crit":[]})"};

    std::mt19937_64 rng(0x5eed);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    int accepted = 0;
    for (int i = 0; i < 5000; ++i) {
        std::string token = originals[pick(originals.size())];
        switch (pick(7)) {
            case 0:  // flip bits
                for (std::size_t n = 1 + pick(4); n > 0; --n) {
                    const std::size_t index = pick(token.size());
                    token[index] = static_cast<char>(token[index] ^ (1 << pick(8)));
                }
                break;
            case 1:  // replace with alphabet characters
                for (std::size_t n = 1 + pick(4); n > 0; --n) {
                    token[pick(token.size())] = alphabet[pick(alphabet.size())];
                }
                break;
            case 2:  // insert or erase
                if (pick(2) == 0) {
                    token.insert(pick(token.size() + 1), 1 + pick(3),
                                 alphabet[pick(alphabet.size())]);
                } else {
                    token.erase(pick(token.size()), 1 + pick(8));
                }
                break;
            case 3:  // truncate
                token.resize(pick(token.size() + 1));
                break;
            case 4: {  // splice parts of different tokens
                const auto a = split(token);
                const auto b = split(originals[pick(originals.size())]);
                std::vector<std::string> mixed = a;
                if (a.size() == 3 && b.size() == 3) {
                    const std::size_t part = pick(3);
                    mixed[part] = b[part];
                }
                token = join(mixed);
                break;
            }
            case 5: {  // a random header over a real payload and signature
                auto parts = split(token);
                std::string header = headers[pick(headers.size())];
                if (pick(2) == 0 && !header.empty()) {
                    header[pick(header.size())] = alphabet[pick(alphabet.size())];
                }
                parts[0] = base64url_encode(header);
                token = join(parts);
                break;
            }
            default: {  // pure noise
                token.assign(pick(300), '\0');
                for (auto& c : token) {
                    c = alphabet[pick(alphabet.size())];
                }
                break;
            }
        }
        VerifyOptions options = at(pick(2) == 0 ? kNow : kA1Exp);
        options.max_token_bytes = pick(10) == 0 ? pick(400) : 8192;
        const auto result = verify(token, keys, options);
        if (result.has_value()) {
            ++accepted;
            EXPECT_NE(std::find(originals.begin(), originals.end(), token), originals.end())
                << token;
        }
    }
    // Some mutations are no-ops (a truncation to full length, a splice of a part with itself).
    EXPECT_LT(accepted, 5000);
}

TEST(Fuzz, MutatedJwksNeverCrash) {
    const std::string document = set_of({rsa_key(), ec_key()}).to_jwks();
    std::mt19937_64 rng(0x1ce);
    for (int i = 0; i < 2000; ++i) {
        std::string text = document;
        for (std::size_t n = 1 + rng() % 6; n > 0; --n) {
            const std::size_t at_index = rng() % text.size();
            switch (rng() % 3) {
                case 0:
                    text[at_index] = static_cast<char>(rng());
                    break;
                case 1:
                    text.erase(at_index, 1 + rng() % 16);
                    break;
                default:
                    text.insert(at_index, 1, "{}[]\",:AQ0-_"[rng() % 12]);
                    break;
            }
            if (text.empty()) {
                text = "{";
            }
        }
        std::size_t skipped = 0;
        const auto set = KeySet::from_jwks(text, &skipped);
        if (set.has_value()) {
            EXPECT_LE(set->keys().size(), 2U);
        }
    }
}

}  // namespace
}  // namespace roomcast::jwt
