#!/usr/bin/env bash
# The llama.cpp types table of the README: QAT against llama.cpp's own quantization of the same
# FP32 base, per type, at the same file size. Runs examples/q4_k_m.json (FP32 base with text +
# arithmetic + recall, then the Q4_K_M preset: PTQ rtn, llamacpp (what llama-quantize writes) and
# llamacpp with an importance matrix from the calibration data, QAT with distillation, GGUF out),
# then the same from that base for every preset in PRESETS (default below; "type:T" trains every
# quantized Linear at the one type T instead of a preset's mixture). For each: bits per
# weight and bytes of the GGUF file, llama.cpp's mean NLL on held-out text (the last 8 KiB of
# data/brown.txt, byte tokens) beside qat_eval --faithful's, and the report's bits per byte and
# exact-match accuracies of llamacpp, llamacpp_imatrix and qat. Needs scripts/install_deps.sh
# (npm oracles included) and a build; ~5 min for the base and ~3 min per preset on 2 cores.
# usage: scripts/kquants.sh [PRESET|type:TYPE...]
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(Q4_K_M Q2_K Q3_K_M Q4_K_S Q5_K_M Q6_K Q4_0 Q8_0 type:IQ4_NL type:MXFP4)
py=/usr/bin/python3
scripts/prepare_run.sh > /dev/null
[ -d tests/oracles/node_modules/node-llama-cpp ] || { echo "run scripts/install_oracles.sh first" >&2; exit 1; }
mkdir -p runs/kquants
tail -c 8192 data/brown.txt | "$py" -c 'import sys; print(" ".join(map(str, sys.stdin.buffer.read())))' \
  > runs/kquants/tokens.txt
[ -e runs/q4_k_m/report.json ] || build/qat_train examples/q4_k_m.json
base=runs/q4_k_m/base.h5
rows=()
for p in "${presets[@]}"; do
  n=${p#type:}; out=runs/q4_k_m; [ "$p" = Q4_K_M ] || out=runs/kquants/$n
  if [ ! -e "$out/report.json" ]; then
    "$py" - "$p" "$out" "$base" > runs/kquants/$n.json <<'PY'
import json, sys
c = json.load(open("examples/q4_k_m.json"))
c["out_dir"] = sys.argv[2]
if sys.argv[1].startswith("type:"):  # one type for every Linear of the blocks and the output, as a preset
    del c["quant"]["preset"]
    c["quant"]["weights"] = {"type": sys.argv[1][5:]}
    c["quant"]["skip"] = []
else:
    c["quant"]["preset"] = sys.argv[1]
c["model"]["init"] = sys.argv[3]
c["export"] = [{"format": "gguf", "path": "model.gguf"}]
print(json.dumps(c, indent=1))
PY
    build/qat_train runs/kquants/$n.json > "runs/kquants/$n.log" 2>&1 || { tail -3 "runs/kquants/$n.log"; exit 1; }
  fi
  f=$(ls "$out"/*.gguf | head -1)
  L=$(cd tests/oracles && node llamacpp_nll.mjs "../../$f" ../../runs/kquants/tokens.txt 256 2>/dev/null)
  Q=$(build/qat_eval "$out/qat.h5" --faithful --tokens runs/kquants/tokens.txt --ctx 256 2>/dev/null)
  rows+=("$("$py" - "$p" "$f" "$out/report.json" "$L" "$Q" <<'PY'
import json, os, sys
p, f, rep, L, Q = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), json.loads(sys.argv[4]), json.loads(sys.argv[5])
m = rep["methods"]
def cell(k, key):
    v = m[k]
    return f"{v['val_bpb']:.4f} / {v['suites'].get('arith', 0):.3f} / {v['suites'].get('recall', 0):.3f}"
rel = abs(L["nll_mean"] - Q["nll_mean"]) / L["nll_mean"]
print(f"| {p} | {m['qat']['bits_per_weight']:.3f} | {os.path.getsize(f) / 1e6:.3f} | {L['nll_mean']:.6f} | "
      f"{Q['nll_mean']:.6f} | {rel:.1e} | {cell('llamacpp', 0)} | {cell('llamacpp_imatrix', 0)} | {cell('qat', 0)} |")
PY
)")
done
fp=$("$py" -c 'import json; v = json.load(open("runs/q4_k_m/report.json"))["methods"]["fp32"]
print("%.4f / %.3f / %.3f" % (v["val_bpb"], v["suites"]["arith"], v["suites"]["recall"]))')
echo "FP32 base: val bpb / arith / recall = $fp"
echo
echo "| preset or type | bits/weight | GGUF MB | llama.cpp NLL | qatc --faithful NLL | rel. diff | llama.cpp PTQ bpb / arith / recall | llama.cpp PTQ + imatrix | QAT |"
echo "|---|---:|---:|---:|---:|---:|---|---|---|"
printf '%s\n' "${rows[@]}"
