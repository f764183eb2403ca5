#include "socketio/room_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace roomcast::sio {
namespace {

struct Member {
    int id = 0;
    std::vector<RoomIndex<Member>::Membership> ms;
    std::vector<RoomIndex<Member>::Membership>& memberships() { return ms; }
};

std::set<int> ids(const std::vector<Member*>* members) {
    std::set<int> out;
    if (members != nullptr) {
        for (auto* m : *members) {
            out.insert(m->id);
        }
    }
    return out;
}

TEST(RoomIndex, JoinLeaveAndEmptyRoomsDisappear) {
    RoomIndex<Member> index;
    Member a{1}, b{2}, c{3};
    EXPECT_TRUE(index.join(a, "r1"));
    EXPECT_FALSE(index.join(a, "r1"));
    EXPECT_TRUE(index.join(b, "r1"));
    EXPECT_TRUE(index.join(c, "r2"));
    EXPECT_EQ(ids(index.members("r1")), (std::set<int>{1, 2}));
    EXPECT_EQ(index.room_count(), 2u);
    EXPECT_TRUE(index.leave(a, "r1"));
    EXPECT_FALSE(index.leave(a, "r1"));
    EXPECT_EQ(ids(index.members("r1")), (std::set<int>{2}));
    index.leave_all(c);
    EXPECT_EQ(index.members("r2"), nullptr);
    EXPECT_EQ(index.room_count(), 1u);
}

// Random joins and leaves against a reference model: positions stay consistent after every
// swap-remove.
TEST(RoomIndex, MatchesAReferenceModelUnderRandomChurn) {
    RoomIndex<Member> index;
    std::vector<Member> members(50);
    for (int i = 0; i < 50; ++i) {
        members[i].id = i;
    }
    std::map<std::string, std::set<int>> model;
    std::mt19937 rng(42);
    for (int step = 0; step < 20000; ++step) {
        Member& m = members[rng() % members.size()];
        const std::string room = "room" + std::to_string(rng() % 8);
        switch (rng() % 3) {
            case 0:
                EXPECT_EQ(index.join(m, room), model[room].insert(m.id).second);
                break;
            case 1:
                EXPECT_EQ(index.leave(m, room), model[room].erase(m.id) == 1);
                break;
            default:
                if (rng() % 20 == 0) {
                    index.leave_all(m);
                    for (auto& [r, set] : model) {
                        set.erase(m.id);
                    }
                }
        }
        if (step % 97 == 0) {
            for (const auto& [r, set] : model) {
                ASSERT_EQ(ids(index.members(r)), set) << r;
            }
            for (auto& mem : members) {
                for (const auto& ms : mem.ms) {
                    ASSERT_EQ(ms.room->members[ms.index], &mem);
                }
            }
        }
    }
}

}  // namespace
}  // namespace roomcast::sio
