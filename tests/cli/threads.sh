#!/usr/bin/env bash
# qat_train never runs more threads than CPUs in its affinity mask: with
# `taskset -c 0` and "threads": 2 it warns once, in one line naming the key,
# both counts and the cap, and runs; with "threads": 1 it does not warn.
set -euo pipefail
bin=${QATC_BIN:?}/qat_train
command -v taskset > /dev/null || { echo "SKIP: taskset not installed"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_threads_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
unset OMP_NUM_THREADS
printf 'the cat sat on the mat. %.0s' $(seq 1 400) > "$tmp/text.txt"
cfg() { # cfg THREADS OUT_DIR
cat <<JSON
{ "threads": $1, "out_dir": "$2",
  "model": {"dim": 32, "layers": 1, "heads": 4, "ffn": 64, "ctx": 32},
  "data": {"train": ["$tmp/text.txt"]},
  "base": {"steps": 2, "batch": 2}, "train": {"steps": 2, "batch": 2},
  "eval": {"suites": ["text"], "samples": 2, "val_tokens": 128} }
JSON
}
cfg 2 "$tmp/a" > "$tmp/a.json"
taskset -c 0 "$bin" "$tmp/a.json" 2> "$tmp/a.log" || fail "run on one CPU with threads 2: $(tail -2 "$tmp/a.log")"
n=$(grep -c "warning: .*threads" "$tmp/a.log" || true)
[ "$n" -eq 1 ] || fail "expected one thread warning, got $n: $(grep threads "$tmp/a.log")"
grep -q 'key "threads": 2 threads asked but this process may run on 1 CPU (affinity mask); using 1' "$tmp/a.log" ||
  fail "the warning does not name the key, the counts and the cap: $(grep threads "$tmp/a.log")"
cfg 1 "$tmp/b" > "$tmp/b.json"
taskset -c 0 "$bin" "$tmp/b.json" 2> "$tmp/b.log" || fail "run on one CPU with threads 1: $(tail -2 "$tmp/b.log")"
! grep -q "warning: .*threads" "$tmp/b.log" || fail "warned with threads 1 on one CPU: $(grep threads "$tmp/b.log")"
echo "threads: $(grep "warning: .*threads" "$tmp/a.log")"
echo "threads: ok"
