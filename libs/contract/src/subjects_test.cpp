// Subjects: golden spellings (every process and application backends use them).
#include "roomcast/contract/subjects.hpp"

#include <gtest/gtest.h>

namespace roomcast::contract {
namespace {

TEST(Subjects, Golden) {
    EXPECT_EQ(room_subject("post:42"), "roomcast.room.post:42");
    EXPECT_EQ(fanout_subject("post:42"), "roomcast.fanout.post:42");
    EXPECT_EQ(presence_room_subject("post:42"), "roomcast.presence.room.post:42");
    EXPECT_EQ(edge_http_subject("edge-1"), "roomcast.edge.edge-1.http");
    EXPECT_EQ(edge_http_abort_subject("edge-1"), "roomcast.edge.edge-1.http.abort");
    EXPECT_EQ(kRoomSubjects, "roomcast.room.>");
    EXPECT_EQ(kFanoutSubjects, "roomcast.fanout.>");
    EXPECT_EQ(kPresenceQuerySubject, "roomcast.presence.query");
    EXPECT_EQ(kPresenceQueryQueue, "presence");
    EXPECT_EQ(kControlSubject, "roomcast.control");
    EXPECT_EQ(kMaxPresenceQueryUsers, 100u);
}

TEST(Subjects, PrefixesAreWhatTheFunctionsPrepend) {
    EXPECT_EQ(room_subject("r"), std::string(kRoomSubjectPrefix) + "r");
    EXPECT_EQ(fanout_subject("r"), std::string(kFanoutSubjectPrefix) + "r");
    EXPECT_EQ(presence_room_subject("r"), std::string(kPresenceRoomSubjectPrefix) + "r");
    // The presence query is not under the per-room prefix: no room can be named "query" there.
    EXPECT_FALSE(kPresenceQuerySubject.starts_with(kPresenceRoomSubjectPrefix));
}

}  // namespace
}  // namespace roomcast::contract
