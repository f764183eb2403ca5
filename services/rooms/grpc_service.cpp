#include "grpc_service.hpp"

#include "roomcast/grpcutil/grpcutil.hpp"

#include <utility>

namespace roomcast::rooms {

RoomAdminService::RoomAdminService(RoomsService& rooms, natsbus::Connection& nats,
                                   AdminOptions options)
    : rooms_(rooms), nats_(nats), options_(std::move(options)) {}

template <class Request, class Response>
grpc::ServerUnaryReactor* RoomAdminService::run(grpc::CallbackServerContext* context,
                                                const Request* request, Response* response,
                                                Method<Request, Response> method,
                                                std::chrono::milliseconds cap) {
    auto* reactor = context->DefaultReactor();
    if (auto s = grpcutil::authorize(*context, options_.admin_token); !s.ok()) {
        reactor->Finish(s);
        return reactor;
    }
    if (in_flight_.fetch_add(1, std::memory_order_relaxed) >= options_.max_in_flight) {
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
        reactor->Finish({grpc::StatusCode::RESOURCE_EXHAUSTED,
                         "too many admin calls in flight; retry with backoff"});
        return reactor;
    }
    const Deadline deadline = std::chrono::steady_clock::now() + grpcutil::time_left(*context, cap);
    // gRPC keeps `request` and `response` alive until Finish. The closure captures the members
    // it needs rather than `this`: GCC 12's -fsanitize=vptr checks a wrong address for members
    // reached through a captured `this` in this template and crashes the ASan build.
    nats_.run_async(
        [rooms = &rooms_, in_flight = &in_flight_, reactor, request, response, method, deadline] {
            auto outcome = (rooms->*method)(*request, deadline);
            grpc::Status status = grpc::Status::OK;
            if (outcome) {
                *response = std::move(*outcome);
            } else {
                status = std::move(outcome.error());
            }
            // Before Finish: once the last call has finished, the service may be destroyed.
            in_flight->fetch_sub(1, std::memory_order_relaxed);
            reactor->Finish(status);
        });
    return reactor;
}

grpc::ServerUnaryReactor* RoomAdminService::CreateRoom(grpc::CallbackServerContext* context,
                                                       const v1::CreateRoomRequest* request,
                                                       v1::CreateRoomResponse* response) {
    return run(context, request, response, &RoomsService::create_room, options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::GetRoom(grpc::CallbackServerContext* context,
                                                    const v1::GetRoomRequest* request,
                                                    v1::GetRoomResponse* response) {
    return run(context, request, response, &RoomsService::get_room, options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::ListRooms(grpc::CallbackServerContext* context,
                                                      const v1::ListRoomsRequest* request,
                                                      v1::ListRoomsResponse* response) {
    return run(context, request, response, &RoomsService::list_rooms, options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::UpdateRoom(grpc::CallbackServerContext* context,
                                                       const v1::UpdateRoomRequest* request,
                                                       v1::UpdateRoomResponse* response) {
    return run(context, request, response, &RoomsService::update_room, options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::DeleteRoom(grpc::CallbackServerContext* context,
                                                       const v1::DeleteRoomRequest* request,
                                                       v1::DeleteRoomResponse* response) {
    return run(context, request, response, &RoomsService::delete_room, options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::AddMember(grpc::CallbackServerContext* context,
                                                      const v1::AddMemberRequest* request,
                                                      v1::AddMemberResponse* response) {
    return run(context, request, response, &RoomsService::add_member, options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::RemoveMember(grpc::CallbackServerContext* context,
                                                         const v1::RemoveMemberRequest* request,
                                                         v1::RemoveMemberResponse* response) {
    return run(context, request, response, &RoomsService::remove_member,
               options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::ListMembers(grpc::CallbackServerContext* context,
                                                        const v1::ListMembersRequest* request,
                                                        v1::ListMembersResponse* response) {
    return run(context, request, response, &RoomsService::list_members, options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::KickUser(grpc::CallbackServerContext* context,
                                                     const v1::KickUserRequest* request,
                                                     v1::KickUserResponse* response) {
    return run(context, request, response, &RoomsService::kick_user, options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::DisconnectUser(grpc::CallbackServerContext* context,
                                                           const v1::DisconnectUserRequest* request,
                                                           v1::DisconnectUserResponse* response) {
    return run(context, request, response, &RoomsService::disconnect_user,
               options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::Publish(grpc::CallbackServerContext* context,
                                                    const v1::PublishRequest* request,
                                                    v1::PublishResponse* response) {
    return run(context, request, response, &RoomsService::publish, options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::History(grpc::CallbackServerContext* context,
                                                    const v1::HistoryRequest* request,
                                                    v1::HistoryResponse* response) {
    return run(context, request, response, &RoomsService::history, options_.operation_timeout);
}

grpc::ServerUnaryReactor* RoomAdminService::PublishToUser(
    grpc::CallbackServerContext* context, const v1::PublishToUserRequest* request,
    v1::PublishToUserResponse* response) {
    return run(context, request, response, &RoomsService::publish_to_user,
               options_.operation_timeout);
}

}  // namespace roomcast::rooms
