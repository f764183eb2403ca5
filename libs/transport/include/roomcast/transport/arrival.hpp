#pragma once
// When bytes reached this host, by the kernel's receive timestamps: requests of one Engine.IO
// session travel on several connections that two shards (or one busy thread) may read in either
// order, so where the order changes the answer the layers above compare arrival times instead
// (HttpRequest::arrived_ns, WsConnection::unread_arrival_ns).
//
// Every accepted socket has SO_TIMESTAMPNS set (HttpServer); the times are CLOCK_REALTIME in
// ns, the clock the kernel stamps with.

#include <cstdint>

namespace roomcast::transport {

// Enables receive timestamps on `fd` (best effort: without them the functions below see none).
void enable_arrival_timestamps(int fd) noexcept;

// The receive time of the first unread byte waiting on `fd` (peeked, not consumed); 0 when none
// is waiting or it carries no timestamp.
std::int64_t unread_arrival_ns(int fd) noexcept;

// Now, on the kernel's timestamp clock.
std::int64_t now_realtime_ns() noexcept;

}  // namespace roomcast::transport
