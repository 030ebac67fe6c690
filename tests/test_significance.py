"""Paired bootstrap columns on constructed systems: a clearly better system is significant,
identical systems are not, and every interval holds its system's BLEU."""
import math
import random

import pandas as pd
import sacrebleu

from wd.evaluate.significance import significance_columns

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
    hyps = {("teacher", "teacher", 1): degraded(refs, 0.9, 2), ("s", "kd", 1): weak,
            ("s", "cutoff", 1): list(weak), ("s", "scratch", 1): list(weak),
            ("s", "wd", 1): degraded(refs, 0.8, 3)}
    table = pd.DataFrame(list(hyps), columns=["student", "method", "seed"])
    out = significance_columns(table, hyps, [refs]).set_index(table.method)
    assert out.p_vs_kd["wd"] < 0.05 and out.p_vs_cutoff["wd"] < 0.05
    assert out.p_vs_kd["scratch"] > 0.9 and out.p_vs_cutoff["kd"] > 0.9  # identical outputs
    assert math.isnan(out.p_vs_kd["kd"]) and math.isnan(out.p_vs_cutoff["cutoff"])
    assert out.loc["teacher", ["p_vs_kd", "p_vs_cutoff"]].isna().all()
    for (_, method, _), lines in hyps.items():
        bleu = sacrebleu.corpus_bleu(lines, [refs]).score
        assert out.bleu_ci95_low[method] <= bleu <= out.bleu_ci95_high[method], method
        assert out.bleu_ci95_high[method] - out.bleu_ci95_low[method] > 0.5  # not degenerate


def test_equal_bleu_is_never_significant():
    """Different outputs with the same BLEU (here 0): p = 1, where sacreBLEU would say 0.001."""
    refs = ["a b c d e f"] * 20
    hyps = {("teacher", "teacher", 1): ["x y z"] * 20, ("s", "kd", 1): ["u v w"] * 20,
            ("s", "wd", 1): ["p q r s"] * 20}
    table = pd.DataFrame(list(hyps), columns=["student", "method", "seed"])
    out = significance_columns(table, hyps, [refs]).set_index(table.method)
    assert out.p_vs_kd["wd"] == 1.0


def test_students_are_compared_with_the_baselines_of_their_own_seed():
    rng = random.Random(0)
    refs = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(200)]
    weak, strong = degraded(refs, 0.5, 1), degraded(refs, 0.8, 3)
    hyps = {("teacher", "teacher", 1): degraded(refs, 0.9, 2),
            ("s", "kd", 1): weak, ("s", "wd", 1): strong,
            ("s", "kd", 2): list(strong), ("s", "wd", 2): list(strong)}
    table = pd.DataFrame(list(hyps), columns=["student", "method", "seed"])
    out = significance_columns(table, hyps, [refs])
    p_vs_kd = dict(zip(zip(table.method, table.seed), out.p_vs_kd))
    assert p_vs_kd[("wd", 1)] < 0.05  # against seed 1's weak KD student
    assert p_vs_kd[("wd", 2)] == 1.0  # against seed 2's KD student, identical outputs


def test_a_method_with_the_monolingual_kd_data_is_compared_with_kd_on_the_same_data():
    rng = random.Random(0)
    refs = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(200)]
    weak, strong = degraded(refs, 0.5, 1), degraded(refs, 0.8, 3)
    hyps = {("teacher", "teacher", 1): degraded(refs, 0.9, 2), ("s", "kd", 1): weak,
            ("s", "kd_mono", 1): strong, ("s", "wd_mono", 1): list(strong),
            ("s", "wd", 1): list(strong), ("s", "cutoff_mono", 1): weak}
    table = pd.DataFrame(list(hyps), columns=["student", "method", "seed"])
    out = significance_columns(table, hyps, [refs])
    p_vs_kd = dict(zip(table.method, out.p_vs_kd))
    p_vs_cutoff = dict(zip(table.method, out.p_vs_cutoff))
    assert p_vs_kd["wd_mono"] == 1.0  # against kd_mono: identical outputs
    assert p_vs_kd["wd"] < 0.05 and p_vs_kd["kd_mono"] < 0.05  # against kd
    assert math.isnan(p_vs_kd["kd"]) and math.isnan(p_vs_cutoff["cutoff_mono"])
    assert p_vs_cutoff["wd_mono"] < 0.05 and math.isnan(p_vs_cutoff["wd"])  # no cutoff row
