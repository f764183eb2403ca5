#include "service/key_sync.hpp"

#include "roomcast/contract/keys.hpp"
#include "roomcast/core/log.hpp"

namespace roomcast::auth {

namespace log = core::log;

namespace {

std::string join_kids(const std::vector<std::string>& kids) {
    std::string out;
    for (const auto& kid : kids) {
        out += out.empty() ? "" : ",";
        out += kid;
    }
    return out;
}

}  // namespace

KeySync::KeySync(AuthService& service, natsbus::KeyValue& kv, KeySyncOptions options,
                 std::function<void()> on_published)
    : service_(service), kv_(kv), options_(options), on_published_(std::move(on_published)) {}

KeySync::~KeySync() {
    stop();
}

KeySync::Outcome KeySync::sync_now() {
    return round();
}

void KeySync::start() {
    {
        const std::lock_guard lock(wake_mu_);
        stopping_ = false;
    }
    thread_ = std::thread([this] { run(); });
}

void KeySync::stop() {
    {
        const std::lock_guard lock(wake_mu_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void KeySync::request_reload() {
    {
        const std::lock_guard lock(wake_mu_);
        wake_requested_ = true;
    }
    wake_.notify_all();
}

void KeySync::request_republish() {
    republish_ = true;
    request_reload();
}

void KeySync::run() {
    // A failed first publication (start-up's sync_now) is retried soon, like any other.
    bool failing = !published();
    std::unique_lock lock(wake_mu_);
    while (!stopping_) {
        const auto wait = failing ? options_.retry_interval : options_.reload_interval;
        wake_.wait_for(lock, wait, [this] { return stopping_ || wake_requested_; });
        if (stopping_) {
            break;
        }
        wake_requested_ = false;
        lock.unlock();
        failing = static_cast<bool>(round().publish_error);
        lock.lock();
    }
}

KeySync::Outcome KeySync::round() {
    const std::lock_guard lock(round_mu_);
    Outcome outcome;

    auto report = service_.reload();
    if (!report) {
        // Logged once per distinct error: a broken directory would otherwise log every interval.
        if (report.error().message != logged_reload_error_) {
            log::error("key reload failed, the previous keys stay in use",
                       {{"error", report.error().message}});
            logged_reload_error_ = report.error().message;
        }
        outcome.reload_error = report.error();
    } else {
        if (!logged_reload_error_.empty()) {
            log::info("key reload works again");
            logged_reload_error_.clear();
        }
        if (report->problems != logged_problems_) {
            for (const auto& problem : report->problems) {
                log::warn("key file skipped", {{"problem", problem}});
            }
            logged_problems_ = report->problems;
        }
        if (report->changed || !logged_keys_) {
            log::info("keys loaded", {{"kids", join_kids(report->kids)},
                                      {"signing_kid", report->signing_kid},
                                      {"pending_kid", report->signing_kid == report->desired_kid
                                                          ? std::string()
                                                          : report->desired_kid}});
            logged_keys_ = true;
        }
    }

    const std::string jwks = service_.jwks_json();
    const bool forced = republish_.exchange(false);
    if (!forced && published_jwks_ == jwks) {
        return outcome;
    }
    outcome.publish_error = publish(jwks);
    if (outcome.publish_error) {
        republish_ = republish_ || forced;
        if (outcome.publish_error.message() != logged_publish_error_) {
            log::warn("jwks publication failed, retrying",
                      {{"error", outcome.publish_error.message()}});
            logged_publish_error_ = outcome.publish_error.message();
        }
        return outcome;
    }
    logged_publish_error_.clear();
    published_jwks_ = jwks;
    if (service_.mark_published(jwks)) {
        log::info("signing with the newly published key", {{"kid", service_.signing_kid()}});
    }
    published_ = true;
    if (on_published_) {
        on_published_();
    }
    return outcome;
}

boost::system::error_code KeySync::publish(const std::string& jwks) {
    // Read first: replicas sharing a key directory all publish the same document, and an
    // unchanged value should not add a revision that every edge's watch then processes.
    auto current = kv_.get(contract::kJwksKey);
    if (!current) {
        return current.error();
    }
    if (*current && (*current)->value == jwks) {
        log::info("jwks already current", {{"bucket", kv_.bucket()},
                                           {"key", contract::kJwksKey},
                                           {"revision", (*current)->revision}});
        return {};
    }
    auto revision = kv_.put(contract::kJwksKey, jwks);
    if (!revision) {
        return revision.error();
    }
    log::info("jwks published",
              {{"bucket", kv_.bucket()}, {"key", contract::kJwksKey}, {"revision", *revision}});
    return {};
}

void Readiness::set_nats_connected(bool connected) {
    const std::lock_guard lock(mu_);
    nats_connected_ = connected;
    update_locked();
}

void Readiness::set_published() {
    const std::lock_guard lock(mu_);
    published_ = true;
    update_locked();
}

void Readiness::set_stopping() {
    const std::lock_guard lock(mu_);
    stopping_ = true;
    update_locked();
}

void Readiness::update_locked() {
    const bool ready = nats_connected_ && published_ && !stopping_;
    if (ready_.exchange(ready) != ready && on_change_) {
        on_change_(ready);
    }
}

}  // namespace roomcast::auth
