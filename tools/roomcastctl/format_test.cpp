// Output shapes without a server: tables, field lists, watch lines, JSON.
#include "format.hpp"

#include <gtest/gtest.h>

namespace roomcast::ctl {
namespace {

google::protobuf::Timestamp at(std::int64_t seconds) {
    google::protobuf::Timestamp timestamp;
    timestamp.set_seconds(seconds);
    return timestamp;
}

TEST(Table, AlignsColumnsAndLeavesNoTrailingBlanks) {
    Table table({"ID", "VISIBILITY", "LABELS"});
    table.add_row({"lobby", "PUBLIC", "a=1"});
    table.add_row({"team:core-long", "PRIVATE", "<none>"});
    EXPECT_EQ(table.render(),
              "ID               VISIBILITY   LABELS\n"
              "lobby            PUBLIC       a=1\n"
              "team:core-long   PRIVATE      <none>\n");
}

TEST(Table, EscapesControlCharactersAndFillsShortRows) {
    Table table({"A", "B"});
    table.add_row({"x\ny\t\x01"});
    EXPECT_EQ(table.render(), "A            B\nx\\ny\\t\\x01   \n");
}

TEST(Format, RoomsTableAndFields) {
    google::protobuf::RepeatedPtrField<rooms::v1::Room> rooms;
    auto* room = rooms.Add();
    room->set_id("lobby");
    room->set_visibility(rooms::v1::VISIBILITY_PRIVATE);
    (*room->mutable_labels())["tier"] = "gold";
    (*room->mutable_labels())["team"] = "core";
    *room->mutable_create_time() = at(1'714'564'800);  // 2024-05-01T12:00:00Z
    auto* automatic = rooms.Add();
    automatic->set_id("auto:1");
    automatic->set_visibility(rooms::v1::VISIBILITY_PUBLIC);
    automatic->set_auto_created(true);
    EXPECT_EQ(rooms_table(rooms),
              "ID       VISIBILITY   AUTO   LABELS                CREATED\n"
              "lobby    PRIVATE      no     team=core,tier=gold   2024-05-01T12:00:00Z\n"
              "auto:1   PUBLIC       yes    <none>                -\n");
    EXPECT_EQ(room_fields(*room),
              "ID:          lobby\n"
              "VISIBILITY:  PRIVATE\n"
              "AUTO:        no\n"
              "LABELS:      team=core,tier=gold\n"
              "CREATED:     2024-05-01T12:00:00Z\n"
              "UPDATED:     -\n");
}

TEST(Format, MembersHistoryPresence) {
    google::protobuf::RepeatedPtrField<rooms::v1::Member> members;
    auto* member = members.Add();
    member->set_user_id("alice");
    member->set_role(rooms::v1::ROLE_VIEWER);
    EXPECT_EQ(members_table(members), "USER    ROLE     ADDED\nalice   VIEWER   -\n");

    rooms::v1::HistoryResponse history;
    auto* message = history.add_messages();
    message->set_offset("42");
    message->set_event("chat");
    message->set_from("server");
    message->set_data_json("{\"text\":\"hi\"}");
    auto* empty = history.add_messages();
    empty->set_offset("43");
    empty->set_event("ping");
    EXPECT_EQ(history_table(history),
              "OFFSET   EVENT   FROM     DATA\n"
              "42       chat    server   {\"text\":\"hi\"}\n"
              "43       ping    -        null\n");

    presence::v1::GetPresenceResponse presence;
    auto* user = presence.add_users();
    user->set_id("alice");
    user->set_name("Alice");
    user->set_sockets(2);
    presence.set_clients(7);
    presence.set_users_total(4);
    EXPECT_EQ(presence_table(presence),
              "USER    NAME    SOCKETS\nalice   Alice   2\n\n4 users, 7 clients in the room\n");

    presence::v1::GetPresenceStatsResponse stats;
    stats.set_clients(7);
    stats.set_users(4);
    EXPECT_EQ(presence_stats_table(stats), "CLIENTS   USERS\n7         4\n");
}

TEST(Format, PresenceEventLine) {
    presence::v1::PresenceEvent event;
    event.set_room_id("lobby");
    auto* alice = event.add_joined();
    alice->set_id("alice");
    alice->set_name("Alice");
    event.add_joined()->set_id("bob");
    auto* carol = event.add_left();
    carol->set_id("carol");
    carol->set_name("carol");
    const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1'714'564'800));
    EXPECT_EQ(presence_event_line(event, when),
              "2024-05-01T12:00:00Z lobby joined: alice (Alice), bob; left: carol");
    event.clear_joined();
    EXPECT_EQ(presence_event_line(event, when), "2024-05-01T12:00:00Z lobby left: carol");
}

TEST(Format, VerifyAndJwks) {
    auth::v1::VerifyTokenResponse verified;
    verified.set_valid(true);
    verified.set_user_id("alice");
    *verified.mutable_expires_at() = at(1'714'564'800);
    EXPECT_EQ(verify_fields(verified),
              "VALID:    yes\nUSER:     alice\nNAME:     -\nEXPIRES:  2024-05-01T12:00:00Z\n");
    auth::v1::VerifyTokenResponse invalid;
    invalid.set_error_code("token_expired");
    invalid.set_error_message("expired 5 s ago");
    EXPECT_EQ(verify_fields(invalid),
              "VALID:   no\nERROR:   token_expired\nREASON:  expired 5 s ago\n");

    const auto table = jwks_table(R"({"keys":[{"kid":"k1","kty":"RSA","alg":"RS256","use":"sig"},
                                              {"kid":"k2","kty":"EC"}]})");
    ASSERT_TRUE(table) << table.error().what;
    EXPECT_EQ(*table,
              "KID   KTY   ALG     USE\n"
              "k1    RSA   RS256   sig\n"
              "k2    EC    -       -\n");
    EXPECT_EQ(*jwks_table(R"({"keys":[]})"), "KID   KTY   ALG   USE\n");
    EXPECT_FALSE(jwks_table("not json"));
    EXPECT_FALSE(jwks_table(R"({"nokeys":1})"));
}

TEST(Format, JsonUsesProtoNamesAndPrintsDefaults) {
    rooms::v1::Room room;
    room.set_id("lobby");
    room.set_auto_created(false);
    const auto json = to_json(room);
    ASSERT_TRUE(json);
    EXPECT_EQ(*json, R"({"id":"lobby","visibility":"VISIBILITY_UNSPECIFIED","auto_created":false,)"
                     R"("labels":{}})");
    presence::v1::GetPresenceStatsResponse stats;
    stats.set_clients(3);
    EXPECT_EQ(*to_json(stats), R"({"clients":"3","users":"0"})");
}

}  // namespace
}  // namespace roomcast::ctl
