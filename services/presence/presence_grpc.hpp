#pragma once
// roomcast.presence.v1.Presence over gRPC (callback API): the admin bearer on every method,
// request validation, and the mapping of PresenceService answers to responses. Unary methods
// finish from the service's strand (no gRPC thread waits); WatchPresence is a server-streaming
// reactor that deletes itself in OnDone.
//
// Thread-safety: gRPC calls the methods concurrently; the class holds no mutable state of its
// own. It borrows the PresenceService, which must outlive the gRPC server.

#include "presence_service.hpp"

#include "roomcast/presence/v1/presence.grpc.pb.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace roomcast::presence {

struct GrpcLimits {
    // Batches queued behind the write in flight of one WatchPresence stream. A watcher further
    // behind is dropped with RESOURCE_EXHAUSTED: its memory stays bounded and it cannot slow
    // anyone else. 64 batches are 16 s of changes at the default 250 ms.
    std::size_t watch_queue_limit = 64;
    // GetPresence page_size: 0 means the default; above the maximum is INVALID_ARGUMENT.
    std::int32_t default_page_size = 100;
    std::int32_t max_page_size = 1000;
};

class PresenceGrpc final : public v1::Presence::CallbackService {
public:
    PresenceGrpc(PresenceService& service, std::string admin_token, GrpcLimits limits = {});

    grpc::ServerUnaryReactor* GetPresence(grpc::CallbackServerContext* context,
                                          const v1::GetPresenceRequest* request,
                                          v1::GetPresenceResponse* response) override;
    grpc::ServerUnaryReactor* GetPresenceStats(grpc::CallbackServerContext* context,
                                               const v1::GetPresenceStatsRequest* request,
                                               v1::GetPresenceStatsResponse* response) override;
    grpc::ServerWriteReactor<v1::PresenceEvent>* WatchPresence(
        grpc::CallbackServerContext* context, const v1::WatchPresenceRequest* request) override;
    grpc::ServerUnaryReactor* ListLiveRooms(grpc::CallbackServerContext* context,
                                            const v1::ListLiveRoomsRequest* request,
                                            v1::ListLiveRoomsResponse* response) override;
    grpc::ServerUnaryReactor* ListEdges(grpc::CallbackServerContext* context,
                                        const v1::ListEdgesRequest* request,
                                        v1::ListEdgesResponse* response) override;

private:
    // OK, or the status that refuses a call on `room`: the room id, then readiness.
    grpc::Status admit(const std::string& room) const;
    // OK, or INVALID_ARGUMENT for a page size out of range or a token this service did not
    // issue; `after` gets the token's key and `size` the page size.
    grpc::Status page_of(std::int32_t page_size, const std::string& page_token, std::string& after,
                         std::size_t& size) const;

    PresenceService& service_;
    std::string admin_token_;
    GrpcLimits limits_;
};

}  // namespace roomcast::presence
