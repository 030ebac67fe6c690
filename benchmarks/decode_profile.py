"""Where our beam search spends its time: torch's profiler over beam-4 batches of a preset's
shapes (benchmarks/decode_speed.py: random weights, fixed output length), the operators by self
CPU time, and the share of the wall time that no operator accounts for (Python between them).

    python benchmarks/decode_profile.py --preset toy --model stu1 --out profile_stu1.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from decode_speed import PRESETS, build_model, forced_length
from torch.profiler import ProfilerActivity, profile

from wd.data.batching import source_tensor
from wd.decode.incremental import IncrementalDecoder
from wd.decode.search import beam_search
from wd.io import write_csv


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="CSV of the operators")
    p.add_argument("--preset", choices=list(PRESETS), default="toy")
    p.add_argument("--model", default="stu1", help="a shape of the preset")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--batches", type=int, default=5, help="profiled (after 3 untimed)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    preset = PRESETS[args.preset]()
    model = build_model(preset.shapes[args.model], preset.vocab, seed=1)
    g = torch.Generator().manual_seed(1)
    src = source_tensor(torch.randint(4, preset.vocab, (args.batch, preset.src_len - 1),
                                      generator=g).tolist())
    s = forced_length(args.beam, args.batch, preset.out_len)
    decoder = IncrementalDecoder(model)
    for _ in range(3):
        beam_search(decoder, src, s, encoder=model)
    start = time.perf_counter()
    for _ in range(args.batches):
        beam_search(decoder, src, s, encoder=model)
    wall = (time.perf_counter() - start) / args.batches
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.batches):
            beam_search(decoder, src, s, encoder=model)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [{"operator": e.key, "calls_per_batch": e.count / args.batches,
             "self_ms_per_batch": round(e.self_cpu_time_total / 1000 / args.batches, 3)}
            for e in ops]
    accounted = sum(r["self_ms_per_batch"] for r in rows)
    print(f"{args.model}, beam {args.beam}, {args.batch} sentences of {preset.src_len} tokens, "
          f"{preset.out_len} output tokens: {wall * 1000:.1f} ms a batch unprofiled; the "
          f"operators account for {accounted:.1f} ms of the profiled batch")
    print(f"{'operator':52} {'calls':>7} {'ms':>8} {'share':>6}")
    for r in rows[:15]:
        print(f"{r['operator'][:52]:52} {r['calls_per_batch']:>7.0f} "
              f"{r['self_ms_per_batch']:>8.2f} {r['self_ms_per_batch'] / accounted:>6.1%}")
    write_csv(args.out, rows)


if __name__ == "__main__":
    main()
