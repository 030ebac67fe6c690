"""Cost of a training step with word-level distillation against plain cross-entropy.

A ``ce+word_kd`` step runs the frozen teacher forward on the same batch as the student and adds
the KL term; this measures what that costs per update for the default config's student shapes
(or the paper's with ``--config``). Both losses train a copy of the same random student on the
same token-bucket batches of a synthetic corpus, alternating step by step in one process so that
load from other processes hits both alike; time per step is the median over the timed steps.
Prints a table and writes CSV (student, loss, seconds_per_step, ratio_vs_ce).

    python benchmarks/word_kd_cost.py --out word_kd_cost.csv
    python benchmarks/word_kd_cost.py --config configs/wmt16_en_ro.yaml --vocab 8000 --out p.csv
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from wd.config import shape
from wd.data.batching import epoch_batches
from wd.io import write_csv
from wd.model.transformer import Transformer
from wd.settings import ModelConfig, TrainSettings
from wd.train.trainer import Trainer

LOSSES = ("ce", "ce+word_kd")


def corpus(vocab: int, n: int = 2000, seed: int = 0) -> list:
    """Pairs of random pieces with toy-like lengths (mean about 14 pieces)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        length = max(3, int(rng.gauss(14, 6)))
        pairs.append(([rng.randrange(4, vocab) for _ in range(length)],
                      [rng.randrange(4, vocab) for _ in range(length + rng.randrange(-2, 3))]))
    return pairs


def measure(config: dict, student: str, vocab: int, steps: int, max_tokens: int) -> dict:
    """Median seconds per update of each loss for one student shape."""
    torch.manual_seed(0)
    teacher = Transformer(ModelConfig(vocab_size=vocab, **shape(config, "teacher")))
    cfg = ModelConfig(vocab_size=vocab, **shape(config, student))
    pairs = corpus(vocab)
    batches = [[pairs[i] for i in b] for b in epoch_batches(pairs, max_tokens, seed=1, epoch=1)]
    trainers, times = {}, {loss: [] for loss in LOSSES}
    with tempfile.TemporaryDirectory() as work:
        for loss in LOSSES:
            torch.manual_seed(1)
            s = TrainSettings(steps=steps, max_tokens=max_tokens, lr=1e-3, warmup=10, loss=loss)
            trainers[loss] = Trainer(Transformer(cfg), pairs, pairs[:10], s,
                                     Path(work) / loss.replace("+", "_"), torch.device("cpu"),
                                     teacher=teacher)
        for i, batch in enumerate(batches[:steps + 3]):
            for loss in LOSSES:
                start = time.perf_counter()
                trainers[loss].update([batch])
                if i >= 3:  # the first steps warm up allocators and caches
                    times[loss].append(time.perf_counter() - start)
    return {loss: statistics.median(t) for loss, t in times.items()}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--vocab", type=int, default=None, help="default: the config's bpe")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="word_kd_cost.csv")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(Path("config.yaml").read_text())
    if args.config != "config.yaml":
        config.update(yaml.safe_load(Path(args.config).read_text()))
    vocab = args.vocab or config["bpe"]["vocab_size"]
    rows = []
    for student in [s["name"] for s in config["students"]]:
        seconds = measure(config, student, vocab, args.steps, args.max_tokens)
        rows += [{"student": student, "loss": loss, "seconds_per_step": round(t, 4),
                  "ratio_vs_ce": round(t / seconds["ce"], 2)} for loss, t in seconds.items()]
    print(f"{'student':8} {'loss':11} {'s/step':>8} {'ratio':>6}  ({args.threads} threads, "
          f"{args.max_tokens} tokens per batch, vocabulary {vocab})")
    for row in rows:
        print(f"{row['student']:8} {row['loss']:11} {row['seconds_per_step']:8.4f} "
              f"{row['ratio_vs_ce']:6.2f}")
    write_csv(args.out, rows)


if __name__ == "__main__":
    main(sys.argv[1:])
