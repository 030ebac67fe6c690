"""Disk an experiment's training checkpoints take, computed from its config (no training, no
GPU: the models are built on PyTorch's meta device; wd.preflight.checkpoint_volume).

A training checkpoint holds the model (4 bytes a float) and Adam's two moments (8 bytes a
trainable float); a WD Phase-1 checkpoint's model is the generator with the frozen teacher
tables. A run keeps at most its ``average_last`` scheduled checkpoints, as many ending at the
best one (with patience), and the newest; once its model is written, those it was averaged from
drop the optimizer state, the newest stays whole and the rest go (``CheckpointStore.shrink``).
Per config and run: one checkpoint, the peak while the run trains, what it keeps at the end,
before and after the shrink. Prints a table and writes CSV.

    python benchmarks/checkpoint_disk.py --out checkpoint_disk.csv [--configs wmt16_en_ro ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wd.config import read_configs
from wd.io import write_csv
from wd.preflight import checkpoint_volume

REPO = Path(__file__).resolve().parent.parent
GB = 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="*", default=["wmt16_en_ro", "wmt14_en_de"])
    ap.add_argument("--out", type=Path, default=Path("checkpoint_disk.csv"))
    args = ap.parse_args()
    rows = []
    for name in args.configs:
        config = read_configs([REPO / "configs" / f"{name}.yaml"])
        rows += [{"config": name, "run": r.name, "checkpoint_gb": round(r.whole / GB, 2),
                  "peak_gb": round(r.peak / GB, 2),
                  "kept_before_gb": round(r.while_training * r.whole / GB, 2),
                  "kept_after_gb": round(r.kept / GB, 2)} for r in checkpoint_volume(config)]
    write_csv(args.out, rows)
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row[k]) for k in keys))
    for name in args.configs:
        mine = [r for r in rows if r["config"] == name]
        print(f"{name}: every run's checkpoints {sum(r['kept_before_gb'] for r in mine):.1f} GB "
              f"kept before the shrink, {sum(r['kept_after_gb'] for r in mine):.1f} GB after; "
              f"the largest run while it trains {max(r['peak_gb'] for r in mine):.1f} GB")


if __name__ == "__main__":
    main()
