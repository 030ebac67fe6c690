"""Result tables: ``results.csv`` (the stable interface scripts read) and ``results.md`` (people).

One row per (system, seed, test set). Speed-ups are ratios to the teacher's sentences/s from the
same timing job; differences to the KD and cut-off students are taken within a seed. Nothing is
filtered or re-ordered by score: a student that loses shows as such.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from wd import methods
from wd.evaluate import frontier, significance
from wd.evaluate.metrics import VARIANTS, read_references
from wd.evaluate.significance import baseline_of, significance_columns
from wd.export.variants import VARIANTS as CT2_VARIANTS
from wd.io import atomic_path, read_lines, write_lines
from wd.train.log import last_drop

COLUMNS = ["experiment", "student", "method", "seed", "train_data", "testset", "bleu",
           "bleu_ci95_low", "bleu_ci95_high", "chrf", "delta_bleu_vs_kd", "p_vs_kd",
           "p_vs_cutoff", "params", "sents_per_sec", "tokens_per_sec", "speedup",
           "speedup_tokens", "train_steps", "best_step", "stopped_by", "valid_bleu",
           "valid_loss_last_drop", "train_seconds", "kd_engine", "kd_identical", "eval_engine",
           "device", "beam", "batch_size", "threads", "bleu_signature", "chrf_signature",
           "generator_params", "schema_version"]
# Integer columns some rows lack (WD's generator; best_step, from the checkpoint's meta, before
# early stopping existed): Int64, empty there.
INT_COLUMNS = ["best_step", "generator_params"]
# Per CTranslate2 deployment variant the evaluation scored and timed (wd.decode.ct2.VARIANTS:
# ct2, ct2_int8, ct2_int8_vmap), after speedup_tokens: its speed on the evaluation's threads and
# speed-up over the teacher in the same variant, its BLEU and chrF, and as deployed
# (wd.evaluate.deploy) its size, one-thread words/s and latency, and one-thread speed-ups over
# the teacher in the same variant and over the float32 teacher.
CT2_FIELDS = ["sents_per_sec", "speedup", "bleu", "chrf", "mb", "words_per_sec_1t",
              "latency_ms_1t", "speedup_1t", "speedup_1t_vs_fp32"]
# The layout of results.csv: raised when a column is renamed or removed or changes its meaning
# (docs/results.md lists the changes); a new column keeps it.
SCHEMA_VERSION = 1


def method_rank(method: str) -> int:
    """Paper order; ablations and sweep points follow ``wd`` (wd.methods)."""
    return methods.get(method).order


def build_table(experiment: str, evaluations: list[tuple[str, str, int, Path]],
                references: Sequence[Path], train_logs: Sequence[Path],
                testset: str = "test", speeds: dict[str, dict] | None = None) -> pd.DataFrame:
    """Rows from ``(student, method, seed, eval json)``; the teacher has student ``teacher``.
    Each json's hypotheses (``.hyp`` beside it) and the ``references`` give the confidence intervals
    and p-values (:mod:`wd.evaluate.significance`); ``train_logs`` (one per evaluation: the
    ``train_log.csv`` of the run that made its weights) whether the run reached its plateau;
    ``speeds`` (``student/method/seed`` -> the timing job's fields, the timed test set only)
    the speed columns."""
    rows = []
    for (student, method, seed, path), log in zip(evaluations, train_logs, strict=True):
        result = json.loads(Path(path).read_text())
        if speeds is not None:
            result |= speeds[f"{student}/{method}/{seed}"]
        rows.append({**result, "experiment": experiment, "student": student, "method": method,
                     "seed": seed, "testset": testset,
                     "valid_loss_last_drop": round(last_drop(log), 4)})
    table = pd.DataFrame(rows)
    table["train_data"] = [methods.get(m).train_data for m in table.method]
    if "init" in table:  # a teacher imported (teacher.pretrained), not trained here
        table.loc[table.init == "pretrained", "train_data"] = "pretrained"
    teacher = table[table.method == "teacher"]
    if len(teacher) != 1:
        raise ValueError("exactly one teacher evaluation is needed for speed-ups")
    if "sents_per_sec" in table:  # timed: the primary test set
        table["speedup"] = (table.sents_per_sec / teacher.sents_per_sec.iloc[0]).round(2)
        table["speedup_tokens"] = (table.tokens_per_sec / teacher.tokens_per_sec.iloc[0]).round(2)
    for engine in CT2_VARIANTS:
        if f"{engine}_sents_per_sec" in table:
            speed = table[f"{engine}_sents_per_sec"]
            table[f"{engine}_speedup"] = (speed / teacher[speed.name].iloc[0]).round(2)
        if f"{engine}_words_per_sec_1t" in table:
            speed = table[f"{engine}_words_per_sec_1t"]
            table[f"{engine}_speedup_1t"] = (speed / teacher[speed.name].iloc[0]).round(2)
            fp32 = teacher["ct2_words_per_sec_1t"].iloc[0]
            table[f"{engine}_speedup_1t_vs_fp32"] = (speed / fp32).round(2)
    bleu = table.set_index(["student", "method", "seed"]).bleu
    present = list(dict.fromkeys(table.method))
    table["delta_bleu_vs_kd"] = [  # against the KD student on the same data (baseline_of)
        round(b - bleu[key], 2) if (key := (s, baseline_of(m, "kd", present), sd)) in bleu.index
        and m != "teacher" else math.nan
        for s, m, sd, b in zip(table.student, table.method, table.seed, table.bleu)]
    hyps = {(student, method, seed): read_lines(Path(path).with_suffix(".hyp"))
            for student, method, seed, path in evaluations}
    table[significance.COLUMNS] = significance_columns(table, hyps, read_references(references))
    table["order"] = table.method.map(method_rank)
    table = table.sort_values(["order", "student", "seed"], kind="stable").drop(columns="order")
    table = table.reindex(columns=columns(table))
    table[INT_COLUMNS] = table[INT_COLUMNS].astype("Int64")
    table["schema_version"] = SCHEMA_VERSION
    return table.reset_index(drop=True)


def build_report(experiment: str,
                 testsets: dict[str, tuple[list[tuple[str, str, int, Path]], Sequence[Path]]],
                 train_logs: Sequence[Path], kd_records: Sequence[Path] = (),
                 speeds: dict[str, dict] | None = None) -> pd.DataFrame:
    """The rows of every test set, ``name -> (evaluations, references)`` as
    :func:`build_table` takes them, the primary (first, timed: ``speeds``) test set's rows
    first; the further test sets' speed columns are empty. ``kd_records`` (one per KD shard,
    none when our decoder made the KD data) fill ``kd_engine`` and ``kd_identical`` of the rows
    trained on KD data."""
    tables = [build_table(experiment, evaluations, references, train_logs, name,
                          speeds if number == 0 else None)
              for number, (name, (evaluations, references)) in enumerate(testsets.items())]
    table = pd.concat(tables, ignore_index=True).reindex(columns=columns(tables[0]))
    table[INT_COLUMNS] = table[INT_COLUMNS].astype("Int64")
    engine, identical = kd_engine(kd_records)
    on_kd = table.method.map(lambda method: methods.get(method).reads_kd).astype(bool)
    table["kd_engine"] = table.kd_engine.astype(object).where(~on_kd, engine)
    table["kd_identical"] = table.kd_identical.where(~on_kd, identical)
    return table


def kd_engine(records: Sequence[Path]) -> tuple[str, float]:
    """The engine(s) that decoded the KD shards (``+``-joined where shards differ) and the share
    of checked sentences identical to our decoder over all shards (NaN when none was checked)."""
    if not records:
        return "ours", math.nan
    shards = [json.loads(Path(path).read_text()) for path in records]
    checked = sum(shard["checked"] for shard in shards if shard["identical"] is not None)
    same = sum(shard["checked"] * shard["identical"] for shard in shards
               if shard["identical"] is not None)
    engine = "+".join(sorted({shard["engine"] for shard in shards}))
    return engine, round(same / checked, 4) if checked else math.nan


def variant_columns(table: pd.DataFrame) -> list[str]:
    """``bleu_<variant>`` for each BLEU variant of wd.evaluate.metrics that was scored, in a
    fixed order."""
    return [f"bleu_{name}" for name in VARIANTS if f"bleu_{name}" in table.columns]


def ct2_columns(table: pd.DataFrame) -> list[str]:
    """The CT2_FIELDS columns of each variant the evaluation scored or timed (none where it did
    neither; a further test set is scored, not timed)."""
    return [f"{engine}_{field}" for engine in CT2_VARIANTS for field in CT2_FIELDS
            if f"{engine}_{field}" in table.columns]


def columns(table: pd.DataFrame) -> list[str]:
    """COLUMNS with each scored BLEU variant after ``chrf`` and its signature after
    ``chrf_signature``, and the CTranslate2 speeds after ``speedup_tokens``."""
    variants = variant_columns(table)
    out = list(COLUMNS)
    at = out.index("speedup_tokens") + 1
    out[at:at] = ct2_columns(table)
    at = out.index("chrf") + 1
    out[at:at] = variants
    at = out.index("chrf_signature") + 1
    out[at:at] = [f"{c}_signature" for c in variants]
    return out


def _cell(value) -> str:
    if value is None or value is pd.NA:  # a missing Int64 value reads back as None
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _p_value(value: float) -> str:
    """A p-value, starred below 0.05."""
    return "" if math.isnan(value) else f"{value:.3f}" + (" *" if value < 0.05 else "")


def _percent(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.1%}"


def several_seeds(table: pd.DataFrame) -> bool:
    """Whether some student method was trained with more than one seed."""
    students = table[table.method != "teacher"]
    return bool(len(students)) and students.groupby(["student", "method"]).size().max() > 1


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (student, method): runs, and mean and sample standard deviation over seeds of BLEU,
    chrF and the BLEU difference to the KD student of the same seed (std NaN for one run), and the
    mean training length (``best_step`` where the evaluations recorded it): early stopping makes
    it differ between seeds."""
    grouped = table.groupby(["student", "method", "train_data"], sort=False)
    steps = [c for c in ("train_steps", "best_step") if c in table and table[c].notna().any()]
    summary = grouped.agg(runs=("seed", "size"),
                          **{f"{c}_{f}": (c, f) for c in ("bleu", "chrf", "delta_bleu_vs_kd")
                             for f in ("mean", "std")},
                          **{f"{c}_mean": (c, "mean") for c in steps})
    return summary.round(2).reset_index()


# The comparisons a verdict states: (method, against, the row that carries the p-value, its
# column).
COMPARISONS = [("kd", "scratch", "scratch", "p_vs_kd"), ("wd", "kd", "wd", "p_vs_kd"),
               ("wd", "cutoff", "wd", "p_vs_cutoff"),
               # with the monolingual KD data: what it adds to KD, and WD against KD and
               # cut-off on the same data
               ("kd_mono", "kd", "kd_mono", "p_vs_kd"),
               ("wd_mono", "kd_mono", "wd_mono", "p_vs_kd"),
               ("wd_mono", "cutoff_mono", "wd_mono", "p_vs_cutoff")]
PLATEAU_DROP = 0.02  # valid_loss_last_drop below this: the run is at its plateau


def seed_differences(rows: pd.DataFrame, first: str, second: str, carrier: str,
                     column: str) -> pd.DataFrame:
    """Per seed where both methods ran: BLEU of ``first`` minus ``second`` (``diff``) and the
    paired-bootstrap p-value of that seed (``p``, on the ``carrier`` row)."""
    by_seed = rows.set_index(["method", "seed"])
    return pd.DataFrame({"diff": by_seed.bleu[first] - by_seed.bleu[second],
                         "p": by_seed[column][carrier]}).dropna()


def comparison(first: str, second: str, seeds: pd.DataFrame) -> str:
    """One comparison of the verdict. With several seeds it is real ("beats", "loses to") only
    when every seed's difference is significant and has the mean's sign (docs/results.md,
    Verdicts over seeds); with one seed, when that seed's is significant."""
    mean = seeds["diff"].mean()
    agree = int(((seeds.p < 0.05) & (seeds["diff"] * mean > 0)).sum())
    real = agree == len(seeds)
    word = ("beats" if mean > 0 else "loses to") if real else "ties with"
    if len(seeds) == 1:
        p = seeds.p.iloc[0]
        note = f"p = {p:.3f}, " + ("significant" if real else "not significant")
        return f"{first} {word} {second}: {mean:+.2f} BLEU ({note})."
    return (f"{first} {word} {second}: {mean:+.2f} +- {seeds['diff'].std():.2f} BLEU over "
            f"{len(seeds)} seeds (significant in that direction in {agree} of {len(seeds)} "
            "seeds).")


def short_of_plateau(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows whose run ran to its step cap (or predates ``stopped_by``) while the validation
    loss was still falling; a run stopped by patience is at its plateau by construction."""
    return rows[(rows.valid_loss_last_drop >= PLATEAU_DROP) & (rows.stopped_by != "patience")]


def verdict(table: pd.DataFrame, student: str) -> str:
    """One paragraph for a student shape, generated from the table: the BLEU ordering, each of
    the paper's comparisons with its difference and significance, and the runs not at their
    plateau. With several seeds: means over seeds, significance required in every seed."""
    rows = table[table.student == student]
    bleu = rows.groupby("method", sort=False).bleu.mean()
    seeds = rows.seed.nunique()
    mean = f"mean BLEU over {seeds} seeds" if seeds > 1 else "BLEU"
    order = " > ".join(f"{m} {b:.2f}" for m, b in bleu.sort_values(ascending=False).items())
    out = [f"**{student}** ({mean}): {order}."]
    for first, second, carrier, column in COMPARISONS:
        if first in bleu and second in bleu:
            paired = seed_differences(rows, first, second, carrier, column)
            if len(paired):
                out.append(comparison(first, second, paired))
    loose = short_of_plateau(rows)
    if len(loose):
        listed = ", ".join(f"{m} seed {sd} ({d:.1%})" for m, sd, d in zip(
            loose.method, loose.seed, loose.valid_loss_last_drop))
        out.append(f"Not at their plateau (ran to the step cap with the validation loss falling "
                   f"by {PLATEAU_DROP:.0%} or more over the last 20% of updates): {listed}.")
    return " ".join(out)


def _table(frame: pd.DataFrame, shown: list[str]) -> list[str]:
    return (["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
            + ["| " + " | ".join(_cell(row[c]) for c in shown) + " |"
               for row in frame.to_dict("records")])


def deployment(table: pd.DataFrame) -> list[str]:
    """The section on the CTranslate2 variants as deployed (wd.evaluate.frontier): the verdict
    against the float32 teacher and every system and variant, the Pareto front first; nothing
    where the variants were not timed on one thread."""
    frame = frontier.points(table)
    if not len(frame):
        return []
    shown = ["student", "method", "seed", "variant", *frontier.FIELDS, "front"]
    frame = frame.sort_values(["front", "words_per_sec_1t"], ascending=False)
    frame["front"] = frame.front.map({True: "yes", False: ""})
    return ["## As deployed: CTranslate2 on one thread", "",
            f"Test set `{table.testset.iloc[0]}`. Variants: `ct2` float32, `ct2_int8` int8 "
            "weights, `ct2_int8_vmap` int8 with the vocabulary map (deploy.vmap_*). `mb`: size "
            "on disk; `words_per_sec_1t`: output words per second, batches of 32 sentences, one "
            "thread; `latency_ms_1t`: median time of one sentence alone; `speedup_1t`: over the "
            "teacher in the same variant; `speedup_1t_vs_fp32`: over the float32 teacher. "
            "`front`: on the speed-quality Pareto front (no system as fast and as good), i.e. "
            "the best BLEU at its speed.", "", *frontier.verdict(frame), "",
            *_table(frame, shown), ""]


def markdown(table: pd.DataFrame) -> str:
    """On the primary test set: one table per student shape with the teacher on top (and, with
    several seeds, the mean and standard deviation per method); then the scores on each further
    test set; then the metric signatures."""
    variants = variant_columns(table)
    seeds = several_seeds(table)
    shown = ["method", *(["seed"] if seeds else []), "train_data", "bleu", "bleu_ci95",
             "delta_bleu_vs_kd", "p_vs_kd", "p_vs_cutoff", "chrf", *variants, "params",
             "sents_per_sec", "tokens_per_sec", "speedup", "speedup_tokens",
             "train_steps", "best_step", "stopped_by", "valid_bleu", "valid_loss_last_drop",
             "train_seconds"]
    first = table.iloc[0]
    testsets = list(table.testset.unique())
    primary = table[table.testset == first.testset]
    further = (f" Further test sets ({', '.join(f'`{t}`' for t in testsets[1:])}) are scored "
               "after the primary one's tables, untimed." if len(testsets) > 1 else "")
    out = [f"# Results: {first.experiment}", "",
           f"Test set `{first.testset}`; decoding with beam {first.beam}, batch {first.batch_size} "
           f"sentences, {first.threads} threads on {first.device}; `speedup` = sentences/s over "
           "the teacher's, `speedup_tokens` = target tokens/s over the teacher's, both from the "
           "median of interleaved timed passes in the same job." + further,
           "", "## Verdict", ""]
    students = [s for s in table.student.unique() if s != "teacher"]
    out += [line for student in students for line in (verdict(primary, student), "")]
    loose = short_of_plateau(primary[primary.method == "teacher"])
    if len(loose):
        out += [f"The teacher is not at its plateau ({loose.valid_loss_last_drop.iloc[0]:.1%}).",
                ""]
    out += _student_tables(primary, students, shown, seeds, "")
    scores = shown[:shown.index("params")]  # untimed, trained once: the scores only
    for testset in testsets[1:]:
        rows = table[table.testset == testset]
        out += [f"## Test set `{testset}`", "",
                *[line for student in students for line in (verdict(rows, student), "")],
                *_student_tables(rows, students, scores, seeds, f" on `{testset}`")]
    out += deployment(table)
    out += [f"`bleu_ci95`: 95% confidence interval of BLEU; `p_vs_kd`, `p_vs_cutoff`: p-value of "
            "the BLEU difference to the KD and the cut-off student of the same shape and seed (* "
            f"below 0.05); both from paired bootstrap resampling, {significance.SAMPLES} resamples "
            "of the test sentences, sacreBLEU's fixed seed. `best_step`: the update whose "
            "checkpoint is the model (WD: counted from the start of Phase 1); `stopped_by`: "
            "`patience` (early stopping: at its plateau) or `steps` (the step cap); "
            "`valid_bleu`: validation BLEU at `best_step`. `valid_loss_last_drop`: relative fall "
            "of the validation loss over the last 20% of the run's updates (under 2%: the run is "
            "at its plateau; WD: Phase 2).", "",
            "BLEU signature: `" + str(first.bleu_signature) + "`",
            "", "chrF signature: `" + str(first.chrf_signature) + "`"]
    for column in variants:
        out += ["", f"`{column}`: {VARIANTS[column.removeprefix('bleu_')].description}; "
                f"signature `{first[column + '_signature']}`"]
    return "\n".join(out)


def _student_tables(table: pd.DataFrame, students: list[str], shown: list[str], seeds: bool,
                    where: str) -> list[str]:
    """Per student shape, the teacher's and the shape's rows of one test set, and with several
    seeds the mean and standard deviation per method."""
    summary = seed_summary(table) if seeds else None
    table = table.assign(
        bleu_ci95=[f"{low:.2f}-{high:.2f}" for low, high in zip(table.bleu_ci95_low,
                                                                table.bleu_ci95_high)],
        p_vs_kd=table.p_vs_kd.map(_p_value), p_vs_cutoff=table.p_vs_cutoff.map(_p_value),
        valid_loss_last_drop=table.valid_loss_last_drop.map(_percent))
    teacher = table[table.method == "teacher"]
    out = []
    for student in students:
        part = pd.concat([teacher, table[table.student == student]])
        heading = "###" if where else "##"  # under its test set's heading
        out += [f"{heading} Student `{student}`{where}", "", *_table(part, shown), ""]
        if summary is not None:
            part = summary[summary.student.isin(["teacher", student])]
            out += [f"Mean and standard deviation over seeds, student `{student}`{where}:", "",
                    *_table(part, list(summary.columns[1:])), ""]
    return out


def write_tables(table: pd.DataFrame, csv_path: Path, md_path: Path) -> None:
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    write_lines(md_path, markdown(table).split("\n"))
