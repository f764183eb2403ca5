#include "accounting.hpp"

#include <algorithm>

namespace roomcast::loadgen {

SeqTracker::Outcome SeqTracker::on_message(std::uint64_t seq) {
    if (seq >= next_) {
        if (seq > next_) {
            holes_.emplace_back(next_, seq);
            missing_ += seq - next_;
        }
        next_ = seq + 1;
        return Outcome::kInOrder;
    }
    // Below the highest: either it fills (part of) a gap, or it is a duplicate.
    auto it = std::upper_bound(holes_.begin(), holes_.end(), seq,
                               [](std::uint64_t s, const auto& h) { return s < h.first; });
    if (it == holes_.begin()) {
        ++duplicates_;
        return Outcome::kDuplicate;
    }
    --it;
    if (seq >= it->second) {
        ++duplicates_;
        return Outcome::kDuplicate;
    }
    --missing_;
    ++out_of_order_;
    if (it->first == seq && it->second == seq + 1) {
        holes_.erase(it);
    } else if (it->first == seq) {
        it->first = seq + 1;
    } else if (it->second == seq + 1) {
        it->second = seq;
    } else {
        const std::uint64_t hi = it->second;
        it->second = seq;
        holes_.insert(it + 1, {seq + 1, hi});
    }
    return Outcome::kOutOfOrder;
}

std::uint64_t SeqTracker::distinct() const noexcept {
    return next_ - missing_;
}

void account(LossTotals& totals, const SeqTracker* tracker, std::optional<PublisherEnd> known_end) {
    const std::uint64_t received = tracker != nullptr ? tracker->distinct() : 0;
    if (tracker != nullptr) {
        totals.duplicated += tracker->duplicates();
        totals.out_of_order += tracker->out_of_order();
        if (tracker->end()) {
            known_end = *tracker->end();
        }
    }
    if (tracker == nullptr || !tracker->end()) {
        ++totals.end_markers_missing;
    }
    std::uint64_t expected = 0;
    if (known_end) {
        expected = known_end->end - std::min(known_end->refused, known_end->end);
    } else if (tracker != nullptr) {
        expected = tracker->next();
    }
    totals.lost += expected > received ? expected - received : 0;
}

}  // namespace roomcast::loadgen
