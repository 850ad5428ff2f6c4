#!/usr/bin/env bash
# Crash safety of qat_train (threads = 1, a tiny model, a checkpoint every 2 steps):
#  1. SIGKILL at random points, many times (half of the kills aimed at the
#     moment a checkpoint's temp file exists, i.e. during a checkpoint write):
#     after every kill each checkpoint in out_dir reads completely
#     (qat_ckpt_diff --check); --resume then continues, and the run finally
#     finishes with the same logged losses and the same final QAT weights
#     (bit for bit) as an uninterrupted run.
#  2. SIGINT and SIGTERM write a checkpoint and exit 2; the checkpoint loads
#     and --resume finishes.
#  3. Disk full (`ulimit -f` below the checkpoint size): a clear one-line
#     error naming the checkpoint, exit 1, the previous checkpoint byte-for-byte
#     intact, no temp file left; a later --resume finishes.
#  4. A NaN/Inf loss (learning rate 1e12): exit 1 with a message naming the
#     step; the last checkpoint is the last good one (it loads, its step is
#     before the failing step).
# QATC_CRASH_KILLS sets the number of kills (default 16).
set -euo pipefail
bin=${QATC_BIN:?}/qat_train
diff_tool=${QATC_BIN:?}/qat_ckpt_diff
kills=${QATC_CRASH_KILLS:-16}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_crash_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export OMP_NUM_THREADS=1

awk 'BEGIN { srand(11); w="the of and to a in is was he for it with as his on be at by had"; n=split(w, a, " ");
  for (i = 0; i < 3000; i++) { s = ""; k = 5 + int(rand() * 8); for (j = 0; j < k; j++) s = s a[1 + int(rand() * n)] " ";
  print s "." } }' > "$tmp/text.txt"

cfg() { # cfg OUT_DIR [QAT_LR [CKPT_EVERY]]
cat <<JSON
{ "seed": 5, "threads": 1, "out_dir": "$1",
  "model": {"dim": 32, "layers": 2, "heads": 4, "kv_heads": 2, "ffn": 64, "ctx": 32},
  "data": {"train": ["$tmp/text.txt", {"suite": "arith", "weight": 0.3}]},
  "base": {"steps": 100, "batch": 8, "lr": 3e-3, "warmup": 5},
  "quant": {"weights": {"bits": 4, "group": 16}},
  "train": {"steps": 300, "batch": 8, "lr": ${2:-5e-4}, "ckpt_every": ${3:-2}, "eval_every": 80, "log_every": 1},
  "eval": {"suites": ["text", "arith"], "samples": 10, "val_tokens": 1024} }
JSON
}
# losses per (stage, step), last occurrence wins (a resumed run re-logs steps after its checkpoint)
losses() { grep '"loss"' "$1" | sed -E 's/.*"stage": "([a-z]+)", "step": ([0-9]+), "loss": ([-0-9.e]+).*/\1 \2 \3/' | sort -k1,1 -k2,2n -u; }
check_all() { # every complete checkpoint in a run dir reads completely
  local f
  for f in "$1"/*.h5; do
    [ -e "$f" ] || continue
    "$diff_tool" --check "$f" > /dev/null 2> "$tmp/check.err" || fail "after $2: $(basename "$f") does not load: $(cat "$tmp/check.err")"
  done
}
tmp_files() { find "$1" -maxdepth 1 -name '*.tmp*' | wc -l; }

# ---- reference: one uninterrupted run
cfg "$tmp/a" > "$tmp/a.json"
start=$(date +%s%N)
"$bin" "$tmp/a.json" 2> "$tmp/a.log" || fail "reference run failed: $(tail -3 "$tmp/a.log")"
secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
losses "$tmp/a/metrics.jsonl" > "$tmp/la"
[ "$(wc -l < "$tmp/la")" -eq 400 ] || fail "reference run logged $(wc -l < "$tmp/la") losses, expected 400"

# ---- 1. random SIGKILLs
cfg "$tmp/b" > "$tmp/b.json"
n_kill=0; n_mid=0; n_done=0; resume=()
for i in $(seq 1 "$kills"); do
  "$bin" "$tmp/b.json" "${resume[@]}" >> "$tmp/b.out" 2>> "$tmp/b.log" &
  pid=$!
  resume=(--resume)
  if [ $((i % 2)) -eq 0 ]; then
    # aim at a checkpoint write: kill as soon as a temp checkpoint appears
    # (a busy loop of shell builtins: a checkpoint write lasts milliseconds)
    for _ in $(seq 1 200000); do
      compgen -G "$tmp/b/*.h5.tmp.$pid" > /dev/null && break
      kill -0 $pid 2>/dev/null || break
    done
  else
    sleep "$(awk -v s="$RANDOM" -v t="$secs" 'BEGIN { srand(s); printf "%.3f", 0.02 + rand() * t / 6 }')"
  fi
  [ -n "${QATC_CRASH_DEBUG:-}" ] && echo "kill $i: $(ls "$tmp/b" 2>/dev/null | tr "\n" " ")" >&2
  if kill -9 $pid 2>/dev/null; then
    wait $pid 2>/dev/null || true
    n_kill=$((n_kill + 1))
    compgen -G "$tmp/b/*.h5.tmp.$pid" > /dev/null && n_mid=$((n_mid + 1))
  else
    wait $pid || fail "run $i (not killed) failed: $(tail -3 "$tmp/b.log")"
    n_done=1
    break
  fi
  [ -d "$tmp/b" ] && check_all "$tmp/b" "kill $i"
done
if [ $n_done -eq 0 ]; then
  "$bin" "$tmp/b.json" --resume 2>> "$tmp/b.log" || fail "final resume failed: $(tail -3 "$tmp/b.log")"
fi
echo "crash_safety: uninterrupted run ${secs}s; $n_kill SIGKILLs, $n_mid of them left a temp checkpoint (killed mid-write)"
[ "$(tmp_files "$tmp/b")" -eq 0 ] || fail "temp checkpoint files left after the run finished: $(ls "$tmp/b")"
[ $n_kill -ge 4 ] || fail "only $n_kill kills landed: the run is too short for this test"
[ $n_mid -ge 1 ] || echo "note: no kill landed during a checkpoint write this time"
losses "$tmp/b/metrics.jsonl" > "$tmp/lb"
diff "$tmp/la" "$tmp/lb" > "$tmp/ldiff" || { head -5 "$tmp/ldiff"; fail "losses after $n_kill kills differ from the uninterrupted run"; }
"$diff_tool" "$tmp/a/qat.h5" "$tmp/b/qat.h5" --ignore config > "$tmp/wdiff" ||
  { head -5 "$tmp/wdiff"; fail "final QAT weights after $n_kill kills differ from the uninterrupted run"; }
"$diff_tool" "$tmp/a/base.h5" "$tmp/b/base.h5" --ignore config > /dev/null || fail "base weights differ after kills"

# ---- 2. SIGINT during the base stage, SIGTERM during QAT
for sig in INT TERM; do
  d="$tmp/s$sig"; cfg "$d" > "$d.json"
  want="$d/base.ckpt.h5"; [ $sig = TERM ] && want="$d/qat.ckpt.h5"
  "$bin" "$d.json" 2> "$d.log" &
  pid=$!
  for _ in $(seq 1 2000); do [ -f "$want" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.005; done
  kill -s $sig $pid 2>/dev/null || fail "SIG$sig: the run ended before the signal"
  set +e; wait $pid; rc=$?; set -e
  [ $rc -eq 2 ] || fail "SIG$sig: exit code $rc, expected 2: $(tail -2 "$d.log")"
  line=$(grep "interrupted: checkpoint" "$d.log") || fail "SIG$sig: no checkpoint message: $(tail -2 "$d.log")"
  step=$(echo "$line" | sed -E 's/.*step ([0-9]+).*/\1/')
  ck=$(echo "$line" | sed -E 's/.* written to (.*)$/\1/')
  "$diff_tool" --check "$ck" > "$d.check" 2>&1 || fail "SIG$sig: checkpoint $ck does not load: $(cat "$d.check")"
  grep -q "step $step\$" "$d.check" || fail "SIG$sig: message says step $step, checkpoint says: $(cat "$d.check")"
  "$bin" "$d.json" --resume 2>> "$d.log" || fail "SIG$sig: resume failed: $(tail -2 "$d.log")"
  diff "$tmp/la" <(losses "$d/metrics.jsonl") > /dev/null || fail "SIG$sig: resumed losses differ from the uninterrupted run"
done

# ---- 3. disk full while writing a checkpoint
d="$tmp/full"; cfg "$d" > "$d.json"
"$bin" "$d.json" 2> "$d.log" &
pid=$!
for _ in $(seq 1 2000); do [ -f "$d/qat.ckpt.h5" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.005; done
kill -TERM $pid 2>/dev/null || fail "disk full: the run ended before SIGTERM"
set +e; wait $pid; rc=$?; set -e
[ $rc -eq 2 ] || fail "disk full setup: exit $rc"
sum0=$(sha256sum < "$d/qat.ckpt.h5")
size_kb=$(( $(stat -c %s "$d/qat.ckpt.h5") / 1024 ))
set +e
( ulimit -f $((size_kb / 2)); exec "$bin" "$d.json" --resume ) 2> "$d.full.log"
rc=$?
set -e
[ $rc -eq 1 ] || fail "disk full: exit code $rc, expected 1: $(tail -2 "$d.full.log")"
msg=$(tail -1 "$d.full.log")
echo "$msg" | grep -q "qat.ckpt.h5" || fail "disk full: the error does not name the checkpoint: $msg"
echo "$msg" | grep -qiE "too large|no space|disk|quota|write" || fail "disk full: the error does not say what failed: $msg"
[ "$(sha256sum < "$d/qat.ckpt.h5")" = "$sum0" ] || fail "disk full: the previous checkpoint was modified"
[ "$(tmp_files "$d")" -eq 0 ] || fail "disk full: a temp file was left: $(ls "$d")"
"$diff_tool" --check "$d/qat.ckpt.h5" > /dev/null || fail "disk full: the previous checkpoint does not load"
"$bin" "$d.json" --resume 2>> "$d.log" || fail "disk full: resume with space failed: $(tail -2 "$d.log")"
echo "crash_safety: disk full -> $msg"

# ---- 4. NaN/Inf loss
d="$tmp/nan"; cfg "$d" 1e12 1 > "$d.json"
set +e; "$bin" "$d.json" 2> "$d.log"; rc=$?; set -e
[ $rc -eq 1 ] || fail "NaN: exit code $rc, expected 1: $(tail -2 "$d.log")"
msg=$(tail -1 "$d.log")
echo "$msg" | grep -qE "(NaN|Inf|non-finite).*step [0-9]+|step [0-9]+.*(NaN|Inf|non-finite)" ||
  fail "NaN: the error does not name NaN/Inf and the step: $msg"
bad=$(echo "$msg" | grep -oE "step [0-9]+" | head -1 | cut -d' ' -f2)
[ "$bad" -ge 2 ] || fail "NaN at step $bad: expected a first good step (and checkpoint) before it"
"$diff_tool" --check "$d/qat.ckpt.h5" > "$d.check" 2>&1 || fail "NaN: the last checkpoint does not load: $(cat "$d.check")"
good=$(sed -E 's/.*step (-?[0-9]+)$/\1/' "$d.check")
[ "$good" -eq $((bad - 1)) ] || fail "NaN: checkpoint step $good, expected the last good step $((bad - 1))"
[ "$(tmp_files "$d")" -eq 0 ] || fail "NaN: a temp file was left: $(ls "$d")"
echo "crash_safety: NaN -> $msg"
echo "crash_safety: ok"
