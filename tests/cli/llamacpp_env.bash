# Sourced by the tests that run real llama.cpp (cli_llamacpp, cli_llamacpp_kquants, cli_llamacpp_text, cli_llamacpp_tokenizers,
# cli_llamacpp_families): the paths, fail(), the npm oracles (a missing one fails the test, naming the
# installer), a temporary directory removed on exit ($tmp, prefix $1), node-llama-cpp kept offline and
# on the CPU; helpers word_data, train, score_llama, score_qatc (below).
set -euo pipefail
src=${QATC_SRC:?}; bin=${QATC_BIN:?}; py=${QATC_PYTHON:-/usr/bin/python3}
orc=$src/tests/oracles
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -d "$orc/node_modules/node-llama-cpp" ] && [ -d "$orc/node_modules/@huggingface/gguf" ] ||
  fail "npm oracles missing: run scripts/install_oracles.sh (scripts/install_deps.sh does)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true NODE_LLAMA_CPP_GPU=false

# word_data: training text ($tmp/train.txt) and a held-out token file ($tmp/tokens.txt, another
# seed, byte tokens: 10 chunks of 64 and a partial chunk of 17)
word_data() {
  "$py" "$orc/word_text.py" 1 2500 > "$tmp/train.txt"
  "$py" "$orc/word_text.py" 2 60 | "$py" -c '
import sys
ids = list(sys.stdin.buffer.read())[:657]
print(" ".join(map(str, ids)))' > "$tmp/tokens.txt"
}
# train NAME: qat_train $tmp/NAME.json, its log in $tmp/NAME.log
train() { "$bin/qat_train" "$tmp/$1.json" > "$tmp/$1.log" 2>&1 || fail "qat_train $1: $(tail -3 "$tmp/$1.log")"; }
# score_llama GGUF / score_qatc MODEL [args]: mean NLL JSON over $tmp/tokens.txt in chunks of 64
score_llama() { (cd "$orc" && node llamacpp_nll.mjs "$1" "$tmp/tokens.txt" 64) 2> "$tmp/node.err" ||
  fail "llama.cpp on $1: $(tail -5 "$tmp/node.err")"; }
score_qatc() { "$bin/qat_eval" "$@" --tokens "$tmp/tokens.txt" --ctx 64 2> "$tmp/eval.err" ||
  fail "qat_eval $*: $(cat "$tmp/eval.err")"; }
