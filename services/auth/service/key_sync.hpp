#pragma once
// Keeps the JWKS in NATS in step with the key directory: reloads the keys every interval and on
// request (SIGHUP), and publishes the JWKS document to KV bucket `roomcast_config`, key `jwks`
// (docs/control-plane.md; main opens the bucket with contract::config_bucket) on start, whenever
// it changed, after a NATS reconnect, and until a publication succeeds. Edges watch that key, so
// a rotation needs no restart anywhere.
//
// Also here: the service's readiness (NATS connected and the JWKS published once).

#include "service/auth_service.hpp"

#include "roomcast/natsbus/natsbus.hpp"

#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace roomcast::auth {

struct KeySyncOptions {
    // How often the key directory is read again (SIGHUP reads it at once).
    std::chrono::milliseconds reload_interval{10000};
    // After a failed publication the next attempt comes this soon rather than an interval later,
    // so edges learn a new key quickly once NATS is back.
    std::chrono::milliseconds retry_interval{1000};
};

// Thread-safety: request_reload(), request_republish() and published() never block and may be
// called from any thread (signal handling, NATS callbacks). sync_now() may be called from any
// thread; rounds never overlap. start() and stop() belong to the owner. The KV operations are
// blocking (bounded by natsbus's 5 s KV timeout) and run on the caller of sync_now() or on the
// thread start() creates, never on a gRPC thread.
class KeySync {
public:
    // `on_published` runs on the syncing thread after each successful publication. `service`
    // and `kv` must outlive this object.
    KeySync(AuthService& service, natsbus::KeyValue& kv, KeySyncOptions options,
            std::function<void()> on_published = {});
    ~KeySync();
    KeySync(const KeySync&) = delete;
    KeySync& operator=(const KeySync&) = delete;

    struct Outcome {
        // The keys could not be reloaded; the previous ones stay in use.
        std::optional<Error> reload_error;
        // The JWKS could not be published; the next round tries again.
        boost::system::error_code publish_error;
        bool ok() const { return !reload_error && !publish_error; }
    };
    // One round on the caller's thread: reload the keys, then publish the JWKS when it differs
    // from the last one published (or a republish was requested). Logs what changed.
    Outcome sync_now();

    // Runs rounds on a thread of its own: every reload interval, at once on a request, and
    // every retry interval while a publication is failing.
    void start();
    // Stops and joins the thread (waits for a round in progress). Idempotent.
    void stop();

    // A round now (SIGHUP).
    void request_reload();
    // Compare the KV value with the current JWKS again and rewrite it if it differs (after a
    // NATS reconnect: the server may have lost or been given another value).
    void request_republish();
    // A publication has succeeded at least once.
    bool published() const noexcept { return published_.load(); }

private:
    void run();
    Outcome round();
    boost::system::error_code publish(const std::string& jwks);

    AuthService& service_;
    natsbus::KeyValue& kv_;
    const KeySyncOptions options_;
    const std::function<void()> on_published_;

    std::atomic<bool> published_{false};
    std::atomic<bool> republish_{false};

    // Serializes rounds; guards the fields below it.
    std::mutex round_mu_;
    std::optional<std::string> published_jwks_;
    bool logged_keys_ = false;
    std::vector<std::string> logged_problems_;
    std::string logged_reload_error_;
    std::string logged_publish_error_;

    // The thread's wake-ups.
    std::mutex wake_mu_;
    std::condition_variable wake_;
    bool wake_requested_ = false;  // guarded by wake_mu_
    bool stopping_ = false;        // guarded by wake_mu_
    std::thread thread_;
};

// Ready = NATS connected, the JWKS published once, and not stopping. `on_change` runs at every
// transition, under the object's lock, so transitions reach it in order and none after
// set_stopping() returns. Thread-safe; ready() is an atomic load (for /readyz).
class Readiness {
public:
    explicit Readiness(std::function<void(bool ready)> on_change)
        : on_change_(std::move(on_change)) {}

    void set_nats_connected(bool connected);
    void set_published();
    void set_stopping();
    bool ready() const noexcept { return ready_.load(); }

private:
    void update_locked();

    std::mutex mu_;
    bool nats_connected_ = false;  // guarded by mu_
    bool published_ = false;       // guarded by mu_
    bool stopping_ = false;        // guarded by mu_
    std::atomic<bool> ready_{false};
    const std::function<void(bool)> on_change_;
};

}  // namespace roomcast::auth
