#!/usr/bin/env bash
# CI fuzzing: builds the libFuzzer targets (tests/fuzz/run.sh, clang with
# ASan+UBSan), replays every committed corpus file (seeds and the
# reproducers of past crashes: regressions), then fuzzes each target for
# QATC_FUZZ_SECONDS (default 12) seconds. Any crash, leak, hang, oversized
# allocation or multi-line error message fails the test.
# Skipped when clang is missing, and in the ASan build dir (the fuzzers are
# sanitized anyway; the Release build's ctest runs them once).
set -euo pipefail
src=${QATC_SRC:?}
if ! command -v clang > /dev/null; then
  echo "SKIP: clang not installed (scripts/install_deps.sh installs it)"; exit 0
fi
if grep -q '^QATC_SANITIZE:BOOL=ON' "${QATC_BIN:?}/CMakeCache.txt" 2>/dev/null; then
  echo "SKIP: fuzzing runs from the Release build's ctest"; exit 0
fi
export QATC_FUZZ_BUILD="$QATC_BIN/fuzz"
"$src/tests/fuzz/run.sh" --replay
"$src/tests/fuzz/run.sh" "${QATC_FUZZ_SECONDS:-12}"
