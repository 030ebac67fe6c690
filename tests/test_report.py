import csv
import io
import json
import math
import random

import pandas as pd
import pytest

from wd.evaluate import report
from wd.evaluate.report import markdown, verdict
from wd.train.log import last_drop

REFS = [" ".join(random.Random(i).choices("abcdefghij", k=8)) for i in range(30)]


def references(tmp_path):
    path = tmp_path / "test.ref"
    path.write_text("".join(line + "\n" for line in REFS))
    return [path]


def evaluation(tmp_path, name, bleu, sents_per_sec, **extra):
    """An evaluation json and its hypotheses (the references with the first ``bleu / 4``
    lines reversed word for word)."""
    path = tmp_path / f"{name}.json"
    kept = int(bleu / 4)
    path.with_suffix(".hyp").write_text("".join(
        (line if i < kept else " ".join(reversed(line.split()))) + "\n"
        for i, line in enumerate(REFS)))
    path.write_text(json.dumps({"bleu": bleu, "chrf": bleu + 10, "sents_per_sec": sents_per_sec,
                                "tokens_per_sec": sents_per_sec * 20, "params": 100,
                                "train_steps": 10, "train_seconds": 1.0, "device": "cpu",
                                "beam": 4, "batch_size": 64, "threads": 2,
                                "bleu_signature": "nrefs:1|bleu", "chrf_signature": "chrf",
                                **extra}))
    return path


def train_log(path, loss_at_400=2.0, final_loss=1.99):
    """A train_log.csv with validations at 100..500 updates."""
    rows = [(100, 4.0), (200, 3.0), (300, 2.5), (400, loss_at_400), (500, final_loss)]
    path.write_text("step,epoch,lr,train_loss,valid_loss,valid_nll,tokens_per_sec,elapsed_sec,"
                    "skipped_updates\n" + "".join(f"{s},1,0.001,3,{n},{n - 0.5},100,1,0\n"
                                                 for s, n in rows))
    return path


def build_table(experiment, evaluations, refs, logs=None):
    """wd.evaluate.report.build_table with a flat training curve (0.5% last drop) for every run."""
    if logs is None:
        logs = [train_log(path.with_suffix(".log.csv")) for *_, path in evaluations]
    return report.build_table(experiment, evaluations, refs, logs)


def test_speedup_and_delta_are_computed_and_losses_shown(tmp_path):
    table = build_table("exp", [
        ("s1", "wd", 1, evaluation(tmp_path, "wd", 30.0, 300.0, generator_params=5)),
        ("teacher", "teacher", 1, evaluation(tmp_path, "t", 40.0, 100.0)),
        ("s1", "kd", 1, evaluation(tmp_path, "kd", 31.5, 320.0)),
        ("s1", "scratch", 1, evaluation(tmp_path, "sc", 20.0, 310.0)),
    ], references(tmp_path))
    assert list(table.method) == ["teacher", "scratch", "kd", "wd"]
    rows = table.set_index("method")
    assert rows.speedup["teacher"] == 1.0 and rows.speedup["wd"] == 3.0
    assert rows.delta_bleu_vs_kd["wd"] == -1.5  # WD losing to KD is reported, not hidden
    assert rows.delta_bleu_vs_kd["scratch"] == -11.5
    text = markdown(table)
    assert "## Student `s1`" in text
    assert "| wd | bitext+kd | 30.00 | " in text and " | -1.50 | " in text
    assert list(table.train_data) == ["bitext", "bitext", "kd", "bitext+kd"]
    # (wd.evaluate.significance)
    assert 0 < rows.p_vs_kd["scratch"] <= 1 and rows.p_vs_kd.isna()["kd"]
    assert rows.bleu_ci95_low["wd"] < rows.bleu_ci95_high["wd"]
    assert text.index("| teacher |") < text.index("| scratch |")


def test_needs_exactly_one_teacher(tmp_path):
    with pytest.raises(ValueError, match="teacher"):
        build_table("exp", [("s1", "kd", 1, evaluation(tmp_path, "kd", 1.0, 1.0))],
                    references(tmp_path))


def test_bleu_variant_columns_follow_chrf_with_their_signatures(tmp_path):
    variant = {"bleu_ro_normalised": 33.0, "bleu_ro_normalised_signature": "nrefs:2|tok:none"}
    table = build_table("exp", [
        ("teacher", "teacher", 1, evaluation(tmp_path, "t", 40.0, 100.0, **variant)),
        ("s1", "kd", 1, evaluation(tmp_path, "kd", 31.5, 320.0, **variant)),
    ], references(tmp_path))
    columns = list(table.columns)
    assert columns[columns.index("chrf") + 1] == "bleu_ro_normalised"
    assert columns[columns.index("chrf_signature") + 1] == "bleu_ro_normalised_signature"
    assert "bleu_de_tok_compound" not in columns  # only the variants that were scored
    text = markdown(table)
    assert "seed" not in text.split("\n")[4]  # one seed: no seed column, no summary
    assert "Mean and standard deviation" not in text
    assert ("| method | train_data | bleu | bleu_ci95 | delta_bleu_vs_kd | p_vs_kd | "
            "p_vs_cutoff | chrf | bleu_ro_normalised | params |") in text
    assert " | 0.00 |  |  | 41.50 | 33.00 |" in text  # kd: no p-value against itself
    assert "`bleu_ro_normalised`: WMT16 En-Ro normalised BLEU" in text
    assert "signature `nrefs:2|tok:none`" in text


def test_ctranslate2_speeds_follow_ours_with_speedups_in_their_own_engine(tmp_path):
    def ct2(float32, int8, words, int8_bleu=29.0):
        return {"ct2_sents_per_sec": float32, "ct2_int8_sents_per_sec": int8, "ct2_bleu": 30.0,
                "ct2_int8_bleu": int8_bleu, "ct2_same_output": 1.0, "ct2_int8_same_output": 0.9,
                "ct2_words_per_sec_1t": words, "ct2_int8_words_per_sec_1t": 2 * words,
                "ct2_latency_ms_1t": 10.0, "ct2_int8_latency_ms_1t": 6.0,
                "ct2_mb": 4.0, "ct2_int8_mb": 1.0}
    table = build_table("exp", [
        ("teacher", "teacher", 1, evaluation(tmp_path, "t", 40.0, 100.0, **ct2(200.0, 400.0, 50))),
        ("s1", "kd", 1, evaluation(tmp_path, "kd", 31.5, 320.0,
                                   **ct2(500.0, 1200.0, 150, int8_bleu=29.8))),
    ], references(tmp_path))
    columns = list(table.columns)
    at = columns.index("speedup_tokens") + 1
    assert columns[at:at + 14] == [
        "ct2_sents_per_sec", "ct2_speedup", "ct2_bleu", "ct2_mb", "ct2_words_per_sec_1t",
        "ct2_latency_ms_1t", "ct2_speedup_1t", "ct2_speedup_1t_vs_fp32",
        "ct2_int8_sents_per_sec", "ct2_int8_speedup", "ct2_int8_bleu", "ct2_int8_mb",
        "ct2_int8_words_per_sec_1t", "ct2_int8_latency_ms_1t"]
    kd = table.set_index("method").loc["kd"]
    assert (kd.ct2_speedup, kd.ct2_int8_speedup, kd.speedup) == (2.5, 3.0, 3.2)
    assert (kd.ct2_speedup_1t, kd.ct2_int8_speedup_1t, kd.ct2_int8_speedup_1t_vs_fp32) == (
        3.0, 3.0, 6.0)
    assert "ct2_same_output" not in columns
    text = markdown(table)
    assert "## As deployed: CTranslate2 on one thread" in text
    # kd in int8 keeps the float32 teacher's 30.00 within 0.5, at 300 words/s against its 50
    assert ("`s1/kd` (seed 1) in ct2_int8, BLEU 29.80, 300 words/s on one thread, 6.00x the "
            "float32 teacher: it reaches the target of 4x") in text
    assert "| s1 | kd | 1 | ct2_int8 | 29.80 |" in text
    scored = {"ct2_bleu": 30.5, "ct2_int8_bleu": 30.1, "ct2_int8_chrf": 55.0}  # not timed
    further = build_table("exp", [
        ("teacher", "teacher", 1, evaluation(tmp_path, "t2", 40.0, 1.0, **scored))],
        references(tmp_path))
    assert [further[c].iloc[0] for c in scored] == list(scored.values())
    without = build_table("exp", [("teacher", "teacher", 1, evaluation(tmp_path, "t", 40.0, 1.0))],
                          references(tmp_path))
    assert not [c for c in without.columns if c.startswith("ct2")]  # absent, not zeros
    assert "ct2" not in markdown(without)


def test_several_seeds_give_one_row_each_deltas_within_a_seed_and_mean_and_std(tmp_path):
    def run(method, seed, bleu):
        return ("s1", method, seed, evaluation(tmp_path, f"{method}{seed}", bleu, 300.0))
    table = build_table("exp", [
        ("teacher", "teacher", 1, evaluation(tmp_path, "t", 40.0, 100.0)),
        run("kd", 2, 24.0), run("wd", 1, 30.0), run("kd", 1, 20.0), run("wd", 2, 34.0),
    ], references(tmp_path))
    assert list(zip(table.method, table.seed)) == [("teacher", 1), ("kd", 1), ("kd", 2),
                                                   ("wd", 1), ("wd", 2)]
    assert list(table.delta_bleu_vs_kd[1:]) == [0.0, 0.0, 10.0, 10.0]  # same seed's KD
    text = markdown(table)
    assert "| method | seed | train_data | bleu |" in text
    assert "Mean and standard deviation over seeds, student `s1`:" in text
    header = ("| method | train_data | runs | bleu_mean | bleu_std | chrf_mean | chrf_std | "
              "delta_bleu_vs_kd_mean | delta_bleu_vs_kd_std |")
    assert header in text
    # wd: mean 32, sample std of (30, 34) = 2.83; the teacher's one run has no std
    assert "| wd | bitext+kd | 2 | 32.00 | 2.83 | 42.00 | 2.83 | 10.00 | 0.00 |" in text
    assert "| teacher | bitext | 1 | 40.00 |  | 50.00 |  |  |  |" in text


def test_valid_loss_last_drop_is_the_relative_fall_over_the_last_fifth(tmp_path):
    evals = [("teacher", "teacher", 1, evaluation(tmp_path, "t", 40.0, 100.0)),
             ("s1", "kd", 1, evaluation(tmp_path, "kd", 31.5, 320.0))]
    logs = [train_log(tmp_path / "t.csv"), train_log(tmp_path / "kd.csv", 2.0, 1.9)]
    table = build_table("exp", evals, references(tmp_path), logs)
    assert list(table.valid_loss_last_drop) == [0.005, 0.05]  # from update 400 to 500
    text = markdown(table)
    assert " | 0.5% | " in text and " | 5.0% | " in text
    assert "Not at their plateau (ran to the step cap with the validation loss falling by 2% " \
           "or more over the last 20% of updates): kd seed 1 (5.0%)." in text


def test_a_run_stopped_by_patience_is_at_its_plateau(tmp_path):
    evals = [("teacher", "teacher", 1, evaluation(tmp_path, "t", 40.0, 100.0,
                                                  stopped_by="patience")),
             ("s1", "kd", 1, evaluation(tmp_path, "kd", 31.5, 320.0, stopped_by="patience")),
             ("s1", "wd", 1, evaluation(tmp_path, "wd", 31.5, 320.0, stopped_by="steps"))]
    logs = [train_log(tmp_path / f"{name}.csv", 2.0, 1.9) for name in ("t", "kd", "wd")]
    text = markdown(build_table("exp", evals, references(tmp_path), logs))
    assert "updates): wd seed 1 (5.0%)." in text  # the step cap: the loss was still falling
    assert "kd seed 1" not in text and "The teacher is not at its plateau" not in text


def test_last_drop_needs_a_validation_early_enough(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,epoch,lr,train_loss,valid_loss,valid_nll,tokens_per_sec,elapsed_sec,"
                    "skipped_updates\n90,1,0.1,3,2.5,3,1,1,0\n100,1,0.1,3,2.0,3,1,1,0\n")
    assert math.isnan(last_drop(path))  # 90 > 80: no validation in the last fifth's start
    train_log(path, 3.0, 1.5)
    assert last_drop(path) == 0.5


def test_the_verdict_states_the_ordering_and_each_comparison_with_its_significance(tmp_path):
    table = build_table("exp", [
        ("teacher", "teacher", 1, evaluation(tmp_path, "t", 100.0, 100.0)),
        ("s1", "scratch", 1, evaluation(tmp_path, "sc", 20.0, 300.0)),
        ("s1", "kd", 1, evaluation(tmp_path, "kd", 60.0, 300.0)),
        ("s1", "cutoff", 1, evaluation(tmp_path, "cut", 100.0, 300.0)),
        ("s1", "wd", 1, evaluation(tmp_path, "wd", 64.0, 300.0)),
    ], references(tmp_path))
    rows = table.set_index("method")
    text = verdict(table, "s1")
    assert text.startswith("**s1** (BLEU): cutoff 100.00 > wd 64.00 > kd 60.00 > scratch 20.00.")
    assert f"kd beats scratch: +40.00 BLEU (p = {rows.p_vs_kd['scratch']:.3f}, significant)." \
        in text
    # not significant: a tie, whatever the sign
    assert f"wd ties with kd: +4.00 BLEU (p = {rows.p_vs_kd['wd']:.3f}, not significant)." in text
    assert (f"wd loses to cutoff: -36.00 BLEU (p = {rows.p_vs_cutoff['wd']:.3f}, significant)."
            in text)
    assert "plateau" not in text
    assert markdown(table).index("## Verdict") < markdown(table).index("## Student `s1`")


def test_the_verdict_counts_significant_seeds(tmp_path):
    def run(method, seed, bleu):
        return ("s1", method, seed, evaluation(tmp_path, f"{method}{seed}", bleu, 300.0))
    table = build_table("exp", [("teacher", "teacher", 1, evaluation(tmp_path, "t", 40.0, 100.0)),
                                run("kd", 1, 20.0), run("wd", 1, 100.0), run("kd", 2, 20.0),
                                run("wd", 2, 24.0)], references(tmp_path))
    # differences 80 and 4 (sample std 53.74); only the first is significant
    assert verdict(table, "s1") == ("**s1** (mean BLEU over 2 seeds): wd 62.00 > kd 20.00. "
                                    "wd ties with kd: +42.00 +- 53.74 BLEU over 2 seeds "
                                    "(significant in that direction in 1 of 2 seeds).")


def seeds_table(**methods):
    """A results table for student ``s1`` from ``method=[(bleu, p-value), ...]`` (one pair per
    seed; the p-value goes into ``p_vs_kd``, where wd.evaluate.significance puts it for scratch
    and wd)."""
    return pd.DataFrame([
        {"student": "s1", "method": method, "seed": seed, "bleu": bleu, "p_vs_kd": p,
         "p_vs_cutoff": math.nan, "valid_loss_last_drop": 0.0, "stopped_by": "steps"}
        for method, runs in methods.items() for seed, (bleu, p) in enumerate(runs, 1)])


KD = [(30.0, math.nan)] * 3


@pytest.mark.parametrize("wd, said", [
    ([(31.0, 0.01), (32.0, 0.01), (33.0, 0.01)],
     "wd beats kd: +2.00 +- 1.00 BLEU over 3 seeds (significant in that direction in 3 of 3 "
     "seeds)."),
    ([(29.0, 0.01), (28.0, 0.01), (27.0, 0.01)],
     "wd loses to kd: -2.00 +- 1.00 BLEU over 3 seeds (significant in that direction in 3 of 3 "
     "seeds)."),
    ([(31.0, 0.01), (32.0, 0.20), (33.0, 0.01)],  # one seed not significant
     "wd ties with kd: +2.00 +- 1.00 BLEU over 3 seeds (significant in that direction in 2 of 3 "
     "seeds)."),
    ([(32.0, 0.01), (33.0, 0.01), (29.0, 0.01)],  # all significant, one the other way
     "wd ties with kd: +1.33 +- 2.08 BLEU over 3 seeds (significant in that direction in 2 of 3 "
     "seeds)."),
])
def test_a_difference_over_seeds_is_real_only_when_significant_in_every_seed_one_way(wd, said):
    assert said in verdict(seeds_table(kd=KD, wd=wd), "s1")


def test_kd_against_scratch_takes_its_p_values_from_the_scratch_rows():
    text = verdict(seeds_table(scratch=[(20.0, 0.01), (21.0, 0.01), (22.0, 0.01)], kd=KD), "s1")
    assert "kd beats scratch: +9.00 +- 1.00 BLEU over 3 seeds (significant in that direction " \
           "in 3 of 3 seeds)." in text


def test_best_step_stopped_by_and_valid_bleu_follow_train_steps_empty_where_missing(tmp_path):
    early = {"best_step": 1500, "stopped_by": "patience", "valid_bleu": 27.25}
    table = build_table("exp", [
        ("teacher", "teacher", 1, evaluation(tmp_path, "t", 40.0, 100.0)),  # an old json
        ("s1", "kd", 1, evaluation(tmp_path, "kd", 31.5, 320.0, **early)),
        ("s1", "wd", 1, evaluation(tmp_path, "wd", 31.5, 320.0, best_step=2000,
                                   stopped_by="steps")),  # did not translate its valid set
    ], references(tmp_path))
    columns = list(table.columns)
    at = columns.index("train_steps") + 1
    assert columns[at:at + 3] == ["best_step", "stopped_by", "valid_bleu"]
    assert str(table.best_step.dtype) == "Int64"
    assert table.best_step.isna().tolist() == [True, False, False]
    assert table.stopped_by.isna().tolist() == [True, False, False]
    assert table.valid_bleu.isna().tolist() == [True, False, True]
    csv_rows = list(csv.DictReader(io.StringIO(table.to_csv(index=False))))
    assert [(r["best_step"], r["stopped_by"], r["valid_bleu"]) for r in csv_rows] == [
        ("", "", ""), ("1500", "patience", "27.25"), ("2000", "steps", "")]  # 1500, not 1500.0
    text = markdown(table)
    assert "| train_steps | best_step | stopped_by | valid_bleu | valid_loss_last_drop |" in text
    assert "| 10 | 1,500 | patience | 27.25 | 0.5% |" in text
    assert "| 10 | 2,000 | steps |  | 0.5% |" in text
    assert "| 10 |  |  |  | 0.5% |" in text and "None" not in text


def test_the_seed_summary_gives_the_mean_training_length(tmp_path):
    def run(method, seed, bleu, best_step):
        return ("s1", method, seed, evaluation(tmp_path, f"{method}{seed}", bleu, 300.0,
                                               best_step=best_step))
    table = build_table("exp", [("teacher", "teacher", 1, evaluation(tmp_path, "t", 40.0, 100.0)),
                                run("kd", 1, 20.0, 400), run("kd", 2, 24.0, 500)],
                        references(tmp_path))
    summary = report.seed_summary(table).set_index("method")
    assert list(summary.columns[-2:]) == ["train_steps_mean", "best_step_mean"]
    assert summary.best_step_mean["kd"] == 450 and summary.train_steps_mean["kd"] == 10
    assert pd.isna(summary.best_step_mean["teacher"])


def test_last_drop_fits_a_line_through_the_last_fifth(tmp_path):
    path = tmp_path / "log.csv"
    head = "step,epoch,lr,train_loss,valid_loss,valid_nll,tokens_per_sec,elapsed_sec,skipped\n"
    # From update 800 on: a line falling by 0.1 over 200 updates, two points 0.05 above it
    # (symmetric about the middle: the slope stays, the line moves up by 0.1 / 5 points).
    rows = [(400, 9.0), (800, 2.0), (850, 1.975 + 0.05), (900, 1.95), (950, 1.925 + 0.05),
            (1000, 1.9)]
    path.write_text(head + "".join(f"{s},1,0.1,3,{n},3,1,1,0\n" for s, n in rows))
    assert last_drop(path) == pytest.approx(0.1 / 2.02, rel=1e-9)
    assert last_drop(path, fraction=0.04) == pytest.approx(0.075 / 1.975, rel=1e-9)  # 950, 1000


def test_further_test_sets_follow_the_primary_one_with_their_own_significance(tmp_path):
    timed, untimed = tmp_path / "timed", tmp_path / "untimed"
    timed.mkdir(), untimed.mkdir()
    systems = [("teacher", "teacher", 1, 40.0), ("s1", "kd", 1, 36.0), ("s1", "wd", 1, 20.0)]
    primary = [(s, m, seed, evaluation(timed, m, bleu, 100.0)) for s, m, seed, bleu in systems]
    further = []
    for s, m, seed, bleu in systems:  # untimed: no speeds; WD better than KD here
        path = evaluation(untimed, m, 60.0 - bleu, 1.0)
        result = json.loads(path.read_text())
        del result["sents_per_sec"], result["tokens_per_sec"]
        path.write_text(json.dumps(result))
        further.append((s, m, seed, path))
    logs = [train_log(tmp_path / f"{m}.log.csv") for _, m, _, _ in systems]
    table = report.build_report("exp", {"flickr": (primary, references(tmp_path)),
                                        "coco": (further, references(tmp_path))}, logs)
    assert list(table.testset) == ["flickr"] * 3 + ["coco"] * 3
    coco = table[table.testset == "coco"].set_index("method")
    assert coco.speedup.isna().all() and coco.bleu["wd"] == 40.0
    assert coco.p_vs_kd["wd"] < 0.05  # its own significance, from its own hypotheses
    text = markdown(table)
    verdict_part = text[text.index("## Verdict"):text.index("## Student `s1`")]
    assert "wd loses to kd" in verdict_part  # the verdict is the primary test set's
    assert text.index("## Student `s1`") < text.index("## Test set `coco`")
    assert "wd beats kd" in text[text.index("## Test set `coco`"):]
    assert "### Student `s1` on `coco`" in text


def test_kd_engine_columns_name_the_decoder_of_the_kd_data(tmp_path):
    systems = [("teacher", "teacher", 1, 40.0), ("s1", "scratch", 1, 30.0), ("s1", "kd", 1, 36.0),
               ("s1", "wd", 1, 37.0)]
    evaluations = [(s, m, seed, evaluation(tmp_path, m, bleu, 100.0))
                   for s, m, seed, bleu in systems]
    logs = [train_log(tmp_path / f"{m}.log.csv") for _, m, _, _ in systems]
    records = []
    for shard, (checked, identical) in enumerate([(200, 1.0), (100, 0.97)]):
        records.append(tmp_path / f"shard{shard}.json")
        records[-1].write_text(json.dumps({"engine": "ctranslate2", "checked": checked,
                                           "identical": identical}))
    tested = {"test": (evaluations, references(tmp_path))}
    table = report.build_report("exp", tested, logs, records).set_index("method")
    assert table.kd_engine[["teacher", "scratch"]].isna().all()
    assert (table.kd_engine[["kd", "wd"]] == "ctranslate2").all()
    assert table.kd_identical["kd"] == table.kd_identical["wd"] == 0.99  # 297 of 300
    assert table.kd_identical[["teacher", "scratch"]].isna().all()
    ours = report.build_report("exp", tested, logs).set_index("method")
    assert (ours.kd_engine[["kd", "wd"]] == "ours").all() and ours.kd_identical.isna().all()
