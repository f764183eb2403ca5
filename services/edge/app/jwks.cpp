#include "app/jwks.hpp"

#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/core/log.hpp"

namespace roomcast::edge {

namespace log = core::log;

KeyRing::KeyRing(natsbus::Connection& nats, std::string hs256_secret, int replicas,
                 contract::StorageBudgets budgets)
    : nats_(nats), secret_(std::move(hs256_secret)), replicas_(replicas), budgets_(budgets) {
    install(nullptr);
}

natsbus::Result<void> KeyRing::start() {
    // The auth service owns the bucket (only it may change its settings): bind to it.
    auto kv = nats_.jetstream().key_value(contract::config_bucket(replicas_, budgets_),
                                          natsbus::BucketRole::kUser);
    if (!kv) {
        return kv.error();
    }
    kv_ = std::move(*kv);
    auto watch = kv_->watch(
        contract::kJwksKey,
        [this](natsbus::KvEntry&& e) {
            if (e.deleted) {
                install(nullptr);
            } else {
                install(&e.value);
            }
        },
        [this] {
            read_.store(true, std::memory_order_release);
            ready_.store(!current()->keys().empty(), std::memory_order_release);
            if (!ready()) {
                log::warn("no token keys yet: no --jwt-secret and no JWKS published by the auth service");
            }
        });
    if (!watch) {
        return watch.error();
    }
    watch_ = std::move(*watch);
    return {};
}

void KeyRing::stop() { watch_.reset(); }

void KeyRing::install(const std::string* jwks_json) {
    auto set = std::make_shared<jwt::KeySet>();
    if (!secret_.empty()) {
        set->add(jwt::Key::hs256(secret_));
    }
    std::size_t published = 0;
    if (jwks_json != nullptr) {
        std::size_t skipped = 0;
        auto parsed = jwt::KeySet::from_jwks(*jwks_json, &skipped);
        if (!parsed) {
            log::warn("ignoring an unreadable JWKS", {{"error", parsed.error().message()}});
            return;  // keep the keys we have
        }
        for (const auto& k : parsed->keys()) {
            set->add(k);
            ++published;
        }
        if (skipped > 0) {
            log::warn("JWKS keys skipped", {{"skipped", skipped}});
        }
    }
    const bool any = !set->keys().empty();
    keys_.store(std::move(set), std::memory_order_release);
    if (read_.load(std::memory_order_acquire)) {
        ready_.store(any, std::memory_order_release);
    }
    if (jwks_json != nullptr) {
        log::info("token keys updated", {{"published_keys", published}, {"hs256", !secret_.empty()}});
    }
}

}  // namespace roomcast::edge
