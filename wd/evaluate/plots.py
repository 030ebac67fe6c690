"""Figures as the paper presents them: BLEU against speed-up, and training curves; and the
speed-quality frontier of the systems as deployed (wd.evaluate.frontier)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import pandas as pd  # noqa: E402

from wd.evaluate.frontier import TARGET_SPEEDUP, points  # noqa: E402
from wd.evaluate.report import method_rank  # noqa: E402
from wd.export.variants import VARIANTS  # noqa: E402
from wd.io import atomic_path  # noqa: E402


def _save(fig, out: Path, extra: list | None = None) -> None:
    """Write the figure, cropped to its axes and ``extra`` artists (legends placed outside)."""
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", bbox_extra_artists=extra)
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
    filled for the first student shape and open for the others (the teacher: black); the
    float32 teacher's BLEU and the target speed (TARGET_SPEEDUP times the float32 teacher's)
    as reference lines; the Pareto front drawn and its points named, their labels staggered
    above and below so that neighbours do not overlap; a figure saying so where the variants
    were not timed."""
    frame = points(table)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    if len(frame):
        markers = dict(zip(VARIANTS, "os^"))
        colours = plt.get_cmap("tab20")
        shapes = [s for s in dict.fromkeys(frame.student) if s != "teacher"]
        methods = [m for m in dict.fromkeys(frame.method) if m != "teacher"]
        for (student, method, variant), group in frame.groupby(["student", "method", "variant"],
                                                               sort=False):
            colour = "black" if method == "teacher" else colours(methods.index(method) % 20)
            filled = student == "teacher" or shapes.index(student) == 0
            ax.scatter(group.words_per_sec_1t, group.bleu, marker=markers[variant], s=26,
                       facecolors=colour if filled else "none", edgecolors=colour)
        teacher = frame[(frame.method == "teacher") & (frame.variant == "ct2")]
        if len(teacher):
            ax.axhline(teacher.bleu.iloc[0], color="grey", linestyle=":", linewidth=1)
            ax.axvline(TARGET_SPEEDUP * teacher.words_per_sec_1t.iloc[0], color="grey",
                       linestyle="-.", linewidth=1)
        front = frame[frame.front].sort_values("words_per_sec_1t")
        ax.plot(front.words_per_sec_1t, front.bleu, "k--", linewidth=1)
        for number, point in enumerate(front.itertuples()):
            name = "teacher" if point.method == "teacher" else f"{point.student} {point.method}"
            ax.annotate(f"{name} {point.variant}", (point.words_per_sec_1t, point.bleu),
                        fontsize=6, xytext=(-4, 6 if number % 2 == 0 else -11),
                        textcoords="offset points", ha="right")
        line = lambda **style: plt.Line2D([], [], **style)  # noqa: E731
        legends = [  # method (colour), shape (fill), variant (marker), reference lines
            ("method", [line(color="black", marker="s", linestyle="")]
             + [line(color=colours(i % 20), marker="s", linestyle="")
                for i in range(len(methods))], ["teacher", *methods]),
            ("shape", [line(color="grey", marker="o", linestyle="", markerfacecolor=fill)
                       for fill in ["grey"] + ["none"] * (len(shapes) - 1)], shapes),
            ("variant", [line(color="grey", marker=m, linestyle="") for m in markers.values()],
             list(markers)),
            ("lines", [line(color="grey", linestyle=":"), line(color="grey", linestyle="-."),
                       line(color="black", linestyle="--")],
             ["float32 teacher's BLEU", f"{TARGET_SPEEDUP:g}x its speed", "Pareto front"])]
        anchor, drawn = 1.0, []
        for title, handles, labels in legends:  # each kept as the next replaces the axes' own
            if drawn:
                ax.add_artist(drawn[-1])
            drawn.append(ax.legend(handles, labels, fontsize=6, loc="upper left", title=title,
                                   bbox_to_anchor=(1.01, anchor), title_fontsize=7))
            anchor -= 0.03 * (len(labels) + 2.5)
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "CTranslate2 variants not timed (evaluation.ctranslate2: false)",
                ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("words per second, one CPU thread")
    ax.set_ylabel(f"BLEU ({table.testset.iloc[0]})")
    ax.set_title(f"{table.experiment.iloc[0]}: speed and quality as deployed")
    ax.grid(alpha=0.3)
    _save(fig, out, drawn if len(frame) else None)
