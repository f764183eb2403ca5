#pragma once
// How a handler answers a client request: the client's Socket.IO ack in production, a recorder
// in unit tests. The body follows PRODUCT.md §2: {ok: true, ...} or
// {ok: false, error: {code, message}}. Move-only; only the first answer is sent; an answer to a
// request that asked for none (no ack callback) is dropped.
//
// A metered Reply (meter()) also reports its first ok() or error() to RequestMetrics, with the
// time since it was metered, whether or not the client asked for an answer: every request's
// result is counted at this one place.

#include "app/request_metrics.hpp"
#include "socketio/server.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <string_view>
#include <utility>

namespace roomcast::edge {

class Reply {
public:
    Reply() = default;
    explicit Reply(sio::Ack ack) : wanted_(static_cast<bool>(ack)), ack_(std::move(ack)) {}
    explicit Reply(std::function<void(const sio::Args&)> fn)
        : wanted_(static_cast<bool>(fn)), fn_(std::move(fn)) {}
    // A moved-from Reply answers nothing and counts nothing.
    Reply(Reply&& other) noexcept
        : wanted_(std::exchange(other.wanted_, false)),
          ack_(std::move(other.ack_)),
          fn_(std::move(other.fn_)),
          metrics_(std::exchange(other.metrics_, nullptr)),
          request_(other.request_),
          started_(other.started_) {}
    Reply& operator=(Reply&& other) noexcept {
        wanted_ = std::exchange(other.wanted_, false);
        ack_ = std::move(other.ack_);
        fn_ = std::move(other.fn_);
        metrics_ = std::exchange(other.metrics_, nullptr);
        request_ = other.request_;
        started_ = other.started_;
        return *this;
    }

    // Counts this request's answer in `metrics` (which outlives the Reply) as `request`, timed
    // from now. Call when the request arrives.
    Reply& meter(RequestMetrics* metrics, ClientRequest request) noexcept {
        metrics_ = metrics;
        request_ = request;
        started_ = std::chrono::steady_clock::now();
        return *this;
    }

    // An answer was asked for (the client passed an ack callback).
    explicit operator bool() const noexcept { return wanted_; }

    void operator()(const sio::Args& args) {
        if (!wanted_) {
            return;
        }
        wanted_ = false;
        if (fn_) {
            auto fn = std::move(fn_);
            fn(args);
        } else {
            ack_(args);
        }
    }

    // {ok: true, ...body}, then `extra` arguments' binary attachments (history's binaries).
    void ok(boost::json::object body = {}, sio::Args extra = {}) {
        count({});
        if (!wanted_) {
            return;
        }
        boost::json::object out;
        out["ok"] = true;
        for (auto& [k, v] : body) {
            out[k] = std::move(v);
        }
        extra.values().insert(extra.values().begin(), std::move(out));
        (*this)(extra);
    }

    // {ok: false, error: {code, message}}.
    void error(std::string_view code, std::string_view message) {
        count(code);
        if (!wanted_) {
            return;
        }
        boost::json::object error;
        error["code"] = code;
        error["message"] = message;
        boost::json::object out;
        out["ok"] = false;
        out["error"] = std::move(error);
        (*this)(sio::Args().add(std::move(out)));
    }

private:
    // The first answer only (later ones are not sent either).
    void count(std::string_view code) {
        if (metrics_ != nullptr) {
            std::exchange(metrics_, nullptr)->record(request_, code, std::chrono::steady_clock::now() - started_);
        }
    }

    bool wanted_ = false;
    sio::Ack ack_;
    std::function<void(const sio::Args&)> fn_;
    RequestMetrics* metrics_ = nullptr;
    ClientRequest request_ = ClientRequest::kJoin;
    std::chrono::steady_clock::time_point started_;
};

}  // namespace roomcast::edge
