#pragma once
// The keys client tokens are verified with: the shared HS256 secret (when configured) plus the
// public keys the auth service publishes as a JWKS in KV (roomcast_config/jwks). The watch
// swaps in a new key set whenever the auth service rotates keys: no restart anywhere.
//
// Thread-safety: current() is a lock-free atomic load, callable from any shard.

#include "roomcast/contract/storage.hpp"
#include "roomcast/jwt/jwt.hpp"
#include "roomcast/natsbus/natsbus.hpp"

#include <atomic>
#include <memory>
#include <string>

namespace roomcast::edge {

class KeyRing {
public:
    KeyRing(natsbus::Connection& nats, std::string hs256_secret, int replicas,
            contract::StorageBudgets budgets);

    // Binds the bucket and starts the watch (start-up, blocking).
    natsbus::Result<void> start();
    void stop();

    std::shared_ptr<const jwt::KeySet> current() const noexcept {
        return keys_.load(std::memory_order_acquire);
    }
    // Tokens can be verified: the JWKS key has been read (present or not) and there is at
    // least one key (the HS256 secret or a published one). Readiness waits for it.
    bool ready() const noexcept { return ready_.load(std::memory_order_acquire); }

private:
    void install(const std::string* jwks_json);

    natsbus::Connection& nats_;
    std::string secret_;
    int replicas_;
    contract::StorageBudgets budgets_;
    std::unique_ptr<natsbus::KeyValue> kv_;
    natsbus::Subscription watch_;
    std::atomic<std::shared_ptr<const jwt::KeySet>> keys_;
    std::atomic<bool> read_{false};  // the watch delivered the key's current value
    std::atomic<bool> ready_{false};
};

}  // namespace roomcast::edge
