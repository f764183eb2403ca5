#include "presence_grpc.hpp"

#include "encodings.hpp"

#include "roomcast/contract/ids.hpp"
#include "roomcast/grpcutil/grpcutil.hpp"

#include <deque>
#include <memory>
#include <mutex>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace roomcast::presence {
namespace {

// gRPC orders a reactor's creation, and every operation started on it, before the reactions that
// follow (OnSendInitialMetadataDone, OnWriteDone, OnCancel, OnDone). That ordering lives inside
// libgrpc, which distributions ship uninstrumented, so ThreadSanitizer cannot see it. These two
// state it to TSan (and compile to nothing otherwise): the reactor releases before it hands
// control to gRPC and acquires at the start of every reaction, so a race within our own reaction
// code is still reported.
inline void release_to_grpc([[maybe_unused]] void* reactor) {
#if defined(__SANITIZE_THREAD__)
    __tsan_release(reactor);
#endif
}
inline void acquire_from_grpc([[maybe_unused]] void* reactor) {
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(reactor);
#endif
}

grpc::Status unavailable(std::string message) {
    return {grpc::StatusCode::UNAVAILABLE, std::move(message)};
}

// A WatchPresence call refused before it started: finishes at once.
class RefusedWatch final : public grpc::ServerWriteReactor<v1::PresenceEvent> {
public:
    explicit RefusedWatch(grpc::Status status) {
        release_to_grpc(this);
        Finish(std::move(status));
    }
    void OnDone() override {
        acquire_from_grpc(this);
        delete this;
    }
};

// One WatchPresence stream. The service delivers batches through a Link (shared with its
// registry); the reactor writes them one at a time from a bounded queue.
//
// Lifetime: gRPC owns the reactor until OnDone, which detaches the Link (under its mutex, so no
// delivery is then inside the reactor), unregisters it and deletes the reactor. Locks: Link::mu
// then mu_, never the reverse; gRPC reactions are not run inline from StartWrite or Finish, so
// calling them under mu_ cannot re-enter.
class WatchReactor final : public grpc::ServerWriteReactor<v1::PresenceEvent> {
public:
    WatchReactor(PresenceService& service, std::string room, std::size_t queue_limit)
        : service_(service), queue_limit_(queue_limit) {
        // Held through registration: a batch delivered meanwhile waits until the stream is set up.
        std::lock_guard lock(mu_);
        link_ = std::make_shared<Link>(this);
        id_ = service_.add_watcher(std::move(room), link_);
        if (!id_) {
            finish_locked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                       "too many presence watchers, or the replica is stopping"));
            return;
        }
        // The client learns from the initial metadata that every later change reaches it.
        release_to_grpc(this);
        StartSendInitialMetadata();
    }

    void OnSendInitialMetadataDone(bool ok) override {
        acquire_from_grpc(this);
        std::lock_guard lock(mu_);
        if (!ok) {
            finish_locked(grpc::Status::CANCELLED);
            return;
        }
        metadata_sent_ = true;
        write_next_locked();
    }

    void OnWriteDone(bool ok) override {
        acquire_from_grpc(this);
        std::lock_guard lock(mu_);
        writing_.reset();
        if (!ok) {
            finish_locked(grpc::Status::CANCELLED);  // the client went away
            return;
        }
        write_next_locked();
    }

    void OnCancel() override {
        acquire_from_grpc(this);
        std::lock_guard lock(mu_);
        finish_locked(grpc::Status::CANCELLED);
    }

    void OnDone() override {
        acquire_from_grpc(this);
        {
            std::lock_guard lock(link_->mu);
            link_->reactor = nullptr;
        }
        if (id_) {
            service_.remove_watcher(*id_);
        }
        delete this;
    }

private:
    struct Link final : PresenceWatcher {
        explicit Link(WatchReactor* r) : reactor(r) {}
        void on_event(const std::shared_ptr<const v1::PresenceEvent>& event) override {
            std::lock_guard lock(mu);
            if (reactor != nullptr) {
                reactor->push(event);
            }
        }
        void on_close() override {
            std::lock_guard lock(mu);
            if (reactor != nullptr) {
                std::lock_guard inner(reactor->mu_);
                reactor->finish_locked(unavailable("presence replica shutting down"));
            }
        }
        std::mutex mu;
        WatchReactor* reactor;
    };

    void push(const std::shared_ptr<const v1::PresenceEvent>& event) {
        std::lock_guard lock(mu_);
        if (finished_) {
            return;
        }
        if (queue_.size() >= queue_limit_) {
            // Finish while a write may still be in flight (allowed): a reading client gets that
            // write and then the status; one that stopped reading holds one message until its
            // call ends, not a growing queue.
            queue_.clear();
            finish_locked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                       "presence watcher too slow: changes dropped"));
            return;
        }
        queue_.push_back(event);
        write_next_locked();
    }

    void write_next_locked() {
        if (finished_ || writing_ || !metadata_sent_ || queue_.empty()) {
            return;
        }
        writing_ = std::move(queue_.front());
        queue_.pop_front();
        release_to_grpc(this);
        StartWrite(writing_.get());
    }

    void finish_locked(grpc::Status status) {
        if (finished_) {
            return;
        }
        finished_ = true;
        queue_.clear();
        release_to_grpc(this);
        Finish(std::move(status));
    }

    PresenceService& service_;
    const std::size_t queue_limit_;
    std::shared_ptr<Link> link_;
    std::optional<PresenceService::WatchId> id_;

    std::mutex mu_;
    std::deque<std::shared_ptr<const v1::PresenceEvent>> queue_;
    // The message of the write in flight: gRPC reads it until OnWriteDone.
    std::shared_ptr<const v1::PresenceEvent> writing_;
    bool metadata_sent_ = false;
    bool finished_ = false;
};

}  // namespace

PresenceGrpc::PresenceGrpc(PresenceService& service, std::string admin_token, GrpcLimits limits)
    : service_(service), admin_token_(std::move(admin_token)), limits_(limits) {}

grpc::Status PresenceGrpc::admit(const std::string& room) const {
    if (!contract::valid_room_id(room)) {
        return grpcutil::invalid_argument("room_id must match " +
                                          std::string(contract::kRoomIdPattern));
    }
    if (!service_.loaded()) {
        return unavailable("presence state is still loading");
    }
    return grpc::Status::OK;
}

grpc::ServerUnaryReactor* PresenceGrpc::GetPresence(grpc::CallbackServerContext* context,
                                                    const v1::GetPresenceRequest* request,
                                                    v1::GetPresenceResponse* response) {
    auto* reactor = context->DefaultReactor();
    if (auto st = grpcutil::authorize(*context, admin_token_); !st.ok()) {
        reactor->Finish(st);
        return reactor;
    }
    if (!contract::valid_room_id(request->room_id())) {
        reactor->Finish(admit(request->room_id()));
        return reactor;
    }
    std::string after;
    std::size_t size = 0;
    if (auto st = page_of(request->page_size(), request->page_token(), after, size); !st.ok()) {
        reactor->Finish(st);
        return reactor;
    }
    if (auto st = admit(request->room_id()); !st.ok()) {
        reactor->Finish(st);
        return reactor;
    }
    const bool posted = service_.get_page(
        request->room_id(), std::move(after), size, [reactor, response](Page page) {
            response->set_clients(page.totals.clients);
            response->set_users_total(page.totals.users);
            for (auto& u : page.users) {
                auto* out = response->add_users();
                out->set_id(std::move(u.id));
                out->set_name(std::move(u.name));
                out->set_sockets(u.sockets);
            }
            if (page.more && response->users_size() > 0) {
                response->set_next_page_token(
                    encode_page_token(response->users(response->users_size() - 1).id()));
            }
            reactor->Finish(grpc::Status::OK);
        });
    if (!posted) {
        reactor->Finish(unavailable("presence replica stopping"));
    }
    return reactor;
}

grpc::ServerUnaryReactor* PresenceGrpc::GetPresenceStats(grpc::CallbackServerContext* context,
                                                         const v1::GetPresenceStatsRequest* request,
                                                         v1::GetPresenceStatsResponse* response) {
    auto* reactor = context->DefaultReactor();
    if (auto st = grpcutil::authorize(*context, admin_token_); !st.ok()) {
        reactor->Finish(st);
        return reactor;
    }
    if (auto st = admit(request->room_id()); !st.ok()) {
        reactor->Finish(st);
        return reactor;
    }
    const bool posted = service_.get_totals(request->room_id(), [reactor, response](RoomTotals t) {
        response->set_clients(t.clients);
        response->set_users(t.users);
        reactor->Finish(grpc::Status::OK);
    });
    if (!posted) {
        reactor->Finish(unavailable("presence replica stopping"));
    }
    return reactor;
}

grpc::ServerWriteReactor<v1::PresenceEvent>* PresenceGrpc::WatchPresence(
    grpc::CallbackServerContext* context, const v1::WatchPresenceRequest* request) {
    if (auto st = grpcutil::authorize(*context, admin_token_); !st.ok()) {
        return new RefusedWatch(std::move(st));
    }
    if (auto st = admit(request->room_id()); !st.ok()) {
        return new RefusedWatch(std::move(st));
    }
    return new WatchReactor(service_, request->room_id(), limits_.watch_queue_limit);
}

grpc::Status PresenceGrpc::page_of(std::int32_t page_size, const std::string& page_token,
                                   std::string& after, std::size_t& size) const {
    if (page_size < 0 || page_size > limits_.max_page_size) {
        return grpcutil::invalid_argument("page_size must be 0 (default " +
                                          std::to_string(limits_.default_page_size) + ") to " +
                                          std::to_string(limits_.max_page_size));
    }
    if (!page_token.empty()) {
        auto decoded = decode_page_token(page_token);
        if (!decoded) {
            return grpcutil::invalid_argument("page_token is not one this service issued");
        }
        after = std::move(*decoded);
    }
    size = static_cast<std::size_t>(page_size == 0 ? limits_.default_page_size : page_size);
    return grpc::Status::OK;
}

grpc::ServerUnaryReactor* PresenceGrpc::ListLiveRooms(grpc::CallbackServerContext* context,
                                                      const v1::ListLiveRoomsRequest* request,
                                                      v1::ListLiveRoomsResponse* response) {
    auto* reactor = context->DefaultReactor();
    if (auto st = grpcutil::authorize(*context, admin_token_); !st.ok()) {
        reactor->Finish(st);
        return reactor;
    }
    // A prefix longer than any room id matches nothing; refusing it keeps the input capped.
    if (request->prefix().size() > contract::kMaxRoomIdBytes) {
        reactor->Finish(grpcutil::invalid_argument("prefix is longer than any room id"));
        return reactor;
    }
    std::string after;
    std::size_t size = 0;
    if (auto st = page_of(request->page_size(), request->page_token(), after, size); !st.ok()) {
        reactor->Finish(st);
        return reactor;
    }
    if (!service_.loaded()) {
        reactor->Finish(unavailable("presence state is still loading"));
        return reactor;
    }
    const bool posted = service_.get_live_rooms(
        request->prefix(), std::move(after), size, [reactor, response](LiveRoomsPage page) {
            for (auto& room : page.rooms) {
                auto* out = response->add_rooms();
                out->set_room_id(std::move(room.id));
                out->set_clients(room.totals.clients);
                out->set_users(room.totals.users);
            }
            if (page.more && response->rooms_size() > 0) {
                response->set_next_page_token(
                    encode_page_token(response->rooms(response->rooms_size() - 1).room_id()));
            }
            reactor->Finish(grpc::Status::OK);
        });
    if (!posted) {
        reactor->Finish(unavailable("presence replica stopping"));
    }
    return reactor;
}

grpc::ServerUnaryReactor* PresenceGrpc::ListEdges(grpc::CallbackServerContext* context,
                                                  const v1::ListEdgesRequest* request,
                                                  v1::ListEdgesResponse* response) {
    auto* reactor = context->DefaultReactor();
    if (auto st = grpcutil::authorize(*context, admin_token_); !st.ok()) {
        reactor->Finish(st);
        return reactor;
    }
    std::string after;
    std::size_t size = 0;
    if (auto st = page_of(request->page_size(), request->page_token(), after, size); !st.ok()) {
        reactor->Finish(st);
        return reactor;
    }
    if (!service_.loaded()) {
        reactor->Finish(unavailable("presence state is still loading"));
        return reactor;
    }
    const bool posted =
        service_.get_edges(std::move(after), size, [reactor, response](EdgesPage page) {
            for (auto& edge : page.edges) {
                auto* out = response->add_edges();
                out->set_id(std::move(edge.id));
                out->set_connections(edge.connections);
                out->set_rooms(edge.rooms);
                out->set_version(std::move(edge.version));
                out->set_draining(edge.draining);
                out->set_last_seen_ms(edge.last_seen_ms);
                out->set_alive(edge.alive);
            }
            if (page.more && response->edges_size() > 0) {
                response->set_next_page_token(
                    encode_page_token(response->edges(response->edges_size() - 1).id()));
            }
            reactor->Finish(grpc::Status::OK);
        });
    if (!posted) {
        reactor->Finish(unavailable("presence replica stopping"));
    }
    return reactor;
}

}  // namespace roomcast::presence
