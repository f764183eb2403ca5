#pragma once
// How a handler answers a client request: the client's Socket.IO ack in production, a recorder
// in unit tests. The body follows PRODUCT.md §2: {ok: true, ...} or
// {ok: false, error: {code, message}}. Move-only; only the first answer is sent; an answer to a
// request that asked for none (no ack callback) is dropped.

#include "socketio/server.hpp"

#include <boost/json/object.hpp>

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
    Reply(Reply&&) noexcept = default;
    Reply& operator=(Reply&&) noexcept = default;

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
    bool wanted_ = false;
    sio::Ack ack_;
    std::function<void(const sio::Args&)> fn_;
};

}  // namespace roomcast::edge
