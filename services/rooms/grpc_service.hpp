#pragma once
// roomcast.rooms.v1.RoomAdmin over gRPC's callback API: a thin adapter around RoomsService.
//
// Each method checks the admin bearer token on the gRPC thread (UNAUTHENTICATED before
// anything else), caps the calls in flight, computes the call's deadline (time_left, capped),
// then runs the blocking RoomsService method on the natsbus worker pool and finishes the
// reactor from there: gRPC threads never block on NATS.
//
// Thread-safety: all methods may run concurrently. Ownership: borrows the RoomsService and the
// Connection (whose worker pool runs the calls); both must outlive the gRPC server, and the
// server must be shut down before the Connection: work handed to a closed pool is dropped and
// its call would never finish.

#include "rooms_service.hpp"

#include "roomcast/rooms/v1/rooms.grpc.pb.h"

#include <atomic>
#include <chrono>
#include <string>

namespace roomcast::rooms {

struct AdminOptions {
    // The bearer token every method requires (compared in constant time). Never logged.
    std::string admin_token;
    // Longest time a call may take, whatever the client's deadline: bounds the work a
    // client without a deadline can cause.
    std::chrono::milliseconds operation_timeout{10000};
    // Calls running or queued for the worker pool; more are refused with RESOURCE_EXHAUSTED so
    // a burst cannot queue unbounded work behind blocking NATS calls.
    int max_in_flight = 256;
};

class RoomAdminService final : public v1::RoomAdmin::CallbackService {
public:
    RoomAdminService(RoomsService& rooms, natsbus::Connection& nats, AdminOptions options);

    grpc::ServerUnaryReactor* CreateRoom(grpc::CallbackServerContext* context,
                                         const v1::CreateRoomRequest* request,
                                         v1::CreateRoomResponse* response) override;
    grpc::ServerUnaryReactor* GetRoom(grpc::CallbackServerContext* context,
                                      const v1::GetRoomRequest* request,
                                      v1::GetRoomResponse* response) override;
    grpc::ServerUnaryReactor* ListRooms(grpc::CallbackServerContext* context,
                                        const v1::ListRoomsRequest* request,
                                        v1::ListRoomsResponse* response) override;
    grpc::ServerUnaryReactor* UpdateRoom(grpc::CallbackServerContext* context,
                                         const v1::UpdateRoomRequest* request,
                                         v1::UpdateRoomResponse* response) override;
    grpc::ServerUnaryReactor* DeleteRoom(grpc::CallbackServerContext* context,
                                         const v1::DeleteRoomRequest* request,
                                         v1::DeleteRoomResponse* response) override;
    grpc::ServerUnaryReactor* AddMember(grpc::CallbackServerContext* context,
                                        const v1::AddMemberRequest* request,
                                        v1::AddMemberResponse* response) override;
    grpc::ServerUnaryReactor* RemoveMember(grpc::CallbackServerContext* context,
                                           const v1::RemoveMemberRequest* request,
                                           v1::RemoveMemberResponse* response) override;
    grpc::ServerUnaryReactor* ListMembers(grpc::CallbackServerContext* context,
                                          const v1::ListMembersRequest* request,
                                          v1::ListMembersResponse* response) override;
    grpc::ServerUnaryReactor* KickUser(grpc::CallbackServerContext* context,
                                       const v1::KickUserRequest* request,
                                       v1::KickUserResponse* response) override;
    grpc::ServerUnaryReactor* DisconnectUser(grpc::CallbackServerContext* context,
                                             const v1::DisconnectUserRequest* request,
                                             v1::DisconnectUserResponse* response) override;
    grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                      const v1::PublishRequest* request,
                                      v1::PublishResponse* response) override;
    grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                      const v1::HistoryRequest* request,
                                      v1::HistoryResponse* response) override;
    grpc::ServerUnaryReactor* PublishToUser(grpc::CallbackServerContext* context,
                                            const v1::PublishToUserRequest* request,
                                            v1::PublishToUserResponse* response) override;

private:
    template <class Request, class Response>
    using Method = Outcome<Response> (RoomsService::*)(const Request&, Deadline);

    template <class Request, class Response>
    grpc::ServerUnaryReactor* run(grpc::CallbackServerContext* context, const Request* request,
                                  Response* response, Method<Request, Response> method,
                                  std::chrono::milliseconds cap);

    RoomsService& rooms_;
    natsbus::Connection& nats_;
    AdminOptions options_;
    std::atomic<int> in_flight_{0};
};

}  // namespace roomcast::rooms
