// JWT verification (libs/jwt): jwt::verify with an HS256 key set, an RS256/ES256 set and a set
// mixing the three, and KeySet::from_jwks on fuzzed JWKS documents.
//
// Input: byte 0 selects the mode (mod 3).
//   0  the rest is a token, verified as it is.
//   1  byte 1 holds flags; the rest is "<header JSON>\0<claims JSON>" (no NUL: the rest is the
//      claims under {"alg":"HS256","typ":"JWT"}). The harness base64url-encodes both and signs
//      them with HMAC-SHA256 itself, so the fuzzer reaches the header and claims checks behind
//      the signature. Flags: bit 0 signs with the second secret, bit 1 flips a signature bit,
//      bit 2 signs with a secret no key holds, bit 3 signs with the RSA public key's PEM as
//      the HMAC secret (the classic algorithm-confusion forgery).
//   2  the rest is a JWKS document; tokens signed with the fixture RS256/ES256 keys are
//      verified against the set it gives.
//
// The invariant: a token is accepted only if it is signed by a key of the set. The harness
// checks every accepted token itself, with HMAC-SHA256 over the signing input for HS256 keys
// (it knows their secrets) and with OpenSSL's verifier and the fixture public keys for RS256
// and ES256, honouring alg and kid as the library documents; and the claims it returns must
// be valid at the fixed clock (non-empty sub, not expired beyond the leeway). A JWKS-built set
// never holds a key that verifies unless it is the fixture key, and it survives to_jwks().

#include "fuzz_check.hpp"

#include "roomcast/jwt/jwt.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace jwt = roomcast::jwt;
namespace json = boost::json;
using roomcast::fuzz::Input;

namespace {

// Generated with the token corpus by fuzz/corpus/make_jwt_corpus.py: the fixture public keys
// (their private halves were thrown away) and two tokens they signed.
#include "jwt_fixtures.inc"

constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z, the clock of every check
constexpr std::int64_t kLeeway = 30;
constexpr std::string_view kHsSecret1 = "roomcast-fuzz-hs256-secret-0001!";
constexpr std::string_view kHsSecret2 = "roomcast-fuzz-hs256-secret-0002!";
constexpr std::string_view kUnknownSecret = "roomcast-fuzz-not-a-key-secret!!";

struct PkeyFree {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

PkeyPtr load_public(std::string_view pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    FUZZ_CHECK(bio != nullptr);
    PkeyPtr key(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    FUZZ_CHECK(key != nullptr);
    return key;
}

// What the harness knows about each key of a set, independently of the library.
struct OracleKey {
    std::string alg;
    std::string kid;
    std::string secret;      // HS256
    EVP_PKEY* pkey = nullptr;  // RS256 / ES256
};

struct Fixture {
    PkeyPtr rsa = load_public(kRsaPublicPem);
    PkeyPtr ec = load_public(kEcPublicPem);
    jwt::KeySet hs;
    jwt::KeySet asym;
    jwt::KeySet mixed;
    std::vector<OracleKey> hs_oracle;
    std::vector<OracleKey> asym_oracle;
    std::vector<OracleKey> mixed_oracle;

    Fixture() {
        auto rs = jwt::Key::from_pem(jwt::Algorithm::kRS256, kRsaPublicPem, "rs1");
        auto es = jwt::Key::from_pem(jwt::Algorithm::kES256, kEcPublicPem, "es1");
        FUZZ_CHECK(rs.has_value() && es.has_value());
        const OracleKey hs1{"HS256", "hs1", std::string(kHsSecret1)};
        const OracleKey hs2{"HS256", "", std::string(kHsSecret2)};
        const OracleKey rs1{"RS256", "rs1", {}, rsa.get()};
        const OracleKey es1{"ES256", "es1", {}, ec.get()};
        hs.add(jwt::Key::hs256(std::string(kHsSecret1), "hs1"));
        hs.add(jwt::Key::hs256(std::string(kHsSecret2)));
        hs_oracle = {hs1, hs2};
        asym.add(*rs);
        asym.add(*es);
        asym_oracle = {rs1, es1};
        mixed.add(jwt::Key::hs256(std::string(kHsSecret1), "hs1"));
        mixed.add(*rs);
        mixed.add(*es);
        mixed_oracle = {hs1, rs1, es1};
    }
};

const Fixture& fixture() {
    static const Fixture f;
    return f;
}

constexpr char kB64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string b64url_encode(std::string_view bytes) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : bytes) {
        acc = (acc << 8) | static_cast<std::uint8_t>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += kB64Alphabet[(acc >> bits) & 0x3F];
        }
    }
    if (bits > 0) {
        out += kB64Alphabet[(acc << (6 - bits)) & 0x3F];
    }
    return out;
}

// Strict: the alphabet, no padding, zero leftover bits (the only canonical form).
std::optional<std::string> b64url_decode(std::string_view text) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        const char* at = std::char_traits<char>::find(kB64Alphabet, 64, c);
        if (at == nullptr) {
            return std::nullopt;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(at - kB64Alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    if (bits >= 6 || (acc & ((1U << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

std::string hmac_sha256(std::string_view secret, std::string_view input) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int len = 0;
    FUZZ_CHECK(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                    reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(),
                    &len) != nullptr);
    return std::string(reinterpret_cast<const char*>(mac.data()), len);
}

bool evp_verify(EVP_PKEY* key, std::string_view input, std::string_view der_or_raw_sig) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    FUZZ_CHECK(ctx != nullptr);
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der_or_raw_sig.data()),
                               der_or_raw_sig.size(),
                               reinterpret_cast<const unsigned char*>(input.data()),
                               input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

// JWS ES256 signatures are r || s (32 bytes each); OpenSSL verifies DER.
bool es256_verify(EVP_PKEY* key, std::string_view input, std::string_view sig) {
    if (sig.size() != 64) {
        return false;
    }
    ECDSA_SIG* es = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr);
    FUZZ_CHECK(es != nullptr && r != nullptr && s != nullptr);
    ECDSA_SIG_set0(es, r, s);
    unsigned char* der = nullptr;
    const int der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    FUZZ_CHECK(der_len > 0);
    const bool ok = evp_verify(
        key, input, std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_len)));
    OPENSSL_free(der);
    return ok;
}

// True when `token` is a compact JWS that one of `keys` signed, selecting keys by the
// header's alg and (when present) kid, as jwt.hpp documents.
bool signed_by(std::string_view token, const std::vector<OracleKey>& keys) {
    const auto first = token.find('.');
    const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        return false;
    }
    const auto header_text = b64url_decode(token.substr(0, first));
    const auto payload_text = b64url_decode(token.substr(first + 1, second - first - 1));
    const auto signature = b64url_decode(token.substr(second + 1));
    if (!header_text || !payload_text || !signature) {
        return false;
    }
    boost::system::error_code ec;
    const json::value header = json::parse(*header_text, ec);
    if (ec || !header.is_object()) {
        return false;
    }
    const json::value* alg = header.as_object().if_contains("alg");
    const json::value* kid = header.as_object().if_contains("kid");
    if (alg == nullptr || !alg->is_string() || (kid != nullptr && !kid->is_string())) {
        return false;
    }
    const std::string_view input = token.substr(0, second);
    for (const OracleKey& k : keys) {
        if (alg->as_string() != k.alg || (kid != nullptr && kid->as_string() != k.kid)) {
            continue;
        }
        bool ok = false;
        if (k.alg == "HS256") {
            const std::string mac = hmac_sha256(k.secret, input);
            ok = signature->size() == mac.size() &&
                 CRYPTO_memcmp(mac.data(), signature->data(), mac.size()) == 0;
        } else if (k.alg == "RS256") {
            ok = evp_verify(k.pkey, input, *signature);
        } else {
            ok = es256_verify(k.pkey, input, *signature);
        }
        if (ok) {
            return true;
        }
    }
    return false;
}

jwt::VerifyOptions options() {
    jwt::VerifyOptions o;
    o.now = kNow;
    o.leeway = std::chrono::seconds(kLeeway);
    return o;
}

void check_accepted(const jwt::Claims& claims) {
    FUZZ_CHECK(!claims.sub.empty());
    FUZZ_CHECK(kNow <= claims.exp + kLeeway);
    if (claims.nbf) {
        FUZZ_CHECK(kNow >= *claims.nbf - kLeeway);
    }
}

void verify_everywhere(std::string_view token) {
    const Fixture& f = fixture();
    const std::pair<const jwt::KeySet*, const std::vector<OracleKey>*> sets[] = {
        {&f.hs, &f.hs_oracle}, {&f.asym, &f.asym_oracle}, {&f.mixed, &f.mixed_oracle}};
    static const bool verbose = std::getenv("ROOMCAST_FUZZ_VERBOSE") != nullptr;
    const char* names[] = {"hs", "asym", "mixed"};
    int i = 0;
    for (const auto& [set, oracle] : sets) {
        auto claims = jwt::verify(token, *set, options());
        if (verbose) {
            std::fprintf(stderr, "%s: %s\n", names[i],
                         claims ? ("accepted sub=" + claims->sub).c_str()
                                : claims.error().message().c_str());
        }
        ++i;
        if (claims) {
            FUZZ_CHECK(signed_by(token, *oracle));
            check_accepted(*claims);
        }
    }
}

void run_signed(Input& in) {
    const std::uint8_t flags = in.byte();
    const std::string_view rest = in.rest();
    std::string header = R"({"alg":"HS256","typ":"JWT"})";
    std::string_view claims = rest;
    if (const auto nul = rest.find('\0'); nul != std::string_view::npos) {
        header.assign(rest.substr(0, nul));
        claims = rest.substr(nul + 1);
    }
    std::string token = b64url_encode(header) + "." + b64url_encode(claims);
    std::string_view secret = (flags & 1) != 0 ? kHsSecret2 : kHsSecret1;
    if ((flags & 4) != 0) {
        secret = kUnknownSecret;
    }
    if ((flags & 8) != 0) {
        secret = kRsaPublicPem;
    }
    std::string mac = hmac_sha256(secret, token);
    if ((flags & 2) != 0) {
        mac[flags % mac.size()] = static_cast<char>(mac[flags % mac.size()] ^ 0x01);
    }
    token += "." + b64url_encode(mac);
    verify_everywhere(token);
}

std::optional<json::object> public_jwk_of(const jwt::Key& key) {
    return key.public_jwk();
}

void run_jwks(std::string_view document) {
    const Fixture& f = fixture();
    std::size_t skipped = 0;
    auto set = jwt::KeySet::from_jwks(document, &skipped);
    if (!set) {
        return;
    }
    for (const jwt::Key& key : set->keys()) {
        FUZZ_CHECK(key.algorithm() != jwt::Algorithm::kHS256);  // secrets never come from a JWKS
        FUZZ_CHECK(!key.can_sign());
    }
    // The published form is a fixed point.
    auto again = jwt::KeySet::from_jwks(set->to_jwks());
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->keys().size() == set->keys().size());
    for (std::size_t i = 0; i < set->keys().size(); ++i) {
        FUZZ_CHECK(public_jwk_of(again->keys()[i]) == public_jwk_of(set->keys()[i]));
    }
    for (const std::string_view token : {std::string_view(kRs256Token), std::string_view(kEs256Token)}) {
        auto claims = jwt::verify(token, *set, options());
        if (!claims) {
            continue;
        }
        // Accepted: the set must hold the fixture key itself, under the token's kid.
        FUZZ_CHECK(signed_by(token, f.asym_oracle));
        bool holds = false;
        for (const jwt::Key& key : set->keys()) {
            for (const jwt::Key& fixture_key : f.asym.keys()) {
                auto a = public_jwk_of(key);
                auto b = public_jwk_of(fixture_key);
                FUZZ_CHECK(a.has_value() && b.has_value());
                a->erase("kid");
                b->erase("kid");
                holds = holds || *a == *b;
            }
        }
        FUZZ_CHECK(holds);
        check_accepted(*claims);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    switch (in.byte() % 3) {
        case 0:
            verify_everywhere(in.rest());
            break;
        case 1:
            run_signed(in);
            break;
        default:
            run_jwks(in.rest());
            break;
    }
    return 0;
}
