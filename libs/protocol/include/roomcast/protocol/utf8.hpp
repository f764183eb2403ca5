#pragma once
// UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF), whole-buffer and
// incremental (WebSocket text messages may be split across fragments at any byte).

#include <cstdint>
#include <string_view>

namespace roomcast::protocol {

bool is_valid_utf8(std::string_view bytes) noexcept;

// Incremental validator. feed() returns false as soon as the bytes seen so far cannot be a
// prefix of valid UTF-8; complete() is true when no multi-byte sequence is left open.
class Utf8Validator {
public:
    bool feed(std::string_view bytes) noexcept;
    bool complete() const noexcept { return state_ == 0; }
    void reset() noexcept { state_ = 0; }

private:
    std::uint32_t state_ = 0;
};

}  // namespace roomcast::protocol
