# Config validation at start-up, path helpers, the systems to evaluate, and each training run's
# inputs and parameters from the run plan (wd/plan.py). Included first by the Snakefile.
import os
import sys
from pathlib import Path

from wd import methods
from wd.config import ConfigError, check_files, rename_methods, student_methods, validate
from wd.data.corpora import registry_corpus
from wd.data.prepare import (
    experiment_testsets,
    raw_outputs,
    splits,
    reference_count,
)
from wd.gpu_slots import limit_gpu_jobs
from wd.plan import Plan
from wd.pretrained import TOKENIZER_FILES, local_files

for warning in rename_methods(config):
    print(warning, file=sys.stderr)
try:
    check_files(workflow.configfiles)  # config.yaml and every --configfile: keys given twice
    validate(config)
except ConfigError as err:
    sys.exit(str(err))


onstart:
    # When the executor is known (not at parse time, not in a dry run, which plans a GPU config
    # on any machine): one GPU job per device (wd/gpu_slots.py), then the packages, device,
    # CTranslate2 and disk the run needs (wd/preflight.py: it loads torch, so not at parse time).
    limit_gpu_jobs(workflow, config)
    from wd.preflight import preflight

    preflight(config, workflow.local_exec)


# A job's waiting OpenMP threads sleep instead of spinning: a little slower alone, much faster
# beside another busy process (docs/performance.md, "A busy machine"). An OMP_WAIT_POLICY of
# your own is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PLAN = Plan(config)  # every training run's inputs and parameters (wd/plan.py)
EXP = PLAN.root
exp = PLAN.path
STUDENTS = [s["name"] for s in config["students"]]
METHODS = {student: student_methods(config, student) for student in STUDENTS}
SIDES = {"src": config["data"]["src_lang"], "tgt": config["data"]["tgt_lang"]}


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
TEACHER = PLAN.teacher_model
BPE = PLAN.bpe  # the tokenizer: bpe/spm.model, or a pretrained teacher's (wd.data.bpe)
PRETRAINED = PLAN.pretrained  # teacher.pretrained, or None: the teacher is trained
SEEDS = config["seeds"]
run_dir, model_path = PLAN.run_dir, PLAN.model_path


TEACHER_PLAN = PLAN.teacher()


def run_plan(wildcards):
    """One student run's inputs and job (wd.plan.Plan.run): a method's, or a link of its chain."""
    return PLAN.run(wildcards.student, wildcards.run_name, int(wildcards.seed))


# The runs that other runs continue (WD's Phase 1; kd before kd_ft): they start first, since
# a chain's later runs wait for them.
CONTINUED = {run.name for s in STUDENTS for m in METHODS[s] for run in methods.get(m).runs[:-1]}


def kd_priority(wildcards):
    """The training sources' KD data is on the critical path (the teacher's top priority); the
    monolingual text's only on that of the methods that read it."""
    return 20 if wildcards.part == "train" else 10


# Shared by every experiment under results_dir: one download job per remote file.
DOWNLOADS = Path(config["results_dir"]) / "downloads"


def mono_input(kind, value):
    """Where a file of data.mono comes from (wd.data.mono.mono_files): a registry download, the
    toy generator, or the user's path."""
    if kind == "download":
        source = registry_corpus(config["data"]["source"], SIDES["src"], SIDES["tgt"])
        return str(DOWNLOADS / source.file(value).name)
    return exp("data/toy/mono.src") if kind == "toy" else value


def run_priority(wildcards):
    return 10 if wildcards.run_name in CONTINUED else 0


def run_inputs(wildcards):
    return run_plan(wildcards).inputs


def run_job(wildcards):
    return run_plan(wildcards).job.to_dict()


def training_curves(seed):
    """Per student shape: run name -> (train_log.csv, the log of the run it continues or None)
    for the curve plot, every run of the methods' chains with one seed: a run is drawn after the
    updates of the run before it (WD Phase 2 after its Phase 1), which early stopping decides."""
    log = lambda student, run: exp(run_dir(student, run.name, seed), "train_log.csv")
    curves = {}
    for student in STUDENTS:
        runs = {"teacher": (exp("models/teacher/train_log.csv"), None)}
        for spec in map(methods.get, METHODS[student]):
            for run in spec.runs:
                before = spec.before(run)
                runs.setdefault(run.name, (log(student, run), before and log(student, before)))
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
# A model or the KD data deleted by the user: say how to remake it and what was made from it.
for missing, made in PLAN.missing_sources(SYSTEMS, TESTSETS[0]).items():
    print(
        f"warning: {missing} is missing, but {len(made)} outputs were made from it (e.g. "
        f"{made[0]}): rerun with --forcerun {missing} to remake it and all made from it",
        file=sys.stderr,
    )
# Whether any planned run reads the KD data (else no KD decoding is planned), and the KD data of
# the monolingual source text (data.mono).
USES_KD = any(methods.get(m).reads_kd for s in STUDENTS for m in METHODS[s])
USES_MONO = any(methods.get(m).reads_mono for s in STUDENTS for m in METHODS[s])
# The vocabulary map of the deployed int8 variant (wd.data.shortlist): with CTranslate2 in the
# evaluation and deploy.vmap_top_k > 0; it goes into every package.
VMAP = (
    {"vmap": exp("deploy/vmap.txt")}
    if config["deploy"]["vmap_top_k"] and config["evaluation"]["ctranslate2"] is not False
    else {}
)
TABLES = [exp("tables/results.csv"), exp("tables/results.md"), exp("tables/config.used.yaml")]
ENV_USED = exp("tables/env.used.yaml")
SPEEDS = exp("eval/speeds.json")  # every system timed together (wd.evaluate.evaluate)
# A model package (wd.export.package) per evaluated system: the teacher's, and each student
# method's of the first seed (the others are there for the statistics).
PACKAGE_SYSTEMS = {"teacher": SYSTEMS[0]} | {
    f"{s}/{m}": (s, m, SEEDS[0]) for s in STUDENTS for m in METHODS[s]
}
PACKAGES = [exp(f"models/{name}/package") for name in PACKAGE_SYSTEMS]
PLOTS = [
    exp("plots/bleu_vs_speed.png"),
    exp("plots/training_curves.png"),
    exp("plots/speed_quality.png"),
]


wildcard_constraints:
    split="|".join([*SPLITS, "mono"]),
    part="train|mono",
    side="src|tgt",
    student="|".join(STUDENTS),
    run_name=methods.run_pattern(),
    seed="[0-9]+",
