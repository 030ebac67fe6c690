"""Figures as the paper presents them: BLEU against speed-up, and training curves; and the
speed-quality frontier of the systems as deployed (wd.evaluate.frontier)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import pandas as pd  # noqa: E402

from wd.evaluate.frontier import points  # noqa: E402
from wd.evaluate.report import method_rank  # noqa: E402
from wd.export.variants import VARIANTS  # noqa: E402
from wd.io import atomic_path  # noqa: E402


def _save(fig, out: Path) -> None:
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)


def bleu_vs_speed(table: pd.DataFrame, out: Path) -> None:
    """Every system a point (speed-up over the teacher, BLEU; means over seeds, with error bars of
    their standard deviations where a system has several seeds); one line per method across
    student shapes, ordered by speed-up; on the primary test set."""
    title = f"{table.experiment.iloc[0]}: BLEU against speed"
    testset = table.testset.iloc[0]
    table = table[table.testset == testset]  # the primary test set: the timed one
    table = table.groupby(["student", "method"], as_index=False).agg(
        speedup=("speedup", "mean"), bleu=("bleu", "mean"), speedup_std=("speedup", "std"),
        bleu_std=("bleu", "std"), runs=("bleu", "size"))
    spread = table.runs.max() > 1  # std is NaN for one run: no bar drawn for it
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for method in sorted(set(table.method), key=method_rank):
        rows = table[table.method == method].sort_values("speedup")
        marker = "*" if method == "teacher" else "o"
        ax.errorbar(rows.speedup, rows.bleu, xerr=rows.speedup_std if spread else None,
                    yerr=rows.bleu_std if spread else None, capsize=3, marker=marker,
                    markersize=10 if marker == "*" else 6, label=method)
        for row in rows.itertuples():
            if row.student != "teacher":
                ax.annotate(row.student, (row.speedup, row.bleu), fontsize=7,
                            textcoords="offset points", xytext=(4, 2))
    ax.set_xlabel("decoding speed-up over the teacher (sentences/s ratio)")
    ax.set_ylabel(f"BLEU ({testset})" + (" (mean and std over seeds)" if spread else ""))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, out)


# Rows of the training-curve figure: (train_log.csv column, axis label).
LOSS_PANEL = ("valid_loss", "validation loss (label-smoothed, per token)")
BLEU_PANEL = ("valid_bleu", "validation BLEU")


def _has(log: pd.DataFrame, column: str) -> bool:
    """Whether a log has values in ``column``: empty where the run did not translate its
    validation set, absent in logs written before validation BLEU existed."""
    return column in log and bool(log[column].notna().any())


def _last_step(path: Path | None) -> int:
    """The updates a run made (its last log row's step); 0 for no run."""
    return 0 if path is None else int(pd.read_csv(path).step.iloc[-1])


def training_curves(curves: dict[str, dict[str, tuple[Path, Path | None]]], out: Path) -> None:
    """Validation loss against updates, one panel per student shape, and under it validation BLEU
    when some run scored it. ``curves`` maps a shape to its runs, each a ``train_log.csv`` and the
    log of the run it continues, after whose updates it is drawn (WD Phase 2 after its Phase 1),
    or None. A run keeps its colour in every panel."""
    logs = {student: {name: (pd.read_csv(path), _last_step(after))
                      for name, (path, after) in runs.items()}
            for student, runs in curves.items()}
    # The teacher and the runs that others continue (WD's Phase 1) are dashed.
    continued = {after for runs in curves.values() for _, after in runs.values() if after}
    dashed = {name for runs in curves.values() for name, (path, _) in runs.items()
              if name == "teacher" or path in continued}
    scored = any(_has(log, BLEU_PANEL[0]) for runs in logs.values() for log, _ in runs.values())
    panels = [LOSS_PANEL, BLEU_PANEL] if scored else [LOSS_PANEL]
    fig, axes = plt.subplots(len(panels), len(logs), figsize=(6 * len(logs), 4.5 * len(panels)),
                             squeeze=False, sharex="col", sharey="row")
    for row, (column, label) in zip(axes, panels):
        for ax, runs in zip(row, logs.values()):
            for colour, (name, (log, offset)) in enumerate(runs.items()):
                if _has(log, column):
                    points = log[["step", column]].dropna()
                    ax.plot(points.step + offset, points[column], color=f"C{colour}", label=name,
                            linestyle="--" if name in dashed else "-")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
        row[0].set_ylabel(label)
    for ax, student in zip(axes[0], logs):
        ax.set_title(f"student {student}")
    for ax in axes[-1]:
        ax.set_xlabel("updates")
    _save(fig, out)


def speed_quality(table: pd.DataFrame, out: Path) -> None:
    """BLEU against one-thread words/s (log scale) for every system in every CTranslate2
    variant (:func:`wd.evaluate.frontier.points`): a colour per method, a marker per variant,
    the Pareto front drawn and its points named (the systems worth shipping); a figure saying
    so where the variants were not timed."""
    frame = points(table)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    if len(frame):
        markers = dict(zip(VARIANTS, "os^"))
        colours = plt.get_cmap("tab20")
        for index, (method, rows) in enumerate(frame.groupby("method", sort=False)):
            for variant, group in rows.groupby("variant", sort=False):
                ax.scatter(group.words_per_sec_1t, group.bleu, color=colours(index % 20),
                           marker=markers[variant], s=24)
            ax.scatter([], [], color=colours(index % 20), marker="s", label=method)
        front = frame[frame.front].sort_values("words_per_sec_1t")
        ax.plot(front.words_per_sec_1t, front.bleu, "k--", linewidth=1, label="Pareto front")
        for point in front.itertuples():
            name = "teacher" if point.method == "teacher" else f"{point.student} {point.method}"
            ax.annotate(f"{name} {point.variant}", (point.words_per_sec_1t, point.bleu),
                        fontsize=6, xytext=(-4, 4), textcoords="offset points", ha="right")
        ax.add_artist(ax.legend(  # the variants' legend, then the methods' (kept in the bbox)
            handles=[plt.Line2D([], [], color="grey", marker=m, linestyle="")
                     for m in markers.values()], labels=list(markers), fontsize=6,
            loc="lower left", bbox_to_anchor=(1.01, 0), title="variant", title_fontsize=7))
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1), title="method",
                  title_fontsize=7)
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "CTranslate2 variants not timed (evaluation.ctranslate2: false)",
                ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("words per second, one CPU thread")
    ax.set_ylabel(f"BLEU ({table.testset.iloc[0]})")
    ax.set_title(f"{table.experiment.iloc[0]}: speed and quality as deployed")
    ax.grid(alpha=0.3)
    _save(fig, out)
