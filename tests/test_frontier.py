"""The speed-quality frontier: the Pareto front and the verdict against the float32 teacher."""
import pandas as pd

from wd.evaluate.frontier import pareto, verdict


def test_the_front_is_the_best_bleu_at_each_speed():
    speed = [100, 200, 300, 150, 300]
    bleu = [30.0, 29.0, 25.0, 28.0, 24.0]
    assert pareto(speed, bleu) == [True, True, True, False, False]


def frame(rows):
    return pd.DataFrame(rows, columns=["student", "method", "seed", "variant", "bleu",
                                       "words_per_sec_1t", "speedup_1t_vs_fp32"])


def test_the_verdict_names_the_fastest_student_that_keeps_the_teachers_bleu():
    rows = [("teacher", "teacher", 1, "ct2", 30.0, 100.0, 1.0),
            ("s", "kd", 1, "ct2_int8", 29.6, 250.0, 2.5),
            ("s", "wd", 1, "ct2_int8_vmap", 29.4, 400.0, 4.0)]  # 0.6 below: too far
    (line,) = verdict(frame(rows))
    assert "`s/kd` (seed 1) in ct2_int8, BLEU 29.60, 250 words/s" in line
    assert "the target of 4x is 1.60 times further" in line
    (line,) = verdict(frame(rows[:1] + [("s", "kd", 1, "ct2", 20.0, 900.0, 9.0)]))
    assert line.startswith("No student keeps the float32 teacher's BLEU (30.00) within 0.5")
