"""What a vocabulary map keeps of the validation references, and what it allows, against its two
sizes (deploy.vmap_top_k, deploy.vmap_frequent): the sweep behind their defaults.

For an experiment whose data are binarised (results/<exp>/bin/), the map is built from the
training data (the bitext, and the KD data where it exists) for every pair of sizes and scored on
the validation set (wd.data.shortlist.coverage): the share of reference pieces it allows, the
share of sentences it allows whole, and the mean number of pieces a sentence may output. The
choice: the smallest map that keeps nearly every reference piece, since a piece the map leaves
out cannot be produced, while the int8 decoder's speed gain comes from scoring fewer pieces.

    python benchmarks/vmap_coverage.py results/toy --csv vmap_coverage.csv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from wd.data.binary import PairCorpus
from wd.data.bpe import load_bpe
from wd.data.shortlist import build_shortlist, coverage
from wd.vocab import BOS_ID, PAD_ID

TOP_K = (2, 5, 10, 20, 50)
FREQUENT = (0, 50, 100, 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path, help="results/<experiment>")
    parser.add_argument("--csv", type=Path, help="write the table here too")
    args = parser.parse_args()
    bin_dir = args.experiment / "bin"
    train = [bin_dir / "train.src.npy", bin_dir / "train.tgt.npy"]
    if (bin_dir / "kd.tgt.npy").exists():
        train += [bin_dir / "train.src.npy", bin_dir / "kd.tgt.npy"]
    vocab = load_bpe(args.experiment / "bpe" / "spm.model").get_piece_size()
    valid = PairCorpus([bin_dir / "valid.src.npy", bin_dir / "valid.tgt.npy"])
    rows = []
    for top_k in TOP_K:
        for frequent in FREQUENT:
            start = time.perf_counter()
            shortlist = build_shortlist(train, vocab, top_k, frequent, [PAD_ID, BOS_ID])
            seconds = time.perf_counter() - start
            rows.append({"top_k": top_k, "frequent": frequent, **coverage(shortlist, valid),
                         "vocab": vocab, "build_seconds": round(seconds, 2)})
    print(f"{'top_k':>6} {'frequent':>8} {'pieces kept':>12} {'sentences kept':>15} "
          f"{'mean allowed':>13} {'of vocab':>9}")
    for row in rows:
        print(f"{row['top_k']:>6} {row['frequent']:>8} {row['piece_coverage']:>12.4f} "
              f"{row['sentence_coverage']:>15.4f} {row['mean_allowed']:>13.1f} "
              f"{row['mean_allowed'] / vocab:>9.1%}")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
