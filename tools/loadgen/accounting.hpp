#pragma once
// Exact loss accounting for one receiver and one publisher, across processes.
//
// A publisher numbers its messages 0, 1, 2, … and finally sends an end marker carrying how
// many it sent (`end`) and how many of those the server refused with an error ack
// (`refused`: never stored, so never delivered). A receiver needs no prior knowledge of the
// publisher: it learns it from the first message or the end marker.
//
// Memory: in-order delivery costs nothing beyond the counters. The tracker keeps the highest
// sequence seen and the gaps below it as ranges, so only out-of-order or lost messages take
// space (one range per gap).
//
// Thread-safety: none; a tracker belongs to its receiving client's thread.

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace roomcast::loadgen {

struct PublisherEnd {
    std::uint64_t end = 0;      // messages sent (sequences 0 .. end-1)
    std::uint64_t refused = 0;  // of those, acked with ok:false by the server
};

class SeqTracker {
public:
    enum class Outcome : std::uint8_t {
        kInOrder,     // new, above everything seen so far
        kOutOfOrder,  // new, but lower than a sequence already received (fills a gap)
        kDuplicate,   // received before
    };

    Outcome on_message(std::uint64_t seq);
    void on_end(PublisherEnd end) noexcept { end_ = end; }

    // Distinct sequences received.
    std::uint64_t distinct() const noexcept;
    // One more than the highest sequence received (0 when none): a lower bound of what the
    // publisher sent, used when no end marker arrived anywhere.
    std::uint64_t next() const noexcept { return next_; }
    std::uint64_t duplicates() const noexcept { return duplicates_; }
    std::uint64_t out_of_order() const noexcept { return out_of_order_; }
    const std::optional<PublisherEnd>& end() const noexcept { return end_; }
    std::size_t gaps() const noexcept { return holes_.size(); }

private:
    std::uint64_t next_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t out_of_order_ = 0;
    std::uint64_t missing_ = 0;  // total size of holes_
    std::optional<PublisherEnd> end_;
    // Missing sequences below next_ as sorted, disjoint [first, second) ranges.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> holes_;
};

struct LossTotals {
    std::uint64_t lost = 0;
    std::uint64_t duplicated = 0;
    std::uint64_t out_of_order = 0;
    std::uint64_t end_markers_missing = 0;

    LossTotals& operator+=(const LossTotals& o) noexcept {
        lost += o.lost;
        duplicated += o.duplicated;
        out_of_order += o.out_of_order;
        end_markers_missing += o.end_markers_missing;
        return *this;
    }
};

// Adds one receiver's account of one publisher of its room. `tracker` is null when the
// receiver got nothing at all from that publisher (known from other receivers of the room);
// `known_end` is the end marker as any receiver (or the publisher itself, when local) saw it.
// Without any end marker the highest sequence seen stands in for the count sent, and the pair
// counts in end_markers_missing.
void account(LossTotals& totals, const SeqTracker* tracker, std::optional<PublisherEnd> known_end);

}  // namespace roomcast::loadgen
