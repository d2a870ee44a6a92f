// Helpers shared by Loom's libFuzzer targets (tests/fuzz/README.md).
#ifndef LOOM_TESTS_FUZZ_FUZZ_UTIL_H_
#define LOOM_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace loom::fuzz {

// Writes `size` bytes to this process's scratch file for `suffix` (say
// ".csv") and returns its path, for entry points that read a file by path.
// The same file is rewritten for every input; it lives in $TEST_TMPDIR,
// else $TMPDIR, else /tmp, and is removed when the process exits normally.
// Aborts if it cannot be written: that is a broken harness, not a finding.
const std::string& WriteInputFile(const uint8_t* data, size_t size,
                                  std::string_view suffix);

// Aborts with `what` on stderr: a broken invariant the target checks.
[[noreturn]] void Fail(std::string_view what);

}  // namespace loom::fuzz

#endif  // LOOM_TESTS_FUZZ_FUZZ_UTIL_H_
