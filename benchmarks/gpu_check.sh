#!/usr/bin/env bash
# The GPU path in a few minutes, on one GPU: the micro pipeline end to end on cuda (KD data
# with kd.engine auto: CTranslate2 where it translates on the GPU, else ours), a training step
# in bf16 (achieved FLOP/s against a bf16 matrix-product peak measured on the same GPU), and
# decoding speed of every engine; one table at the end, the details in OUT_DIR. Each step runs
# whatever the others did: a failed one is reported in the table with its log.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      # default: gpu_check/
#
# KIT=/path/to/kit first installs the project (and CTranslate2, if the kit has it) from an
# offline kit (wd-offline-kit; a node without network access that has PyTorch: docs/cluster.md).
#
# DEVICE=cpu runs the same on a CPU, to check the script itself; the paper shapes are slow there,
# so give smaller sizes too, e.g. TRAIN_ARGS="--models stu2 --vocab 2000 --max-tokens 512
# --steps 2 --warmup 1" DECODE_ARGS="--models stu2 --sentences 32 --beams 4".
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-gpu_check}")
device=${DEVICE:-cuda}
precision=${PRECISION:-$([ "$device" = cuda ] && echo bf16 || echo fp32)}
gpus=$([ "$device" = cuda ] && echo 1 || echo 0)
mkdir -p "$out"
began=$(date +%s)

if [ -n "${KIT:-}" ]; then
    echo "0/3 installing from the offline kit $KIT (log: $out/install.log)"
    python -m pip install --no-index --find-links "$KIT" -e . >"$out/install.log" 2>&1 ||
        { echo "installing from $KIT failed: $out/install.log"; exit 1; }
    if compgen -G "$KIT/ctranslate2-*.whl" >/dev/null; then  # a kit made with --ctranslate2
        python -m pip install --no-index --find-links "$KIT" ctranslate2 >>"$out/install.log" 2>&1 ||
            echo "installing CTranslate2 from $KIT failed (the checks run without it): $out/install.log"
    fi
fi

# step NAME COMMAND...: run one check, its output to NAME.log, its status to NAME.status
step() {
    local name=$1
    shift
    local start
    start=$(date +%s)
    "$@" >"$out/$name.log" 2>&1
    echo $? >"$out/$name.status"
    echo $(($(date +%s) - start)) >"$out/$name.seconds"
}

echo "1/3 micro pipeline on $device, kd.engine auto (log: $out/micro.log)"
printf 'kd: {engine: auto}\n' >"$out/kd_auto.yaml"
step micro python -m snakemake --cores "$(nproc)" all --configfile tests/micro.yaml \
    "$out/kd_auto.yaml" --config device="$device" gpus="$gpus" results_dir="$out/micro"

echo "2/3 training speed, $precision (log: $out/train_speed.log)"
# shellcheck disable=SC2086  # the extra arguments are meant to split
step train_speed python benchmarks/train_speed.py --device "$device" --precisions "$precision" \
    --peak --steps 10 --warmup 3 ${TRAIN_ARGS:-} --out "$out/train_speed.csv"

echo "3/3 decoding speed (log: $out/decode_speed.log)"
# shellcheck disable=SC2086
step decode_speed python benchmarks/decode_speed.py --device "$device" --sentences 1024 \
    --batch 64 --repeats 2 ${DECODE_ARGS:-} --out "$out/decode_speed.csv"

python - "$out" "$device" $(($(date +%s) - began)) <<'EOF'
"""One table from the three checks' files."""
import sys
from pathlib import Path

import pandas as pd
import torch

out, device, seconds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
rows = [("device", f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}")]


def failed(step: str) -> bool:
    """Whether a check failed; its row then says so and names its log."""
    status = int((out / f"{step}.status").read_text())
    if status:
        rows.append((step, f"FAILED (exit {status}): {out / step}.log"))
    return bool(status)


if not failed("micro"):
    table = pd.read_csv(out / "micro" / "micro" / "tables" / "results.csv")
    engine = table.kd_engine.dropna().iloc[0] if "kd_engine" in table else "ours"
    rows.append(("micro pipeline", f"{len(table)} systems evaluated on {table.device.iloc[0]} in "
                 f"{(out / 'micro.seconds').read_text().strip()} s; BLEU "
                 f"{table.bleu.min():.1f}-{table.bleu.max():.1f}; KD data by {engine}; "
                 f"CTranslate2 columns: {'yes' if 'ct2_sents_per_sec' in table else 'no'}"))

def records(step: str) -> list[dict]:
    """The rows of a benchmark's CSV; none where it failed."""
    return [] if failed(step) else pd.read_csv(out / f"{step}.csv").to_dict("records")


rows += [(f"train {r['model']} {r['precision']} {r['engine']}",
          f"{r['tokens_per_sec']:,.0f} target tok/s, {r['tflops_per_sec']:.3g} TFLOP/s = "
          f"{r['peak_fraction']:.1%} of the measured {r['peak_tflops']:.3g} TFLOP/s peak")
         for r in records("train_speed")]
rows += [(f"decode {r['model']} beam {r['beam']} {r['engine']}",
          f"{r['tokens_per_sec']:,.0f} tok/s, {r['sents_per_sec']:,.1f} sent/s")
         for r in records("decode_speed")]
rows.append(("total", f"{seconds} s"))
width = max(len(k) for k, _ in rows)
print(f"\n{'check':{width}}  result")
for key, value in rows:
    print(f"{key:{width}}  {value}")
EOF
# The exit status says whether every check passed.
! grep -qv '^0$' "$out"/micro.status "$out"/train_speed.status "$out"/decode_speed.status
