// The load generator against a real stack: nats-server with JetStream, the rooms service (which
// auto-creates the rooms the edge asks for) and one edge (the binaries built with this tree),
// child processes on free ports. A small fanout must come out
// exact: every message delivered once to every other member of its room. The same against the
// kernel's floor of scripts/bench (bench/floor).
#include "runner.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#if !defined(ROOMCAST_EDGE_BINARY) || !defined(ROOMCAST_ROOMS_BINARY) || !defined(ROOMCAST_FLOOR_BINARY)
#error "ROOMCAST_EDGE_BINARY, ROOMCAST_ROOMS_BINARY and ROOMCAST_FLOOR_BINARY name the binaries (tools/loadgen/CMakeLists.txt)"
#endif

namespace roomcast::loadgen {
namespace {

using namespace std::chrono_literals;

// At least 32 bytes: the edge refuses shorter HS256 secrets.
constexpr char kSecret[] = "loadgen-test-secret-of-at-least-32-bytes";

// $ROOMCAST_NATS_SERVER, else Debian's /usr/sbin or /usr/bin, else PATH (as the natsbus tests).
std::string nats_binary() {
    if (const char* env = std::getenv("ROOMCAST_NATS_SERVER"); env != nullptr && *env != '\0') {
        return env;
    }
    for (const char* candidate : {"/usr/sbin/nats-server", "/usr/bin/nats-server"}) {
        if (::access(candidate, X_OK) == 0) {
            return candidate;
        }
    }
    return "nats-server";
}

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
}

// Status of GET http://127.0.0.1:<port><path>, 0 when nothing answers.
int http_status(int port, const std::string& path) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int status = 0;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
            char buf[64] = {};
            if (::read(fd, buf, sizeof buf - 1) > 12) {
                status = std::atoi(buf + 9);
            }
        }
    }
    ::close(fd);
    return status;
}

// A child process that dies with the test (PR_SET_PDEATHSIG) and is killed by the destructor.
class Child {
public:
    Child(std::vector<std::string> argv, std::vector<std::string> env, const std::string& log) {
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) {
                ::_exit(127);
            }
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                ::dup2(fd, STDOUT_FILENO);
                ::dup2(fd, STDERR_FILENO);
            }
            for (const auto& e : env) {
                ::putenv(const_cast<char*>(e.c_str()));
            }
            std::vector<char*> args;
            for (auto& a : argv) {
                args.push_back(a.data());
            }
            args.push_back(nullptr);
            ::execvp(args[0], args.data());
            ::_exit(127);
        }
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    bool running() {
        int status = 0;
        return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == 0;
    }

private:
    pid_t pid_ = -1;
};

std::string tail(const std::string& file) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

// The fan-out expect_exact_fanout() checks: 50 clients of the server on `port` in two rooms,
// two publishers at 20 messages/s for 2 s.
Options small_fanout(int port, const std::string& id) {
    Options o;
    o.scenario = Scenario::kFanout;
    Target t;
    t.host = "127.0.0.1";
    t.port = static_cast<std::uint16_t>(port);
    t.host_header = "127.0.0.1:" + std::to_string(port);
    o.urls = {t};
    o.connections = 50;
    o.rooms = 2;
    o.room_prefix = id + "-room-";
    o.publishers = 2;
    o.rate = 20;
    o.duration = 2s;
    o.warmup = 0ms;
    o.jwt_secret = kSecret;
    o.id = id;
    o.threads = 2;
    o.connect_rate = 500;
    return o;
}

// 50 clients in two rooms of 25, two publishers: every message reaches the 24 other members
// of its room, once, in order, and the run accounts for all of it.
void expect_exact_fanout(const RunResult& r) {
    EXPECT_EQ(r.established, 50U);
    EXPECT_EQ(r.failed, 0U);
    EXPECT_EQ(r.disconnected, 0U);
    EXPECT_EQ(r.joins_ok, 50U);
    EXPECT_EQ(r.joins_failed, 0U);
    EXPECT_GT(r.sent, 0U);
    EXPECT_EQ(r.acked, r.sent);
    EXPECT_EQ(r.publish_errors, 0U);
    // Two rooms of 25: each message reaches the 24 other members of its room.
    EXPECT_EQ(r.deliveries, r.sent * 24);
    EXPECT_EQ(r.loss.lost, 0U);
    EXPECT_EQ(r.loss.duplicated, 0U);
    EXPECT_EQ(r.loss.out_of_order, 0U);
    EXPECT_EQ(r.loss.end_markers_missing, 0U);
    EXPECT_EQ(r.publishers_seen, 2U);
    EXPECT_GT(r.latency_us.count(), 0U);
    EXPECT_EQ(r.exit_code(), 0);
}

class LoadgenIntegration : public ::testing::Test {
protected:
    // No fatal failure here: googletest would skip the suite's tests (and CTest report them as
    // skipped, not failed). The error is kept and every test fails on it in SetUp().
    static void SetUpTestSuite() { setup_error_ = start_servers(); }
    void SetUp() override { ASSERT_EQ(setup_error_, "") << "the suite's servers did not start"; }

    // Starts nats-server, the rooms service (edges ask it to auto-create rooms) and an edge;
    // returns what went wrong, or "".
    static std::string start_servers() {
        char dir[] = "/tmp/loadgen-test-XXXXXX";
        if (::mkdtemp(dir) == nullptr) {
            return "mkdtemp failed";
        }
        dir_ = dir;
        const int nats_port = free_port();
        nats_ = std::make_unique<Child>(
            std::vector<std::string>{nats_binary(), "-js", "-a", "127.0.0.1", "-p",
                                     std::to_string(nats_port), "-sd", dir_ + "/nats"},
            std::vector<std::string>{}, dir_ + "/nats.log");
        const std::string nats_url = "nats://127.0.0.1:" + std::to_string(nats_port);
        const int rooms_admin_port = free_port();
        rooms_ = std::make_unique<Child>(
            std::vector<std::string>{ROOMCAST_ROOMS_BINARY, "--grpc-address",
                                     "127.0.0.1:" + std::to_string(free_port()), "--admin-port",
                                     std::to_string(rooms_admin_port), "--nats-url", nats_url},
            std::vector<std::string>{
                "ROOMCAST_ADMIN_TOKEN=loadgen-test-admin-token-at-least-32-bytes"},
            dir_ + "/rooms.log");
        if (std::string error = wait_ready(*rooms_, rooms_admin_port, "rooms"); !error.empty()) {
            return error;
        }
        edge_port_ = free_port();
        admin_port_ = free_port();
        edge_ = std::make_unique<Child>(
            std::vector<std::string>{
                ROOMCAST_EDGE_BINARY, "--host", "127.0.0.1", "--port", std::to_string(edge_port_),
                "--admin-port", std::to_string(admin_port_), "--nats-url", nats_url, "--edge-id",
                "lgtest", "--auto-create-prefixes", "*", "--threads", "2"},
            std::vector<std::string>{std::string("ROOMCAST_JWT_SECRET=") + kSecret},
            dir_ + "/edge.log");
        return wait_ready(*edge_, admin_port_, "edge");
    }
    // Until `child` answers 200 on /readyz (its log is <dir>/<name>.log), at most 30 s; returns
    // what went wrong, or "".
    static std::string wait_ready(Child& child, int admin_port, const std::string& name) {
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (http_status(admin_port, "/readyz") != 200) {
            if (!child.running()) {
                return name + " exited:\n" + tail(dir_ + "/" + name + ".log");
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                return name + " not ready:\n" + tail(dir_ + "/" + name + ".log") + "\nnats:\n" +
                       tail(dir_ + "/nats.log");
            }
            std::this_thread::sleep_for(100ms);
        }
        return "";
    }
    static void TearDownTestSuite() {
        edge_.reset();
        rooms_.reset();
        nats_.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    static Options fanout_options(const std::string& id) { return small_fanout(edge_port_, id); }

    static inline std::string setup_error_;
    static inline std::string dir_;
    static inline std::unique_ptr<Child> nats_;
    static inline std::unique_ptr<Child> rooms_;
    static inline std::unique_ptr<Child> edge_;
    static inline int edge_port_ = 0;
    static inline int admin_port_ = 0;
};

TEST_F(LoadgenIntegration, WebSocketFanoutIsExact) {
    const RunResult r = run(fanout_options("lgit-ws"), nullptr);
    expect_exact_fanout(r);
    EXPECT_EQ(r.without_offset, 0U);  // stored events all carry their offset
    // 2 publishers × 20 msg/s × 2 s, give or take a tick.
    EXPECT_GE(r.sent, 70U);
    EXPECT_LE(r.sent, 90U);
}

TEST_F(LoadgenIntegration, MixedTransportsFanoutIsExact) {
    Options o = fanout_options("lgit-mixed");
    o.transport = TransportMode::kMixed;
    o.polling_share = 0.2;  // 10 of the 50 clients poll
    expect_exact_fanout(run(o, nullptr));
}

// Ephemeral publishes (--ephemeral) through a real edge: acked without an offset, delivered
// without one, and counted by the same accounting. 40 messages/s to 24 receivers each is far
// from any write queue's limit, so the edge has no reason to drop one: the run must be exact,
// like a stored one.
TEST_F(LoadgenIntegration, EphemeralFanoutIsExactWithoutBackpressure) {
    Options o = fanout_options("lgit-eph");
    o.ephemeral = true;
    const RunResult r = run(o, nullptr);
    EXPECT_TRUE(r.ephemeral);
    EXPECT_EQ(r.to_json().at("delivery").as_string(), "ephemeral");
    expect_exact_fanout(r);
    // The edge delivered them as ephemeral events (no offset argument), not stored ones.
    EXPECT_EQ(r.without_offset, r.deliveries);
}

TEST_F(LoadgenIntegration, WrongSecretFailsEveryConnection) {
    Options o = fanout_options("lgit-auth");
    o.scenario = Scenario::kIdle;
    o.publishers = 0;
    o.connections = 5;
    o.jwt_secret = "not-the-secret";
    o.duration = 0ms;
    const RunResult r = run(o, nullptr);
    EXPECT_EQ(r.established, 0U);
    EXPECT_EQ(r.failed, 5U);
    EXPECT_EQ(r.failure_reasons.count("unauthorized"), 1U);
    EXPECT_EQ(r.exit_code(), 1);
}

// A server that refuses every WebSocket upgrade with 503 (as a draining or full edge does): the
// report must say the upgrades were refused, and with which status (the bench's cluster run
// once saw 505 handshakes fail and could not tell why).
TEST(LoadgenRefusals, RefusedUpgradesAreCountedByStatus) {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    ASSERT_EQ(::listen(listener, 16), 0);
    const int port = ntohs(addr.sin_port);
    constexpr int kClients = 4;
    std::thread server([listener] {
        // Every wait bounded: at most kClients connections, 10 s for all of them.
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        for (int served = 0; served < kClients && std::chrono::steady_clock::now() < deadline;) {
            pollfd p{listener, POLLIN, 0};
            if (::poll(&p, 1, 100) != 1) {
                continue;
            }
            const int fd = ::accept(listener, nullptr, nullptr);
            if (fd < 0) {
                continue;
            }
            timeval tv{2, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string request;
            char buf[1024];
            while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
                const ssize_t n = ::read(fd, buf, sizeof buf);
                if (n <= 0) {
                    break;
                }
                request.append(buf, static_cast<std::size_t>(n));
            }
            const std::string_view reply =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            [[maybe_unused]] const ssize_t w = ::write(fd, reply.data(), reply.size());
            ::close(fd);
            ++served;
        }
    });
    Options o = small_fanout(port, "lgit-refused");
    o.scenario = Scenario::kIdle;
    o.publishers = 0;
    o.connections = kClients;
    o.threads = 1;
    o.duration = 0ms;
    const RunResult r = run(o, nullptr);
    server.join();
    ::close(listener);
    EXPECT_EQ(r.established, 0U);
    EXPECT_EQ(r.failed, static_cast<std::uint64_t>(kClients));
    ASSERT_EQ(r.failure_reasons.count("upgrade_refused"), 1U);
    EXPECT_EQ(r.failure_reasons.at("upgrade_refused"), static_cast<std::uint64_t>(kClients));
    ASSERT_EQ(r.upgrade_refused_statuses.count(503), 1U);
    EXPECT_EQ(r.upgrade_refused_statuses.at(503), static_cast<std::uint64_t>(kClients));
    EXPECT_EQ(r.to_json().at("connections").at("upgrade_refused_statuses").at("503").as_uint64(),
              static_cast<std::uint64_t>(kClients));
}

// The kernel's floor (bench/floor/floor.cpp, scripts/bench's "floor" systems) must be driven by
// the load generator exactly as an edge is, or its figures compare nothing: the same fan-out,
// accounted the same way, in both of its write modes.
class FloorIntegration : public ::testing::TestWithParam<const char*> {};

TEST_P(FloorIntegration, FanoutIsExact) {
    char dir[] = "/tmp/floor-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const int port = free_port();
    Child floor({ROOMCAST_FLOOR_BINARY, "--port", std::to_string(port), "--batch", GetParam()}, {},
                std::string(dir) + "/floor.log");
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    // Not an upgrade: the floor answers 400, which says it listens.
    while (http_status(port, "/") == 0) {
        ASSERT_TRUE(floor.running()) << tail(std::string(dir) + "/floor.log");
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the floor did not listen";
        std::this_thread::sleep_for(50ms);
    }
    const Options o = small_fanout(port, "floor");
    expect_exact_fanout(run(o, nullptr));
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

INSTANTIATE_TEST_SUITE_P(Modes, FloorIntegration, ::testing::Values("off", "on"));

}  // namespace
}  // namespace roomcast::loadgen
