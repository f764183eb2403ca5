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

std::string ephemeral_subject(std::string_view room) {
    return join(kEphemeralSubjectPrefix, room);
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

std::string subject_token(std::string_view name) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(name.size());
    for (const char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '_' || c == ':' || c == '@' || c == '-';
        if (plain) {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
    }
    return out;
}

std::string rpc_subject(std::string_view nsp, std::string_view event) {
    if (nsp.empty() || nsp == "/") {
        return join(kRpcSubjectPrefix, subject_token(event));
    }
    if (nsp.front() == '/') {
        nsp.remove_prefix(1);
    }
    return join(kNamespaceSubjectPrefix, subject_token(nsp), ".rpc." + subject_token(event));
}

std::string lifecycle_subject(std::string_view edge) {
    return join(kLifecycleSubjectPrefix, edge);
}

}  // namespace roomcast::contract
