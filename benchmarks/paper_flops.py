"""FLOPs and GPU-hours of the paper experiments' training, from their configs, on a CPU: one
update of each run kind (teacher, plain student, WD Phase-1 generator) on fake tensors at the
real vocabulary (wd.train.flops), times the config's micro-batches an update and updates.

A micro-batch is taken as ``max_tokens`` target tokens in sentences of 32 (an upper bound:
``max_tokens`` counts padded tokens of the longer side). GPU-hours are at a stated fraction of
a stated peak (default: H100 SXM dense bf16, 989 TFLOP/s, at 35%, a typical fraction for
Transformer-base training; measure yours with benchmarks/gpu_check.sh). Prints a table and
writes CSV.

    python benchmarks/paper_flops.py --out paper_flops.csv [--peak-tflops 989 --fraction 0.35]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from wd import methods
from wd.config import read_configs, shape, student_methods
from wd.io import write_csv
from wd.settings import ModelConfig
from wd.train.flops import fake_update, generator, plain

REPO = Path(__file__).resolve().parent.parent
CONFIGS = ("wmt16_en_ro", "wmt14_en_de", "nist12_zh_en")
LENGTH = 32  # tokens a sentence in the fake micro-batch


def config_runs(name: str) -> list[tuple[str, ModelConfig, ModelConfig | None, dict, int]]:
    """(run, model or student shape, teacher shape for a Phase-1 run, train section, steps)."""
    config = read_configs([REPO / "configs" / f"{name}.yaml"])
    vocab = config["bpe"]["vocab_size"]
    teacher = ModelConfig(vocab_size=vocab, **shape(config, "teacher"))
    train = config["teacher"]["train"]
    runs = [("teacher", teacher, None, train, train["steps"])]
    phase1 = config["wd"]["phase1_steps"]
    for student in config["students"]:
        cfg = ModelConfig(vocab_size=vocab, **shape(config, student["name"]))
        chained = {r.name: r for m in student_methods(config, student["name"])
                   for r in methods.get(m).runs}
        for run_name, run in sorted(chained.items()):
            steps = config["student_train"]["steps"]
            if run.generator:
                steps = phase1
            elif run.budget == methods.PHASE2_BUDGET:
                steps -= phase1
            runs.append((f"{student['name']}/{run_name}", cfg, teacher if run.generator else None,
                         config["student_train"], steps * len(config["seeds"])))
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS))
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    ap.add_argument("--fraction", type=float, default=0.35)
    ap.add_argument("--out", type=Path, default=Path("paper_flops.csv"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    cache: dict[tuple, int] = {}
    rows = []
    for name in args.configs:
        for run, cfg, teacher, train, steps in config_runs(name):
            tokens = train["max_tokens"]
            key = (cfg, teacher, tokens)
            if key not in cache:
                build = generator(teacher, cfg) if teacher else plain(cfg)
                cache[key] = fake_update(build, cfg.vocab_size, tokens // LENGTH, LENGTH).flops
            per_update = cache[key] * train.get("update_freq", 1)
            total = per_update * steps
            hours = total / (args.peak_tflops * 1e12 * args.fraction) / 3600
            rows.append({"config": name, "run": run,
                         "tflop_per_update": round(per_update / 1e12, 2), "updates": steps,
                         "pflop": round(total / 1e15, 1), "gpu_hours": round(hours, 2)})
    write_csv(args.out, rows)
    print(" | ".join(rows[0]))
    for row in rows:
        print(" | ".join(str(v) for v in row.values()))
    for name in args.configs:
        hours = sum(r["gpu_hours"] for r in rows if r["config"] == name)
        print(f"{name}: {hours:.1f} GPU-hours at {args.fraction:.0%} of {args.peak_tflops:g} "
              "TFLOP/s")


if __name__ == "__main__":
    main()
