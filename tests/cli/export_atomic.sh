#!/usr/bin/env bash
# No partial exports. Every exporter writes a temp name beside its target
# (a file "<path>.tmp.<pid>", a directory "<dir>.tmp.<pid>" for the HF, AWQ,
# GPTQ and compressed-tensors directories), fsyncs and renames it into place.
# With a file size limit (`ulimit -f`) hit during an export: exit 1, one line
# naming the file and the OS error, nothing under the final name (a new
# export) or the previous export byte-for-byte unchanged (a re-export), no
# temp file or directory left. A successful re-export replaces the old
# directory whole; a directory holding subdirectories is never replaced.
set -euo pipefail
bin=${QATC_BIN:?}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_export_atomic_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export OMP_NUM_THREADS=1

awk 'BEGIN { srand(11); w="the of and to a in is was he for it with as his on be at by had"; n=split(w, a, " ");
  for (i = 0; i < 2000; i++) { s = ""; k = 5 + int(rand() * 8); for (j = 0; j < k; j++) s = s a[1 + int(rand() * n)] " ";
  print s "." } }' > "$tmp/text.txt"
cat > "$tmp/c.json" <<JSON
{ "seed": 5, "threads": 1, "out_dir": "$tmp/run",
  "model": {"dim": 64, "layers": 2, "heads": 4, "kv_heads": 2, "ffn": 128, "ctx": 32},
  "data": {"train": ["$tmp/text.txt"]},
  "base": {"steps": 20, "batch": 4}, "train": {"steps": 10, "batch": 4, "eval_every": 100},
  "quant": {"weights": {"bits": 4, "group": 32}, "skip": ["output.weight", "tok_embeddings.weight"]},
  "eval": {"suites": ["text"], "samples": 5, "val_tokens": 256},
  "export": [{"format": "awq", "path": "awq"}, {"format": "gguf", "path": "m.gguf"}] }
JSON
"$bin/qat_train" "$tmp/c.json" 2> "$tmp/train.log" || fail "training run: $(tail -2 "$tmp/train.log")"
[ -f "$tmp/run/awq/model.safetensors" ] && [ -f "$tmp/run/m.gguf" ] || fail "the run's exports are missing"
ckpt="$tmp/run/qat.h5"
temps() { find "$tmp/run" -name '*.tmp.*' | wc -l; }
sum() { (cd "$1" && find . -type f | sort | xargs sha256sum) 2>/dev/null || sha256sum < "$1"; }

limited() { # limited KB OUT FORMAT [ARGS...]: qat_export under ulimit -f KB, must fail cleanly
  local kb=$1 out=$2 fmt=$3; shift 3
  local existed=0 before=""
  [ -e "$out" ] && existed=1 && before=$(sum "$out")
  set +e; ( ulimit -f "$kb"; exec "$bin/qat_export" "$ckpt" --format "$fmt" -o "$out" "$@" ) > /dev/null 2> "$tmp/err"; rc=$?; set -e
  [ $rc -eq 1 ] || fail "$fmt -> $out under ulimit -f $kb: exit $rc, expected 1: $(cat "$tmp/err")"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "$fmt: expected one line, got: $(cat "$tmp/err")"
  grep -q "File too large" "$tmp/err" || fail "$fmt: the message lacks the OS error: $(cat "$tmp/err")"
  grep -qF "$(basename "$out")" "$tmp/err" || fail "$fmt: the message does not name the file: $(cat "$tmp/err")"
  if [ $existed -eq 1 ]; then
    [ "$(sum "$out")" = "$before" ] || fail "$fmt: the previous export $out was changed by the failed one"
  else
    [ ! -e "$out" ] || fail "$fmt: a partial export was left under the final name $out"
  fi
  [ "$(temps)" -eq 0 ] || fail "$fmt: temp files left: $(find "$tmp/run" -name '*.tmp.*')"
  echo "export_atomic: $fmt -> $(cat "$tmp/err")"
}
# new exports (nothing there before)
limited 8 "$tmp/run/new.gguf" gguf --type F32
limited 8 "$tmp/run/new_awq" awq
limited 8 "$tmp/run/new_hf" hf --type F32
limited 8 "$tmp/run/new_gptq" gptq
limited 8 "$tmp/run/new_ct" compressed-tensors
# re-exports over the run's own exports
limited 8 "$tmp/run/m.gguf" gguf
limited 8 "$tmp/run/awq" awq
# a directory re-export that succeeds replaces the old one whole (F32 -> F16: other bytes)
"$bin/qat_export" "$ckpt" --format hf --type F32 -o "$tmp/run/hf" 2> "$tmp/err" || fail "hf F32: $(cat "$tmp/err")"
s32=$(stat -c %s "$tmp/run/hf/model.safetensors")
echo junk > "$tmp/run/hf/stale.txt"
"$bin/qat_export" "$ckpt" --format hf --type F16 --requantize -o "$tmp/run/hf" 2> "$tmp/err" || fail "hf F16: $(cat "$tmp/err")"
s16=$(stat -c %s "$tmp/run/hf/model.safetensors")
[ "$s16" -lt "$s32" ] || fail "re-export did not replace model.safetensors ($s32 -> $s16 bytes)"
[ ! -e "$tmp/run/hf/stale.txt" ] || fail "re-export kept a file of the old directory"
[ "$(temps)" -eq 0 ] || fail "temp left after a replacing export: $(find "$tmp/run" -name '*.tmp.*')"
# never replaces a directory that holds more than an export (e.g. the run directory itself)
set +e; "$bin/qat_export" "$ckpt" --format awq -o "$tmp/run" > /dev/null 2> "$tmp/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "not a regular file" "$tmp/err" || fail "export over the run directory: rc $rc: $(cat "$tmp/err")"
[ -f "$tmp/run/qat.h5" ] || fail "the run directory was replaced"
echo "export_atomic: ok"
