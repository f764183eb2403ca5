// Boost's assertions stay on in the fuzz build (compiled with BOOST_ENABLE_ASSERT_HANDLER, so
// they work under NDEBUG too): a failed BOOST_ASSERT in Beast, Asio, JSON or URL code reached
// from ours is a finding, reported like a failed invariant. Assertions that are wrong upstream
// (the code after them handles the case correctly) are listed with the fix that removed them.

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct KnownWrongAssert {
    const char* file_suffix;
    const char* expr;
    const char* reason;
};

constexpr KnownWrongAssert kKnownWrong[] = {
    // basic_parser::parse_chunk_header asserts n >= 5 when it resumes a chunk header, but a
    // streamed put() may resume with 3 or 4 bytes ("0\r\n" then "\r"); the code that follows
    // looks for CRLF CRLF and returns need_more. Removed in boostorg/beast#2861 (Boost 1.86);
    // Debian 12 ships Boost 1.81.
    {"boost/beast/http/impl/basic_parser.ipp", "n >= 5", "boostorg/beast#2861"},
};

bool known_wrong(const char* expr, const char* file) {
    const std::size_t file_len = std::strlen(file);
    for (const auto& k : kKnownWrong) {
        const std::size_t suffix_len = std::strlen(k.file_suffix);
        if (std::strcmp(expr, k.expr) == 0 && file_len >= suffix_len &&
            std::strcmp(file + file_len - suffix_len, k.file_suffix) == 0) {
            return true;
        }
    }
    return false;
}

}  // namespace

namespace boost {

void assertion_failed_msg(const char* expr, const char* msg, const char* function,
                          const char* file, long line) {
    if (known_wrong(expr, file)) {
        return;
    }
    std::fprintf(stderr, "Boost assertion failed: %s%s%s in %s (%s:%ld)\n", expr,
                 msg != nullptr ? ": " : "", msg != nullptr ? msg : "", function, file, line);
    std::abort();
}

void assertion_failed(const char* expr, const char* function, const char* file, long line) {
    assertion_failed_msg(expr, nullptr, function, file, line);
}

}  // namespace boost
