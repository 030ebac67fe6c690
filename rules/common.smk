# Config validation at start-up, path helpers, the systems to evaluate and the inputs of each
# student run. Included first by the Snakefile.
import sys
from pathlib import Path

from wd import methods
from wd.config import (
    ConfigError,
    rename_methods,
    shape,
    student_methods,
    train_job_params,
    validate,
)
from wd.data.prepare import (
    experiment_testsets,
    raw_outputs,
    splits,
    reference_count,
)
from wd.settings import TrainSettings
from wd.model.inits import INITS

for warning in rename_methods(config):
    print(warning, file=sys.stderr)
try:
    validate(config)
except ConfigError as err:
    sys.exit(str(err))

EXP = Path(config["results_dir"]) / config["experiment"]
STUDENTS = [s["name"] for s in config["students"]]
METHODS = {student: student_methods(config, student) for student in STUDENTS}
SIDES = {"src": config["data"]["src_lang"], "tgt": config["data"]["tgt_lang"]}


def exp(*parts):
    """A path under results/<experiment>/ from its parts (joined here: snakemake --lint takes a
    string literal that begins with a slash for an absolute path)."""
    return str(EXP.joinpath(*parts))


# The test sets, the primary one (the verdict's) first, and the references of each:
# data/raw/<test set>.tgt, then <test set>.tgt.1, .tgt.2, ... (local corpora with several
# references, e.g. NIST Zh-En).
TESTSETS = experiment_testsets(config["data"])
SPLITS = splits(config["data"])
TEST_REFS = {
    testset: [
        str(path)
        for path in raw_outputs(
            EXP / "data" / "raw", testset, reference_count(config["data"], testset)
        )[1:]
    ]
    for testset in TESTSETS
}
BPE_TRAIN = [exp("bpe/train.src"), exp("bpe/train.tgt")]
KD_TRAIN = [exp("bpe/train.src"), exp("kd/train.tgt")]
VALID = [exp("bpe/valid.src"), exp("bpe/valid.tgt")]
VALID_REFS = exp("data/raw/valid.tgt")  # what validation BLEU is scored against
TEACHER = exp("models/teacher/final.pt")
PHASE1_STEPS = config["wd"]["phase1_steps"]
PHASE1_TRAIN = {**config["student_train"], **config["wd"]["phase1"], "steps": PHASE1_STEPS}
PHASE2_TRAIN = {
    **config["student_train"],
    **config["wd"]["phase2"],
    "steps": config["student_train"]["steps"] - PHASE1_STEPS,
}


SEEDS = config["seeds"]


def phase1_dir(student, run="all", seed="{seed}"):
    """Work, log and final model of a WD Phase 1 (run: wd.methods.Method.phase1_run)."""
    return f"models/{student}/wd_phase1_{run}/seed{seed}"


def run_dir(student, method, seed="{seed}"):
    """Work, log and final model of one student run (one method, one seed)."""
    return f"models/{student}/{method}/seed{seed}"


def model_path(student, method, seed):
    """Checkpoint evaluated for a (student, method, seed) row; wd_phase1_only is the Phase-1
    output."""
    if student == "teacher":
        return TEACHER
    if method == "wd_phase1_only":
        return exp(phase1_dir(student, seed=seed), "final.pt")
    return exp(run_dir(student, method, seed), "final.pt")


TRAIN_FILES = {"bitext": BPE_TRAIN, "kd": KD_TRAIN, "bitext+kd": BPE_TRAIN + KD_TRAIN}


def student_section(method):
    """The train settings of a student run: the student budget; WD methods its Phase-2 share
    (with their own warm-up in a sweep); a learning-rate sweep point its scaled rate; a method
    with its own loss (word_kd, prune) that loss."""
    section = PHASE2_TRAIN if method.is_wd else config["student_train"]
    section = {**section, "lr": section["lr"] * method.lr_scale}
    if method.warmup is not None:
        section["warmup"] = method.warmup
    if method.loss is not None:
        section["loss"] = method.loss
    return section


def student_inputs(wildcards):
    """Data and initialisation of one student run (wd/methods.py), and the teacher when its
    loss is word-level distillation."""
    method = methods.get(wildcards.method)
    inputs = {
        "bpe": exp("bpe/spm.model"),
        "valid": VALID,
        "valid_refs": VALID_REFS,
        "train": TRAIN_FILES[method.train_data],
    }
    if TrainSettings(**student_section(method)).needs_teacher:
        inputs["teacher"] = TEACHER
    if method.init == "checkpoint":
        phase1 = phase1_dir(wildcards.student, method.phase1_run, wildcards.seed)
        inputs["init"] = exp(phase1, "final.pt")
    elif INITS[method.init].from_teacher:
        inputs["init"] = TEACHER
    return inputs


def student_job(wildcards):
    """TrainJob of one student run (wd.pipeline.TrainJob; settings: student_section)."""
    method = methods.get(wildcards.method)
    section = student_section(method)
    work = exp(run_dir(wildcards.student, wildcards.method, wildcards.seed), "work")
    model = shape(config, wildcards.student)
    return train_job_params(config, model, section, work, int(wildcards.seed), method.init)


def phase1_job(wildcards):
    """TrainJob of WD Phase 1 for one student shape, Phase-1 run and seed."""
    transfer, start, warmup, lr_scale = methods.phase1_settings(wildcards.phase1)
    section = {**PHASE1_TRAIN, "lr": PHASE1_TRAIN["lr"] * lr_scale}
    if warmup is not None:
        section["warmup"] = warmup
    work = exp(phase1_dir(wildcards.student, wildcards.phase1, wildcards.seed), "work")
    model = shape(config, wildcards.student)
    return train_job_params(
        config,
        model,
        section,
        work,
        int(wildcards.seed),
        phase1_transfer=transfer,
        phase1_start=start,
    )


def training_curves(seed):
    """Per student shape: run name -> (train_log.csv, the log of the run it continues or None)
    for the curve plot, the students' runs with one seed: WD Phase 2 is drawn after the updates
    its Phase 1 made, which early stopping decides."""
    curves = {}
    for student in STUDENTS:
        runs = {"teacher": (exp("models/teacher/train_log.csv"), None)}
        for method in [m for m in METHODS[student] if methods.get(m).trains]:
            spec = methods.get(method)
            phase1 = phase1_dir(student, spec.phase1_run, seed) if spec.is_wd else None
            runs[method] = (
                exp(run_dir(student, method, seed), "train_log.csv"),
                exp(phase1, "train_log.csv") if phase1 else None,
            )
        if any(methods.get(m).is_wd for m in METHODS[student]):
            runs["wd_phase1"] = (exp(phase1_dir(student, seed=seed), "train_log.csv"), None)
        curves[student] = runs
    return curves


# (student, method, seed) of every evaluated system; the teacher's seed is the experiment's.
SYSTEMS = [("teacher", "teacher", config["seed"])] + [
    (s, m, seed) for s in STUDENTS for m in METHODS[s] for seed in SEEDS
]
# Per test set, the result json of each system (its hypotheses beside it, wd.evaluate.evaluate).
EVALS = {
    testset: [exp(f"eval/{s}/{m}/seed{seed}/{testset}.json") for s, m, seed in SYSTEMS]
    for testset in TESTSETS
}
ALL_EVALS = [path for paths in EVALS.values() for path in paths]
ALL_HYPS = [path.removesuffix(".json") + ".hyp" for path in ALL_EVALS]
ALL_TEST_REFS = [path for refs in TEST_REFS.values() for path in refs]
TRAIN_LOGS = [str(Path(model_path(*system)).parent / "train_log.csv") for system in SYSTEMS]
CURVES = training_curves(SEEDS[0])
CURVE_FILES = sorted(
    {path for runs in CURVES.values() for run in runs.values() for path in run if path}
)
TABLES = [exp("tables/results.csv"), exp("tables/results.md"), exp("tables/config.used.yaml")]
ENV_USED = exp("tables/env.used.yaml")
# A model package (wd.export.package) per evaluated system: the teacher's, and each student method's of
# the first seed (the others are there for the statistics).
PACKAGE_SYSTEMS = {"teacher": SYSTEMS[0]} | {
    f"{s}/{m}": (s, m, SEEDS[0]) for s in STUDENTS for m in METHODS[s]
}
PACKAGES = [exp(f"models/{name}/package") for name in PACKAGE_SYSTEMS]
PLOTS = [exp("plots/bleu_vs_speed.png"), exp("plots/training_curves.png")]


wildcard_constraints:
    split="|".join(SPLITS),
    side="src|tgt",
    student="|".join(STUDENTS),
    method=methods.trained_pattern(),
    phase1=methods.phase1_pattern(),
    seed="[0-9]+",
