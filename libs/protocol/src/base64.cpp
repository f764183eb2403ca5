#include "roomcast/protocol/base64.hpp"

#include <array>
#include <cstdint>

namespace roomcast::protocol {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0..63 for alphabet characters, kBad for everything else ('=' included: padding is handled
// by position, never by lookup).
constexpr std::uint8_t kBad = 0xFF;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
    std::array<std::uint8_t, 256> table{};
    for (auto& entry : table) {
        entry = kBad;
    }
    for (std::uint8_t i = 0; i < 64; ++i) {
        table[static_cast<unsigned char>(kAlphabet[i])] = i;
    }
    return table;
}

constexpr auto kDecode = make_decode_table();

std::uint8_t lookup(char c) noexcept {
    return kDecode[static_cast<unsigned char>(c)];
}

}  // namespace

void base64_append(std::string& out, std::string_view bytes) {
    const std::size_t start = out.size();
    out.resize(start + (bytes.size() + 2) / 3 * 4);
    char* dst = out.data() + start;
    const auto* src = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t n = bytes.size();
    for (; n >= 3; n -= 3, src += 3) {
        const std::uint32_t v =
            (std::uint32_t{src[0]} << 16) | (std::uint32_t{src[1]} << 8) | src[2];
        *dst++ = kAlphabet[(v >> 18) & 0x3F];
        *dst++ = kAlphabet[(v >> 12) & 0x3F];
        *dst++ = kAlphabet[(v >> 6) & 0x3F];
        *dst++ = kAlphabet[v & 0x3F];
    }
    if (n == 1) {
        const std::uint32_t v = std::uint32_t{src[0]} << 16;
        *dst++ = kAlphabet[(v >> 18) & 0x3F];
        *dst++ = kAlphabet[(v >> 12) & 0x3F];
        *dst++ = '=';
        *dst++ = '=';
    } else if (n == 2) {
        const std::uint32_t v = (std::uint32_t{src[0]} << 16) | (std::uint32_t{src[1]} << 8);
        *dst++ = kAlphabet[(v >> 18) & 0x3F];
        *dst++ = kAlphabet[(v >> 12) & 0x3F];
        *dst++ = kAlphabet[(v >> 6) & 0x3F];
        *dst++ = '=';
    }
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    base64_append(out, bytes);
    return out;
}

// Strictness, so that every byte string has exactly one accepted encoding (what base64_encode
// writes): length a multiple of 4, only alphabet characters, '=' only as the last one or two
// characters, and the unused low bits of the last symbol before padding must be zero
// ("QQ==" is accepted, "QR==" is rejected). No whitespace or line breaks.
std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::string out;
    if (text.empty()) {
        return out;
    }
    std::size_t padding = 0;
    if (text.back() == '=') {
        padding = text[text.size() - 2] == '=' ? 2 : 1;
    }
    out.resize(text.size() / 4 * 3 - padding);
    char* dst = out.data();
    const std::size_t full_quads = text.size() / 4 - (padding != 0 ? 1 : 0);
    const char* src = text.data();
    for (std::size_t q = 0; q < full_quads; ++q, src += 4) {
        const std::uint8_t a = lookup(src[0]);
        const std::uint8_t b = lookup(src[1]);
        const std::uint8_t c = lookup(src[2]);
        const std::uint8_t d = lookup(src[3]);
        // Valid symbols are below 64, so any kBad sets one of the top two bits.
        if (((a | b | c | d) & 0xC0) != 0) {
            return std::nullopt;
        }
        const std::uint32_t v =
            (std::uint32_t{a} << 18) | (std::uint32_t{b} << 12) | (std::uint32_t{c} << 6) | d;
        *dst++ = static_cast<char>((v >> 16) & 0xFF);
        *dst++ = static_cast<char>((v >> 8) & 0xFF);
        *dst++ = static_cast<char>(v & 0xFF);
    }
    if (padding == 2) {
        const std::uint8_t a = lookup(src[0]);
        const std::uint8_t b = lookup(src[1]);
        if (a == kBad || b == kBad || (b & 0x0F) != 0) {
            return std::nullopt;
        }
        *dst++ = static_cast<char>((a << 2) | (b >> 4));
    } else if (padding == 1) {
        const std::uint8_t a = lookup(src[0]);
        const std::uint8_t b = lookup(src[1]);
        const std::uint8_t c = lookup(src[2]);
        if (a == kBad || b == kBad || c == kBad || (c & 0x03) != 0) {
            return std::nullopt;
        }
        *dst++ = static_cast<char>((a << 2) | (b >> 4));
        *dst++ = static_cast<char>(((b & 0x0F) << 4) | (c >> 2));
    }
    return out;
}


namespace {

constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::uint8_t, 256> make_url_decode_table() {
    std::array<std::uint8_t, 256> table{};
    for (auto& entry : table) {
        entry = kBad;
    }
    for (std::uint8_t i = 0; i < 64; ++i) {
        table[static_cast<unsigned char>(kUrlAlphabet[i])] = i;
    }
    return table;
}

constexpr auto kUrlDecode = make_url_decode_table();

}  // namespace

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    const auto* src = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t n = bytes.size();
    for (; n >= 3; n -= 3, src += 3) {
        const std::uint32_t v =
            (std::uint32_t{src[0]} << 16) | (std::uint32_t{src[1]} << 8) | src[2];
        out.push_back(kUrlAlphabet[(v >> 18) & 0x3F]);
        out.push_back(kUrlAlphabet[(v >> 12) & 0x3F]);
        out.push_back(kUrlAlphabet[(v >> 6) & 0x3F]);
        out.push_back(kUrlAlphabet[v & 0x3F]);
    }
    if (n == 1) {
        const std::uint32_t v = std::uint32_t{src[0]} << 16;
        out.push_back(kUrlAlphabet[(v >> 18) & 0x3F]);
        out.push_back(kUrlAlphabet[(v >> 12) & 0x3F]);
    } else if (n == 2) {
        const std::uint32_t v = (std::uint32_t{src[0]} << 16) | (std::uint32_t{src[1]} << 8);
        out.push_back(kUrlAlphabet[(v >> 18) & 0x3F]);
        out.push_back(kUrlAlphabet[(v >> 12) & 0x3F]);
        out.push_back(kUrlAlphabet[(v >> 6) & 0x3F]);
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    const std::size_t tail = text.size() % 4;
    if (tail == 1) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        const std::uint8_t v = kUrlDecode[static_cast<unsigned char>(c)];
        if (v == kBad) {
            return std::nullopt;
        }
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    // Leftover bits (2 after a 2-character tail, 4 after a 3-character tail) carry no data and
    // must be zero for the encoding to be the canonical one.
    if ((acc & ((1U << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

}  // namespace roomcast::protocol
