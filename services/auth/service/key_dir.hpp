#pragma once
// The auth service's key directory: one private key per file `<kid>.pem`, RSA (RS256) or EC
// P-256 (ES256), PKCS#8 or traditional PEM. The directory is the source of truth: rotation is
// adding a file whose kid sorts after the others, retirement is removing one.
//
// Only regular files (symlinks followed, as in a Kubernetes Secret volume) named `<kid>.pem` are
// keys; names starting with '.' (the Secret volume's `..data`) and other suffixes are ignored,
// so a key can be written as `<kid>.pem.tmp` and renamed into place atomically. A key file that
// cannot be used is skipped and reported; it never prevents the others from loading.

#include "service/errors.hpp"

#include "roomcast/jwt/jwt.hpp"

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::auth {

// Caps on what a reload reads; both protect the service from a wrong mount (a directory of
// unrelated or huge files) rather than from an attacker, who would need write access anyway.
struct KeyDirLimits {
    // `.pem` files considered; a directory holding more is refused as a whole.
    std::size_t max_keys = 64;
    // Largest key file read (an RSA-8192 private key in PEM is about 6.5 KB).
    std::size_t max_file_bytes = 64 * 1024;
};

struct LoadedKeys {
    // Signing-capable keys, sorted by kid (ascending), kids unique.
    std::vector<jwt::Key> keys;
    // One line per skipped file ("<file>: <why>"), sorted, for the log.
    std::vector<std::string> problems;
};

// A kid is 1..128 characters of [A-Za-z0-9._-] and does not start with '.'.
bool valid_kid(std::string_view kid) noexcept;

// Reads every key of `dir`. Fails (kFailedPrecondition) only when the directory cannot be
// listed or holds more than `limits.max_keys` key files; unusable files become `problems`.
// Blocking file I/O: never call it on a gRPC thread.
Result<LoadedKeys> load_key_dir(const std::filesystem::path& dir, const KeyDirLimits& limits = {});

}  // namespace roomcast::auth
