"""Uncertainty as the field reports it: sacreBLEU's paired bootstrap resampling of BLEU.

Each test (``sacrebleu.significance.PairedTest``, ``bs``) resamples the test sentences
:data:`SAMPLES` times with sacreBLEU's fixed seed (12345, or ``SACREBLEU_SEED``), the same
resamples for every system, and gives each system a 95% confidence interval (bootstrap mean plus or
minus half the 2.5-97.5 percentile range) and the p-value of its BLEU difference to the baseline.
One exception: a system whose BLEU equals the baseline's (identical outputs, or both at 0) gets
p = 1; sacreBLEU follows multeval there and returns 1/(resamples + 1), calling a zero difference
that no resample exceeds significant.
The table gets the interval for every row, and for every student the p-value against the KD and
the cut-off student of its own shape and seed (``p_vs_kd``, ``p_vs_cutoff``), trained on the
same data (:func:`baseline_of`: a method with the monolingual KD data against ``kd_mono`` and
``cutoff_mono``, and those two against ``kd`` and ``cutoff``: what the data adds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest

from wd import methods

SAMPLES = 1000
BASELINES = ("kd", "cutoff")
COLUMNS = ["bleu_ci95_low", "bleu_ci95_high", *(f"p_vs_{b}" for b in BASELINES)]
SYSTEM = tuple[str, str, int]  # (student, method, seed)


def baseline_of(method: str, kind: str, present: Sequence[str]) -> str:
    """The ``kind`` baseline (``kd`` or ``cutoff``) that ``method`` is compared with: the one
    trained on the same data where it is ``present`` (``<kind>_mono`` for a method that reads
    the monolingual KD data, but ``<kind>_mono`` itself, which is compared with ``<kind>``)."""
    matched = f"{kind}_mono"
    if method != matched and matched in present and methods.get(method).reads_mono:
        return matched
    return kind


def paired_bootstrap(systems: dict[SYSTEM, list[str]], baseline: SYSTEM,
                     refs: Sequence[Sequence[str]]) -> dict[SYSTEM, tuple[float, float, float]]:
    """``(p-value, CI low, CI high)`` of BLEU for every system; the baseline's p-value is NaN."""
    names = [baseline, *(name for name in systems if name != baseline)]
    test = PairedTest([(str(name), systems[name]) for name in names], {"bleu": BLEU()}, refs,
                      test_type="bs", n_samples=SAMPLES)
    _, scores = test()
    (results,) = (v for k, v in scores.items() if k != "System")
    out = {}
    for name, result in zip(names, results):
        if name == baseline:
            p_value = math.nan
        elif result.score == results[0].score:
            p_value = 1.0
        else:
            p_value = float(result.p_value)
        out[name] = (p_value, result.mean - result.ci, result.mean + result.ci)
    return out


def significance_columns(table: pd.DataFrame, hyps: dict[SYSTEM, list[str]],
                         refs: Sequence[Sequence[str]]) -> pd.DataFrame:
    """:data:`COLUMNS` for the rows of ``table`` (``student``, ``method``, ``seed``), rounded."""
    rows = list(zip(table.student, table.method, table.seed))
    out = pd.DataFrame(math.nan, index=table.index, columns=COLUMNS)
    teacher = next(row for row in rows if row[1] == "teacher")
    intervals = paired_bootstrap(hyps, teacher, refs)  # every system on the same resamples
    for index, row in zip(table.index, rows):
        _, low, high = intervals[row]
        out.loc[index, ["bleu_ci95_low", "bleu_ci95_high"]] = [round(low, 2), round(high, 2)]
    for student, seed in dict.fromkeys((s, seed) for s, m, seed in rows if m != "teacher"):
        shape = {row: hyps[row] for row in rows
                 if row[0] == student and row[2] == seed and row[1] != "teacher"}
        present = [method for _, method, _ in shape]
        for kind in BASELINES:
            for baseline in dict.fromkeys(baseline_of(m, kind, present) for m in present):
                if (student, baseline, seed) not in shape:
                    continue
                tested = paired_bootstrap(shape, (student, baseline, seed), refs)
                for index, row in zip(table.index, rows):
                    if (row in tested and row[1] != baseline
                            and baseline_of(row[1], kind, present) == baseline):
                        out.loc[index, f"p_vs_{kind}"] = round(tested[row][0], 4)
    return out
