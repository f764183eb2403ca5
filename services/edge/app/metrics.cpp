#include "app/metrics.hpp"

#include <prometheus/histogram.h>

namespace roomcast::edge {

std::shared_ptr<prometheus::Collectable> register_edge_metrics(
    observability::Metrics& metrics, sio::Server& io, rooms::Fabric& fabric, const Quotas& quotas,
    natsbus::Connection& nats,
    EdgeCounters& counters, const std::atomic<bool>& draining) {
    counters.fanout_latency =
        &prometheus::BuildHistogram()
             .Name("roomcast_edge_fanout_latency_seconds")
             .Help("Room event fan-out: from its arrival on the bus to its queueing on the last "
                   "local recipient of a shard")
             .Register(metrics.registry())
             .Add({}, observability::Metrics::latency_buckets());

    auto c = std::make_shared<observability::CallbackCollector>();
    auto& engine = io.engine();
    const unsigned shards = io.shards().size();
    // Sums a per-shard Engine.IO counter over the shards.
    auto sum = [&engine, shards](auto field) {
        return [&engine, shards, field] {
            double total = 0;
            for (unsigned i = 0; i < shards; ++i) {
                total += static_cast<double>(field(engine.stats(i)).get());
            }
            return total;
        };
    };
    using Stats = engineio::Stats;
    c->gauge("roomcast_edge_connections", "Open Engine.IO connections by transport",
             sum([](Stats& s) -> auto& { return s.open_polling; }), {{"transport", "polling"}});
    c->gauge("roomcast_edge_connections", "Open Engine.IO connections by transport",
             sum([](Stats& s) -> auto& { return s.open_websocket; }), {{"transport", "websocket"}});
    c->counter("roomcast_edge_connects_total", "Engine.IO sessions opened",
               sum([](Stats& s) -> auto& { return s.opened; }));
    c->counter("roomcast_edge_upgrades_total", "Sessions upgraded from polling to WebSocket",
               sum([](Stats& s) -> auto& { return s.upgrades; }));
    for (std::size_t r = 0; r < static_cast<std::size_t>(engineio::CloseReason::kCount); ++r) {
        const auto reason = std::string(engineio::to_string(static_cast<engineio::CloseReason>(r)));
        c->counter("roomcast_edge_disconnects_total", "Engine.IO sessions closed, by reason",
                   sum([r](Stats& s) -> auto& { return s.closed[r]; }), {{"reason", reason}});
    }
    c->counter("roomcast_edge_slow_consumer_disconnects_total",
               "Sessions closed because their outbound queue went over its cap",
               sum([](Stats& s) -> auto& {
                   return s.closed[static_cast<std::size_t>(engineio::CloseReason::kSlowConsumer)];
               }));
    c->counter("roomcast_edge_queue_drops_total", "Volatile messages dropped (queue not writable)",
               sum([](Stats& s) -> auto& { return s.volatile_dropped; }));
    static constexpr const char* kRefusals[] = {"transport_unknown", "session_unknown",
                                                "bad_handshake_method", "bad_request", "forbidden",
                                                "unsupported_protocol_version"};
    for (std::size_t i = 0; i < std::size(kRefusals); ++i) {
        c->counter("roomcast_edge_handshake_failures_total",
                   "Engine.IO requests refused, by error code",
                   sum([i](Stats& s) -> auto& { return s.refused[i]; }), {{"code", kRefusals[i]}});
    }
    static constexpr const char* kAuth[] = {"token_missing", "token_invalid", "token_expired"};
    for (std::size_t i = 0; i < std::size(kAuth); ++i) {
        c->counter("roomcast_edge_auth_failures_total", "Socket.IO connects refused, by code",
                   [&counters, i] { return static_cast<double>(counters.auth_failures[i].load()); },
                   {{"code", kAuth[i]}});
    }
    c->counter("roomcast_edge_packets_in_total", "Engine.IO messages received",
               sum([](Stats& s) -> auto& { return s.messages_in; }));
    c->counter("roomcast_edge_packets_out_total", "Engine.IO messages sent",
               sum([](Stats& s) -> auto& { return s.messages_out; }));
    c->counter("roomcast_edge_bytes_in_total", "Engine.IO payload bytes received",
               sum([](Stats& s) -> auto& { return s.bytes_in; }));
    c->counter("roomcast_edge_bytes_out_total", "Engine.IO payload bytes sent",
               sum([](Stats& s) -> auto& { return s.bytes_out; }));
    c->counter("roomcast_edge_fanout_deliveries_total", "Room events queued to local sockets",
               [&io, shards] {
                   double total = 0;
                   for (unsigned i = 0; i < shards; ++i) {
                       total += static_cast<double>(io.of("/").deliveries(i));
                   }
                   return total;
               });
    const auto& bs = fabric.sequence_stats();
    const auto& fs = fabric.stats();
    c->gauge("roomcast_edge_room_subscriptions", "Rooms this edge is subscribed to on the bus",
             [&fs] { return static_cast<double>(fs.subscriptions.load()); });
    c->counter("roomcast_edge_bus_events_total", "Room events received from the bus",
               [&bs] { return static_cast<double>(bs.delivered.load()); });
    c->counter("roomcast_edge_bus_gaps_total", "Gaps detected in a room's event sequence",
               [&bs] { return static_cast<double>(bs.gaps_detected.load()); });
    c->counter("roomcast_edge_bus_events_repaired_total", "Events read back from the stream to fill gaps",
               [&bs] { return static_cast<double>(bs.events_repaired.load()); });
    c->counter("roomcast_edge_bus_events_lost_total", "Gaps that could not be read back",
               [&bs] { return static_cast<double>(bs.events_lost.load()); });
    c->counter("roomcast_edge_ephemeral_drops_total",
               "Ephemeral room events not delivered: a socket's queue a quarter full, or the room's "
               "rights being changed",
               [dropped = sum([](Stats& s) -> auto& { return s.droppable_dropped; }), &fs] {
                   return dropped() + static_cast<double>(fs.ephemeral_held_dropped.load());
               });
    c->counter("roomcast_edge_bus_dropped_total", "Bus events dropped (invalid or duplicate)",
               [&bs, &fs] {
                   return static_cast<double>(bs.invalid_dropped.load() + bs.duplicates_dropped.load() +
                                              bs.stale_dropped.load() + fs.invalid_dropped.load());
               });
    c->counter("roomcast_edge_recoveries_total", "Reconnects that asked for recovery, by result",
               [&counters] { return static_cast<double>(counters.recovered.load()); },
               {{"result", "recovered"}});
    c->counter("roomcast_edge_recoveries_total", "Reconnects that asked for recovery, by result",
               [&counters] { return static_cast<double>(counters.not_recovered.load()); },
               {{"result", "failed"}});
    for (std::size_t i = 0; i < std::size(kRecoveryMissNames); ++i) {
        c->counter("roomcast_edge_recovery_misses_total",
                   "Reconnects that asked for recovery and started a new session, by reason",
                   [&counters, i] { return static_cast<double>(counters.recovery_misses[i].load()); },
                   {{"reason", kRecoveryMissNames[i]}});
    }
    c->counter("roomcast_edge_kicks_total", "Sockets removed from rooms by control actions",
               [&counters] { return static_cast<double>(counters.kicks.load()); });
    c->counter("roomcast_edge_user_disconnects_total", "Sockets disconnected by control actions",
               [&counters] { return static_cast<double>(counters.user_disconnects.load()); });
    const auto& qs = quotas.stats();
    const std::pair<const char*, const std::atomic<std::uint64_t>*> refusals[] = {
        {"publish_rate", &qs.publish_rate},
        {"publish_bytes", &qs.publish_bytes},
        {"auto_create", &qs.auto_create},
        {"table_full", &qs.table_full},
    };
    for (const auto& [quota, counter] : refusals) {
        c->counter("roomcast_edge_quota_refusals_total",
                   "Requests refused with rate_limited by a per-user quota, by quota",
                   [counter] { return static_cast<double>(counter->load()); }, {{"quota", quota}});
    }
    c->gauge("roomcast_edge_draining", "1 while the edge drains (after SIGTERM)",
             [&draining] { return draining.load() ? 1.0 : 0.0; });
    c->gauge("roomcast_nats_connected", "1 while the NATS connection is up",
             [&nats] { return nats.connected() ? 1.0 : 0.0; });
    c->counter("roomcast_nats_reconnects_total", "NATS reconnections since start",
               [&nats] { return static_cast<double>(nats.reconnects()); });
    c->counter("roomcast_nats_storage_full_total",
               "JetStream writes refused because a stream or KV bucket was at its byte budget (or "
               "the store was full)",
               [&nats] { return static_cast<double>(nats.storage_full()); });
    metrics.add(c);
    return c;
}

}  // namespace roomcast::edge
