// Replays the fuzz targets' inputs in the normal build: every file of fuzz/regressions/<target>/
// (inputs that once crashed a target: they must not crash again; "open-*" ones reproduce a
// reported bug not fixed yet and must still fail) and of fuzz/corpus/<target>/
// (the seeds: they must not crash either, and replaying them keeps the targets compiling and
// running with GCC). A target that breaks an invariant aborts, which fails the test with the
// target's message; the test prints each file's name before feeding it.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#define ROOMCAST_FUZZ_TARGET(name) \
    extern "C" int roomcast_fuzz_##name(const std::uint8_t* data, std::size_t size);
#include "fuzz_targets.inc"
#undef ROOMCAST_FUZZ_TARGET

namespace {

namespace fs = std::filesystem;

using EntryPoint = int (*)(const std::uint8_t*, std::size_t);

struct Target {
    const char* name;
    EntryPoint run;
};

const Target kTargets[] = {
#define ROOMCAST_FUZZ_TARGET(name) {#name, &roomcast_fuzz_##name},
#include "fuzz_targets.inc"
#undef ROOMCAST_FUZZ_TARGET
};

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> out;
    if (!fs::is_directory(dir)) {
        return out;
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.is_regular_file() && entry.path().filename().string().front() != '.') {
            out.push_back(entry.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// "upstream-*" regressions trip an assertion that is wrong in the Boost release Debian ships
// and was removed upstream (fuzz/regressions/README.md); the code after it is right, so they
// replay only where assertions are off (NDEBUG). The fuzz build ignores exactly those
// assertions (fuzz/targets/boost_assert.cpp).
bool starts_with(const fs::path& file, std::string_view prefix) {
    return file.filename().string().rfind(prefix, 0) == 0;
}

bool replayable(const fs::path& file) {
    if (starts_with(file, "open-")) {
        return false;  // KnownOpenBugs replays those
    }
#ifdef NDEBUG
    return true;
#else
    return !starts_with(file, "upstream-");
#endif
}

std::string read_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::size_t replay(const Target& target, const fs::path& dir) {
    const auto files = files_in(dir);
    for (const auto& file : files) {
        if (!replayable(file)) {
            std::fprintf(stderr, "skipping %s (assertions on)\n", file.string().c_str());
            continue;
        }
        const std::string bytes = read_file(file);
        std::fprintf(stderr, "replaying %s\n", file.string().c_str());
        EXPECT_EQ(target.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0)
            << file;
    }
    return files.size();
}

// Test names and failure messages show the target's name.
void PrintTo(const Target& target, std::ostream* os) {
    *os << target.name;
}

class FuzzReplay : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzReplay, Regressions) {
    replay(GetParam(), fs::path(ROOMCAST_FUZZ_DIR) / "regressions" / GetParam().name);
}

// "open-*" regressions reproduce bugs that are reported but not fixed yet (README.md): each
// must still break its target's invariant. When one stops failing, the bug is fixed: drop the
// "open-" prefix so that it becomes an ordinary regression.
TEST_P(FuzzReplay, KnownOpenBugs) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");  // engineio_server runs a shard thread
    ::setenv("ROOMCAST_FUZZ_OPEN_BUGS", "abort", 1);  // FUZZ_CHECK_OPEN failures abort
    for (const auto& file : files_in(fs::path(ROOMCAST_FUZZ_DIR) / "regressions" / GetParam().name)) {
        if (!starts_with(file, "open-")) {
            continue;
        }
        const std::string bytes = read_file(file);
        EXPECT_DEATH(GetParam().run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                     "fuzz invariant failed")
            << file << " no longer fails: if the bug is fixed, rename it without \"open-\"";
    }
    ::unsetenv("ROOMCAST_FUZZ_OPEN_BUGS");
}

TEST_P(FuzzReplay, SeedCorpus) {
    // Every target has seeds; an empty directory means the corpus went missing.
    EXPECT_GT(replay(GetParam(), fs::path(ROOMCAST_FUZZ_DIR) / "corpus" / GetParam().name), 0U);
}

TEST_P(FuzzReplay, EmptyAndTinyInputs) {
    const std::uint8_t bytes[] = {0, 1, 0xff, '4', '\x1e'};
    for (std::size_t n = 0; n <= sizeof bytes; ++n) {
        EXPECT_EQ(GetParam().run(bytes, n), 0);
    }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& info) {
                             return std::string(info.param.name);
                         });

}  // namespace
