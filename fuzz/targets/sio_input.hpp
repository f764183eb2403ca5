#pragma once
// The Socket.IO targets' input format: an Engine.IO polling payload (parts separated by
// '\x1e'). "4<sio packet>" is a text message; "b<base64>" a binary message; other Engine.IO
// packet types are skipped; any other part is taken as raw binary bytes, so that the fuzzer
// need not learn base64 to make attachments.

#include "roomcast/protocol/base64.hpp"
#include "roomcast/protocol/engineio.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace roomcast::fuzz {

struct SioMessage {
    bool binary = false;
    std::string bytes;
};

inline std::vector<SioMessage> split_messages(std::string_view input) {
    std::vector<SioMessage> out;
    std::size_t start = 0;
    while (true) {
        const std::size_t sep = input.find(protocol::eio::kSeparator, start);
        const std::size_t end = sep == std::string_view::npos ? input.size() : sep;
        const std::string_view part = input.substr(start, end - start);
        if (!part.empty() && part.front() == 'b') {
            if (auto bytes = protocol::base64_decode(part.substr(1))) {
                out.push_back({true, std::move(*bytes)});
            } else {
                out.push_back({true, std::string(part)});
            }
        } else if (!part.empty() && part.front() == '4') {
            out.push_back({false, std::string(part.substr(1))});
        } else if (!part.empty() && (part.front() < '0' || part.front() > '6')) {
            out.push_back({true, std::string(part)});
        }
        if (sep == std::string_view::npos) {
            break;
        }
        start = sep + 1;
    }
    return out;
}

}  // namespace roomcast::fuzz
