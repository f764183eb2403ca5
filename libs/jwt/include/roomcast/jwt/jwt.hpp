#pragma once
// JSON Web Tokens (RFC 7519, compact JWS) for Roomcast: HS256 with a shared secret (simple
// deployments, ROOMCAST_JWT_SECRET used as raw bytes), RS256 and ES256 with key pairs published
// as a JWKS by the auth service (edges verify locally and refresh the set for key rotation).
//
// Security rules: the algorithm is taken from the key, never trusted from the token: a token
// whose header "alg" differs from its key's algorithm is refused (no algorithm confusion, no
// "none"). With a "kid" the key must match it; without one, every key of the token's
// algorithm is tried. Claims: "sub" (non-empty string) and "exp" (number) are required; "nbf"
// and "iat" are honoured with a leeway. Inputs are capped (token length) and parsed with a
// JSON depth limit.

#include <boost/json/object.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::jwt {

enum class Errc {
    kOk = 0,
    kMalformed = 1,     // not three base64url parts, bad JSON, header/claims not objects
    kTooLarge,          // longer than the cap
    kUnsupportedAlg,    // "none", unknown, or an algorithm no configured key has
    kAlgMismatch,       // the header's alg differs from the selected key's
    kUnknownKey,        // "kid" names no configured key
    kBadSignature,
    kMissingClaim,      // no "sub" or "exp", or of the wrong type
    kExpired,           // now > exp + leeway
    kNotYetValid,       // now < nbf - leeway, or iat in the future beyond the leeway
    kBadKey,            // a key that cannot be loaded or used
    kWrongIssuer,       // "iss" is not the expected issuer (when one is expected)
    kWrongAudience,     // "aud" does not name the expected audience (when one is expected)
};
const boost::system::error_category& jwt_category() noexcept;
inline boost::system::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), jwt_category()};
}
template <class T>
using Result = boost::system::result<T, boost::system::error_code>;

enum class Algorithm : std::uint8_t { kHS256, kRS256, kES256 };
std::string_view to_string(Algorithm alg) noexcept;

// A verification (or signing) key. HS256 keys hold the secret; RS256/ES256 keys hold an OpenSSL
// public key, or a private key (which can also verify) when loaded for signing.
class Key {
public:
    static Key hs256(std::string secret, std::string kid = {});
    // PEM text of a public or private RSA / EC P-256 key (PKCS#8, SPKI or traditional).
    static Result<Key> from_pem(Algorithm alg, std::string_view pem, std::string kid);
    // One JWK object (kty RSA with n/e, or kty EC crv P-256 with x/y).
    static Result<Key> from_jwk(const boost::json::object& jwk);

    Algorithm algorithm() const noexcept { return alg_; }
    const std::string& kid() const noexcept { return kid_; }
    bool can_sign() const noexcept;
    // The public JWK (kty, kid, alg, use "sig", n/e or crv/x/y); nullopt for HS256 keys, whose
    // secret is never published.
    std::optional<boost::json::object> public_jwk() const;

    struct Impl;

private:
    Algorithm alg_ = Algorithm::kHS256;
    std::string kid_;
    std::shared_ptr<const Impl> impl_;
};

class KeySet {
public:
    void add(Key key) { keys_.push_back(std::move(key)); }
    const std::vector<Key>& keys() const noexcept { return keys_; }
    bool empty() const noexcept { return keys_.empty(); }
    // Parses a JWKS document {"keys":[...]}; keys it cannot use are skipped (reported in
    // `skipped` when given).
    static Result<KeySet> from_jwks(std::string_view json, std::size_t* skipped = nullptr);
    // {"keys":[...]} with the public keys (HS256 keys left out).
    std::string to_jwks() const;

private:
    std::vector<Key> keys_;
};

struct Claims {
    std::string sub;
    std::string name;  // "name" claim, else sub
    std::int64_t exp = 0;
    std::optional<std::int64_t> nbf;
    std::optional<std::int64_t> iat;
    boost::json::object all;  // every claim, for callers that need more
};

struct VerifyOptions {
    std::chrono::seconds leeway{30};
    // Current time in seconds since the Unix epoch; nullopt means the system clock.
    std::optional<std::int64_t> now;
    std::size_t max_token_bytes = 8192;
    // When set, the "iss" claim must equal it.
    std::string issuer;
    // When set, the "aud" claim (a string, or an array of strings) must contain it.
    std::string audience;
};

Result<Claims> verify(std::string_view token, const KeySet& keys, const VerifyOptions& options = {});

// Signs `claims` with `key` (header {"alg","typ":"JWT"[,"kid"]}). kBadKey when it cannot sign.
Result<std::string> sign(const boost::json::object& claims, const Key& key);

// Key generation for tests and the auth service's development mode.
Result<Key> generate(Algorithm alg, std::string kid);
// PEM (PKCS#8) of a private key, for writing key files.
Result<std::string> private_pem(const Key& key);

}  // namespace roomcast::jwt

namespace boost::system {
template <>
struct is_error_code_enum<roomcast::jwt::Errc> : std::true_type {};
}  // namespace boost::system
