#include "rooms_service.hpp"

#include "history.hpp"
#include "validation.hpp"

#include "roomcast/backend/v1/backend.pb.h"
#include "roomcast/contract/keys.hpp"
#include "roomcast/contract/storage.hpp"
#include "roomcast/contract/subjects.hpp"
#include "roomcast/core/log.hpp"
#include "roomcast/grpcutil/grpcutil.hpp"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

namespace roomcast::rooms {
namespace {

namespace log = core::log;
using grpcutil::from_error;
using grpcutil::invalid_argument;
using grpcutil::not_found;
using natsbus::Errc;
using std::chrono::milliseconds;

bool is(const boost::system::error_code& ec, Errc e) {
    return ec == natsbus::make_error_code(e);
}

grpc::Status check_deadline(Deadline deadline) {
    if (std::chrono::steady_clock::now() >= deadline) {
        return {grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded"};
    }
    return grpc::Status::OK;
}

// What is left of the deadline, at least 1 ms (NATS waits of 0 mean "forever" in places).
milliseconds time_until(Deadline deadline) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    return std::max(left, milliseconds(1));
}

void set_now(google::protobuf::Timestamp* ts) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now);
    ts->set_seconds(seconds.count());
    ts->set_nanos(static_cast<std::int32_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - seconds).count()));
}

std::int64_t unix_ms() {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string serialize(const google::protobuf::MessageLite& message) {
    std::string out;
    message.SerializeToString(&out);
    return out;
}

grpc::Status room_not_found(const std::string& room_id) {
    return not_found("room '" + room_id + "' does not exist");
}

grpc::Status no_stream() {
    return {grpc::StatusCode::UNAVAILABLE,
            "the room stream " + std::string(contract::kRoomStream) +
                " does not exist: the edges create it at start-up, so start an edge first"};
}

// The `size` smallest ids, ascending; `more` tells whether any were left out.
std::vector<std::string> first_page(std::vector<std::string> ids, std::size_t size, bool& more) {
    more = ids.size() > size;
    const std::size_t keep = std::min(ids.size(), size);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(keep), ids.end());
    ids.resize(keep);
    return ids;
}

}  // namespace

RoomsService::RoomsService(natsbus::Connection& nats, natsbus::KeyValue& kv,
                           natsbus::KeyValue& revocations, RoomsOptions options)
    : nats_(nats), kv_(kv), revocations_(revocations), options_(std::move(options)) {}

// --- helpers -----------------------------------------------------------------------------------

Outcome<std::optional<RoomsService::Stored<v1::Room>>> RoomsService::load_room(
    const std::string& room_id) {
    auto got = kv_.get(contract::room_key(room_id));
    if (!got) {
        return from_error(got.error(), "reading the room");
    }
    if (!*got) {
        return std::optional<Stored<v1::Room>>();
    }
    Stored<v1::Room> room;
    if (!room.value.ParseFromString((*got)->value)) {
        return grpc::Status(grpc::StatusCode::INTERNAL,
                            "the stored record of room '" + room_id + "' is not a Room");
    }
    // Writers other than this service (edges) may leave the id out; the key is authoritative.
    room.value.set_id(room_id);
    room.revision = (*got)->revision;
    return std::optional<Stored<v1::Room>>(std::move(room));
}

Outcome<RoomsService::Stored<v1::Room>> RoomsService::require_room(const std::string& room_id,
                                                                   Deadline deadline) {
    if (auto s = check_deadline(deadline); !s.ok()) {
        return s;
    }
    auto room = load_room(room_id);
    if (!room) {
        return room.error();
    }
    if (!*room) {
        return room_not_found(room_id);
    }
    return std::move(**room);
}

Outcome<std::optional<RoomsService::Stored<v1::Member>>> RoomsService::load_member(
    const std::string& room_id, const std::string& user_id) {
    auto got = kv_.get(contract::member_key(room_id, user_id));
    if (!got) {
        return from_error(got.error(), "reading the membership");
    }
    if (!*got) {
        return std::optional<Stored<v1::Member>>();
    }
    Stored<v1::Member> member;
    if (!member.value.ParseFromString((*got)->value)) {
        return grpc::Status(grpc::StatusCode::INTERNAL,
                            "a stored membership of room '" + room_id + "' is not a Member");
    }
    member.value.set_user_id(user_id);
    member.revision = (*got)->revision;
    return std::optional<Stored<v1::Member>>(std::move(member));
}

grpc::Status RoomsService::erase_members(const std::string& room_id, Deadline deadline,
                                         bool honour_deadline) {
    auto keys = kv_.keys(contract::member_key_filter(room_id));
    if (!keys) {
        return from_error(keys.error(), "listing the room's members");
    }
    for (const auto& key : *keys) {
        if (honour_deadline) {
            if (auto s = check_deadline(deadline); !s.ok()) {
                return {grpc::StatusCode::DEADLINE_EXCEEDED,
                        "deadline exceeded while removing the room's members; the room still "
                        "exists, call DeleteRoom again"};
            }
        }
        if (auto r = kv_.erase(key); !r) {
            return from_error(r.error(), "removing a member of the room");
        }
    }
    return grpc::Status::OK;
}

grpc::Status RoomsService::publish_control(const bus::v1::Control& control, Deadline deadline) {
    if (auto r = nats_.publish(contract::kControlSubject, serialize(control)); !r) {
        return from_error(r.error(), "publishing the control message");
    }
    if (auto r = nats_.flush(time_until(deadline)); !r) {
        return from_error(r.error(), "flushing the control message");
    }
    return grpc::Status::OK;
}

grpc::Status RoomsService::revoke(const std::string& key, const std::string& reason,
                                  std::int64_t at_ms) {
    bus::v1::Revocation r;
    r.set_reason(reason);
    r.set_at_ms(at_ms);
    if (auto put = revocations_.put(key, serialize(r)); !put) {
        return from_error(put.error(), "recording the revocation");
    }
    return grpc::Status::OK;
}

// --- rooms -------------------------------------------------------------------------------------

Outcome<v1::CreateRoomResponse> RoomsService::create_room(const v1::CreateRoomRequest& request,
                                                          Deadline deadline) {
    if (auto s = check_room_id(request.room_id()); !s.ok()) {
        return s;
    }
    if (auto s = check_visibility(request.visibility()); !s.ok()) {
        return s;
    }
    if (auto s = check_labels(request.labels()); !s.ok()) {
        return s;
    }
    if (auto s = check_deadline(deadline); !s.ok()) {
        return s;
    }
    v1::CreateRoomResponse response;
    v1::Room& room = *response.mutable_room();
    room.set_id(request.room_id());
    room.set_visibility(request.visibility() == v1::VISIBILITY_UNSPECIFIED ? v1::VISIBILITY_PUBLIC
                                                                           : request.visibility());
    room.mutable_labels()->insert(request.labels().begin(), request.labels().end());
    set_now(room.mutable_create_time());
    *room.mutable_update_time() = room.create_time();
    // KV create, not put: an existing key (an edge's auto-created room included) must fail.
    if (auto r = kv_.create(contract::room_key(room.id()), serialize(room)); !r) {
        if (is(r.error(), Errc::kAlreadyExists)) {
            return grpcutil::already_exists("room '" + room.id() + "' already exists");
        }
        return from_error(r.error(), "creating the room");
    }
    log::info("room created", {{"room", room.id()}});
    return response;
}

grpc::Status RoomsService::auto_create_room(const std::string& room_id, Deadline deadline) {
    if (auto s = check_room_id(room_id); !s.ok()) {
        return s;
    }
    if (auto s = check_deadline(deadline); !s.ok()) {
        return s;
    }
    v1::Room room;
    room.set_id(room_id);
    room.set_visibility(v1::VISIBILITY_PUBLIC);
    room.set_auto_created(true);
    set_now(room.mutable_create_time());
    *room.mutable_update_time() = room.create_time();
    auto created = kv_.create(contract::room_key(room_id), serialize(room));
    if (created) {
        log::info("room auto-created", {{"room", room_id}});
        return grpc::Status::OK;
    }
    if (!is(created.error(), Errc::kAlreadyExists)) {
        return from_error(created.error(), "creating the room");
    }
    // Someone else created it first (another edge's request, or CreateRoom): fine if PUBLIC.
    auto existing = load_room(room_id);
    if (!existing) {
        return existing.error();
    }
    if (*existing && (*existing)->value.visibility() == v1::VISIBILITY_PRIVATE) {
        return {grpc::StatusCode::PERMISSION_DENIED, "room '" + room_id + "' is private"};
    }
    if (!*existing) {
        // Deleted between the create and the read: the join that asked may try again.
        return {grpc::StatusCode::UNAVAILABLE, "room '" + room_id + "' changed meanwhile"};
    }
    return grpc::Status::OK;
}

Outcome<v1::GetRoomResponse> RoomsService::get_room(const v1::GetRoomRequest& request,
                                                    Deadline deadline) {
    if (auto s = check_room_id(request.room_id()); !s.ok()) {
        return s;
    }
    auto room = require_room(request.room_id(), deadline);
    if (!room) {
        return room.error();
    }
    v1::GetRoomResponse response;
    *response.mutable_room() = std::move(room->value);
    return response;
}

Outcome<v1::ListRoomsResponse> RoomsService::list_rooms(const v1::ListRoomsRequest& request,
                                                        Deadline deadline) {
    std::int32_t page_size = 0;
    std::optional<std::string> after;
    if (auto s = check_room_prefix(request.prefix()); !s.ok()) {
        return s;
    }
    if (auto s = check_page_size(request.page_size(), page_size); !s.ok()) {
        return s;
    }
    if (auto s = parse_room_page_token(request.page_token(), after); !s.ok()) {
        return s;
    }
    if (auto s = check_deadline(deadline); !s.ok()) {
        return s;
    }
    auto keys = kv_.keys(contract::kRoomKeyFilter);
    if (!keys) {
        return from_error(keys.error(), "listing rooms");
    }
    std::vector<std::string> ids;
    for (const auto& key : *keys) {
        auto id = contract::parse_room_key(key);
        if (!id || !id->starts_with(request.prefix()) || (after && *id <= *after)) {
            continue;
        }
        ids.push_back(std::move(*id));
    }
    bool more = false;
    ids = first_page(std::move(ids), static_cast<std::size_t>(page_size), more);
    v1::ListRoomsResponse response;
    for (const auto& id : ids) {
        if (auto s = check_deadline(deadline); !s.ok()) {
            return s;
        }
        auto room = load_room(id);
        if (!room) {
            return room.error();
        }
        if (*room) {  // deleted since the keys were read: skipped
            *response.add_rooms() = std::move((*room)->value);
        }
    }
    if (more) {
        response.set_next_page_token(make_page_token(ids.back()));
    }
    return response;
}

Outcome<v1::UpdateRoomResponse> RoomsService::update_room(const v1::UpdateRoomRequest& request,
                                                          Deadline deadline) {
    if (auto s = check_room_id(request.room_id()); !s.ok()) {
        return s;
    }
    if (auto s = check_update_mask(request.update_mask()); !s.ok()) {
        return s;
    }
    if (auto s = check_visibility(request.visibility()); !s.ok()) {
        return s;
    }
    if (auto s = check_labels(request.labels()); !s.ok()) {
        return s;
    }
    const auto& mask = request.update_mask();
    const auto names = [&](std::string_view field) {
        return std::find(mask.begin(), mask.end(), field) != mask.end();
    };
    if (names("visibility") && request.visibility() == v1::VISIBILITY_UNSPECIFIED) {
        return invalid_argument(
            "visibility must be VISIBILITY_PUBLIC or VISIBILITY_PRIVATE when update_mask names it");
    }
    // An empty mask means both fields, but an unset visibility then keeps the current one:
    // a labels-only update must never turn a PRIVATE room PUBLIC by omission.
    const bool set_visibility =
        names("visibility") || (mask.empty() && request.visibility() != v1::VISIBILITY_UNSPECIFIED);
    const bool set_labels = mask.empty() || names("labels");

    const std::string key = contract::room_key(request.room_id());
    for (int attempt = 0; attempt < options_.cas_attempts; ++attempt) {
        auto room = require_room(request.room_id(), deadline);
        if (!room) {
            return room.error();
        }
        v1::Room& value = room->value;
        const bool was_private = value.visibility() == v1::VISIBILITY_PRIVATE;
        if (set_visibility) {
            value.set_visibility(request.visibility());
        }
        if (set_labels) {
            value.mutable_labels()->clear();
            value.mutable_labels()->insert(request.labels().begin(), request.labels().end());
        }
        const bool narrowed =
            !was_private && set_visibility && request.visibility() == v1::VISIBILITY_PRIVATE;
        set_now(value.mutable_update_time());
        auto r = kv_.update(key, serialize(value), room->revision);
        if (r) {
            log::info("room updated", {{"room", request.room_id()}});
            if (narrowed) {
                // Non-members lose the room: recorded for sessions away now (best effort: a
                // recovering session also checks the rights themselves), then every edge
                // re-checks its members against the rights as of this revision.
                const std::int64_t at = unix_ms();
                if (auto s = revoke(contract::revocation_room_key(request.room_id()), "room_private", at); !s.ok()) {
                    log::warn("revocation not recorded", {{"room", request.room_id()}, {"error", s.error_message()}});
                }
                bus::v1::Control control;
                auto* rights = control.mutable_rights();
                rights->set_room(request.room_id());
                rights->set_reason("room_private");
                rights->set_rights_revision(*r);
                rights->set_at_ms(at);
                if (auto s = publish_control(control, deadline); !s.ok()) {
                    return s;
                }
            }
            v1::UpdateRoomResponse response;
            *response.mutable_room() = std::move(value);
            return response;
        }
        if (!is(r.error(), Errc::kWrongRevision)) {
            return from_error(r.error(), "updating the room");
        }
        // Someone else changed (or deleted) the room since we read it: read it again.
    }
    return grpc::Status(grpc::StatusCode::ABORTED,
                        "room '" + request.room_id() + "' kept changing concurrently; try again");
}

Outcome<v1::DeleteRoomResponse> RoomsService::delete_room(const v1::DeleteRoomRequest& request,
                                                          Deadline deadline) {
    if (auto s = check_room_id(request.room_id()); !s.ok()) {
        return s;
    }
    if (auto s = remove_room(request.room_id(), std::nullopt, deadline); !s.ok()) {
        return s;
    }
    return v1::DeleteRoomResponse();
}

grpc::Status RoomsService::delete_idle_room(const std::string& room_id, std::uint64_t revision,
                                            Deadline deadline) {
    if (auto s = check_room_id(room_id); !s.ok()) {
        return s;
    }
    return remove_room(room_id, revision, deadline);
}

grpc::Status RoomsService::remove_room(const std::string& id,
                                       std::optional<std::uint64_t> expected_revision,
                                       Deadline deadline) {
    const auto changed = [&id] {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "room '" + id + "' changed since it was read; not deleted");
    };
    auto room = require_room(id, deadline);
    if (!room) {
        return room.error();
    }
    if (expected_revision && room->revision != *expected_revision) {
        return changed();
    }
    // Members first: if this call stops half-way the room still exists and a retry finishes.
    if (auto s = erase_members(id, deadline, true); !s.ok()) {
        return s;
    }
    // Compare-and-delete when a revision is expected: a room written since the check above
    // (auto-created again after another replica's delete, updated) stays.
    auto erased = expected_revision ? kv_.erase(contract::room_key(id), *expected_revision)
                                    : kv_.erase(contract::room_key(id));
    if (!erased) {
        if (expected_revision && is(erased.error(), Errc::kWrongRevision)) {
            return changed();
        }
        return from_error(erased.error(), "deleting the room");
    }
    // A member added between the sweep and the erase would outlive the room (and come back if
    // the room were created again): sweep once more, past the deadline if need be, since the
    // room is already gone. AddMember re-checks the room after its write for the later ones.
    const grpc::Status swept = erase_members(id, deadline, false);
    const std::int64_t at = unix_ms();
    // Sessions away now must not get the room back, even where its id is auto-created again.
    if (auto s = revoke(contract::revocation_room_key(id), "room_deleted", at); !s.ok()) {
        log::warn("revocation not recorded", {{"room", id}, {"error", s.error_message()}});
    }
    bus::v1::Control control;
    auto* kick = control.mutable_kick();
    kick->set_room(id);
    kick->set_reason("room_deleted");
    kick->set_at_ms(at);
    const grpc::Status kicked = publish_control(control, deadline);
    log::info("room deleted", {{"room", id}});
    if (!swept.ok()) {
        return swept;
    }
    return kicked;
}

// --- members -----------------------------------------------------------------------------------

Outcome<v1::AddMemberResponse> RoomsService::add_member(const v1::AddMemberRequest& request,
                                                        Deadline deadline) {
    if (auto s = check_room_id(request.room_id()); !s.ok()) {
        return s;
    }
    if (auto s = check_user_id(request.user_id()); !s.ok()) {
        return s;
    }
    if (auto s = check_role(request.role()); !s.ok()) {
        return s;
    }
    const std::string& room_id = request.room_id();
    const std::string& user_id = request.user_id();
    if (auto room = require_room(room_id, deadline); !room) {
        return room.error();
    }
    const v1::Role role = request.role() == v1::ROLE_UNSPECIFIED ? v1::ROLE_MEMBER : request.role();
    const std::string key = contract::member_key(room_id, user_id);
    std::optional<v1::Member> written;
    for (int attempt = 0; attempt < options_.cas_attempts && !written; ++attempt) {
        if (auto s = check_deadline(deadline); !s.ok()) {
            return s;
        }
        auto existing = load_member(room_id, user_id);
        if (!existing) {
            return existing.error();
        }
        if (!*existing) {
            v1::Member member;
            member.set_user_id(user_id);
            member.set_role(role);
            set_now(member.mutable_create_time());
            auto r = kv_.create(key, serialize(member));
            if (r) {
                written = std::move(member);
            } else if (!is(r.error(), Errc::kAlreadyExists)) {
                return from_error(r.error(), "adding the member");
            }
            continue;
        }
        // Already a member: only the role changes; create_time stays the first one.
        v1::Member member = std::move((*existing)->value);
        member.set_role(role);
        auto r = kv_.update(key, serialize(member), (*existing)->revision);
        if (r) {
            written = std::move(member);
        } else if (!is(r.error(), Errc::kWrongRevision)) {
            return from_error(r.error(), "changing the member's role");
        }
    }
    if (!written) {
        return grpc::Status(grpc::StatusCode::ABORTED,
                            "the membership kept changing concurrently; try again");
    }
    // A DeleteRoom that finished meanwhile has swept the members before this write: undo it
    // rather than leave a membership of a room that does not exist.
    auto room = load_room(room_id);
    if (!room) {
        return room.error();
    }
    if (!*room) {
        if (auto r = kv_.erase(key); !r) {
            // The orphan would reappear if the room were created again: worth an operator's eye.
            log::warn("cannot undo a membership of a deleted room",
                      {{"room", room_id}, {"error", r.error().message()}});
        }
        return room_not_found(room_id);
    }
    v1::AddMemberResponse response;
    *response.mutable_member() = std::move(*written);
    return response;
}

Outcome<v1::RemoveMemberResponse> RoomsService::remove_member(
    const v1::RemoveMemberRequest& request, Deadline deadline) {
    if (auto s = check_room_id(request.room_id()); !s.ok()) {
        return s;
    }
    if (auto s = check_user_id(request.user_id()); !s.ok()) {
        return s;
    }
    const std::string& room_id = request.room_id();
    const std::string& user_id = request.user_id();
    auto room = require_room(room_id, deadline);
    if (!room) {
        return room.error();
    }
    if (auto s = check_deadline(deadline); !s.ok()) {
        return s;
    }
    auto member = load_member(room_id, user_id);
    if (!member) {
        return member.error();
    }
    if (!*member) {
        return not_found("the user is not a member of room '" + room_id + "'");
    }
    if (auto r = kv_.erase(contract::member_key(room_id, user_id)); !r) {
        return from_error(r.error(), "removing the member");
    }
    log::info("member removed", {{"room", room_id}, {"user", user_id}});
    // In a PUBLIC room anyone may stay; in a PRIVATE one the user's live sockets must go.
    if (room->value.visibility() == v1::VISIBILITY_PRIVATE) {
        const std::int64_t at = unix_ms();
        // For the reason a recovering session is told (the rights alone already refuse it).
        if (auto s = revoke(contract::revocation_kick_key(room_id, user_id), "membership_removed", at); !s.ok()) {
            log::warn("revocation not recorded", {{"room", room_id}, {"error", s.error_message()}});
        }
        bus::v1::Control control;
        auto* kick = control.mutable_kick();
        kick->set_room(room_id);
        kick->set_user_id(user_id);
        kick->set_reason("membership_removed");
        kick->set_at_ms(at);
        if (auto s = publish_control(control, deadline); !s.ok()) {
            return s;
        }
    }
    return v1::RemoveMemberResponse();
}

Outcome<v1::ListMembersResponse> RoomsService::list_members(const v1::ListMembersRequest& request,
                                                            Deadline deadline) {
    std::int32_t page_size = 0;
    std::optional<std::string> after;
    if (auto s = check_room_id(request.room_id()); !s.ok()) {
        return s;
    }
    if (auto s = check_page_size(request.page_size(), page_size); !s.ok()) {
        return s;
    }
    if (auto s = parse_member_page_token(request.page_token(), after); !s.ok()) {
        return s;
    }
    const std::string& room_id = request.room_id();
    if (auto room = require_room(room_id, deadline); !room) {
        return room.error();
    }
    auto keys = kv_.keys(contract::member_key_filter(room_id));
    if (!keys) {
        return from_error(keys.error(), "listing the room's members");
    }
    std::vector<std::string> ids;
    for (const auto& key : *keys) {
        auto member = contract::parse_member_key(key);
        if (!member || (after && member->user <= *after)) {
            continue;
        }
        ids.push_back(std::move(member->user));
    }
    bool more = false;
    ids = first_page(std::move(ids), static_cast<std::size_t>(page_size), more);
    v1::ListMembersResponse response;
    for (const auto& id : ids) {
        if (auto s = check_deadline(deadline); !s.ok()) {
            return s;
        }
        auto member = load_member(room_id, id);
        if (!member) {
            return member.error();
        }
        if (*member) {  // removed since the keys were read: skipped
            *response.add_members() = std::move((*member)->value);
        }
    }
    if (more) {
        response.set_next_page_token(make_page_token(ids.back()));
    }
    return response;
}

// --- live rooms ----------------------------------------------------------------------------------

Outcome<v1::KickUserResponse> RoomsService::kick_user(const v1::KickUserRequest& request,
                                                      Deadline deadline) {
    if (auto s = check_room_id(request.room_id()); !s.ok()) {
        return s;
    }
    if (auto s = check_user_id(request.user_id()); !s.ok()) {
        return s;
    }
    if (auto s = check_reason(request.reason()); !s.ok()) {
        return s;
    }
    if (auto room = require_room(request.room_id(), deadline); !room) {
        return room.error();
    }
    // A kick takes no right away, so only the revocation keeps a session away at this moment
    // from getting the room back: recorded first, or nothing is done.
    const std::string reason = request.reason().empty() ? "kicked" : request.reason();
    const std::int64_t at = unix_ms();
    if (auto s = revoke(contract::revocation_kick_key(request.room_id(), request.user_id()), reason, at); !s.ok()) {
        return s;
    }
    bus::v1::Control control;
    auto* kick = control.mutable_kick();
    kick->set_room(request.room_id());
    kick->set_user_id(request.user_id());
    kick->set_reason(reason);
    kick->set_at_ms(at);
    if (auto s = publish_control(control, deadline); !s.ok()) {
        return s;
    }
    log::info("user kicked", {{"room", request.room_id()}, {"user", request.user_id()}});
    return v1::KickUserResponse();
}

Outcome<v1::DisconnectUserResponse> RoomsService::disconnect_user(
    const v1::DisconnectUserRequest& request, Deadline deadline) {
    if (auto s = check_user_id(request.user_id()); !s.ok()) {
        return s;
    }
    if (auto s = check_reason(request.reason()); !s.ok()) {
        return s;
    }
    if (auto s = check_deadline(deadline); !s.ok()) {
        return s;
    }
    // Sessions of the user that are away now must not be recovered: recorded first.
    const std::int64_t at = unix_ms();
    if (auto s = revoke(contract::revocation_user_key(request.user_id()), request.reason(), at); !s.ok()) {
        return s;
    }
    bus::v1::Control control;
    auto* disconnect = control.mutable_disconnect();
    disconnect->set_at_ms(at);
    disconnect->set_user_id(request.user_id());
    disconnect->set_reason(request.reason());
    if (auto s = publish_control(control, deadline); !s.ok()) {
        return s;
    }
    log::info("user disconnected", {{"user", request.user_id()}});
    return v1::DisconnectUserResponse();
}

Outcome<v1::PublishResponse> RoomsService::publish(const v1::PublishRequest& request,
                                                   Deadline deadline) {
    std::string data_json;
    if (auto s = check_room_id(request.room_id()); !s.ok()) {
        return s;
    }
    if (auto s = check_event(request.event()); !s.ok()) {
        return s;
    }
    if (auto s = normalize_data_json(request.data_json(), data_json); !s.ok()) {
        return s;
    }
    const std::string& room_id = request.room_id();
    if (auto room = require_room(room_id, deadline); !room) {
        return room.error();
    }
    bus::v1::RoomEvent event;
    event.set_room(room_id);
    event.set_event(request.event());
    event.set_data_json(std::move(data_json));
    event.set_from("server");
    event.set_published_at_ms(unix_ms());
    if (auto s = check_deadline(deadline); !s.ok()) {
        return s;
    }
    auto ack = nats_.jetstream().publish(contract::room_subject(room_id), serialize(event), {},
                                         std::min(time_until(deadline), options_.publish_timeout));
    if (!ack) {
        if (is(ack.error(), Errc::kNoResponders)) {
            return no_stream();
        }
        return from_error(ack.error(), "publishing the event");
    }
    v1::PublishResponse response;
    response.set_offset(std::to_string(ack->sequence));
    return response;
}

Outcome<v1::PublishToUserResponse> RoomsService::publish_to_user(
    const v1::PublishToUserRequest& request, Deadline deadline) {
    backend::v1::Emit emit;
    switch (request.target_case()) {
        case v1::PublishToUserRequest::kUserId:
            if (auto s = check_user_id(request.user_id()); !s.ok()) {
                return s;
            }
            emit.set_user_id(request.user_id());
            break;
        case v1::PublishToUserRequest::kSocketId:
            if (auto s = check_socket_id(request.socket_id()); !s.ok()) {
                return s;
            }
            emit.set_socket_id(request.socket_id());
            break;
        default:
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "one of user_id and socket_id is required");
    }
    if (auto s = check_event(request.event()); !s.ok()) {
        return s;
    }
    if (auto s = check_namespace(request.namespace_()); !s.ok()) {
        return s;
    }
    std::string data_json;
    if (auto s = normalize_data_json(request.data_json(), data_json); !s.ok()) {
        return s;
    }
    if (auto s = check_deadline(deadline); !s.ok()) {
        return s;
    }
    emit.set_namespace_(request.namespace_().empty() ? "/" : request.namespace_());
    emit.set_event(request.event());
    emit.set_args_json("[" + data_json + "]");
    if (auto r = nats_.publish(contract::kEmitSubject, serialize(emit)); !r) {
        return from_error(r.error(), "publishing the emit");
    }
    // Flushed so that OK means the NATS server has it (edges connected then receive it).
    if (auto r = nats_.flush(time_until(deadline)); !r) {
        return from_error(r.error(), "flushing the emit");
    }
    return v1::PublishToUserResponse();
}

Outcome<v1::HistoryResponse> RoomsService::history(const v1::HistoryRequest& request,
                                                   Deadline deadline) {
    std::optional<std::uint64_t> since;
    std::int32_t limit = 0;
    if (auto s = check_room_id(request.room_id()); !s.ok()) {
        return s;
    }
    if (auto s = parse_since(request.since(), since); !s.ok()) {
        return s;
    }
    if (auto s = check_history_limit(request.limit(), limit); !s.ok()) {
        return s;
    }
    const std::string& room_id = request.room_id();
    if (auto room = require_room(room_id, deadline); !room) {
        return room.error();
    }
    v1::HistoryResponse response;
    if (since && *since == std::numeric_limits<std::uint64_t>::max()) {
        return response;  // nothing can come after the last possible offset
    }
    if (auto s = check_deadline(deadline); !s.ok()) {
        return s;
    }
    auto& js = nats_.jetstream();
    const std::string subject = contract::room_subject(room_id);
    const auto count = static_cast<std::size_t>(limit);
    // Like the edge: `since` is exclusive, so reading starts at the next sequence; without it
    // the latest `limit` events.
    auto stored = since ? js.read_subject(contract::kRoomStream, subject, *since + 1, count,
                                          time_until(deadline))
                        : js.read_last(contract::kRoomStream, subject, count, time_until(deadline));
    if (!stored) {
        if (is(stored.error(), Errc::kNotFound)) {
            return no_stream();
        }
        return from_error(stored.error(), "reading the room's history");
    }
    for (const auto& message : *stored) {
        bus::v1::RoomEvent event;
        if (!event.ParseFromString(message.data)) {
            continue;
        }
        auto data = history_data_json(event);
        if (!data) {
            continue;
        }
        auto* out = response.add_messages();
        out->set_offset(std::to_string(message.sequence));
        out->set_event(event.event());
        out->set_data_json(std::move(*data));
        out->set_from(event.from());
    }
    return response;
}

}  // namespace roomcast::rooms
