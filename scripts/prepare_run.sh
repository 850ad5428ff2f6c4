#!/usr/bin/env bash
# What every example run needs on a fresh Debian 12 machine: the packages
# qat_train needs, a Release build, and the Brown corpus in data/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --run
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
scripts/fetch_brown.sh data
