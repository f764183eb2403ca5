#include "rooms/recovery.hpp"

#include <algorithm>

namespace roomcast::edge::rooms {

std::vector<transport::OutMessagePtr> merge_recovery(
    std::vector<RoomMessage> replay, std::vector<RoomMessage> held,
    const std::function<std::optional<std::uint64_t>(std::string_view room)>& start) {
    std::vector<RoomMessage> all;
    all.reserve(replay.size() + held.size());
    auto keep = [&](RoomMessage& m) {
        const auto from = start(m.room);
        if (from && m.seq > *from) {
            all.push_back(std::move(m));
        }
    };
    for (auto& m : replay) {
        keep(m);
    }
    for (auto& m : held) {
        keep(m);
    }
    // Stable: of two copies of one offset, the first (a read, complete) is kept.
    std::stable_sort(all.begin(), all.end(),
                     [](const RoomMessage& a, const RoomMessage& b) { return a.seq < b.seq; });
    std::vector<transport::OutMessagePtr> out;
    out.reserve(all.size());
    std::uint64_t last = 0;
    for (auto& m : all) {
        if (!out.empty() && m.seq == last) {
            continue;
        }
        last = m.seq;
        out.push_back(std::move(m.message));
    }
    return out;
}

}  // namespace roomcast::edge::rooms
