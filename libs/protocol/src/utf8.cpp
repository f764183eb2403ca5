#include "roomcast/protocol/utf8.hpp"

#include <array>
#include <cstring>

namespace roomcast::protocol {
namespace {

// A table-driven DFA over byte classes. The states say what the next byte must be, which is
// where RFC 3629's restrictions live: after E0 the next byte must be A0..BF (no overlongs),
// after ED 80..9F (no surrogates), after F0 90..BF (no overlongs), after F4 80..8F (nothing
// above U+10FFFF). C0, C1 and F5..FF can never appear.
enum State : std::uint8_t {
    kAccept = 0,  // between characters; must stay 0 (Utf8Validator::complete relies on it)
    kReject,
    kNeed1,    // one more 80..BF
    kNeed2,    // two more 80..BF
    kNeed3,    // three more 80..BF
    kAfterE0,  // A0..BF, then one more
    kAfterED,  // 80..9F, then one more
    kAfterF0,  // 90..BF, then two more
    kAfterF4,  // 80..8F, then two more
};
constexpr std::size_t kStateCount = kAfterF4 + 1;

enum ByteClass : std::uint8_t {
    kAscii = 0,  // 00..7F
    kCont8,      // 80..8F
    kCont9,      // 90..9F
    kContAB,     // A0..BF
    kLead2,      // C2..DF
    kLeadE0,     // E0
    kLead3,      // E1..EC, EE..EF
    kLeadED,     // ED
    kLeadF0,     // F0
    kLead4,      // F1..F3
    kLeadF4,     // F4
    kInvalid,    // C0, C1, F5..FF
};
constexpr std::size_t kClassCount = kInvalid + 1;

constexpr std::array<std::uint8_t, 256> make_classes() {
    std::array<std::uint8_t, 256> c{};
    for (int b = 0; b < 256; ++b) {
        std::uint8_t cls = kInvalid;
        if (b <= 0x7F) {
            cls = kAscii;
        } else if (b <= 0x8F) {
            cls = kCont8;
        } else if (b <= 0x9F) {
            cls = kCont9;
        } else if (b <= 0xBF) {
            cls = kContAB;
        } else if (b >= 0xC2 && b <= 0xDF) {
            cls = kLead2;
        } else if (b == 0xE0) {
            cls = kLeadE0;
        } else if (b == 0xED) {
            cls = kLeadED;
        } else if (b >= 0xE1 && b <= 0xEF) {
            cls = kLead3;
        } else if (b == 0xF0) {
            cls = kLeadF0;
        } else if (b >= 0xF1 && b <= 0xF3) {
            cls = kLead4;
        } else if (b == 0xF4) {
            cls = kLeadF4;
        }
        c[static_cast<std::size_t>(b)] = cls;
    }
    return c;
}

constexpr std::array<std::uint8_t, kStateCount * kClassCount> make_transitions() {
    std::array<std::uint8_t, kStateCount * kClassCount> t{};
    for (auto& next : t) {
        next = kReject;
    }
    auto set = [&t](State from, ByteClass cls, State to) {
        t[static_cast<std::size_t>(from) * kClassCount + cls] = to;
    };
    set(kAccept, kAscii, kAccept);
    set(kAccept, kLead2, kNeed1);
    set(kAccept, kLeadE0, kAfterE0);
    set(kAccept, kLead3, kNeed2);
    set(kAccept, kLeadED, kAfterED);
    set(kAccept, kLeadF0, kAfterF0);
    set(kAccept, kLead4, kNeed3);
    set(kAccept, kLeadF4, kAfterF4);
    for (ByteClass cont : {kCont8, kCont9, kContAB}) {
        set(kNeed1, cont, kAccept);
        set(kNeed2, cont, kNeed1);
        set(kNeed3, cont, kNeed2);
    }
    set(kAfterE0, kContAB, kNeed1);
    set(kAfterED, kCont8, kNeed1);
    set(kAfterED, kCont9, kNeed1);
    set(kAfterF0, kCont9, kNeed2);
    set(kAfterF0, kContAB, kNeed2);
    set(kAfterF4, kCont8, kNeed2);
    return t;
}

constexpr auto kClasses = make_classes();
constexpr auto kTransitions = make_transitions();

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

}  // namespace

bool Utf8Validator::feed(std::string_view bytes) noexcept {
    std::uint32_t state = state_;
    if (state == kReject) {
        return false;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* const end = p + bytes.size();
    while (p != end) {
        if (state == kAccept) {
            // Most protocol text is ASCII: skip 8 bytes per step while no high bit is set.
            // memcpy keeps the load legal at any alignment and compiles to one instruction.
            while (end - p >= 8) {
                std::uint64_t word;
                std::memcpy(&word, p, sizeof word);
                if ((word & kHighBits) != 0) {
                    break;
                }
                p += 8;
            }
            if (p == end) {
                break;
            }
        }
        state = kTransitions[state * kClassCount + kClasses[*p]];
        ++p;
        if (state == kReject) {
            state_ = state;
            return false;
        }
    }
    state_ = state;
    return true;
}

bool is_valid_utf8(std::string_view bytes) noexcept {
    Utf8Validator validator;
    return validator.feed(bytes) && validator.complete();
}

}  // namespace roomcast::protocol
