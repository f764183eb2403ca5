#pragma once
// The rooms service's logic: the room registry, membership, and actions on live rooms, over
// NATS (KV bucket roomcast_rooms, subject roomcast.control, stream ROOMCAST_ROOMS). The wiring
// is docs/control-plane.md; the API is proto/roomcast/rooms/v1/rooms.proto.
//
// A plain class: a test constructs it with a NATS connection and a bucket, no gRPC server. Each
// method validates its request first (INVALID_ARGUMENT, validation.hpp), then reads and writes
// NATS, and returns the response or a grpc::Status: the one place where natsbus errors become
// statuses (through grpcutil::from_error) is here.
//
// Threading: methods block on NATS round trips, so they run on the natsbus worker pool (the
// gRPC adapter, grpc_service.hpp, hops there), never on a gRPC or NATS delivery thread. They are
// thread-safe: the only state is in NATS, and concurrent writers are resolved by KV create and
// compare-and-set. Deadlines: every method takes the call's deadline and checks it before each
// NATS step (DEADLINE_EXCEEDED once it has passed); publishes, flushes and stream reads wait at
// most the time left. A single KV request still waits up to natsbus' own bound (5 s).
//
// Ownership: borrows the Connection and the KeyValue, which must outlive it.
//
// Listing (ListRooms, ListMembers) reads the matching keys of the bucket (ListRooms: every room
// key, since base64url keys do not preserve id prefixes), sorts the ids and reads the values of
// one page. That is O(rooms) per page: fine for an admin API, not for a hot path.

#include "roomcast/bus/v1/bus.pb.h"
#include "roomcast/natsbus/natsbus.hpp"
#include "roomcast/rooms/v1/rooms.pb.h"

#include <grpcpp/support/status.h>
#include <boost/system/result.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace roomcast::rooms {

// The API types live in roomcast::rooms::v1, so `v1::` names them inside this namespace.

template <class T>
using Outcome = boost::system::result<T, grpc::Status>;

using Deadline = std::chrono::steady_clock::time_point;

// The bucket, the stream and the subjects are the bus contract's (libs/contract): the bucket is
// opened with contract::rooms_bucket().
struct RoomsOptions {
    // Compare-and-set attempts (UpdateRoom, AddMember) before a conflict is reported as
    // ABORTED: bounds the work a write storm on one key can cause.
    int cas_attempts = 5;
    // Longest wait for a Publish's PubAck (within the call's deadline).
    std::chrono::milliseconds publish_timeout{5000};
};

class RoomsService {
public:
    // `kv`: roomcast_rooms; `revocations`: roomcast_revocations.
    RoomsService(natsbus::Connection& nats, natsbus::KeyValue& kv, natsbus::KeyValue& revocations,
                 RoomsOptions options = {});

    Outcome<v1::CreateRoomResponse> create_room(const v1::CreateRoomRequest& request,
                                                Deadline deadline);
    Outcome<v1::GetRoomResponse> get_room(const v1::GetRoomRequest& request, Deadline deadline);
    Outcome<v1::ListRoomsResponse> list_rooms(const v1::ListRoomsRequest& request,
                                              Deadline deadline);
    Outcome<v1::UpdateRoomResponse> update_room(const v1::UpdateRoomRequest& request,
                                                Deadline deadline);
    Outcome<v1::DeleteRoomResponse> delete_room(const v1::DeleteRoomRequest& request,
                                                Deadline deadline);
    Outcome<v1::AddMemberResponse> add_member(const v1::AddMemberRequest& request,
                                              Deadline deadline);
    Outcome<v1::RemoveMemberResponse> remove_member(const v1::RemoveMemberRequest& request,
                                                    Deadline deadline);
    Outcome<v1::ListMembersResponse> list_members(const v1::ListMembersRequest& request,
                                                  Deadline deadline);
    Outcome<v1::KickUserResponse> kick_user(const v1::KickUserRequest& request, Deadline deadline);
    Outcome<v1::DisconnectUserResponse> disconnect_user(const v1::DisconnectUserRequest& request,
                                                        Deadline deadline);
    Outcome<v1::PublishResponse> publish(const v1::PublishRequest& request, Deadline deadline);
    // Emits to every socket of a user, or to one socket, on every edge (roomcast.emit): not
    // stored, so a socket not connected at that moment never receives it.
    Outcome<v1::PublishToUserResponse> publish_to_user(const v1::PublishToUserRequest& request,
                                                       Deadline deadline);
    Outcome<v1::HistoryResponse> history(const v1::HistoryRequest& request, Deadline deadline);

    // An edge's auto-create request (auto_create.hpp): creates `room_id` PUBLIC with
    // auto_created set unless it exists. OK when the room exists afterwards and is PUBLIC;
    // INVALID_ARGUMENT for an invalid id, PERMISSION_DENIED for an existing PRIVATE room. The
    // edge has checked its --auto-create-prefixes; edges may not write the bucket themselves.
    grpc::Status auto_create_room(const std::string& room_id, Deadline deadline);

    // The idle sweep's delete (idle_sweep.hpp): DeleteRoom of `room_id` as it was at `revision`,
    // the revision the sweep judged it idle at. FAILED_PRECONDITION when the room record changed
    // since (UpdateRoom, or deleted and auto-created again), NOT_FOUND when it is gone already
    // (another replica swept it): either way nothing is deleted.
    grpc::Status delete_idle_room(const std::string& room_id, std::uint64_t revision,
                                  Deadline deadline);

private:
    template <class T>
    struct Stored {
        T value;
        std::uint64_t revision = 0;
    };

    // nullopt when the room does not exist.
    Outcome<std::optional<Stored<v1::Room>>> load_room(const std::string& room_id);
    // NOT_FOUND when the room does not exist.
    Outcome<Stored<v1::Room>> require_room(const std::string& room_id, Deadline deadline);
    Outcome<std::optional<Stored<v1::Member>>> load_member(const std::string& room_id,
                                                           const std::string& user_id);
    // Erases every member key of the room. With `honour_deadline` false it finishes even past
    // the deadline (used once the room key is gone, when leftovers would be orphans).
    grpc::Status erase_members(const std::string& room_id, Deadline deadline, bool honour_deadline);
    // DeleteRoom: members, the room, a revocation for sessions away, a kick of everyone
    // present. With `expected_revision`, only the room as it was at that revision.
    grpc::Status remove_room(const std::string& room_id,
                             std::optional<std::uint64_t> expected_revision, Deadline deadline);
    // Publishes on roomcast.control and flushes, so the edges have it when the call returns.
    grpc::Status publish_control(const bus::v1::Control& control, Deadline deadline);
    // Records a lost right for sessions away at this moment (roomcast_revocations).
    grpc::Status revoke(const std::string& key, const std::string& reason, std::int64_t at_ms);

    natsbus::Connection& nats_;
    natsbus::KeyValue& kv_;
    natsbus::KeyValue& revocations_;
    RoomsOptions options_;
};

}  // namespace roomcast::rooms
