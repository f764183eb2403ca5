#include "service/auth_service.hpp"

#include "roomcast/contract/ids.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <stdexcept>

namespace roomcast::auth {

void throw_exception_from_error(const Error& error, const boost::source_location&) {
    throw std::runtime_error(error.message);
}

struct AuthService::KeyState {
    // Every key a token may be signed with: the secret first, then the directory's keys.
    jwt::KeySet verify;
    // The signing-capable keys: the secret (when configured) and the directory's keys.
    std::vector<jwt::Key> signers;
    std::vector<std::string> kids;
    // The key that should sign, and the one that does (they differ while `desired` waits for
    // its publication).
    jwt::Key desired;
    jwt::Key signing;
    std::string jwks_json;
};

namespace {

// Two keys are the same key when algorithm, kid and public half agree. A replaced file with
// the same kid is a different key.
std::string identity(const jwt::Key& key) {
    std::string id(jwt::to_string(key.algorithm()));
    id += '/';
    id += key.kid();
    id += '/';
    if (const auto jwk = key.public_jwk()) {
        id += boost::json::serialize(*jwk);
    }
    return id;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        out += out.empty() ? "" : "; ";
        out += item;
    }
    return out;
}

std::int64_t system_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

bool valid_utf8(std::string_view text) noexcept {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t length = 0;
        unsigned char low = 0x80;
        unsigned char high = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            length = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            length = 3;
            low = c == 0xE0 ? 0xA0 : 0x80;   // overlong
            high = c == 0xED ? 0x9F : 0xBF;  // surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            length = 4;
            low = c == 0xF0 ? 0x90 : 0x80;   // overlong
            high = c == 0xF4 ? 0x8F : 0xBF;  // above U+10FFFF
        } else {
            return false;
        }
        if (text.size() - i < length) {
            return false;
        }
        const auto second = static_cast<unsigned char>(text[i + 1]);
        if (second < low || second > high) {
            return false;
        }
        for (std::size_t k = 2; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if (next < 0x80 || next > 0xBF) {
                return false;
            }
        }
        i += length;
    }
    return true;
}

AuthService::AuthService(AuthOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<AuthService>> AuthService::create(AuthOptions options) {
    if (options.jwt_secret.empty() && options.key_dir.empty()) {
        return failed_precondition(
            "no signing key: give an HS256 secret (--jwt-secret) and/or a key directory "
            "(--key-dir)");
    }
    if (!options.active_kid.empty() && options.key_dir.empty()) {
        return failed_precondition("--active-kid names a key of --key-dir, which is not set");
    }
    if (!options.active_kid.empty() && !valid_kid(options.active_kid)) {
        return failed_precondition("--active-kid must be 1..128 of [A-Za-z0-9._-]");
    }
    if (options.default_ttl < std::chrono::seconds(1) || options.max_ttl < options.default_ttl) {
        return failed_precondition("the default ttl (" +
                                   std::to_string(options.default_ttl.count()) +
                                   " s) must be from 1 s to the max ttl (" +
                                   std::to_string(options.max_ttl.count()) + " s)");
    }
    std::unique_ptr<AuthService> service(new AuthService(std::move(options)));
    if (auto loaded = service->reload(); !loaded) {
        return loaded.error();
    }
    return service;
}

Result<ReloadReport> AuthService::reload() {
    const std::lock_guard lock(write_mu_);
    ReloadReport report;
    LoadedKeys loaded;
    if (!options_.key_dir.empty()) {
        auto read = load_key_dir(options_.key_dir, options_.key_dir_limits);
        if (!read) {
            return read.error();
        }
        loaded = std::move(*read);
    }
    report.problems = loaded.problems;

    auto next = std::make_shared<KeyState>();
    std::optional<jwt::Key> secret;
    if (!options_.jwt_secret.empty()) {
        secret = jwt::Key::hs256(options_.jwt_secret);
        next->verify.add(*secret);
        next->signers.push_back(*secret);
    }
    jwt::KeySet published_keys;
    for (const auto& key : loaded.keys) {
        next->verify.add(key);
        next->signers.push_back(key);
        next->kids.push_back(key.kid());
        published_keys.add(key);
    }
    next->jwks_json = published_keys.to_jwks();

    if (!options_.active_kid.empty()) {
        const auto it = std::find_if(loaded.keys.begin(), loaded.keys.end(),
                                     [&](const auto& k) { return k.kid() == options_.active_kid; });
        if (it == loaded.keys.end()) {
            std::string message = "the active kid '" + options_.active_kid + "' has no usable " +
                                  "key file in " + options_.key_dir.string();
            if (!loaded.problems.empty()) {
                message += " (" + join(loaded.problems) + ")";
            }
            return failed_precondition(std::move(message));
        }
        next->desired = *it;
    } else if (!loaded.keys.empty()) {
        next->desired = loaded.keys.back();  // sorted by kid: the greatest
    } else if (secret) {
        next->desired = *secret;
    } else {
        std::string message = "no signing key: no HS256 secret and no usable key file in " +
                              options_.key_dir.string();
        if (!loaded.problems.empty()) {
            message += " (" + join(loaded.problems) + ")";
        }
        return failed_precondition(std::move(message));
    }

    const auto previous = state();
    next->signing = choose_signing(*next, previous.get());
    report.changed = !previous || previous->jwks_json != next->jwks_json ||
                     identity(previous->signing) != identity(next->signing) ||
                     identity(previous->desired) != identity(next->desired);
    report.kids = next->kids;
    report.signing_kid = next->signing.kid();
    report.desired_kid = next->desired.kid();
    set_state(std::move(next));
    return report;
}

jwt::Key AuthService::choose_signing(const KeyState& next, const KeyState* previous) const {
    // The secret is configured on the edges directly: nothing to wait for.
    if (next.desired.algorithm() == jwt::Algorithm::kHS256 ||
        published_.contains(identity(next.desired))) {
        return next.desired;
    }
    if (previous != nullptr) {
        const std::string current = identity(previous->signing);
        for (const auto& key : next.signers) {
            if (identity(key) == current) {
                return key;
            }
        }
    }
    // The previous signing key is gone (or this is the first load): nothing better to sign with.
    return next.desired;
}

bool AuthService::mark_published(std::string_view jwks_json) {
    const std::lock_guard lock(write_mu_);
    auto keys = jwt::KeySet::from_jwks(jwks_json);
    if (!keys) {
        return false;
    }
    published_.clear();
    for (const auto& key : keys->keys()) {
        published_.insert(identity(key));
    }
    const auto current = state();
    if (!current || identity(current->signing) == identity(current->desired) ||
        !published_.contains(identity(current->desired))) {
        return false;
    }
    auto next = std::make_shared<KeyState>(*current);
    next->signing = next->desired;
    set_state(std::move(next));
    return true;
}

Result<v1::IssueTokenResponse> AuthService::issue_token(
    const v1::IssueTokenRequest& request) const {
    const std::string& user_id = request.user_id();
    // The bus contract's rule (every service keys and lists what this token's `sub` names); the
    // message says which part of it failed. Names are only capped: they bound the token's size.
    if (!contract::valid_user_id(user_id)) {
        if (user_id.empty()) {
            return invalid_argument("user_id is required");
        }
        if (user_id.size() > contract::kMaxUserIdBytes) {
            return invalid_argument("user_id is longer than " +
                                    std::to_string(contract::kMaxUserIdBytes) + " bytes");
        }
        return invalid_argument("user_id is not valid UTF-8");
    }
    if (request.name().size() > contract::kMaxUserNameBytes) {
        return invalid_argument("name is longer than " +
                                std::to_string(contract::kMaxUserNameBytes) + " bytes");
    }
    if (!valid_utf8(request.name())) {
        return invalid_argument("name is not valid UTF-8");
    }
    const std::int64_t max_ttl = options_.max_ttl.count();
    if (request.ttl_seconds() < 0 || request.ttl_seconds() > max_ttl) {
        return invalid_argument("ttl_seconds must be 0 (the default, " +
                                std::to_string(options_.default_ttl.count()) + " s) or from 1 to " +
                                std::to_string(max_ttl));
    }
    const std::int64_t ttl =
        request.ttl_seconds() == 0 ? options_.default_ttl.count() : request.ttl_seconds();

    const auto keys = state();
    const std::int64_t iat = now();
    const std::int64_t exp = iat + ttl;
    boost::json::object claims;
    claims.emplace("sub", user_id);
    if (!request.name().empty()) {
        claims.emplace("name", request.name());
    }
    claims.emplace("iat", iat);
    claims.emplace("exp", exp);
    if (!options_.issuer.empty()) {
        claims.emplace("iss", options_.issuer);
    }
    if (!options_.audience.empty()) {
        claims.emplace("aud", options_.audience);
    }
    auto token = jwt::sign(claims, keys->signing);
    if (!token) {
        return Error{Error::Code::kInternal, "cannot sign with the key '" + keys->signing.kid() +
                                                 "': " + token.error().message()};
    }

    v1::IssueTokenResponse response;
    response.set_token(std::move(*token));
    response.mutable_expires_at()->set_seconds(exp);
    response.set_kid(keys->signing.kid());
    response.set_algorithm(std::string(jwt::to_string(keys->signing.algorithm())));
    return response;
}

v1::VerifyTokenResponse AuthService::verify_token(const v1::VerifyTokenRequest& request) const {
    v1::VerifyTokenResponse response;
    if (request.token().empty()) {
        response.set_error_code("token_missing");
        response.set_error_message("no token given");
        return response;
    }
    jwt::VerifyOptions verify_options;
    verify_options.leeway = options_.leeway;
    verify_options.issuer = options_.issuer;
    verify_options.audience = options_.audience;
    verify_options.now = now();
    const auto keys = state();
    auto claims = jwt::verify(request.token(), keys->verify, verify_options);
    if (!claims) {
        response.set_error_code(claims.error() == jwt::Errc::kExpired ? "token_expired"
                                                                      : "token_invalid");
        response.set_error_message(claims.error().message());
        return response;
    }
    response.set_valid(true);
    response.set_user_id(claims->sub);
    response.set_name(claims->name);
    response.mutable_expires_at()->set_seconds(claims->exp);
    return response;
}

std::string AuthService::jwks_json() const {
    return state()->jwks_json;
}

std::string AuthService::signing_kid() const {
    return state()->signing.kid();
}

std::vector<KeyInfo> AuthService::list_keys() const {
    const auto current = state();
    const std::lock_guard lock(write_mu_);
    std::vector<KeyInfo> keys;
    for (const auto& key : current->signers) {
        const std::string id = identity(key);
        const bool signing = id == identity(current->signing);
        keys.push_back(
            KeyInfo{key.kid(), std::string(jwt::to_string(key.algorithm())), signing,
                    !signing && id == identity(current->desired),
                    key.algorithm() != jwt::Algorithm::kHS256 && published_.contains(id)});
    }
    return keys;
}

Result<KeyInfo> AuthService::write_new_key(std::string_view algorithm, std::string kid) const {
    if (options_.key_dir.empty()) {
        return failed_precondition(
            "this auth service has no key directory (--key-dir): it signs with the HS256 "
            "secret, which is rotated by changing --jwt-secret on it and on every edge");
    }
    if (!options_.active_kid.empty()) {
        return failed_precondition("--active-kid pins the signing key to '" + options_.active_kid +
                                   "': rotate by adding a key file and changing --active-kid");
    }
    jwt::Algorithm alg = jwt::Algorithm::kES256;
    if (algorithm == "RS256") {
        alg = jwt::Algorithm::kRS256;
    } else if (!algorithm.empty() && algorithm != "ES256") {
        return invalid_argument("algorithm must be ES256 or RS256");
    }
    if (kid.empty()) {
        const std::time_t seconds = static_cast<std::time_t>(now());
        std::tm utc{};
        gmtime_r(&seconds, &utc);
        char text[32];
        std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", &utc);
        kid = text;
    }
    if (!valid_kid(kid)) {
        return invalid_argument("kid must be 1..128 of [A-Za-z0-9._-], not starting with '.'");
    }
    const auto current = state();
    if (!current->kids.empty() && kid <= current->kids.back()) {
        return failed_precondition("kid '" + kid + "' does not sort after '" +
                                   current->kids.back() +
                                   "' (the greatest kid signs): pass a kid that does");
    }
    const std::filesystem::path file = options_.key_dir / (kid + ".pem");
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) {
        return failed_precondition(file.string() + " exists");
    }
    auto key = jwt::generate(alg, kid);
    if (!key) {
        return Error{Error::Code::kInternal, "cannot generate a key"};
    }
    auto pem = jwt::private_pem(*key);
    if (!pem) {
        return Error{Error::Code::kInternal, "cannot encode the new key"};
    }
    // Not named *.pem until complete: a reload in between ignores the temporary file.
    const std::filesystem::path temporary = options_.key_dir / ("." + kid + ".pem.tmp");
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return failed_precondition("cannot write to the key directory " +
                                   options_.key_dir.string() + ": " + std::strerror(errno));
    }
    std::size_t written = 0;
    bool ok = true;
    while (ok && written < pem->size()) {
        const ssize_t n = ::write(fd, pem->data() + written, pem->size() - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        ok = n > 0;
        written += ok ? static_cast<std::size_t>(n) : 0;
    }
    ok = ok && ::fsync(fd) == 0;
    ok = (::close(fd) == 0) && ok;
    if (!ok || ::rename(temporary.c_str(), file.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        ::unlink(temporary.c_str());
        return failed_precondition("cannot write " + file.string() + ": " + why);
    }
    return KeyInfo{kid, std::string(jwt::to_string(alg)), false, true, false};
}

std::shared_ptr<const AuthService::KeyState> AuthService::state() const {
    const std::lock_guard lock(state_mu_);
    return state_;
}

void AuthService::set_state(std::shared_ptr<const KeyState> next) {
    std::shared_ptr<const KeyState> old;
    {
        const std::lock_guard lock(state_mu_);
        old = std::exchange(state_, std::move(next));
    }
    // `old` (keys, OpenSSL handles) is released here, outside the readers' lock.
}

std::int64_t AuthService::now() const {
    return options_.clock ? options_.clock() : system_now();
}

}  // namespace roomcast::auth
