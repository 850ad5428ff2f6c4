#!/usr/bin/env bash
# One qat_train per out_dir: while a run holds out_dir/.lock (flock), a second
# qat_train on the same out_dir (with or without --resume) exits 1 with one
# line naming the out_dir and the holder's pid, and changes nothing. After the
# holder is killed (SIGKILL: the kernel drops the lock) --resume works.
# Also: the run re-executed itself with libgomp's passive wait policy
# (OMP_WAIT_POLICY=passive in its environment) because the test's environment
# sets neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT, and keeps a user's setting.
set -euo pipefail
bin=${QATC_BIN:?}/qat_train
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qatc_lock_XXXXXX")
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
unset OMP_WAIT_POLICY GOMP_SPINCOUNT

awk 'BEGIN { srand(11); w="the of and to a in is was he for it with as his on be at by had"; n=split(w, a, " ");
  for (i = 0; i < 3000; i++) { s = ""; k = 5 + int(rand() * 8); for (j = 0; j < k; j++) s = s a[1 + int(rand() * n)] " ";
  print s "." } }' > "$tmp/text.txt"
cat > "$tmp/c.json" <<JSON
{ "seed": 5, "threads": 1, "out_dir": "$tmp/run",
  "model": {"dim": 32, "layers": 2, "heads": 4, "kv_heads": 2, "ffn": 64, "ctx": 32},
  "data": {"train": ["$tmp/text.txt"]},
  "base": {"steps": 100000, "batch": 8, "lr": 3e-3, "warmup": 5},
  "train": {"steps": 20, "batch": 8, "lr": 5e-4, "ckpt_every": 10, "eval_every": 80},
  "eval": {"suites": ["text"], "samples": 10, "val_tokens": 1024} }
JSON
"$bin" "$tmp/c.json" 2> "$tmp/a.log" &
pid=$!
while [ ! -f "$tmp/run/base.ckpt.h5" ] && kill -0 $pid 2>/dev/null; do sleep 0.05; done
kill -0 $pid 2>/dev/null || fail "the first run ended early: $(tail -2 "$tmp/a.log")"
tr '\0' '\n' < /proc/$pid/environ | grep -qx "OMP_WAIT_POLICY=passive" ||
  fail "the run did not re-execute itself with OMP_WAIT_POLICY=passive"

for args in "" "--resume"; do
  set +e; "$bin" "$tmp/c.json" $args > "$tmp/out" 2> "$tmp/err"; rc=$?; set -e
  [ $rc -eq 1 ] || fail "second run ${args:-(no flag)}: exit code $rc, expected 1: $(cat "$tmp/err")"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "second run ${args}: expected one line, got: $(cat "$tmp/err")"
  grep -qF "$tmp/run" "$tmp/err" || fail "second run ${args}: the message does not name the out_dir: $(cat "$tmp/err")"
  grep -qw "pid $pid" "$tmp/err" || fail "second run ${args}: the message does not name the holder's pid $pid: $(cat "$tmp/err")"
  kill -0 $pid 2>/dev/null || fail "the first run ended while the second was refused"
done
echo "out_dir_lock: refused -> $(cat "$tmp/err")"

kill -9 $pid; wait $pid 2>/dev/null || true; pid=
# the killed run's checkpoint is resumed (base steps shortened by a new config of the same run)
sed -i 's/"steps": 100000/"steps": 60/' "$tmp/c.json"
"$bin" "$tmp/c.json" --resume 2> "$tmp/r.log" || fail "--resume after the kill failed: $(tail -2 "$tmp/r.log")"
grep -q "resumed from" "$tmp/r.log" || fail "--resume did not load the killed run's checkpoint: $(tail -3 "$tmp/r.log")"
[ -f "$tmp/run/qat.h5" ] || fail "--resume did not finish the run"

# a user's wait policy is kept (no re-exec, no override)
sed -i 's/"steps": 60/"steps": 100000/' "$tmp/c.json"
rm -rf "$tmp/run"
GOMP_SPINCOUNT=1000 "$bin" "$tmp/c.json" 2> "$tmp/a.log" &
pid=$!
while [ ! -f "$tmp/run/base.ckpt.h5" ] && kill -0 $pid 2>/dev/null; do sleep 0.05; done
kill -0 $pid 2>/dev/null || fail "the GOMP_SPINCOUNT run ended early: $(tail -2 "$tmp/a.log")"
if tr '\0' '\n' < /proc/$pid/environ | grep -q "^OMP_WAIT_POLICY="; then
  fail "OMP_WAIT_POLICY was set although the user set GOMP_SPINCOUNT"
fi
kill -9 $pid; wait $pid 2>/dev/null || true; pid=
echo "out_dir_lock: ok"
