#include "idle_sweep.hpp"

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/log.hpp"

#include <algorithm>
#include <random>
#include <vector>

namespace roomcast::rooms {
namespace {

namespace log = core::log;
using std::chrono::milliseconds;

SystemTime from_timestamp(const google::protobuf::Timestamp& ts) {
    return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
        std::chrono::seconds(ts.seconds()) + std::chrono::nanoseconds(ts.nanos())));
}

SystemTime from_unix_ns(std::int64_t ns) {
    return SystemTime(
        std::chrono::duration_cast<SystemTime::duration>(std::chrono::nanoseconds(ns)));
}

// The ids of the first `batch` rooms after `cursor` in id order, wrapping around to the first
// ones when fewer follow it (each room is examined once per cycle through the registry).
std::vector<std::string> next_batch(std::vector<std::string> ids, const std::string& cursor,
                                    std::size_t batch) {
    std::sort(ids.begin(), ids.end());
    const auto after = std::upper_bound(ids.begin(), ids.end(), cursor);
    std::vector<std::string> out(after, ids.end());
    for (auto it = ids.begin(); it != after && out.size() < batch; ++it) {
        out.push_back(*it);
    }
    if (out.size() > batch) {
        out.resize(batch);
    }
    return out;
}

}  // namespace

std::string_view to_string(IdleVerdict verdict) noexcept {
    switch (verdict) {
        case IdleVerdict::kIdle:
            return "idle";
        case IdleVerdict::kDisabled:
            return "disabled";
        case IdleVerdict::kNotAutoCreated:
            return "not_auto_created";
        case IdleVerdict::kActive:
            return "active";
        case IdleVerdict::kPresent:
            return "present";
    }
    return "unknown";
}

IdleVerdict idle_verdict(const RoomActivity& room, SystemTime now, milliseconds ttl) noexcept {
    if (ttl <= milliseconds(0)) {
        return IdleVerdict::kDisabled;
    }
    if (!room.auto_created) {
        return IdleVerdict::kNotAutoCreated;
    }
    const SystemTime last =
        room.last_event ? std::max(room.created, *room.last_event) : room.created;
    // now - last < ttl, written so that a time after `now` is activity now and no subtraction
    // of far-apart time points can overflow.
    if (last > now || now - last < ttl) {
        return IdleVerdict::kActive;
    }
    if (room.present) {
        return IdleVerdict::kPresent;
    }
    return IdleVerdict::kIdle;
}

IdleRoomSweeper::IdleRoomSweeper(natsbus::Connection& nats, natsbus::KeyValue& kv,
                                 RoomsService& rooms, SweepOptions options)
    : nats_(nats), kv_(kv), rooms_(rooms), options_(std::move(options)) {}

IdleRoomSweeper::~IdleRoomSweeper() {
    stop();
}

void IdleRoomSweeper::start() {
    if (options_.idle_ttl <= milliseconds(0) || thread_.joinable()) {
        return;
    }
    thread_ = std::thread([this] {
        std::mt19937_64 rng(std::random_device{}());
        auto wait = milliseconds(std::uniform_int_distribution<std::int64_t>(
            0, std::max<std::int64_t>(options_.interval.count(), 1))(rng));
        for (;;) {
            {
                std::unique_lock lock(mu_);
                if (wake_.wait_for(lock, wait, [this] { return stopping_; })) {
                    return;
                }
            }
            const SweepPass pass = sweep_once();
            if (pass.swept > 0 || pass.errors > 0) {
                log::info(
                    "idle auto-created rooms swept",
                    {{"examined", pass.examined}, {"swept", pass.swept}, {"errors", pass.errors}});
            }
            wait = options_.interval;
        }
    });
}

void IdleRoomSweeper::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

SweepPass IdleRoomSweeper::sweep_once() {
    SweepPass pass;
    const auto started = std::chrono::steady_clock::now();
    auto keys = kv_.keys(contract::kRoomKeyFilter);
    if (!keys) {
        log::warn("idle sweep: cannot list the rooms", {{"error", keys.error().message()}});
        ++pass.errors;
        errors_.fetch_add(1, std::memory_order_relaxed);
        return pass;
    }
    std::vector<std::string> ids;
    ids.reserve(keys->size());
    for (const auto& key : *keys) {
        if (auto id = contract::parse_room_key(key)) {
            ids.push_back(std::move(*id));
        }
    }
    const auto batch =
        next_batch(std::move(ids), cursor_,
                   static_cast<std::size_t>(std::max<std::int64_t>(options_.batch, 1)));
    for (const auto& id : batch) {
        // A pass never runs into the next one: what is left waits for it.
        if (std::chrono::steady_clock::now() - started >= options_.interval) {
            break;
        }
        cursor_ = id;
        ++pass.examined;
        switch (examine(id, std::chrono::system_clock::now())) {
            case Fate::kKept:
                break;
            case Fate::kSwept:
                ++pass.swept;
                swept_.fetch_add(1, std::memory_order_relaxed);
                break;
            case Fate::kError:
                ++pass.errors;
                errors_.fetch_add(1, std::memory_order_relaxed);
                break;
        }
    }
    return pass;
}

IdleRoomSweeper::Fate IdleRoomSweeper::examine(const std::string& id, SystemTime now) {
    auto got = kv_.get(contract::room_key(id));
    if (!got) {
        log::warn("idle sweep: cannot read a room",
                  {{"room", id}, {"error", got.error().message()}});
        return Fate::kError;
    }
    if (!*got) {
        return Fate::kKept;  // deleted since the keys were listed
    }
    v1::Room room;
    if (!room.ParseFromString((*got)->value)) {
        log::warn("idle sweep: a stored room is not a Room", {{"room", id}});
        return Fate::kError;
    }
    RoomActivity activity;
    activity.auto_created = room.auto_created();
    activity.created = from_timestamp(room.create_time());
    if (idle_verdict(activity, now, options_.idle_ttl) != IdleVerdict::kIdle) {
        return Fate::kKept;  // admin-created, or created within the TTL: nothing more to read
    }
    auto last = nats_.jetstream().last_message_time(
        contract::kRoomStream, contract::room_subject(id), options_.nats_timeout);
    if (!last) {
        log::warn("idle sweep: cannot read the room's last event",
                  {{"room", id}, {"error", last.error().message()}});
        return Fate::kError;
    }
    if (*last) {
        activity.last_event = from_unix_ns(**last);
    }
    if (idle_verdict(activity, now, options_.idle_ttl) != IdleVerdict::kIdle) {
        return Fate::kKept;
    }
    auto someone = present(id);
    if (!someone) {
        log::warn("idle sweep: cannot ask presence about the room",
                  {{"room", id}, {"error", someone.error().message()}});
        return Fate::kError;
    }
    activity.present = *someone;
    if (idle_verdict(activity, now, options_.idle_ttl) != IdleVerdict::kIdle) {
        return Fate::kKept;
    }
    const grpc::Status deleted = rooms_.delete_idle_room(
        id, (*got)->revision, std::chrono::steady_clock::now() + options_.nats_timeout);
    if (deleted.ok()) {
        log::info("idle auto-created room deleted", {{"room", id}});
        return Fate::kSwept;
    }
    // Another replica deleted it, or it changed since it was read: not this pass's to delete.
    if (deleted.error_code() == grpc::StatusCode::NOT_FOUND ||
        deleted.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        log::debug("idle sweep: room left alone", {{"room", id}, {"why", deleted.error_message()}});
        return Fate::kKept;
    }
    log::warn("idle sweep: cannot delete the room",
              {{"room", id}, {"error", deleted.error_message()}});
    return Fate::kError;
}

natsbus::Result<bool> IdleRoomSweeper::present(const std::string& id) {
    bus::v1::PresenceQuery query;
    query.set_room(id);
    query.set_limit(0);  // counts only
    std::string data;
    query.SerializeToString(&data);
    auto reply = nats_.request(contract::kPresenceQuerySubject, data, options_.nats_timeout);
    if (!reply) {
        // Spelled out: an error_code also converts to bool, the value type.
        return natsbus::Result<bool>(boost::system::in_place_error, reply.error());
    }
    bus::v1::PresenceQueryResult result;
    if (!result.ParseFromString(reply->data)) {
        return natsbus::Result<bool>(boost::system::in_place_error,
                                     natsbus::make_error_code(natsbus::Errc::kOther));
    }
    return result.clients() > 0 || result.users() > 0;
}

}  // namespace roomcast::rooms
