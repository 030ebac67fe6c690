"""Training speed on a machine that is also doing something else (a laptop, a shared node):
the same training updates alone and beside one busy process, for each way of running the job's
threads, so that the default is chosen from numbers.

Each variant runs in a fresh process (OpenMP reads its settings at start): ``threads`` intra-op
threads, with ``OMP_WAIT_POLICY`` as given (PyTorch's OpenMP spins waiting threads by default;
PASSIVE makes them sleep). The busy process is one thread of matrix products, as another
training job or a compiler would be. The model is the toy default's teacher shape at 2000 tokens
an update on a synthetic corpus (``--shape multi30k``: the Multi30k teacher's at 4096). Reports
updates/s, median of the timed updates; prints a table of each variant alone and beside the busy
process, and its ratio to the default alone; writes CSV. Run it with nothing else running.

    python benchmarks/busy_cpu.py --out busy_cpu.csv
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from wd.io import write_csv

VARIANTS = {"2 threads": (2, None), "2 threads, OMP_WAIT_POLICY=PASSIVE": (2, "PASSIVE"),
            "1 thread": (1, None)}
SHAPES = {"toy": (dict(enc_layers=3, dec_layers=3, enc_dim=128, dec_dim=128, enc_ffn=512,
                       dec_ffn=512, enc_heads=4, dec_heads=4, dropout=0.1, pre_norm=True),
                  1000, 2000),
          "multi30k": (dict(enc_layers=3, dec_layers=3, enc_dim=128, dec_dim=128, enc_ffn=512,
                            dec_ffn=512, enc_heads=4, dec_heads=4, dropout=0.1, pre_norm=True),
                       8000, 4096)}

# One variant's timed updates, in a process of its own: python -c CHILD shape steps
CHILD = r"""
import json, statistics, sys, tempfile, time
from pathlib import Path
import torch
sys.path.insert(0, sys.argv[4])
from busy_cpu import SHAPES, corpus
from wd.data.batching import epoch_batches
from wd.model.transformer import Transformer
from wd.settings import ModelConfig, TrainSettings
from wd.train.trainer import Trainer
torch.set_num_threads(int(sys.argv[3]))
shape, vocab, tokens = SHAPES[sys.argv[1]]
pairs = corpus(vocab)
torch.manual_seed(0)
with tempfile.TemporaryDirectory() as work:
    trainer = Trainer(Transformer(ModelConfig(vocab_size=vocab, **shape)), pairs, pairs[:8],
                      TrainSettings(steps=10**6, max_tokens=tokens, lr=1e-3, warmup=10),
                      Path(work), torch.device("cpu"))
    batches = epoch_batches(pairs, tokens, 0, 0)
    seconds = []
    for step in range(int(sys.argv[2])):
        start = time.perf_counter()
        trainer.update([[pairs[i] for i in batches[step]]])
        seconds.append(time.perf_counter() - start)
print(json.dumps(seconds))
"""

BUSY = ("import torch; torch.set_num_threads(1); a = torch.randn(512, 512)\n"
        "while True: a = (a @ a).tanh()")


def corpus(vocab: int, n: int = 4000) -> list:
    """Sentence pairs of 8-30 random ids: the batches, not the words, set the speed."""
    import random
    rng = random.Random(0)
    return [([rng.randrange(4, vocab) for _ in range(rng.randrange(8, 30))],
             [rng.randrange(4, vocab) for _ in range(rng.randrange(8, 30))]) for _ in range(n)]


def timed(shape: str, steps: int, threads: int, wait: str | None) -> float:
    """Updates per second (median of the updates after the first three) of one variant."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY",
                                                             "OMP_NUM_THREADS")}
    if wait:
        env["OMP_WAIT_POLICY"] = wait
    out = subprocess.run([sys.executable, "-c", CHILD, shape, str(steps), str(threads),
                          str(Path(__file__).parent)], env=env, capture_output=True,
                         text=True, check=True).stdout
    return 1.0 / statistics.median(json.loads(out.strip().splitlines()[-1])[3:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=list(SHAPES), default="toy")
    ap.add_argument("--steps", type=int, default=23)
    ap.add_argument("--out", type=Path, default=Path("busy_cpu.csv"))
    args = ap.parse_args()
    rows = []
    for busy in (False, True):
        for name, (threads, wait) in VARIANTS.items():
            other = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
            try:
                if other:
                    time.sleep(2)  # the busy process is at full speed before the timing
                speed = timed(args.shape, args.steps, threads, wait)
            finally:
                if other:
                    other.kill()
                    other.wait()
            rows.append({"variant": name, "busy_process": busy, "updates_per_sec": round(speed, 3)})
            print(f"{name:36} {'beside a busy process' if busy else 'alone':22} {speed:.3f} "
                  "updates/s", flush=True)
    base = rows[0]["updates_per_sec"]
    for row in rows:
        row["ratio_to_2_threads_alone"] = round(row["updates_per_sec"] / base, 2)
    write_csv(args.out, rows)
    print("\n| variant | busy process | updates/s | vs 2 threads alone |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['variant']} | {'yes' if row['busy_process'] else 'no'} | "
              f"{row['updates_per_sec']} | {row['ratio_to_2_threads_alone']} |")


if __name__ == "__main__":
    main()
