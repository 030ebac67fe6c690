"""The speed-quality frontier of the systems as deployed: every system in every CTranslate2
variant (float32, int8, int8 with the vocabulary map) is a point, one-thread words per second
against BLEU on the primary test set. A point is on the Pareto front when no other point is at
least as fast and as good and better in one; the front is the best BLEU at each speed. The
reference is the teacher in CTranslate2 float32: which systems keep its BLEU within
:data:`WITHIN`, and how much faster the fastest of them is."""

from __future__ import annotations

import pandas as pd

from wd.export.variants import VARIANTS

WITHIN = 0.5        # BLEU below the float32 teacher still counted as its quality
TARGET_SPEEDUP = 4  # the one-thread speed-up a deployed student aims at
FIELDS = ["bleu", "chrf", "mb", "words_per_sec_1t", "latency_ms_1t", "speedup_1t",
          "speedup_1t_vs_fp32"]


def points(table: pd.DataFrame) -> pd.DataFrame:
    """One row per system and variant of the primary test set's rows (empty when the
    evaluation did not time the variants on one thread)."""
    primary = table[table.testset == table.testset.iloc[0]]
    rows = []
    for record in primary.to_dict("records"):
        for variant in VARIANTS:
            if pd.notna(record.get(f"{variant}_words_per_sec_1t", float("nan"))):
                rows.append({"student": record["student"], "method": record["method"],
                             "seed": record["seed"], "variant": variant,
                             **{f: record.get(f"{variant}_{f}") for f in FIELDS}})
    out = pd.DataFrame(rows)
    if len(out):
        out["front"] = pareto(out.words_per_sec_1t.tolist(), out.bleu.tolist())
    return out


def pareto(speed: list[float], bleu: list[float]) -> list[bool]:
    """Whether each point is on the front: no other as fast and as good, and better in one."""
    return [not any(s2 >= s and b2 >= b and (s2 > s or b2 > b)
                    for s2, b2 in zip(speed, bleu))
            for s, b in zip(speed, bleu)]


def verdict(frame: pd.DataFrame) -> list[str]:
    """The fastest system within WITHIN BLEU of the float32 teacher, against the target."""
    teacher = frame[(frame.method == "teacher") & (frame.variant == "ct2")]
    if not len(teacher):
        return []
    reference = teacher.bleu.iloc[0]
    close = frame[(frame.bleu >= reference - WITHIN) & (frame.method != "teacher")]
    if not len(close):
        return [f"No student keeps the float32 teacher's BLEU ({reference:.2f}) within {WITHIN}: "
                f"the target of {TARGET_SPEEDUP}x its one-thread speed at that quality is not "
                "reached."]
    best = close.loc[close.words_per_sec_1t.idxmax()]
    reached = (f"it reaches the target of {TARGET_SPEEDUP}x"
               if best.speedup_1t_vs_fp32 >= TARGET_SPEEDUP else
               f"the target of {TARGET_SPEEDUP}x is {TARGET_SPEEDUP / best.speedup_1t_vs_fp32:.2f}"
               " times further")
    return [f"Fastest within {WITHIN} BLEU of the float32 teacher ({reference:.2f}): "
            f"`{best.student}/{best.method}` (seed {best.seed}) in {best.variant}, BLEU "
            f"{best.bleu:.2f}, {best.words_per_sec_1t:.0f} words/s on one thread, "
            f"{best.speedup_1t_vs_fp32:.2f}x the float32 teacher: {reached}."]
