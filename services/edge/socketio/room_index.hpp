#pragma once
// One shard's room index for one namespace: room → members (a dense vector, so fan-out walks
// contiguous memory) and member → rooms (each entry remembers the member's position in the
// room, so leaving is an O(1) swap-remove plus a scan of the moved member's few rooms).
//
// Member must provide `std::vector<RoomIndex<Member, Info>::Membership>& memberships()`. Each
// membership carries an `Info` value (the room fabric keeps the join offset there; nothing by
// default).
// Thread-safety: owned by one shard thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace roomcast::sio {

struct NoInfo {};

template <class Member, class Info = NoInfo>
class RoomIndex {
public:
    struct Room {
        std::string name;
        std::vector<Member*> members;
    };
    struct Membership {
        Room* room;
        std::uint32_t index;  // position of the member in room->members
        [[no_unique_address]] Info info;
    };

    // Returns true when `m` was not in `room` before (an existing membership keeps its info).
    bool join(Member& m, std::string_view room, Info info = {}) {
        auto& list = m.memberships();
        for (const auto& ms : list) {
            if (ms.room->name == room) {
                return false;
            }
        }
        auto it = rooms_.find(room);
        if (it == rooms_.end()) {
            auto r = std::make_unique<Room>();
            r->name = std::string(room);
            it = rooms_.emplace(r->name, std::move(r)).first;
        }
        Room* r = it->second.get();
        list.push_back(Membership{r, static_cast<std::uint32_t>(r->members.size()), std::move(info)});
        r->members.push_back(&m);
        return true;
    }

    // Returns true when `m` was in `room`.
    bool leave(Member& m, std::string_view room) {
        auto& list = m.memberships();
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (list[i].room->name == room) {
                remove_at(m, i);
                return true;
            }
        }
        return false;
    }

    // `m`'s membership of `room`, or nullptr.
    static Membership* find(Member& m, std::string_view room) {
        for (auto& ms : m.memberships()) {
            if (ms.room->name == room) {
                return &ms;
            }
        }
        return nullptr;
    }

    void leave_all(Member& m) {
        auto& list = m.memberships();
        while (!list.empty()) {
            remove_at(m, list.size() - 1);
        }
    }

    // Members of `room`, or nullptr when the room is empty / unknown.
    const std::vector<Member*>* members(std::string_view room) const {
        const auto it = rooms_.find(room);
        return it == rooms_.end() ? nullptr : &it->second->members;
    }

    std::size_t room_count() const noexcept { return rooms_.size(); }

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };

    void remove_at(Member& m, std::size_t membership) {
        auto& list = m.memberships();
        Room* r = list[membership].room;
        const std::uint32_t pos = list[membership].index;
        Member* last = r->members.back();
        r->members[pos] = last;
        r->members.pop_back();
        if (last != &m) {
            for (auto& ms : last->memberships()) {
                if (ms.room == r) {
                    ms.index = pos;
                    break;
                }
            }
        }
        list[membership] = list.back();
        list.pop_back();
        if (r->members.empty()) {
            // Erase by iterator: the key lives inside the node being destroyed.
            rooms_.erase(rooms_.find(std::string_view(r->name)));
        }
    }

    std::unordered_map<std::string, std::unique_ptr<Room>, Hash, std::equal_to<>> rooms_;
};

}  // namespace roomcast::sio
