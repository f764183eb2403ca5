#pragma once
// The auth service's logic, free of gRPC and NATS: the current keys, issuing and verifying
// client tokens, the JWKS document. The gRPC adapter (grpc_service.hpp) and the key
// synchronizer (key_sync.hpp) drive it; tests construct it directly.
//
// Keys: the HS256 secret (kid "", never published) and the key directory's private keys
// (key_dir.hpp). The key that should sign is the configured active kid, else the greatest kid
// of the directory, else the secret. A directory key only starts signing once a JWKS holding it
// has been published (mark_published): before that no edge could verify its tokens, so the key
// that signed until then goes on signing while it is still configured.
//
// Thread-safety: every method may be called from any thread. The keys are an immutable
// snapshot replaced as a whole by reload() and mark_published(), which are serialized among
// themselves; readers copy the snapshot's pointer under a mutex held only for that copy, so a
// signature never waits for a reload's file I/O and a reload never waits for a signature.

#include "service/errors.hpp"
#include "service/key_dir.hpp"

#include "roomcast/auth/v1/auth.pb.h"
#include "roomcast/jwt/jwt.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::auth {

struct AuthOptions {
    // HS256 key, used as raw bytes; empty: none.
    std::string jwt_secret;
    // Directory of `<kid>.pem` private keys; empty: none.
    std::filesystem::path key_dir;
    // The key that signs; empty: the greatest kid of key_dir, else the secret.
    std::string active_kid;
    // Lifetime of a token requested with ttl_seconds 0, and the longest one may ask for.
    std::chrono::seconds default_ttl{3600};
    std::chrono::seconds max_ttl{30 * 24 * 3600};
    // Clock skew tolerated on exp / nbf / iat by VerifyToken, as the edges do.
    std::chrono::seconds leeway{30};
    // When set, issued tokens carry "iss" / "aud" and VerifyToken requires them (edges check
    // them with --jwt-issuer / --jwt-audience).
    std::string issuer;
    std::string audience;
    KeyDirLimits key_dir_limits;
    // Seconds since the Unix epoch; empty: the system clock (tests move time with it).
    std::function<std::int64_t()> clock;
};

// What a reload found, for the log.
struct ReloadReport {
    // The verification keys, the JWKS or the signing key differ from before the reload.
    bool changed = false;
    // Kids of the key directory's keys now loaded, ascending.
    std::vector<std::string> kids;
    // The key signing now ("" for the secret) and the one that will once published.
    std::string signing_kid;
    std::string desired_kid;
    std::vector<std::string> problems;
};

// One key as ListKeys shows it.
struct KeyInfo {
    std::string kid;  // "" for the secret
    std::string algorithm;
    bool signing = false;
    bool pending = false;  // the desired key, waiting for its publication
    bool published = false;
};

class AuthService {
public:
    // Validates the options and loads the keys: fails (kFailedPrecondition) without a usable
    // signing key, with an active kid that is not in the key directory, or with a key directory
    // that cannot be read. Blocking file I/O.
    static Result<std::unique_ptr<AuthService>> create(AuthOptions options);

    AuthService(const AuthService&) = delete;
    AuthService& operator=(const AuthService&) = delete;

    // Reads the key directory again and replaces the keys. On an error (directory unreadable,
    // the active kid or every usable key gone) the previous keys stay in use. Blocking file
    // I/O: never on a gRPC thread.
    Result<ReloadReport> reload();

    // Records that `jwks_json` is now what edges verify with; a key waiting for publication
    // starts signing. True when that changed the signing key.
    bool mark_published(std::string_view jwks_json);

    // IssueToken: validates (kInvalidArgument) and signs. CPU only, fast.
    Result<v1::IssueTokenResponse> issue_token(const v1::IssueTokenRequest& request) const;
    // VerifyToken, with every current key (secret and key directory), as an edge would.
    v1::VerifyTokenResponse verify_token(const v1::VerifyTokenRequest& request) const;
    // The public keys of the key directory, {"keys":[...]} in kid order.
    std::string jwks_json() const;
    // The key signing now: its kid ("" for the secret).
    std::string signing_kid() const;
    // Every key: the secret first, then the key directory's by kid. Waits for a reload in
    // progress (published_ is the writers'), so it is for admin calls, not hot paths.
    std::vector<KeyInfo> list_keys() const;
    // Rotation: generates a key (`algorithm` "ES256" when empty, or "RS256") and writes it to
    // the key directory as `<kid>.pem`, mode 0600, through a temporary file renamed into place.
    // `kid` empty: the UTC time "YYYYMMDD-HHMMSS". It must sort after every loaded kid (the
    // greatest signs) and not exist. Does not reload: the caller asks the KeySync for a round,
    // which loads it and publishes the JWKS; it then signs. Blocking: key generation (ES256
    // about a millisecond, RS256 up to a second) and one small file write.
    Result<KeyInfo> write_new_key(std::string_view algorithm, std::string kid) const;

private:
    struct KeyState;

    explicit AuthService(AuthOptions options);
    std::shared_ptr<const KeyState> state() const;
    void set_state(std::shared_ptr<const KeyState> next);
    // Requires write_mu_.
    jwt::Key choose_signing(const KeyState& next, const KeyState* previous) const;
    std::int64_t now() const;

    const AuthOptions options_;

    // Serializes reload() and mark_published(); guards published_.
    mutable std::mutex write_mu_;
    // Identity (algorithm, kid, public JWK) of every key of the last published JWKS.
    std::set<std::string> published_;

    mutable std::mutex state_mu_;
    std::shared_ptr<const KeyState> state_;  // never null after create(); guarded by state_mu_
};

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view text) noexcept;

}  // namespace roomcast::auth
