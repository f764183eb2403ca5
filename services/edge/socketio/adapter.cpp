#include "socketio/adapter.hpp"

#include "socketio/server.hpp"

#include "roomcast/transport/shard.hpp"

#include <boost/asio/post.hpp>

namespace roomcast::sio {

namespace asio = boost::asio;
using transport::OutMessagePtr;

// A socket as the local index knows it: its memberships and the broadcast mark.
struct LocalAdapter::Member final : AdapterSocket {
    explicit Member(Socket& s) : socket(&s) {}
    std::vector<RoomIndex<Member>::Membership>& memberships() noexcept { return rooms; }

    Socket* socket;
    std::vector<RoomIndex<Member>::Membership> rooms;
    std::uint64_t mark = 0;  // broadcast de-duplication, see deliver()
};

struct LocalAdapter::Shard {
    RoomIndex<Member> rooms;
    std::uint64_t mark_counter = 0;
};

LocalAdapter::LocalAdapter(Namespace& nsp) : nsp_(nsp) {
    for (unsigned i = 0; i < nsp.server().shards().size(); ++i) {
        shards_.push_back(std::make_unique<Shard>());
    }
}

LocalAdapter::~LocalAdapter() = default;

LocalAdapter::Member* LocalAdapter::member_of(const Socket& socket) const noexcept {
    // The slot holds a Member whenever this adapter put something there.
    return static_cast<Member*>(const_cast<AdapterSocket*>(socket.adapter_slot()));
}

LocalAdapter::Member& LocalAdapter::member_for(Socket& socket) {
    auto& slot = socket.adapter_slot();
    if (!slot) {
        slot = std::make_unique<Member>(socket);
    }
    return static_cast<Member&>(*slot);
}

void LocalAdapter::join(Socket& socket, std::string_view room) {
    shards_[socket.shard().index()]->rooms.join(member_for(socket), room);
}

void LocalAdapter::leave(Socket& socket, std::string_view room) {
    if (Member* m = member_of(socket)) {
        shards_[socket.shard().index()]->rooms.leave(*m, room);
    }
}

void LocalAdapter::leave_all(Socket& socket, DisconnectReason /*reason*/) {
    if (Member* m = member_of(socket)) {
        shards_[socket.shard().index()]->rooms.leave_all(*m);
    }
}

std::vector<std::string> LocalAdapter::rooms(const Socket& socket) const {
    std::vector<std::string> out;
    if (const Member* m = member_of(socket)) {
        out.reserve(m->rooms.size());
        for (const auto& ms : m->rooms) {
            out.push_back(ms.room->name);
        }
    }
    return out;
}

std::size_t LocalAdapter::room_count(unsigned shard) const noexcept {
    return shards_[shard]->rooms.room_count();
}

std::vector<Socket*> LocalAdapter::members(unsigned shard, std::string_view room) const {
    std::vector<Socket*> out;
    if (const auto* members = shards_[shard]->rooms.members(room)) {
        out.reserve(members->size());
        for (const Member* m : *members) {
            out.push_back(m->socket);
        }
    }
    return out;
}

std::size_t LocalAdapter::deliver(unsigned shard, const OutMessagePtr& message,
                                  const BroadcastTarget& target) {
    auto& st = *shards_[shard];
    const auto& sockets = nsp_.shard_state(shard).sockets;
    // Marks instead of a set: a socket in several target rooms gets the message once, and
    // excluded sockets are skipped, with no allocation per broadcast. Sockets that never joined
    // a room have no Member (no mark): they can only be named by id, which is checked directly.
    std::uint64_t excluded = 0;
    std::vector<const Socket*> excluded_ids;
    if (!target.except.empty()) {
        excluded = ++st.mark_counter;
        for (const auto& room : target.except) {
            if (const auto* members = st.rooms.members(room)) {
                for (Member* m : *members) {
                    m->mark = excluded;
                }
            }
            if (const auto it = sockets.find(room); it != sockets.end()) {
                excluded_ids.push_back(it->second);
            }
        }
    }
    const std::uint64_t sent = ++st.mark_counter;
    std::size_t count = 0;
    auto deliver_to = [&](Socket* s) {
        Member* m = member_of(*s);
        if (m != nullptr && ((excluded != 0 && m->mark == excluded) || m->mark == sent)) {
            return;
        }
        for (const Socket* x : excluded_ids) {
            if (x == s) {
                return;
            }
        }
        if (m != nullptr) {
            m->mark = sent;
        }
        count += s->send(message, target.is_volatile ? engineio::Delivery::kVolatile
                                                       : engineio::Delivery::kReliable)
                     ? 1
                     : 0;
    };
    if (target.rooms.empty()) {
        for (const auto& [id, s] : sockets) {
            deliver_to(s);
        }
    } else {
        for (const auto& room : target.rooms) {
            if (const auto* members = st.rooms.members(room)) {
                for (Member* m : *members) {
                    deliver_to(m->socket);
                }
            } else if (const auto it = sockets.find(room); it != sockets.end()) {
                // A socket id as a room: that socket alone (at most once: it has no Member
                // mark when it never joined a room, so ids named twice are deduplicated here).
                Socket* s = it->second;
                Member* m = member_of(*s);
                if (m == nullptr) {
                    bool named_before = false;
                    for (std::size_t i = 0; i < target.rooms.size() && &target.rooms[i] != &room; ++i) {
                        named_before = named_before || target.rooms[i] == room;
                    }
                    if (named_before) {
                        continue;
                    }
                }
                deliver_to(s);
            }
        }
    }
    nsp_.shard_state(shard).deliveries.add(count);
    return count;
}

void LocalAdapter::broadcast(const BroadcastTarget& target, std::string_view event,
                             const Args& args) {
    auto message = encode_event(nsp_.name(), event, args);
    auto shared_target = std::make_shared<const BroadcastTarget>(target);
    auto& shards = nsp_.server().shards();
    for (unsigned i = 0; i < shards.size(); ++i) {
        if (transport::Shard::current() == &shards.shard(i)) {
            deliver(i, message, *shared_target);
            continue;
        }
        asio::post(shards.shard(i).ioc(), [this, i, message, shared_target] {
            deliver(i, message, *shared_target);
        });
    }
}

}  // namespace roomcast::sio
