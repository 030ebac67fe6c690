"""Cost of a WD Phase-1 step against a plain (KD) student step of the same student shape.

Same random teacher weights, same student shape, same batches. Each variant runs in a fresh
process so that its peak resident memory (ru_maxrss) is its own; time per step is the median
of the timed steps after warm-up. Prints a table and writes CSV.

    python benchmarks/phase1_cost.py --out phase1_cost.csv            # the toy default shapes
    python benchmarks/phase1_cost.py --shapes paper --out paper.csv   # Transformer-base, stu1/stu2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from wd.config import shape
from wd.io import write_csv
from wd.model.generator import Phase1Model, generator_parameters
from wd.model.transformer import Transformer, count_parameters
from wd.settings import ModelConfig
from wd.train.device import autocast

REPO = Path(__file__).resolve().parent.parent
PAPER_TEACHER = dict(enc_layers=6, dec_layers=6, enc_dim=512, dec_dim=512, enc_ffn=2048,
                     dec_ffn=2048, enc_heads=8, dec_heads=8, dropout=0.1)
PAPER_STUDENTS = {"stu1": dict(dec_layers=1, dec_dim=256, dec_ffn=1024, dec_heads=4),
                  "stu2": dict(dec_layers=2)}


def shapes(kind: str, vocab: int) -> tuple[ModelConfig, dict[str, ModelConfig]]:
    if kind == "paper":
        return (ModelConfig(vocab_size=vocab, **PAPER_TEACHER),
                {name: ModelConfig(vocab_size=vocab, **{**PAPER_TEACHER, **over})
                 for name, over in PAPER_STUDENTS.items()})
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    return (ModelConfig(vocab_size=vocab, **shape(config, "teacher")),
            {s["name"]: ModelConfig(vocab_size=vocab, **shape(config, s["name"]))
             for s in config["students"]})


def measure(variant: str, teacher_cfg: ModelConfig, student_cfg: ModelConfig, args, queue) -> None:
    """Train ``args.steps`` steps of one variant; report time per step and peak memory."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if variant == "phase1":
        teacher = Transformer(teacher_cfg).state_dict()
        model: torch.nn.Module = Phase1Model(teacher, teacher_cfg, student_cfg)
        del teacher
        trainable = generator_parameters(model)
    else:
        model = Transformer(student_cfg)
        trainable = count_parameters(model)
    model.train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, student_cfg.vocab_size, (args.batch, args.length), generator=g)
    tgt = torch.randint(4, student_cfg.vocab_size, (args.batch, args.length), generator=g)
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        with autocast(torch.device("cpu"), args.amp):
            logits = model(src, tgt)
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), tgt.view(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    queue.put({"seconds_per_step": statistics.median(times), "trainable_params": trainable,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run_variant(variant: str, teacher_cfg, student_cfg, args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=measure, args=(variant, teacher_cfg, student_cfg, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", choices=["toy", "paper"], default="toy")
    parser.add_argument("--vocab", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=64, help="sentences per batch")
    parser.add_argument("--length", type=int, default=25, help="tokens per sentence")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--amp", choices=["auto", "bf16", "none"], default="auto",
                        help="as the config's amp (auto: bf16 only on CPUs with native bf16)")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write")
    args = parser.parse_args(argv)

    teacher_cfg, students = shapes(args.shapes, args.vocab)
    rows = []
    for name, student_cfg in students.items():
        kd = run_variant("kd", teacher_cfg, student_cfg, args)
        wd = run_variant("phase1", teacher_cfg, student_cfg, args)
        for variant, r in (("kd_student", kd), ("wd_phase1", wd)):
            rows.append({"shapes": args.shapes, "student": name, "variant": variant,
                         "batch": args.batch, "length": args.length, "threads": args.threads,
                         "amp": args.amp, **r,
                         "time_ratio_vs_kd": round(r["seconds_per_step"]
                                                   / kd["seconds_per_step"], 2),
                         "memory_ratio_vs_kd": round(r["peak_rss_mb"] / kd["peak_rss_mb"], 2)})
    write_csv(args.out, rows)
    print(f"{'student':8} {'variant':11} {'s/step':>8} {'x KD':>6} {'peak MB':>8} {'x KD':>6} "
          f"{'trainable':>11}")
    for r in rows:
        print(f"{r['student']:8} {r['variant']:11} {r['seconds_per_step']:8.3f} "
              f"{r['time_ratio_vs_kd']:6.2f} {r['peak_rss_mb']:8.0f} "
              f"{r['memory_ratio_vs_kd']:6.2f} "
              f"{r['trainable_params']:11,}")


if __name__ == "__main__":
    sys.exit(main())
