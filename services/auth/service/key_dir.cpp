#include "service/key_dir.hpp"

#include <algorithm>
#include <fstream>
#include <system_error>

namespace roomcast::auth {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSuffix = ".pem";
constexpr std::size_t kMaxKidBytes = 128;

struct Candidate {
    std::string kid;
    fs::path path;
};

// The whole file, refusing one larger than `cap`; on failure `error` says why.
std::string read_capped(const fs::path& path, std::size_t cap, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot be opened";
        return {};
    }
    std::string data(cap + 1, '\0');
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    if (in.bad()) {
        error = "cannot be read";
        return {};
    }
    data.resize(static_cast<std::size_t>(in.gcount()));
    if (data.size() > cap) {
        error = "larger than " + std::to_string(cap) + " bytes";
        return {};
    }
    return data;
}

}  // namespace

bool valid_kid(std::string_view kid) noexcept {
    if (kid.empty() || kid.size() > kMaxKidBytes || kid.front() == '.') {
        return false;
    }
    return std::all_of(kid.begin(), kid.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

Result<LoadedKeys> load_key_dir(const fs::path& dir, const KeyDirLimits& limits) {
    LoadedKeys loaded;
    std::vector<Candidate> candidates;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
        return failed_precondition("key directory " + dir.string() + ": " + ec.message());
    }
    for (const fs::directory_iterator end; it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.empty() || name.front() == '.' || name.size() <= kSuffix.size() ||
            !name.ends_with(kSuffix)) {
            continue;
        }
        std::error_code status_ec;
        if (!fs::is_regular_file(it->path(), status_ec)) {
            if (!status_ec || status_ec == std::errc::no_such_file_or_directory) {
                // A dangling symlink or a directory: report it, a key was probably meant.
                loaded.problems.push_back(name + ": not a regular file");
            } else {
                loaded.problems.push_back(name + ": " + status_ec.message());
            }
            continue;
        }
        std::string kid = name.substr(0, name.size() - kSuffix.size());
        if (!valid_kid(kid)) {
            loaded.problems.push_back(name +
                                      ": the kid must be 1..128 of [A-Za-z0-9._-], not "
                                      "starting with '.'");
            continue;
        }
        candidates.push_back({std::move(kid), it->path()});
        if (candidates.size() > limits.max_keys) {
            return failed_precondition("key directory " + dir.string() + " holds more than " +
                                       std::to_string(limits.max_keys) + " key files");
        }
    }
    if (ec) {
        return failed_precondition("key directory " + dir.string() + ": " + ec.message());
    }

    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.kid < b.kid; });
    for (auto& candidate : candidates) {
        const std::string name = candidate.path.filename().string();
        std::string error;
        const std::string pem = read_capped(candidate.path, limits.max_file_bytes, error);
        if (!error.empty()) {
            loaded.problems.push_back(name + ": " + error);
            continue;
        }
        // The file says which key type it holds; RS256 and ES256 are the one algorithm each
        // type is used with here.
        auto key = jwt::Key::from_pem(jwt::Algorithm::kRS256, pem, candidate.kid);
        if (!key) {
            key = jwt::Key::from_pem(jwt::Algorithm::kES256, pem, candidate.kid);
        }
        if (!key) {
            loaded.problems.push_back(name + ": not an RSA or EC P-256 key in PEM");
            continue;
        }
        if (!key->can_sign()) {
            loaded.problems.push_back(name +
                                      ": a public key; the key directory holds private keys");
            continue;
        }
        loaded.keys.push_back(std::move(*key));
    }
    std::sort(loaded.problems.begin(), loaded.problems.end());
    return loaded;
}

}  // namespace roomcast::auth
