"""Paired bootstrap columns on constructed systems: a clearly better system is significant,
identical systems are not, and every interval holds its system's BLEU."""
import math
import random

import pandas as pd
import sacrebleu

from wd.significance import significance_columns

WORDS = [f"w{i}" for i in range(300)]


def degraded(refs: list[str], keep: float, seed: int) -> list[str]:
    """``refs`` with each word kept with probability ``keep``, else replaced by a random one."""
    rng = random.Random(seed)
    return [" ".join(w if rng.random() < keep else rng.choice(WORDS) for w in line.split())
            for line in refs]


def test_better_system_is_significant_identical_ones_are_not_and_intervals_hold_bleu():
    rng = random.Random(0)
    refs = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(200)]
    weak = degraded(refs, 0.5, 1)
    hyps = {("teacher", "teacher"): degraded(refs, 0.9, 2), ("s", "kd"): weak,
            ("s", "cutoff"): list(weak), ("s", "scratch"): list(weak),
            ("s", "wd"): degraded(refs, 0.8, 3)}
    table = pd.DataFrame(list(hyps), columns=["student", "method"])
    out = significance_columns(table, hyps, [refs]).set_index(table.method)
    assert out.p_vs_kd["wd"] < 0.05 and out.p_vs_cutoff["wd"] < 0.05
    assert out.p_vs_kd["scratch"] > 0.9 and out.p_vs_cutoff["kd"] > 0.9  # identical outputs
    assert math.isnan(out.p_vs_kd["kd"]) and math.isnan(out.p_vs_cutoff["cutoff"])
    assert out.loc["teacher", ["p_vs_kd", "p_vs_cutoff"]].isna().all()
    for (_, method), lines in hyps.items():
        bleu = sacrebleu.corpus_bleu(lines, [refs]).score
        assert out.bleu_ci95_low[method] <= bleu <= out.bleu_ci95_high[method], method
        assert out.bleu_ci95_high[method] - out.bleu_ci95_low[method] > 0.5  # not degenerate


def test_equal_bleu_is_never_significant():
    """Different outputs with the same BLEU (here 0): p = 1, where sacreBLEU would say 0.001."""
    refs = ["a b c d e f"] * 20
    hyps = {("teacher", "teacher"): ["x y z"] * 20, ("s", "kd"): ["u v w"] * 20,
            ("s", "wd"): ["p q r s"] * 20}
    table = pd.DataFrame(list(hyps), columns=["student", "method"])
    out = significance_columns(table, hyps, [refs]).set_index(table.method)
    assert out.p_vs_kd["wd"] == 1.0
