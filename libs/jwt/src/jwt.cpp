#include "roomcast/jwt/jwt.hpp"

#include "base64url.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

namespace roomcast::jwt {
namespace json = boost::json;

namespace {

// Limits, each against a cost an untrusted input could otherwise impose.
// JSON nesting: Boost.JSON parses recursively-structured documents with a stack per level;
// real headers, claims and JWKS documents are at most 3 or 4 deep.
constexpr std::size_t kMaxJsonDepth = 16;
// A JWKS document is fetched from the auth service; a runaway or hostile response must not be
// parsed in full.
constexpr std::size_t kMaxJwksBytes = std::size_t{1} << 20;
// A token without "kid" is tried against every key of its algorithm, so the number of keys
// bounds the work one token can cause (an RSA verification is tens of microseconds).
constexpr std::size_t kMaxJwksKeys = 64;
// PEM text of one key: an 8192-bit RSA private key is about 6.5 KB.
constexpr std::size_t kMaxPemBytes = std::size_t{64} * 1024;
// RSA modulus: RFC 7518 section 3.3 requires at least 2048 bits, as smaller moduli are within
// reach of well-resourced factoring. The upper bound keeps a published key from making each
// verification cost a millisecond or more.
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;
// RSA public exponent: OpenSSL refuses exponents over 64 bits for large moduli anyway.
constexpr int kMaxRsaExponentBits = 64;
constexpr int kRsaGenerateBits = 2048;
constexpr std::size_t kHs256SecretBytes = 32;
constexpr std::size_t kHs256MacBytes = 32;
constexpr std::size_t kP256CoordinateBytes = 32;
constexpr char kP256GroupName[] = "prime256v1";

template <auto Fn>
struct Deleter {
    template <class T>
    void operator()(T* p) const noexcept {
        Fn(p);
    }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using SecretBnPtr = std::unique_ptr<BIGNUM, Deleter<BN_clear_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;
using DecoderCtxPtr = std::unique_ptr<OSSL_DECODER_CTX, Deleter<OSSL_DECODER_CTX_free>>;

// OpenSSL reports failures on a per-thread error queue. Every failure here is turned into an
// Errc, so the entries are popped on the way out: left behind, they would be misread by the next
// OpenSSL user on the same thread (the edge's TLS code checks that queue).
class ErrorQueueMark {
public:
    ErrorQueueMark() noexcept { ERR_set_mark(); }
    ~ErrorQueueMark() { ERR_pop_to_mark(); }
    ErrorQueueMark(const ErrorQueueMark&) = delete;
    ErrorQueueMark& operator=(const ErrorQueueMark&) = delete;
};

boost::system::error_code err(Errc e) noexcept {
    return make_error_code(e);
}

class JwtCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "roomcast.jwt"; }

    std::string message(int ev) const override {
        switch (static_cast<Errc>(ev)) {
            case Errc::kOk:
                return "success";
            case Errc::kMalformed:
                return "malformed token";
            case Errc::kTooLarge:
                return "token too large";
            case Errc::kUnsupportedAlg:
                return "unsupported algorithm";
            case Errc::kAlgMismatch:
                return "algorithm does not match the key";
            case Errc::kUnknownKey:
                return "unknown key id";
            case Errc::kBadSignature:
                return "bad signature";
            case Errc::kMissingClaim:
                return "missing or invalid claim";
            case Errc::kExpired:
                return "token expired";
            case Errc::kNotYetValid:
                return "token not yet valid";
            case Errc::kBadKey:
                return "unusable key";
            case Errc::kWrongIssuer:
                return "token from another issuer";
            case Errc::kWrongAudience:
                return "token for another audience";
        }
        return "unknown jwt error";
    }
};

std::optional<Algorithm> parse_algorithm(std::string_view name) noexcept {
    if (name == "HS256") {
        return Algorithm::kHS256;
    }
    if (name == "RS256") {
        return Algorithm::kRS256;
    }
    if (name == "ES256") {
        return Algorithm::kES256;
    }
    return std::nullopt;
}

std::string_view view(const json::string& s) noexcept {
    return {s.data(), s.size()};
}

// Parses `text` as a JSON object with the depth limit; nullopt for anything else.
std::optional<json::object> parse_object(std::string_view text) {
    json::parse_options options;
    options.max_depth = kMaxJsonDepth;
    boost::system::error_code ec;
    json::value value = json::parse(text, ec, {}, options);
    if (ec || !value.is_object()) {
        return std::nullopt;
    }
    return std::move(value.get_object());
}

// A member that must be a string when present: nullopt when absent, an error when mistyped.
Result<std::optional<std::string_view>> optional_string(const json::object& object,
                                                        std::string_view key) {
    const json::value* value = object.if_contains(key);
    if (value == nullptr) {
        return std::optional<std::string_view>{};
    }
    const json::string* s = value->if_string();
    if (s == nullptr) {
        return err(Errc::kMalformed);
    }
    return std::optional<std::string_view>{view(*s)};
}

// ---------------------------------------------------------------------------------------------
// OpenSSL key helpers

std::string bn_to_bytes(const BIGNUM* bn) {
    std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

BnPtr bytes_to_bn(std::string_view bytes) {
    return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                           static_cast<int>(bytes.size()), nullptr));
}

BnPtr get_bn_param(const EVP_PKEY* pkey, const char* name) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
        return nullptr;
    }
    return BnPtr(bn);
}

bool has_private_part(const EVP_PKEY* pkey, Algorithm alg) {
    BIGNUM* bn = nullptr;
    const char* name = alg == Algorithm::kRS256 ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY;
    const bool present = EVP_PKEY_get_bn_param(pkey, name, &bn) == 1;
    SecretBnPtr owned(bn);
    return present;
}

// Whether `pkey` is a key `alg` may use: RSA (not RSA-PSS, whose keys refuse PKCS#1 v1.5) of a
// sane size and exponent for RS256; a valid point on P-256 for ES256.
bool key_fits(const EVP_PKEY* pkey, Algorithm alg) {
    if (alg == Algorithm::kRS256) {
        if (EVP_PKEY_is_a(pkey, "RSA") != 1) {
            return false;
        }
        const int bits = EVP_PKEY_get_bits(pkey);
        if (bits < kMinRsaBits || bits > kMaxRsaBits) {
            return false;
        }
        const BnPtr e = get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E);
        return e && BN_is_odd(e.get()) && !BN_is_one(e.get()) &&
               BN_num_bits(e.get()) <= kMaxRsaExponentBits;
    }
    if (alg == Algorithm::kES256) {
        if (EVP_PKEY_is_a(pkey, "EC") != 1) {
            return false;
        }
        std::array<char, 64> group{};
        std::size_t length = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group.data(),
                                           group.size(), &length) != 1 ||
            std::string_view(group.data(), length) != kP256GroupName) {
            return false;
        }
        // On the curve, not the point at infinity, in the right subgroup: an invalid point
        // could leak nothing here (we only verify), but it is certainly not a key anyone holds.
        const PkeyCtxPtr ctx(
            EVP_PKEY_CTX_new_from_pkey(nullptr, const_cast<EVP_PKEY*>(pkey), nullptr));
        return ctx && EVP_PKEY_public_check(ctx.get()) == 1;
    }
    return false;
}

PkeyPtr pkey_from_params(const char* type, OSSL_PARAM_BLD* builder) {
    const ParamPtr params(OSSL_PARAM_BLD_to_param(builder));
    const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
        return nullptr;
    }
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        return nullptr;
    }
    return PkeyPtr(raw);
}

PkeyPtr rsa_from_jwk(const json::object& jwk) {
    const json::value* n_text = jwk.if_contains("n");
    const json::value* e_text = jwk.if_contains("e");
    if (n_text == nullptr || e_text == nullptr || !n_text->is_string() || !e_text->is_string()) {
        return nullptr;
    }
    const auto n = detail::base64url_decode(view(n_text->get_string()));
    const auto e = detail::base64url_decode(view(e_text->get_string()));
    // Size checks before any big-number work; key_fits() has the exact ones.
    if (!n || !e || n->empty() || e->empty() || n->size() > kMaxRsaBits / 8 + 1 ||
        e->size() > kMaxRsaExponentBits / 8 + 1) {
        return nullptr;
    }
    const BnPtr n_bn = bytes_to_bn(*n);
    const BnPtr e_bn = bytes_to_bn(*e);
    const ParamBldPtr builder(OSSL_PARAM_BLD_new());
    if (!n_bn || !e_bn || !builder ||
        OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
        return nullptr;
    }
    return pkey_from_params("RSA", builder.get());
}

PkeyPtr ec_from_jwk(const json::object& jwk) {
    const json::value* crv = jwk.if_contains("crv");
    const json::value* x_text = jwk.if_contains("x");
    const json::value* y_text = jwk.if_contains("y");
    if (crv == nullptr || x_text == nullptr || y_text == nullptr || !crv->is_string() ||
        view(crv->get_string()) != "P-256" || !x_text->is_string() || !y_text->is_string()) {
        return nullptr;
    }
    const auto x = detail::base64url_decode(view(x_text->get_string()));
    const auto y = detail::base64url_decode(view(y_text->get_string()));
    // RFC 7518 section 6.2.1.2: the coordinates are full-length octet strings.
    if (!x || !y || x->size() != kP256CoordinateBytes || y->size() != kP256CoordinateBytes) {
        return nullptr;
    }
    const std::string point = '\x04' + *x + *y;  // SEC 1 uncompressed point
    const ParamBldPtr builder(OSSL_PARAM_BLD_new());
    if (!builder ||
        OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, kP256GroupName,
                                        0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
        return nullptr;
    }
    return pkey_from_params("EC", builder.get());
}

// Refuses encrypted PEMs instead of letting OpenSSL fall back to prompting on a terminal.
int no_passphrase(char*, std::size_t, std::size_t*, const OSSL_PARAM*, void*) {
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Signatures

std::optional<std::string> digest_sign(EVP_PKEY* pkey, std::string_view input) {
    const MdCtxPtr ctx(EVP_MD_CTX_new());
    std::size_t length = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()) != 1) {
        return std::nullopt;
    }
    std::string out(length, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &length, data,
                       input.size()) != 1) {
        return std::nullopt;
    }
    out.resize(length);
    return out;
}

bool digest_verify(EVP_PKEY* pkey, std::string_view input, std::string_view signature) {
    const MdCtxPtr ctx(EVP_MD_CTX_new());
    return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
           EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                            input.size()) == 1;
}

std::optional<std::string> hmac_sha256(std::string_view secret, std::string_view input) {
    if (secret.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        return std::nullopt;
    }
    std::string out(EVP_MAX_MD_SIZE, '\0');
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(),
             reinterpret_cast<unsigned char*>(out.data()), &length) == nullptr) {
        return std::nullopt;
    }
    out.resize(length);
    return out;
}

// JWS ES256 signatures are R || S, each a 32-byte big-endian integer (RFC 7518 section 3.4);
// OpenSSL produces and consumes a DER ECDSA-Sig-Value.
std::optional<std::string> der_to_raw(std::string_view der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    const EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!sig) {
        return std::nullopt;
    }
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    std::string out(2 * kP256CoordinateBytes, '\0');
    auto* dst = reinterpret_cast<unsigned char*>(out.data());
    if (BN_bn2binpad(r, dst, kP256CoordinateBytes) < 0 ||
        BN_bn2binpad(s, dst + kP256CoordinateBytes, kP256CoordinateBytes) < 0) {
        return std::nullopt;
    }
    return out;
}

std::optional<std::string> raw_to_der(std::string_view raw) {
    if (raw.size() != 2 * kP256CoordinateBytes) {
        return std::nullopt;
    }
    BnPtr r = bytes_to_bn(raw.substr(0, kP256CoordinateBytes));
    BnPtr s = bytes_to_bn(raw.substr(kP256CoordinateBytes));
    EcdsaSigPtr sig(ECDSA_SIG_new());
    if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
        return std::nullopt;
    }
    // The signature owns r and s now.
    static_cast<void>(r.release());
    static_cast<void>(s.release());
    unsigned char* der = nullptr;
    const int length = i2d_ECDSA_SIG(sig.get(), &der);
    if (length <= 0) {
        return std::nullopt;
    }
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
    OPENSSL_free(der);
    return out;
}

enum class Check { kValid, kInvalid, kUnusable };

std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t out = 0;
    if (__builtin_add_overflow(a, b, &out)) {
        return b > 0 ? std::numeric_limits<std::int64_t>::max()
                     : std::numeric_limits<std::int64_t>::min();
    }
    return out;
}

std::int64_t saturating_sub(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t out = 0;
    if (__builtin_sub_overflow(a, b, &out)) {
        return b > 0 ? std::numeric_limits<std::int64_t>::min()
                     : std::numeric_limits<std::int64_t>::max();
    }
    return out;
}

// A NumericDate (RFC 7519 section 2): any JSON number, fractions truncated toward zero. Values
// outside the int64 range are refused rather than clamped: no issuer writes them, and clamping
// would turn a nonsense "exp" into "never expires".
std::optional<std::int64_t> numeric_date(const json::value& value) noexcept {
    if (const auto* i = value.if_int64()) {
        return *i;
    }
    if (const auto* u = value.if_uint64()) {
        if (*u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(*u);
    }
    if (const auto* d = value.if_double()) {
        // [-2^63, 2^63) is exactly the range whose truncation fits in int64 (both bounds are
        // doubles), so the cast below is always defined.
        constexpr double kLimit = 9223372036854775808.0;
        if (!(*d >= -kLimit && *d < kLimit)) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(std::trunc(*d));
    }
    return std::nullopt;
}

Result<std::optional<std::int64_t>> optional_date(const json::object& claims,
                                                  std::string_view key) {
    const json::value* value = claims.if_contains(key);
    if (value == nullptr) {
        return std::optional<std::int64_t>{};
    }
    const auto date = numeric_date(*value);
    if (!date) {
        return err(Errc::kMissingClaim);
    }
    return std::optional<std::int64_t>{*date};
}

std::int64_t system_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Validates the claims of a token whose signature has been verified. The time window is checked
// before "sub", so an expired token reports kExpired whatever else it lacks.
Result<Claims> check_claims(json::object payload, const VerifyOptions& options) {
    const json::value* exp_value = payload.if_contains("exp");
    const auto exp = exp_value == nullptr ? std::nullopt : numeric_date(*exp_value);
    if (!exp) {
        return err(Errc::kMissingClaim);
    }
    auto nbf = optional_date(payload, "nbf");
    if (!nbf) {
        return nbf.error();
    }
    auto iat = optional_date(payload, "iat");
    if (!iat) {
        return iat.error();
    }

    const std::int64_t now = options.now ? *options.now : system_now();
    const std::int64_t leeway = std::max<std::int64_t>(0, options.leeway.count());
    if (now > saturating_add(*exp, leeway)) {
        return err(Errc::kExpired);
    }
    if (*nbf && now < saturating_sub(**nbf, leeway)) {
        return err(Errc::kNotYetValid);
    }
    // An "iat" in the future means a clock far off or a forged issuer; either way the token
    // is not to be trusted yet.
    if (*iat && **iat > saturating_add(now, leeway)) {
        return err(Errc::kNotYetValid);
    }

    if (!options.issuer.empty()) {
        const json::value* iss = payload.if_contains("iss");
        if (iss == nullptr || !iss->is_string() || view(iss->get_string()) != options.issuer) {
            return err(Errc::kWrongIssuer);
        }
    }
    if (!options.audience.empty()) {
        const json::value* aud = payload.if_contains("aud");
        bool found = false;
        if (aud != nullptr && aud->is_string()) {
            found = view(aud->get_string()) == options.audience;
        } else if (aud != nullptr && aud->is_array()) {
            for (const auto& a : aud->get_array()) {
                found = found || (a.is_string() && view(a.get_string()) == options.audience);
            }
        }
        if (!found) {
            return err(Errc::kWrongAudience);
        }
    }

    const json::value* sub = payload.if_contains("sub");
    if (sub == nullptr || !sub->is_string() || sub->get_string().empty()) {
        return err(Errc::kMissingClaim);
    }
    Claims claims;
    claims.sub = std::string(view(sub->get_string()));
    const json::value* name = payload.if_contains("name");
    if (name != nullptr && name->is_string() && !name->get_string().empty()) {
        claims.name = std::string(view(name->get_string()));
    } else {
        claims.name = claims.sub;
    }
    claims.exp = *exp;
    claims.nbf = *nbf;
    claims.iat = *iat;
    claims.all = std::move(payload);
    return claims;
}

}  // namespace

// Immutable once built, so a Key (and the shared Impl behind its copies) may be used from any
// number of threads at once: OpenSSL 3 allows concurrent operations on one EVP_PKEY.
struct Key::Impl {
    std::string secret;  // HS256 only
    PkeyPtr pkey;        // RS256 / ES256 only
    bool has_private = false;

    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() { OPENSSL_cleanse(secret.data(), secret.size()); }

    // Impl is a member of Key, so it can reach Key's private state for the free functions
    // (sign, verify, generate) without widening the public interface.
    static const Impl* of(const Key& key) noexcept { return key.impl_.get(); }

    static Key make(Algorithm alg, std::string kid, std::shared_ptr<const Impl> impl) {
        Key key;
        key.alg_ = alg;
        key.kid_ = std::move(kid);
        key.impl_ = std::move(impl);
        return key;
    }

    static Key from_pkey(Algorithm alg, std::string kid, PkeyPtr pkey) {
        auto impl = std::make_shared<Impl>();
        impl->has_private = has_private_part(pkey.get(), alg);
        impl->pkey = std::move(pkey);
        return make(alg, std::move(kid), std::move(impl));
    }

    bool usable(Algorithm alg) const noexcept {
        return alg == Algorithm::kHS256 ? !secret.empty() : pkey != nullptr;
    }

    std::optional<std::string> sign(Algorithm alg, std::string_view input) const {
        switch (alg) {
            case Algorithm::kHS256:
                return hmac_sha256(secret, input);
            case Algorithm::kRS256:
                return digest_sign(pkey.get(), input);
            case Algorithm::kES256: {
                const auto der = digest_sign(pkey.get(), input);
                return der ? der_to_raw(*der) : std::nullopt;
            }
        }
        return std::nullopt;
    }

    Check verify(Algorithm alg, std::string_view input, std::string_view signature) const {
        if (!usable(alg)) {
            return Check::kUnusable;
        }
        switch (alg) {
            case Algorithm::kHS256: {
                const auto mac = hmac_sha256(secret, input);
                if (!mac) {
                    return Check::kUnusable;
                }
                // Constant time, so the comparison cannot be used as an oracle that reveals
                // how many leading bytes of a forged MAC are right.
                const bool equal =
                    signature.size() == kHs256MacBytes && mac->size() == kHs256MacBytes &&
                    CRYPTO_memcmp(signature.data(), mac->data(), kHs256MacBytes) == 0;
                return equal ? Check::kValid : Check::kInvalid;
            }
            case Algorithm::kRS256:
                return digest_verify(pkey.get(), input, signature) ? Check::kValid
                                                                   : Check::kInvalid;
            case Algorithm::kES256: {
                const auto der = raw_to_der(signature);
                return der && digest_verify(pkey.get(), input, *der) ? Check::kValid
                                                                     : Check::kInvalid;
            }
        }
        return Check::kUnusable;
    }
};

const boost::system::error_category& jwt_category() noexcept {
    // One instance per process, so error_code comparisons by category address work across
    // translation units.
    static const JwtCategory category;
    return category;
}

std::string_view to_string(Algorithm alg) noexcept {
    switch (alg) {
        case Algorithm::kHS256:
            return "HS256";
        case Algorithm::kRS256:
            return "RS256";
        case Algorithm::kES256:
            return "ES256";
    }
    return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Key

Key Key::hs256(std::string secret, std::string kid) {
    auto impl = std::make_shared<Impl>();
    impl->secret = std::move(secret);
    return Impl::make(Algorithm::kHS256, std::move(kid), std::move(impl));
}

Result<Key> Key::from_pem(Algorithm alg, std::string_view pem, std::string kid) {
    // A PEM is never an HMAC secret: accepting one here is how the RS256-public-key-as-HS256-
    // secret confusion gets configured.
    if (alg == Algorithm::kHS256 || pem.empty() || pem.size() > kMaxPemBytes) {
        return err(Errc::kBadKey);
    }
    const ErrorQueueMark mark;
    EVP_PKEY* raw = nullptr;
    // Any structure (SPKI, PKCS#8, PKCS#1 / SEC 1), public or private, of any key type; the
    // type is checked against `alg` afterwards so a mismatch is kBadKey, not a decoder miss.
    const DecoderCtxPtr decoder(
        OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, nullptr, 0, nullptr, nullptr));
    if (!decoder ||
        OSSL_DECODER_CTX_set_passphrase_cb(decoder.get(), no_passphrase, nullptr) != 1) {
        return err(Errc::kBadKey);
    }
    const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
    std::size_t length = pem.size();
    if (OSSL_DECODER_from_data(decoder.get(), &data, &length) != 1 || raw == nullptr) {
        return err(Errc::kBadKey);
    }
    PkeyPtr pkey(raw);
    if (!key_fits(pkey.get(), alg)) {
        return err(Errc::kBadKey);
    }
    return Impl::from_pkey(alg, std::move(kid), std::move(pkey));
}

Result<Key> Key::from_jwk(const json::object& jwk) {
    const auto kty = optional_string(jwk, "kty");
    const auto kid = optional_string(jwk, "kid");
    const auto alg_name = optional_string(jwk, "alg");
    const auto use = optional_string(jwk, "use");
    if (!kty || !*kty || !kid || !alg_name || !use) {
        return err(Errc::kBadKey);
    }
    // An encryption key ("use":"enc") is not for verifying signatures (RFC 7517 section 4.2).
    if (*use && **use != "sig") {
        return err(Errc::kBadKey);
    }
    Algorithm alg = Algorithm::kHS256;
    if (**kty == "RSA") {
        alg = Algorithm::kRS256;
    } else if (**kty == "EC") {
        alg = Algorithm::kES256;
    } else {
        // "oct" keys included: a symmetric secret is never taken from a published document.
        return err(Errc::kBadKey);
    }
    // "alg" is optional; when given it must be the one algorithm this library uses for the kty
    // (an RSA key marked "PS256" or "RSA-OAEP" must not be used for RS256).
    if (*alg_name && parse_algorithm(**alg_name) != alg) {
        return err(Errc::kBadKey);
    }
    const ErrorQueueMark mark;
    PkeyPtr pkey = alg == Algorithm::kRS256 ? rsa_from_jwk(jwk) : ec_from_jwk(jwk);
    if (!pkey || !key_fits(pkey.get(), alg)) {
        return err(Errc::kBadKey);
    }
    return Impl::from_pkey(alg, std::string(kid->value_or("")), std::move(pkey));
}

bool Key::can_sign() const noexcept {
    if (!impl_ || !impl_->usable(alg_)) {
        return false;
    }
    return alg_ == Algorithm::kHS256 || impl_->has_private;
}

std::optional<json::object> Key::public_jwk() const {
    if (!impl_ || alg_ == Algorithm::kHS256 || !impl_->pkey) {
        return std::nullopt;
    }
    const ErrorQueueMark mark;
    const EVP_PKEY* pkey = impl_->pkey.get();
    json::object jwk;
    jwk.emplace("kty", alg_ == Algorithm::kRS256 ? "RSA" : "EC");
    if (!kid_.empty()) {
        jwk.emplace("kid", kid_);
    }
    jwk.emplace("use", "sig");
    jwk.emplace("alg", to_string(alg_));
    if (alg_ == Algorithm::kRS256) {
        const BnPtr n = get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N);
        const BnPtr e = get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E);
        if (!n || !e) {
            return std::nullopt;
        }
        jwk.emplace("n", detail::base64url_encode(bn_to_bytes(n.get())));
        jwk.emplace("e", detail::base64url_encode(bn_to_bytes(e.get())));
        return jwk;
    }
    const BnPtr x = get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X);
    const BnPtr y = get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y);
    std::string coordinates(2 * kP256CoordinateBytes, '\0');
    auto* dst = reinterpret_cast<unsigned char*>(coordinates.data());
    if (!x || !y || BN_bn2binpad(x.get(), dst, kP256CoordinateBytes) < 0 ||
        BN_bn2binpad(y.get(), dst + kP256CoordinateBytes, kP256CoordinateBytes) < 0) {
        return std::nullopt;
    }
    const std::string_view both = coordinates;
    jwk.emplace("crv", "P-256");
    jwk.emplace("x", detail::base64url_encode(both.substr(0, kP256CoordinateBytes)));
    jwk.emplace("y", detail::base64url_encode(both.substr(kP256CoordinateBytes)));
    return jwk;
}

// ---------------------------------------------------------------------------------------------
// KeySet

Result<KeySet> KeySet::from_jwks(std::string_view json_text, std::size_t* skipped) {
    if (json_text.size() > kMaxJwksBytes) {
        return err(Errc::kTooLarge);
    }
    const auto document = parse_object(json_text);
    if (!document) {
        return err(Errc::kMalformed);
    }
    const json::value* keys = document->if_contains("keys");
    if (keys == nullptr || !keys->is_array()) {
        return err(Errc::kMalformed);
    }
    KeySet set;
    std::size_t unusable = 0;
    for (const json::value& entry : keys->get_array()) {
        if (set.keys_.size() >= kMaxJwksKeys || !entry.is_object()) {
            ++unusable;
            continue;
        }
        auto key = Key::from_jwk(entry.get_object());
        if (!key) {
            ++unusable;
            continue;
        }
        set.add(std::move(*key));
    }
    if (skipped != nullptr) {
        *skipped = unusable;
    }
    return set;
}

std::string KeySet::to_jwks() const {
    json::array keys;
    for (const Key& key : keys_) {
        if (auto jwk = key.public_jwk()) {
            keys.emplace_back(std::move(*jwk));
        }
    }
    json::object document;
    document.emplace("keys", std::move(keys));
    return json::serialize(document);
}

// ---------------------------------------------------------------------------------------------
// Tokens

Result<Claims> verify(std::string_view token, const KeySet& keys, const VerifyOptions& options) {
    if (token.size() > options.max_token_bytes) {
        return err(Errc::kTooLarge);
    }
    const std::size_t first = token.find('.');
    const std::size_t second =
        first == std::string_view::npos ? std::string_view::npos : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        return err(Errc::kMalformed);
    }
    const std::string_view signing_input = token.substr(0, second);
    const auto header_json = detail::base64url_decode(token.substr(0, first));
    const auto payload_json = detail::base64url_decode(token.substr(first + 1, second - first - 1));
    const auto signature = detail::base64url_decode(token.substr(second + 1));
    if (!header_json || !payload_json || !signature) {
        return err(Errc::kMalformed);
    }
    const auto header = parse_object(*header_json);
    if (!header) {
        return err(Errc::kMalformed);
    }
    const auto alg_name = optional_string(*header, "alg");
    const auto kid = optional_string(*header, "kid");
    if (!alg_name || !*alg_name || !kid) {
        return err(Errc::kMalformed);
    }
    // "crit" lists extensions the recipient must understand (RFC 7515 section 4.1.11); this
    // library understands none, so such a token cannot be processed correctly.
    if (header->contains("crit")) {
        return err(Errc::kMalformed);
    }
    // Only the three algorithms; "none" and everything else stop here, before any key is
    // looked at. Key locations in the header ("jku", "jwk", "x5u") are ignored on purpose.
    const auto alg = parse_algorithm(**alg_name);
    if (!alg) {
        return err(Errc::kUnsupportedAlg);
    }

    std::vector<const Key*> candidates;
    if (*kid) {
        bool kid_known = false;
        for (const Key& key : keys.keys()) {
            if (key.kid() != **kid) {
                continue;
            }
            kid_known = true;
            if (key.algorithm() == *alg) {
                candidates.push_back(&key);
            }
        }
        if (!kid_known) {
            return err(Errc::kUnknownKey);
        }
        if (candidates.empty()) {
            return err(Errc::kAlgMismatch);
        }
    } else {
        for (const Key& key : keys.keys()) {
            if (key.algorithm() == *alg) {
                candidates.push_back(&key);
            }
        }
        if (candidates.empty()) {
            return err(Errc::kUnsupportedAlg);
        }
    }

    const ErrorQueueMark mark;
    bool any_usable = false;
    bool valid = false;
    for (const Key* key : candidates) {
        const Key::Impl* impl = Key::Impl::of(*key);
        const Check check =
            impl == nullptr ? Check::kUnusable : impl->verify(*alg, signing_input, *signature);
        any_usable = any_usable || check != Check::kUnusable;
        if (check == Check::kValid) {
            valid = true;
            break;
        }
    }
    if (!valid) {
        return err(any_usable ? Errc::kBadSignature : Errc::kBadKey);
    }

    // The claims are parsed only once the signature holds, so unauthenticated input never
    // reaches the JSON parser beyond the (small) header.
    auto payload = parse_object(*payload_json);
    if (!payload) {
        return err(Errc::kMalformed);
    }
    return check_claims(std::move(*payload), options);
}

Result<std::string> sign(const json::object& claims, const Key& key) {
    const Key::Impl* impl = Key::Impl::of(key);
    if (impl == nullptr || !key.can_sign()) {
        return err(Errc::kBadKey);
    }
    json::object header;
    header.emplace("alg", to_string(key.algorithm()));
    header.emplace("typ", "JWT");
    if (!key.kid().empty()) {
        header.emplace("kid", key.kid());
    }
    std::string token = detail::base64url_encode(json::serialize(header));
    token += '.';
    token += detail::base64url_encode(json::serialize(claims));
    const ErrorQueueMark mark;
    const auto signature = impl->sign(key.algorithm(), token);
    if (!signature) {
        return err(Errc::kBadKey);
    }
    token += '.';
    token += detail::base64url_encode(*signature);
    return token;
}

Result<Key> generate(Algorithm alg, std::string kid) {
    const ErrorQueueMark mark;
    if (alg == Algorithm::kHS256) {
        std::string secret(kHs256SecretBytes, '\0');
        if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()),
                       static_cast<int>(secret.size())) != 1) {
            return err(Errc::kBadKey);
        }
        Key key = Key::hs256(std::move(secret), std::move(kid));
        return key;
    }
    PkeyPtr pkey(
        alg == Algorithm::kRS256
            ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(kRsaGenerateBits))
            : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!pkey) {
        return err(Errc::kBadKey);
    }
    return Key::Impl::from_pkey(alg, std::move(kid), std::move(pkey));
}

Result<std::string> private_pem(const Key& key) {
    const Key::Impl* impl = Key::Impl::of(key);
    if (impl == nullptr || key.algorithm() == Algorithm::kHS256 || !impl->pkey ||
        !impl->has_private) {
        return err(Errc::kBadKey);
    }
    const ErrorQueueMark mark;
    // A secure-memory BIO clears its buffer when freed, so the private key text does not
    // linger in freed heap memory.
    const BioPtr bio(BIO_new(BIO_s_secmem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl->pkey.get(), nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
        return err(Errc::kBadKey);
    }
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    if (length <= 0 || data == nullptr) {
        return err(Errc::kBadKey);
    }
    return std::string(data, static_cast<std::size_t>(length));
}

}  // namespace roomcast::jwt
