"""Disk an experiment's training checkpoints take, computed from its config (no training, no
GPU: the models are built on PyTorch's meta device).

A training checkpoint holds the model (4 bytes a float) and Adam's two moments (8 bytes a
trainable float); a WD Phase-1 checkpoint's model is the generator with the frozen teacher
tables. A run keeps at most its ``average_last`` scheduled checkpoints, as many ending at the
best one, and the newest (wd.train.state.CheckpointStore); once its model is written, all but
the newest drop the optimizer state (``CheckpointStore.shrink``). Per config: the peak of one
run while it trains (all of its checkpoints whole), what every run keeps at the end, before and
after the shrink, and the paper-size teacher's. Prints a table and writes CSV.

    python benchmarks/checkpoint_disk.py --out checkpoint_disk.csv [--configs wmt16_en_ro ...]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch
import yaml

from wd import methods
from wd.config import shape, student_methods
from wd.model.generator import Phase1Model
from wd.model.transformer import Transformer
from wd.settings import ModelConfig

REPO = Path(__file__).resolve().parent.parent
GB = 1e9


def merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def sizes(model: torch.nn.Module) -> tuple[int, int]:
    """(bytes of the model's state, bytes of Adam's moments) of a checkpoint."""
    state = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    moments = sum(2 * 4 * p.numel() for p in model.parameters() if p.requires_grad)
    return state, moments


def kept(settings: dict) -> tuple[int, int]:
    """How many checkpoints a run keeps at most while it trains (the last average_last, as many
    ending at the best with patience, the newest) and after its shrink (the average's and the
    newest)."""
    k = settings.get("average_last", 1)
    return k + (k if settings.get("patience") else 0) + 1, k + 1


def experiment_rows(name: str) -> list[dict]:
    config = merged(yaml.safe_load((REPO / "config.yaml").read_text()),
                    yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text()))
    vocab = config["bpe"]["vocab_size"]
    teacher_cfg = ModelConfig(vocab_size=vocab, **shape(config, "teacher"))
    with torch.device("meta"):
        teacher = Transformer(teacher_cfg)
    runs = [("teacher", "teacher", sizes(teacher), kept(config["teacher"]["train"]), 1)]
    state = {k: torch.empty(v.shape, device="meta") for k, v in teacher.state_dict().items()}
    seeds = len(config["seeds"])
    for student in config["students"]:
        cfg = ModelConfig(vocab_size=vocab, **shape(config, student["name"]))
        names = {run.name: run for m in student_methods(config, student["name"])
                 for run in methods.get(m).runs}
        for run_name, run in sorted(names.items()):
            with torch.device("meta"):
                model = (Phase1Model(state, teacher_cfg, cfg) if run.generator else
                         Transformer(cfg))
            train = {**config["student_train"], **(config["wd"].get("phase1", {})
                                                   if run.generator else {})}
            runs.append((student["name"], run_name, sizes(model), kept(train), seeds))
    rows = []
    for student, run_name, (model, moments), (count, after), copies in runs:
        whole = model + moments
        rows.append({"config": name, "student": student, "run": run_name, "runs": copies,
                     "checkpoint_gb": round(whole / GB, 2),
                     "peak_gb": round(count * whole / GB, 2),
                     "kept_before_gb": round(copies * count * whole / GB, 2),
                     "kept_after_gb": round(copies * (whole + (after - 1) * model) / GB, 2)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="*", default=["wmt16_en_ro", "wmt14_en_de"])
    ap.add_argument("--out", type=Path, default=Path("checkpoint_disk.csv"))
    args = ap.parse_args()
    rows = [row for name in args.configs for row in experiment_rows(name)]
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row[k]) for k in keys))
    for name in args.configs:
        mine = [r for r in rows if r["config"] == name]
        print(f"{name}: every run's checkpoints {sum(r['kept_before_gb'] for r in mine):.1f} GB "
              f"kept before the shrink, {sum(r['kept_after_gb'] for r in mine):.1f} GB after; "
              f"peak while the largest run trains "
              f"{max(r['peak_gb'] for r in mine):.1f} GB on top")


if __name__ == "__main__":
    main()
