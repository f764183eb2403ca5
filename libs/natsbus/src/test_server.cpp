// Test support: see roomcast/natsbus/testing.hpp.
#include "roomcast/natsbus/testing.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace roomcast::natsbus::testing {
namespace {

// The server binary: $ROOMCAST_NATS_SERVER, else Debian's /usr/sbin or /usr/bin, else PATH.
std::string server_binary() {
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
// Start-up (including JetStream recovery of the store after a kill) stays well below this.
constexpr auto kStartTimeout = 10s;

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
}

bool port_open(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
}

std::unique_ptr<NatsServer>& shared_slot() {
    static std::unique_ptr<NatsServer> server;
    return server;
}

class SharedServerEnvironment : public ::testing::Environment {
public:
    void SetUp() override {
        shared_slot() = NatsServer::start();
        ASSERT_NE(shared_slot(), nullptr) << "nats-server did not start";
    }
    void TearDown() override { shared_slot().reset(); }
};

// Registered at static-initialisation time; gtest owns (and deletes) the environment. A throw
// here ends the test binary before any test runs, which is what it should do.
// NOLINTNEXTLINE(cert-err58-cpp)
[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedServerEnvironment());

}  // namespace

std::unique_ptr<NatsServer> NatsServer::start(const std::string& config) {
    char dir_template[] = "/tmp/natsbus-test-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
        return nullptr;
    }
    const int port = free_port();
    if (port <= 0) {
        return nullptr;
    }
    std::unique_ptr<NatsServer> server(new NatsServer(port, dir_template));
    if (!config.empty()) {
        server->config_path_ = server->dir_ + "/server.conf";
        std::ofstream out(server->config_path_);
        out << config;
        if (!out.flush()) {
            return nullptr;
        }
    }
    if (!server->spawn()) {
        return nullptr;
    }
    return server;
}

NatsServer::~NatsServer() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::string NatsServer::url() const {
    return "nats://127.0.0.1:" + std::to_string(port_);
}

void NatsServer::kill() {
    if (pid_ <= 0) {
        return;
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

bool NatsServer::restart() {
    kill();
    return spawn();
}

bool NatsServer::spawn() {
    const std::string port = std::to_string(port_);
    const std::string log = dir_ + "/server.log";
    const std::string store = dir_ + "/store";
    const std::string binary = server_binary();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        return false;
    }
    if (pid == 0) {
        // Child: only async-signal-safe calls before exec. The server dies with the test
        // process even if it crashes, so no stray servers outlive a failed run.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) {
            ::_exit(127);
        }
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
        }
        const char* argv[] = {binary.c_str(), "-js",        "-a",   "127.0.0.1",
                              "-p",           port.c_str(), "-sd",  store.c_str(),
                              nullptr,        nullptr,      nullptr};
        if (!config_path_.empty()) {
            argv[8] = "-c";
            argv[9] = config_path_.c_str();
        }
        ::execvp(binary.c_str(), const_cast<char* const*>(argv));
        ::_exit(127);
    }
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (port_open(port_)) {
            return true;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;  // exited during start-up
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

NatsServer& shared_server() {
    if (!shared_slot()) {
        throw std::runtime_error("shared nats-server not running");
    }
    return *shared_slot();
}

Options test_options(const std::string& url) {
    Options o;
    o.servers = {url};
    o.name = "natsbus-test";
    o.connect_timeout = 1000ms;
    o.initial_connect_deadline = 5000ms;
    o.reconnect_wait = 100ms;
    o.reconnect_jitter = 50ms;
    o.drain_timeout = 1000ms;
    return o;
}

std::unique_ptr<Connection> connect_or_fail(const Options& options, StateCallback on_state) {
    auto conn = Connection::connect(options, std::move(on_state));
    EXPECT_TRUE(conn.has_value()) << (conn ? "" : conn.error().message());
    return conn ? std::move(*conn) : nullptr;
}

std::string unique_name(const std::string& prefix) {
    static int counter = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name =
        prefix + "_" + (info != nullptr ? info->name() : "x") + "_" + std::to_string(++counter);
    for (char& c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            c = '_';
        }
    }
    return name;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (done()) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
}

}  // namespace roomcast::natsbus::testing
