#!/usr/bin/env bash
# The GPU path in a few minutes, on one GPU: the micro pipeline end to end on cuda, a training
# step in bf16 (achieved FLOP/s against a bf16 matrix-product peak measured on the same GPU),
# and decoding speed of every engine; one table at the end, the details in OUT_DIR.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      # default: gpu_check/
#
# DEVICE=cpu runs the same on a CPU, to check the script itself; the paper shapes are slow there,
# so give smaller sizes too, e.g. TRAIN_ARGS="--models stu2 --vocab 2000 --max-tokens 512
# --steps 2 --warmup 1" DECODE_ARGS="--models stu2 --sentences 32 --beams 4".
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-gpu_check}")
device=${DEVICE:-cuda}
precision=${PRECISION:-$([ "$device" = cuda ] && echo bf16 || echo fp32)}
gpus=$([ "$device" = cuda ] && echo 1 || echo 0)
mkdir -p "$out"
began=$(date +%s)

echo "1/3 micro pipeline on $device (log: $out/micro.log)"
start=$(date +%s)
python -m snakemake --cores "$(nproc)" all --configfile tests/micro.yaml \
    --config device="$device" gpus="$gpus" results_dir="$out/micro" >"$out/micro.log" 2>&1
echo $(($(date +%s) - start)) >"$out/micro.seconds"

echo "2/3 training speed, $precision (log: $out/train_speed.log)"
# shellcheck disable=SC2086  # the extra arguments are meant to split
python benchmarks/train_speed.py --device "$device" --precisions "$precision" --peak \
    --steps 10 --warmup 3 ${TRAIN_ARGS:-} --out "$out/train_speed.csv" >"$out/train_speed.log" 2>&1

echo "3/3 decoding speed (log: $out/decode_speed.log)"
# shellcheck disable=SC2086
python benchmarks/decode_speed.py --device "$device" --sentences 1024 --batch 64 --repeats 2 \
    ${DECODE_ARGS:-} --out "$out/decode_speed.csv" >"$out/decode_speed.log" 2>&1

python - "$out" "$device" $(($(date +%s) - began)) <<'EOF'
"""One table from the three checks' files."""
import sys
from pathlib import Path

import pandas as pd
import torch

out, device, seconds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
rows = [("device", f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}")]
table = pd.read_csv(out / "micro" / "micro" / "tables" / "results.csv")
rows.append(("micro pipeline", f"{len(table)} systems evaluated on {table.device.iloc[0]} in "
             f"{(out / 'micro.seconds').read_text().strip()} s; BLEU "
             f"{table.bleu.min():.1f}-{table.bleu.max():.1f}; CTranslate2 columns: "
             f"{'yes' if 'ct2_sents_per_sec' in table else 'no'}"))
for r in pd.read_csv(out / "train_speed.csv").to_dict("records"):
    rows.append((f"train {r['model']} {r['precision']} {r['engine']}",
                 f"{r['tokens_per_sec']:,.0f} target tok/s, {r['tflops_per_sec']:.3g} TFLOP/s = "
                 f"{r['peak_fraction']:.1%} of the measured {r['peak_tflops']:.3g} TFLOP/s peak"))
for r in pd.read_csv(out / "decode_speed.csv").to_dict("records"):
    rows.append((f"decode {r['model']} beam {r['beam']} {r['engine']}",
                 f"{r['tokens_per_sec']:,.0f} tok/s, {r['sents_per_sec']:,.1f} sent/s"))
rows.append(("total", f"{seconds} s"))
width = max(len(k) for k, _ in rows)
print(f"\n{'check':{width}}  result")
for key, value in rows:
    print(f"{key:{width}}  {value}")
EOF
