// Subjects: golden spellings (every process and application backends use them).
#include "roomcast/contract/ids.hpp"
#include "roomcast/contract/subjects.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace roomcast::contract {
namespace {

TEST(Subjects, Golden) {
    EXPECT_EQ(room_subject("post:42"), "roomcast.room.post:42");
    EXPECT_EQ(fanout_subject("post:42"), "roomcast.fanout.post:42");
    EXPECT_EQ(ephemeral_subject("post:42"), "roomcast.ephemeral.post:42");
    EXPECT_EQ(presence_room_subject("post:42"), "roomcast.presence.room.post:42");
    EXPECT_EQ(edge_http_subject("edge-1"), "roomcast.edge.edge-1.http");
    EXPECT_EQ(edge_http_abort_subject("edge-1"), "roomcast.edge.edge-1.http.abort");
    EXPECT_EQ(kRoomSubjects, "roomcast.room.>");
    EXPECT_EQ(kFanoutSubjects, "roomcast.fanout.>");
    EXPECT_EQ(kEphemeralSubjects, "roomcast.ephemeral.>");
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

namespace roomcast::contract {
namespace {

TEST(BackendSubjects, Golden) {
    // docs/backends.md and both SDKs spell these; a change here is a wire change.
    EXPECT_EQ(rpc_subject("/", "createPost"), "roomcast.rpc.createPost");
    EXPECT_EQ(rpc_subject("/", "chat message"), "roomcast.rpc.chat%20message");
    EXPECT_EQ(rpc_subject("/", "post.create"), "roomcast.rpc.post%2Ecreate");
    EXPECT_EQ(rpc_subject("/", "a>*%"), "roomcast.rpc.a%3E%2A%25");
    EXPECT_EQ(rpc_subject("/admin", "ban"), "roomcast.ns.admin.rpc.ban");
    EXPECT_EQ(rpc_subject("/a/b", "x:y@z-1_"), "roomcast.ns.a%2Fb.rpc.x:y@z-1_");
    EXPECT_EQ(rpc_subject("/", "\xC3\xA9"), "roomcast.rpc.%C3%A9");
    EXPECT_EQ(lifecycle_subject("edge-1"), "roomcast.lifecycle.edge-1");
    EXPECT_EQ(kEmitSubject, "roomcast.emit");
    EXPECT_EQ(kHookConnectSubject, "roomcast.hook.connect");
    EXPECT_EQ(kHookJoinSubject, "roomcast.hook.join");
    EXPECT_EQ(kHookPublishSubject, "roomcast.hook.publish");
}

TEST(BackendSubjects, TokensAreOneTokenAndDistinct) {
    const std::vector<std::string> names = {"a", "a.b", "a%2Eb", "a b", "a>b", "a*", "%", "", "é"};
    std::set<std::string> seen;
    for (const auto& n : names) {
        const auto t = subject_token(n);
        EXPECT_EQ(t.find_first_of(".*> \t\r\n"), std::string::npos) << n;
        EXPECT_TRUE(seen.insert(t).second) << n << " → " << t;
    }
}

TEST(Namespaces, Rule) {
    EXPECT_TRUE(valid_namespace("/"));
    EXPECT_TRUE(valid_namespace("/admin"));
    EXPECT_TRUE(valid_namespace("/a/b.c"));
    EXPECT_FALSE(valid_namespace(""));
    EXPECT_FALSE(valid_namespace("admin"));
    EXPECT_FALSE(valid_namespace("/a b"));
    EXPECT_FALSE(valid_namespace("/\xC3\xA9"));
    EXPECT_FALSE(valid_namespace("/" + std::string(128, 'a')));
    EXPECT_TRUE(valid_namespace("/" + std::string(127, 'a')));
}

}  // namespace
}  // namespace roomcast::contract
