"""Figures as the paper presents them: BLEU against speed-up, and training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import pandas as pd  # noqa: E402

from wd.io import atomic_path  # noqa: E402
from wd.report import method_rank  # noqa: E402


def _save(fig, out: Path) -> None:
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)


def bleu_vs_speed(table: pd.DataFrame, out: Path) -> None:
    """Every system a point (speed-up over the teacher, BLEU; means over seeds); one line per
    method across student shapes, ordered by speed-up."""
    title = f"{table.experiment.iloc[0]}: BLEU against speed"
    testset = table.testset.iloc[0]
    table = table.groupby(["student", "method"], as_index=False)[["speedup", "bleu"]].mean()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for method in sorted(set(table.method), key=method_rank):
        rows = table[table.method == method].sort_values("speedup")
        marker = "*" if method == "teacher" else "o"
        ax.plot(rows.speedup, rows.bleu, marker=marker, markersize=10 if marker == "*" else 6,
                label=method)
        for row in rows.itertuples():
            if row.student != "teacher":
                ax.annotate(row.student, (row.speedup, row.bleu), fontsize=7,
                            textcoords="offset points", xytext=(4, 2))
    ax.set_xlabel("decoding speed-up over the teacher (sentences/s ratio)")
    ax.set_ylabel(f"BLEU ({testset})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, out)


def training_curves(curves: dict[str, dict[str, tuple[Path, int]]], out: Path) -> None:
    """Validation loss against updates, one panel per student shape. ``curves`` maps a shape to
    its runs, each a ``train_log.csv`` and the updates before it (WD Phase 2 follows Phase 1)."""
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.5), squeeze=False,
                             sharey=True)
    for ax, (student, runs) in zip(axes[0], curves.items()):
        for name, (path, offset) in runs.items():
            log = pd.read_csv(path)
            ax.plot(log.step + offset, log.valid_loss, label=name,
                    linestyle="--" if name in ("teacher", "wd_phase1") else "-")
        ax.set_title(f"student {student}")
        ax.set_xlabel("updates")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("validation loss (label-smoothed, per token)")
    _save(fig, out)
