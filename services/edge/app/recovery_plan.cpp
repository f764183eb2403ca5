#include "app/recovery_plan.hpp"

#include "roomcast/contract/ids.hpp"

#include <algorithm>

namespace roomcast::edge {

namespace {

enum class Check : std::uint8_t { kKeep, kDrop, kUnknown };

Check check_room(const std::string& room, const std::string& user, std::int64_t joined_ms,
                 const RightsPort& rights, const Revocations& revocations, std::string& reason) {
    const auto lost = revocations.room_revoked(room, user, joined_ms);
    if (lost && !lost->private_only) {
        reason = lost->reason;
        return Check::kDrop;
    }
    switch (rights.may_join(room, user)) {
        case Verdict::kUnavailable:
            return Check::kUnknown;
        case Verdict::kForbidden:
            reason = lost ? lost->reason : std::string("room_private");
            return Check::kDrop;
        case Verdict::kNotFound:
            reason = "room_deleted";
            return Check::kDrop;
        case Verdict::kCreate:  // missing but auto-created on demand: not deleted (see above)
        case Verdict::kAllow:
            break;
    }
    return Check::kKeep;
}

}  // namespace

std::optional<std::string> room_lost(const std::string& room, const std::string& user,
                                     std::int64_t joined_ms, const RightsPort& rights,
                                     const Revocations& revocations) {
    std::string reason;
    switch (check_room(room, user, joined_ms, rights, revocations, reason)) {
        case Check::kKeep:
        case Check::kUnknown:  // checked at connect already; the registry does not unload
            return std::nullopt;
        case Check::kDrop:
            break;
    }
    return reason;
}

RecoveryPlan plan_recovery(const bus::v1::SessionRecord& record, std::uint64_t offset,
                           const RightsPort& rights, const Revocations& revocations) {
    RecoveryPlan plan;
    const std::string& user = record.user_id();
    if (!revocations.session_recoverable(user, record.started_ms())) {
        return plan;
    }
    for (const auto& m : record.rooms()) {
        if (!contract::valid_room_id(m.room())) {
            continue;
        }
        std::string reason;
        switch (check_room(m.room(), user, m.joined_ms(), rights, revocations, reason)) {
            case Check::kUnknown:
                return RecoveryPlan{};
            case Check::kDrop:
                plan.dropped.emplace_back(m.room(), std::move(reason));
                continue;
            case Check::kKeep:
                break;
        }
        rooms::Fabric::Resume r;
        r.room = m.room();
        r.info.since = m.since();
        r.info.joined_ms = m.joined_ms();
        r.start = std::max(offset, m.since());
        plan.rooms.push_back(std::move(r));
    }
    plan.recover = true;
    return plan;
}

}  // namespace roomcast::edge
