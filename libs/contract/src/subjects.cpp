#include "roomcast/contract/subjects.hpp"

namespace roomcast::contract {
namespace {

std::string join(std::string_view prefix, std::string_view token, std::string_view suffix = {}) {
    std::string subject;
    subject.reserve(prefix.size() + token.size() + suffix.size());
    subject += prefix;
    subject += token;
    subject += suffix;
    return subject;
}

constexpr std::string_view kEdgeSubjectPrefix = "roomcast.edge.";

}  // namespace

std::string room_subject(std::string_view room) {
    return join(kRoomSubjectPrefix, room);
}

std::string fanout_subject(std::string_view room) {
    return join(kFanoutSubjectPrefix, room);
}

std::string presence_room_subject(std::string_view room) {
    return join(kPresenceRoomSubjectPrefix, room);
}

std::string edge_http_subject(std::string_view edge) {
    return join(kEdgeSubjectPrefix, edge, ".http");
}

std::string edge_http_abort_subject(std::string_view edge) {
    return join(kEdgeSubjectPrefix, edge, ".http.abort");
}

}  // namespace roomcast::contract
