#include "roomcast/transport/http_server.hpp"

#include "roomcast/transport/arrival.hpp"
#include "roomcast/transport/http_parse.hpp"

#include "roomcast/core/log.hpp"
#include "roomcast/protocol/websocket.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <sys/socket.h>

#include <optional>
#include <stdexcept>

namespace roomcast::transport {

namespace http = boost::beast::http;
namespace asio = boost::asio;
using asio::ip::tcp;
namespace log = core::log;


// One HTTP/1.1 connection until it is closed or handed over as a WebSocket.
// Owned by its pending operations and by outstanding Responders/WsUpgrades.
class HttpConnection final : public ResponseSink,
                             public std::enable_shared_from_this<HttpConnection> {
public:
    HttpConnection(HttpServer& server, Shard& shard, tcp::socket socket)
        : server_(server),
          shard_(shard),
          socket_(std::move(socket)),
          timer_(&HttpConnection::on_timeout, this),
          open_connections_(server.open_connections_) {
        open_connections_->fetch_add(1, std::memory_order_relaxed);
        // The buffer only grows as far as a request needs (see read_buffer_bytes).
        buffer_.max_size(read_buffer_bytes(server_.limits_));
        boost::system::error_code ec;
        const auto ep = socket_.remote_endpoint(ec);
        if (!ec) {
            remote_address_ = ep.address().to_string();
        }
    }

    ~HttpConnection() override { open_connections_->fetch_sub(1, std::memory_order_relaxed); }

    void start() { wait_for_request(); }

    Shard& shard() noexcept override { return shard_; }

    // --- called on this connection's shard (posted by Responder / WsUpgrade) ---

    void deliver(std::uint64_t seq, HttpResponse&& response) override {
        if (seq != seq_ || !awaiting_ || closed_) {
            return;  // stale (client went away, or answered already)
        }
        awaiting_ = false;
        abort_callback_ = nullptr;
        write_response(std::move(response));
    }

    void set_abort_callback(std::uint64_t seq, std::function<void()> callback) override {
        if (seq != seq_ || !awaiting_) {
            return;
        }
        if (aborted_) {
            callback();
            return;
        }
        abort_callback_ = std::move(callback);
    }

    void accept_websocket(Shard& target, const std::string& key, std::size_t max_message,
                          WsUpgrade::ReadyCallback ready) {
        if (closed_ || !upgrading_) {
            return;
        }
        upgrading_ = false;
        timer_.cancel();
        std::string response =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: ";
        response += protocol::ws::accept_key(key);
        response += "\r\n\r\n";
        std::string leftover(static_cast<const char*>(buffer_.data().data()), buffer_.size());
        buffer_.consume(buffer_.size());
        closed_ = true;  // this object is done; the socket moves to a WsConnection
        WsLimits limits = server_.limits_.websocket;
        limits.max_message = max_message;
        if (&target == &shard_) {
            auto ws = std::make_shared<WsConnection>(
                target, std::move(socket_), std::move(response), std::move(leftover), limits);
            ready(std::move(ws));
            return;
        }
        // Sockets belong to one io_context: release the descriptor and adopt it on the target.
        boost::system::error_code ec;
        const auto protocol = socket_.local_endpoint(ec).protocol();
        if (ec) {
            socket_.close(ec);
            return;
        }
        const int fd = socket_.release(ec);
        if (ec) {
            socket_.close(ec);
            return;
        }
        asio::post(target.ioc(), [&target, fd, protocol, response = std::move(response),
                                  leftover = std::move(leftover), limits,
                                  ready = std::move(ready)]() mutable {
            tcp::socket adopted(target.ioc());
            boost::system::error_code aec;
            adopted.assign(protocol, fd, aec);
            if (aec) {
                ::close(fd);
                return;
            }
            auto ws = std::make_shared<WsConnection>(
                target, std::move(adopted), std::move(response), std::move(leftover), limits);
            ready(std::move(ws));
        });
    }

    void reject_upgrade(HttpResponse&& response) {
        if (closed_ || !upgrading_) {
            return;
        }
        upgrading_ = false;
        response.close = true;
        write_response(std::move(response));
    }

private:
    void wait_for_request() {
        timer_.arm(shard_.timers(server_.limits_.idle_timeout));
        if (buffer_.size() > 0) {
            arrived_ns_ = 0;  // read with the one before: when it arrived is not known
            read_header();    // a pipelined request is already buffered
            return;
        }
        socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this(), gen = ++wait_gen_](
                                                       const boost::system::error_code& ec) {
            if (self->closed_ || gen != self->wait_gen_) {
                return;
            }
            if (ec) {
                self->close();
                return;
            }
            self->arrived_ns_ = unread_arrival_ns(self->socket_.native_handle());
            if (self->arrived_ns_ == 0) {
                self->arrived_ns_ = now_realtime_ns();  // no timestamp: when it is read
            }
            self->read_header();
        });
    }

    void read_header() {
        timer_.arm(shard_.timers(server_.limits_.request_timeout));
        parser_.emplace();
        parser_->header_limit(server_.limits_.max_header_bytes);
        // Content-Length is checked against the limit as soon as the header ends, before the
        // route is known: use the largest route limit here and the route's own after.
        parser_->body_limit(server_.max_body_);
        http::async_read_header(socket_, buffer_, *parser_,
                                [self = shared_from_this()](const boost::system::error_code& ec,
                                                            std::size_t) { self->on_header(ec); });
    }

    void on_header(const boost::system::error_code& ec) {
        if (closed_) {
            return;
        }
        if (ec) {
            if (ec == http::error::header_limit) {
                fail_request(431, "request header too large");
            } else if (ec == http::error::body_limit) {
                fail_request(413, "payload too large");
            } else if (ec == http::error::end_of_stream || ec == asio::error::eof ||
                       ec == asio::error::operation_aborted ||
                       ec == asio::error::connection_reset) {
                close();
            } else {
                fail_request(400, "malformed HTTP request");
            }
            return;
        }
        auto& req = parser_->get();
        const std::string_view target(req.target().data(), req.target().size());
        const auto q = target.find('?');
        route_ = server_.find_route(target.substr(0, q));
        if (route_ == nullptr) {
            fail_request(404, "not found");
            return;
        }
        if (boost::beast::websocket::is_upgrade(req)) {
            start_upgrade();
            return;
        }
        parser_->body_limit(route_->max_body);
        http::async_read(socket_, buffer_, *parser_,
                         [self = shared_from_this()](const boost::system::error_code& rec,
                                                     std::size_t) { self->on_body(rec); });
    }

    void on_body(const boost::system::error_code& ec) {
        if (closed_) {
            return;
        }
        if (ec) {
            if (ec == http::error::body_limit) {
                fail_request(413, "payload too large");
            } else if (ec == asio::error::operation_aborted || ec == asio::error::eof ||
                       ec == http::error::end_of_stream || ec == http::error::partial_message) {
                close();
            } else {
                fail_request(400, "malformed HTTP request");
            }
            return;
        }
        timer_.cancel();
        HttpRequest request = to_request();
        awaiting_ = true;
        aborted_ = false;
        ++seq_;
        keep_alive_ = request.keep_alive;
        watch_for_abort();
        route_->handler->on_request(std::move(request), Responder(shared_from_this(), seq_));
    }

    void start_upgrade() {
        auto& req = parser_->get();
        if (req.method() != http::verb::get) {
            fail_request(400, "WebSocket upgrade must use GET");
            return;
        }
        const auto version = req[http::field::sec_websocket_version];
        if (version != "13") {
            HttpResponse r;
            r.status = 426;
            r.headers.emplace_back("Sec-WebSocket-Version", "13");
            r.body = "unsupported WebSocket version";
            r.content_type = "text/plain";
            r.close = true;
            write_response(std::move(r));
            return;
        }
        std::string key(req[http::field::sec_websocket_key]);
        if (!protocol::ws::valid_client_key(key)) {
            fail_request(400, "invalid Sec-WebSocket-Key");
            return;
        }
        // The request timeout keeps running: the handler must accept or reject promptly.
        upgrading_ = true;
        HttpRequest request = to_request();
        route_->handler->on_upgrade(std::move(request),
                                    WsUpgrade(shared_from_this(), std::move(key)));
    }

    HttpRequest to_request() {
        HttpRequest out = transport::to_request(parser_->get(), remote_address_);
        out.arrived_ns = arrived_ns_;
        parser_.reset();
        return out;
    }

    // While a response is pending, a readable socket with nothing to read means the client
    // closed its side: report it so a cancelled long-poll closes its session.
    void watch_for_abort() {
        socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this(), seq = seq_](
                                                       const boost::system::error_code& ec) {
            self->on_abort_check(seq, ec);
        });
    }

    void on_abort_check(std::uint64_t seq, const boost::system::error_code& ec) {
        if (closed_ || seq != seq_ || !awaiting_) {
            return;
        }
        if (!ec) {
            char byte = 0;
            const ssize_t n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n > 0) {
                return;  // a pipelined request: read once the response is written
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                watch_for_abort();
                return;
            }
        }
        aborted_ = true;
        if (abort_callback_) {
            auto cb = std::move(abort_callback_);
            abort_callback_ = nullptr;
            cb();
        }
        close();
    }

    void fail_request(unsigned status, std::string_view message) {
        HttpResponse r;
        r.status = status;
        r.content_type = "text/plain; charset=utf-8";
        r.body = message;
        r.close = true;
        write_response(std::move(r));
    }

    void write_response(HttpResponse&& response) {
        timer_.arm(shard_.timers(server_.limits_.request_timeout));
        const bool close_after = response.close || !keep_alive_;
        out_.clear();
        out_ += "HTTP/1.1 ";
        out_ += std::to_string(response.status);
        out_ += ' ';
        out_ += reason_phrase(response.status);
        out_ += "\r\n";
        if (!response.content_type.empty()) {
            out_ += "Content-Type: ";
            out_ += response.content_type;
            out_ += "\r\n";
        }
        for (const auto& [name, value] : response.headers) {
            out_ += name;
            out_ += ": ";
            out_ += value;
            out_ += "\r\n";
        }
        out_ += "Content-Length: ";
        out_ += std::to_string(response.body.size());
        out_ +=
            close_after ? "\r\nConnection: close\r\n\r\n" : "\r\nConnection: keep-alive\r\n\r\n";
        body_ = std::move(response.body);
        std::array<asio::const_buffer, 2> buffers{asio::buffer(out_), asio::buffer(body_)};
        asio::async_write(socket_, buffers,
                          [self = shared_from_this(), close_after](
                              const boost::system::error_code& ec, std::size_t) {
                              if (self->closed_) {
                                  return;
                              }
                              self->out_.clear();
                              self->body_.clear();
                              self->out_.shrink_to_fit();
                              self->body_.shrink_to_fit();
                              if (ec || close_after) {
                                  self->close();
                                  return;
                              }
                              self->keep_alive_ = true;
                              self->wait_for_request();
                          });
    }

    void close() {
        if (closed_) {
            return;
        }
        closed_ = true;
        timer_.cancel();
        boost::system::error_code ec;
        socket_.shutdown(tcp::socket::shutdown_both, ec);
        socket_.close(ec);
    }

    static void on_timeout(void* self) {
        auto* conn = static_cast<HttpConnection*>(self);
        auto keep = conn->shared_from_this();
        // A request that is not complete in time, or an idle keep-alive connection: close.
        conn->close();
    }

    HttpServer& server_;
    Shard& shard_;
    tcp::socket socket_;
    boost::beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    const Route* route_ = nullptr;
    Timer timer_;
    std::string out_;
    std::string body_;
    std::string remote_address_;
    std::function<void()> abort_callback_;
    std::shared_ptr<std::atomic<std::uint64_t>> open_connections_;
    std::int64_t arrived_ns_ = 0;  // HttpRequest::arrived_ns of the request being read
    std::uint64_t seq_ = 0;
    std::uint64_t wait_gen_ = 0;
    bool awaiting_ = false;
    bool aborted_ = false;
    bool keep_alive_ = true;
    bool upgrading_ = false;
    bool closed_ = false;
};

// --- Responder ---

Responder& Responder::operator=(Responder&& other) noexcept {
    if (this != &other) {
        if (sink_) {
            HttpResponse r;
            r.status = 500;
            respond(std::move(r));
        }
        sink_ = std::move(other.sink_);
        seq_ = other.seq_;
    }
    return *this;
}

Responder::~Responder() {
    // At shutdown a stopped io_context destroys the handler holding this: nothing to answer.
    if (sink_ && !sink_->shard().ioc().stopped()) {
        HttpResponse r;
        r.status = 500;
        r.close = true;
        respond(std::move(r));
    }
}

void Responder::respond(HttpResponse&& response) {
    if (!sink_) {
        return;
    }
    auto sink = std::move(sink_);
    sink_.reset();
    Shard& shard = sink->shard();
    if (Shard::current() == &shard) {
        sink->deliver(seq_, std::move(response));
        return;
    }
    asio::post(shard.ioc(), [sink = std::move(sink), seq = seq_, r = std::move(response)]() mutable {
        sink->deliver(seq, std::move(r));
    });
}

void Responder::on_abort(Shard& target, std::function<void()> on_abort) {
    if (!sink_) {
        return;
    }
    auto forward = [&target, fn = std::move(on_abort)]() mutable {
        asio::post(target.ioc(), std::move(fn));
    };
    Shard& shard = sink_->shard();
    if (Shard::current() == &shard) {
        sink_->set_abort_callback(seq_, std::move(forward));
        return;
    }
    asio::post(shard.ioc(), [sink = sink_, seq = seq_, fwd = std::move(forward)]() mutable {
        sink->set_abort_callback(seq, std::move(fwd));
    });
}

// --- WsUpgrade ---

WsUpgrade::~WsUpgrade() {
    if (conn_ && !conn_->shard().ioc().stopped()) {
        HttpResponse r;
        r.status = 400;
        reject(std::move(r));
    }
}

void WsUpgrade::accept(Shard& shard, std::size_t max_message, ReadyCallback ready) {
    auto conn = std::move(conn_);
    conn_.reset();
    if (!conn) {
        return;
    }
    asio::post(conn->shard().ioc(), [conn, &shard, max_message, key = std::move(key_),
                                     ready = std::move(ready)]() mutable {
        conn->accept_websocket(shard, key, max_message, std::move(ready));
    });
}

void WsUpgrade::reject(HttpResponse&& response) {
    auto conn = std::move(conn_);
    conn_.reset();
    if (!conn) {
        return;
    }
    asio::post(conn->shard().ioc(),
               [conn, r = std::move(response)]() mutable { conn->reject_upgrade(std::move(r)); });
}

// --- HttpServer ---

struct HttpServer::Acceptor {
    Acceptor(Shard& s) : shard(s), acceptor(s.ioc()), retry(s.ioc()) {}
    Shard& shard;
    tcp::acceptor acceptor;
    asio::steady_timer retry;
};

HttpServer::HttpServer(ShardPool& shards, HttpLimits limits) : shards_(shards), limits_(limits) {}

HttpServer::~HttpServer() = default;

void HttpServer::add_route(Route route) {
    max_body_ = std::max(max_body_, route.max_body);
    routes_.push_back(std::move(route));
}

const Route* HttpServer::find_route(std::string_view path) const noexcept {
    for (const auto& r : routes_) {
        if (path.substr(0, r.path_prefix.size()) == r.path_prefix) {
            return &r;
        }
    }
    return nullptr;
}

std::uint16_t HttpServer::listen(const std::string& host, std::uint16_t port) {
    asio::io_context resolver_ctx;
    tcp::resolver resolver(resolver_ctx);
    boost::system::error_code ec;
    auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec) {
        throw std::runtime_error("cannot resolve listen host '" + host + "': " + ec.message());
    }
    std::uint16_t bound = port;
    std::string errors;
    std::size_t opened = 0;
    for (const auto& entry : results) {
        tcp::endpoint ep = entry.endpoint();
        if (bound != 0) {
            ep.port(bound);
        }
        std::vector<std::shared_ptr<Acceptor>> group;
        for (unsigned i = 0; i < shards_.size(); ++i) {
            auto a = std::make_shared<Acceptor>(shards_.shard(i));
            a->acceptor.open(ep.protocol(), ec);
            if (!ec) {
                a->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
            }
            if (!ec) {
                const int one = 1;
                if (::setsockopt(a->acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one,
                                 sizeof(one)) != 0) {
                    ec.assign(errno, boost::system::system_category());
                }
            }
            if (!ec && ep.address().is_v6()) {
                a->acceptor.set_option(asio::ip::v6_only(true), ec);
            }
            if (!ec) {
                a->acceptor.bind(ep, ec);
            }
            if (!ec) {
                a->acceptor.listen(asio::socket_base::max_listen_connections, ec);
            }
            if (ec) {
                errors += ep.address().to_string() + ": " + ec.message() + "; ";
                group.clear();
                break;
            }
            if (bound == 0) {
                bound = a->acceptor.local_endpoint().port();
                ep.port(bound);
            }
            group.push_back(std::move(a));
        }
        for (auto& a : group) {
            acceptors_.push_back(a);
            ++opened;
        }
    }
    if (opened == 0) {
        throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                                 errors);
    }
    for (auto& a : acceptors_) {
        asio::post(a->shard.ioc(), [this, a] { accept_next(a); });
    }
    return bound;
}

void HttpServer::accept_next(const std::shared_ptr<Acceptor>& a) {
    a->acceptor.async_accept(
        a->shard.ioc(), [this, a](const boost::system::error_code& ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !a->acceptor.is_open()) {
                return;
            }
            if (ec) {
                // Out of descriptors or memory: back off instead of spinning on the error.
                log::warn("accept failed", {{"error", ec.message()}});
                a->retry.expires_after(std::chrono::milliseconds(100));
                a->retry.async_wait([this, a](const boost::system::error_code& wec) {
                    if (!wec) {
                        accept_next(a);
                    }
                });
                return;
            }
            boost::system::error_code oec;
            socket.set_option(tcp::no_delay(true), oec);
            // Receive timestamps, for HttpRequest::arrived_ns and a WebSocket's
            // unread_arrival_ns (best effort: without them a request is stamped when read).
            enable_arrival_timestamps(socket.native_handle());
            std::make_shared<HttpConnection>(*this, a->shard, std::move(socket))->start();
            accept_next(a);
        });
}

void HttpServer::stop_accepting() {
    for (auto& a : acceptors_) {
        asio::post(a->shard.ioc(), [a] {
            boost::system::error_code ec;
            a->acceptor.close(ec);
            a->retry.cancel();
        });
    }
}

HttpRequest to_request(boost::beast::http::request<boost::beast::http::string_body>& req,
                       std::string remote_address) {
    HttpRequest out;
    out.method.assign(req.method_string().data(), req.method_string().size());
    out.target.assign(req.target().data(), req.target().size());
    out.headers.reserve(8);
    for (const auto& field : req) {
        std::string name(field.name_string().data(), field.name_string().size());
        for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        out.headers.emplace_back(std::move(name),
                                 std::string(field.value().data(), field.value().size()));
    }
    out.body = std::move(req.body());
    out.keep_alive = req.keep_alive();
    out.websocket_upgrade = boost::beast::websocket::is_upgrade(req);
    out.remote_address = std::move(remote_address);
    return out;
}

}  // namespace roomcast::transport
