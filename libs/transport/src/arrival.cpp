#include "roomcast/transport/arrival.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>
#include <ctime>

namespace roomcast::transport {

void enable_arrival_timestamps(int fd) noexcept {
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
}

std::int64_t unread_arrival_ns(int fd) noexcept {
    char byte = 0;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    iovec iov{&byte, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    if (::recvmsg(fd, &msg, MSG_PEEK | MSG_DONTWAIT) <= 0) {
        return 0;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            timespec ts{};
            std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
        }
    }
    return 0;
}

std::int64_t now_realtime_ns() noexcept {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

}  // namespace roomcast::transport
