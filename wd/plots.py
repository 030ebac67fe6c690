"""Figures as the paper presents them: BLEU against speed-up, and training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import pandas as pd  # noqa: E402

from wd.report import METHOD_ORDER  # noqa: E402


def _save(fig, out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)


def bleu_vs_speed(table: pd.DataFrame, out: Path) -> None:
    """Every system a point (speed-up over the teacher, BLEU); one line per method across
    student shapes, ordered by speed-up."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for method in [m for m in METHOD_ORDER if m in set(table.method)]:
        rows = table[table.method == method].sort_values("speedup")
        marker = "*" if method == "teacher" else "o"
        ax.plot(rows.speedup, rows.bleu, marker=marker, markersize=10 if marker == "*" else 6,
                label=method)
        for row in rows.itertuples():
            if row.student != "teacher":
                ax.annotate(row.student, (row.speedup, row.bleu), fontsize=7,
                            textcoords="offset points", xytext=(4, 2))
    ax.set_xlabel("decoding speed-up over the teacher (sentences/s ratio)")
    ax.set_ylabel(f"BLEU ({table.testset.iloc[0]})")
    ax.set_title(f"{table.experiment.iloc[0]}: BLEU against speed")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, out)


def training_curves(curves: dict[str, tuple[Path, int]], out: Path) -> None:
    """Validation loss against updates for each run; ``curves`` maps a run name to its
    ``train_log.csv`` and the number of updates before it (WD Phase 2 follows Phase 1)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (path, offset) in curves.items():
        log = pd.read_csv(path)
        ax.plot(log.step + offset, log.valid_loss, label=name,
                linestyle="--" if name.endswith("wd_phase1") else "-")
    ax.set_xlabel("updates")
    ax.set_ylabel("validation loss (label-smoothed, per token)")
    ax.set_title("training curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    _save(fig, out)
