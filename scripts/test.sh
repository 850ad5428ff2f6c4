#!/usr/bin/env bash
# Builds qatc twice (Release with -Werror; Debug with ASan+UBSan) and runs all
# tests in both. usage: scripts/test.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DQATC_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DQATC_WERROR=ON -DQATC_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== Release tests"
ctest --test-dir build --output-on-failure "$@"
echo "== ASan+UBSan tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure "$@"
