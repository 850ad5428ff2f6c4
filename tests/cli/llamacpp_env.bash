# Sourced by the tests that run real llama.cpp (cli_llamacpp, cli_llamacpp_text, cli_llamacpp_tokenizers,
# cli_llamacpp_families): the paths, fail(), the npm oracles (a missing one fails the test, naming the
# installer), a temporary directory removed on exit ($tmp, prefix $1), node-llama-cpp kept offline and
# on the CPU.
set -euo pipefail
src=${QATC_SRC:?}; bin=${QATC_BIN:?}; py=${QATC_PYTHON:-/usr/bin/python3}
orc=$src/tests/oracles
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -d "$orc/node_modules/node-llama-cpp" ] && [ -d "$orc/node_modules/@huggingface/gguf" ] ||
  fail "npm oracles missing: run scripts/install_oracles.sh (scripts/install_deps.sh does)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true NODE_LLAMA_CPP_GPU=false
