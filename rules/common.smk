# Config validation at start-up, path helpers and the list of systems. Imported by the Snakefile.
import sys
from pathlib import Path

from wd.config import ConfigError, shape, validate

try:
    validate(config)
except ConfigError as err:
    sys.exit(str(err))

EXP = Path(config["results_dir"]) / config["experiment"]
STUDENTS = [s["name"] for s in config["students"]]
TRAINED_METHODS = [m for m in config["methods"] if m != "wd_phase1_only"]
SIDES = {"src": config["data"]["src_lang"], "tgt": config["data"]["tgt_lang"]}
GPU = {"gpu": config["gpus"]} if config["gpus"] else {}


def exp(path):
    """A path under results/<experiment>/."""
    return str(EXP / path)


def model_path(student, method):
    """Checkpoint evaluated for a (student, method) row; wd_phase1_only is the Phase-1 output."""
    if student == "teacher":
        return exp("models/teacher/final.pt")
    if method == "wd_phase1_only":
        method = "wd_phase1"
    return exp(f"models/{student}/{method}/final.pt")


SYSTEMS = [("teacher", "teacher")] + [(s, m) for s in STUDENTS for m in config["methods"]]
EVALS = [exp(f"eval/{s}/{m}/test.json") for s, m in SYSTEMS]
TABLES = [exp("tables/results.csv"), exp("tables/results.md"), exp("tables/config.used.yaml")]


BPE_TRAIN = [exp("bpe/train.src"), exp("bpe/train.tgt")]
KD_TRAIN = [exp("bpe/train.src"), exp("kd/train.tgt")]
VALID = [exp("bpe/valid.src"), exp("bpe/valid.tgt")]
TEACHER = exp("models/teacher/final.pt")
PHASE1_STEPS = config["wd"]["phase1_steps"]
PHASE1_TRAIN = {**config["student_train"], **config["wd"].get("phase1", {}), "steps": PHASE1_STEPS}
PHASE2_TRAIN = {
    **config["student_train"],
    **config["wd"].get("phase2", {}),
    "steps": config["student_train"]["steps"] - PHASE1_STEPS,
}


def student_inputs(wildcards):
    """Data and initialisation of one student run (see README, 'Systems compared')."""
    corpora = {"scratch": BPE_TRAIN, "kd": KD_TRAIN, "cutoff": KD_TRAIN, "wd": BPE_TRAIN + KD_TRAIN}
    init = {"cutoff": TEACHER, "wd": exp(f"models/{wildcards.student}/wd_phase1/final.pt")}
    inputs = {"bpe": exp("bpe/spm.model"), "train": corpora[wildcards.method], "valid": VALID}
    if wildcards.method in init:
        inputs["init"] = init[wildcards.method]
    return inputs


wildcard_constraints:
    split="train|valid|test",
    side="src|tgt",
    student="|".join(STUDENTS),
    method="scratch|kd|cutoff|wd",
