#!/usr/bin/env bash
# Step time of a small QAT model (bench_train qat_w4g32, 2 threads) under
# three OpenMP wait policies, alone and beside a competing OpenMP process
# (another bench_train, 2 threads, libgomp's default policy: it spins),
# on a machine with 2 CPUs. Prints one markdown row per case: median and
# minimum ms/step over ROUNDS runs.
# usage: bench/oversubscription.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
b=${1:-build}/bench_train
rounds=${2:-3}
shape=(--variant qat_w4g32 --dim 128 --layers 2 --heads 4 --ffn 352 --ctx 128 --batch 8 --threads 2 --steps 12 --warmup 2)
run() { # run ENV... : prints "median min" ms/step of one bench_train
  env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$@" "$b" "${shape[@]}" 2>&1 |
    sed -nE 's/.* ([0-9.]+) ms\/step.*min ([0-9.]+) max.*/\1 \2/p'
}
declare -A policies=([default]="" [spin10k]="GOMP_SPINCOUNT=10000" [passive]="OMP_WAIT_POLICY=passive")
echo "| policy | quiet ms/step (mean, min) | beside a spinning OpenMP process ms/step (mean, min) |"
echo "|---|---:|---:|"
for p in default spin10k passive; do
  q=(); c=()
  for r in $(seq 1 "$rounds"); do
    q+=("$(run ${policies[$p]})")
    # the competitor in its own session: bench_train forks, so the whole group is killed
    setsid env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$b" --variant fp32 --threads 2 --steps 100000 --warmup 0 \
      > /dev/null 2>&1 &
    comp=$!
    sleep 2
    c+=("$(run ${policies[$p]})")
    kill -- -$comp; wait $comp 2>/dev/null || true
  done
  med() { # "median of the means, min of the mins"
    printf '%.0f, %.0f' "$(printf '%s\n' "$@" | cut -d' ' -f1 | sort -n | sed -n "$(( ($# + 1) / 2 ))p")" \
      "$(printf '%s\n' "$@" | cut -d' ' -f2 | sort -n | head -1)"
  }
  echo "| $p | $(med "${q[@]}") | $(med "${c[@]}") |"
done
