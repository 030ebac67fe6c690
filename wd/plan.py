"""The plan of every training run, without torch or Snakemake.

For a validated config and one run (the teacher, a student method at a seed, a WD Phase 1 run at
a seed), :class:`Plan` gives the rule's input files and ``params.job`` (a
:class:`wd.pipeline.TrainJob` but the files the rule adds); :func:`identity` gives what a run's
checkpoints record of it beyond its settings and input digests. Each decision (the data a method
trains on, the initialisation and teacher it reads, the settings of a WD phase or a sweep point)
is made here once: the rules unpack the plan, and the tests call it directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from wd import methods
from wd.config import search_settings, shape
from wd.model.inits import INITS
from wd.settings import SearchSettings, TrainSettings


@dataclass(frozen=True)
class RunPlan:
    inputs: dict[str, str | list[str]]  # the rule's named input files
    job: dict                           # the rule's params.job


def validation_search(job: dict) -> SearchSettings | None:
    """The search of a job's validation translations (the evaluation's, at ``valid_beam``), or
    None when its validations do not translate."""
    settings = TrainSettings(**job["settings"])
    if not settings.translates:
        return None
    return SearchSettings(**{**job["valid_search"], "beam": settings.valid_beam})


def identity(job: dict) -> dict:
    """What a run's checkpoints record of its job beyond settings, model and input digests
    (wd.pipeline adds those): a rerun whose initialisation, calibration, Phase-1 map or
    validation search changed starts over. Keys a job does not have are left out, so that the
    identity of runs planned before a key existed stays the same."""
    phase1 = job.get("phase1")
    out = {"init": phase1["transfer"] if phase1 else job.get("init", "random")}
    search = validation_search(job)
    if search is not None:
        out["valid_search"] = dataclasses.asdict(search)
    if job.get("calibration") is not None:
        out["calibration"] = job["calibration"]
    if phase1:
        out["same_shape_layers"] = phase1["same_shape_layers"]
        if "start" in phase1:
            out["start"] = phase1["start"]
    return out


KD_BINARY = "kd.tgt"  # the binarised KD data's name beside the splits' (train.src, ...)


class Plan:
    """The runs of one experiment, under ``results_dir/experiment``."""

    def __init__(self, config: dict):
        self.config = config
        self.root = Path(config["results_dir"]) / config["experiment"]
        # The tokenizer (wd.data.bpe): ours, or a pretrained teacher's files.
        self.pretrained = config["teacher"].get("pretrained")
        self.bpe = self.path("bpe/marian/vocab.json" if self.pretrained else "bpe/spm.model")
        # Training reads the corpora as memory-mapped ids (wd.data.binary), one file a side.
        self.valid = [self.binarized("valid.src"), self.binarized("valid.tgt")]
        self.valid_refs = self.path("data/raw/valid.tgt")  # what validation BLEU is scored against
        self.teacher_model = self.path("models/teacher/final.pt")
        bitext = [self.binarized("train.src"), self.binarized("train.tgt")]
        kd = [self.binarized("train.src"), self.binarized(KD_BINARY)]
        self.train_files = {"bitext": bitext, "kd": kd, "bitext+kd": bitext + kd}

    def binarized(self, name: str) -> str:
        """The ids file of a BPE text: ``bpe/<split>.<side>``, or the KD data (``kd.tgt``)."""
        return self.path(f"bin/{name}.npy")

    def binarize_source(self, name: str) -> str:
        """The BPE text that :meth:`binarized` ``name`` is made from."""
        return self.path("kd/train.tgt" if name == KD_BINARY else f"bpe/{name}")

    def path(self, *parts: str) -> str:
        """A path under results/<experiment>/ (joined from parts: snakemake --lint reads a
        string literal that begins with a slash as an absolute path)."""
        return str(self.root.joinpath(*parts))

    @staticmethod
    def run_dir(student: str, method: str, seed: int | str = "{seed}") -> str:
        """Work, log and final model of one student run (one method, one seed)."""
        return f"models/{student}/{method}/seed{seed}"

    @staticmethod
    def phase1_dir(student: str, run: str = "all", seed: int | str = "{seed}") -> str:
        """Work, log and final model of a WD Phase 1 (run: wd.methods.Method.phase1_run)."""
        return f"models/{student}/wd_phase1_{run}/seed{seed}"

    def model_path(self, student: str, method: str, seed: int) -> str:
        """The checkpoint evaluated for a (student, method, seed) row; wd_phase1_only is the
        Phase-1 output."""
        if student == "teacher":
            return self.teacher_model
        if method == "wd_phase1_only":
            return self.path(self.phase1_dir(student, seed=seed), "final.pt")
        return self.path(self.run_dir(student, method, seed), "final.pt")

    def reads_kd(self, method: str) -> bool:
        """Whether a student method's runs (its Phase 1 included) read the KD data."""
        return methods.get(method).train_data != "bitext"

    def missing_sources(self, systems: list[tuple[str, str, int]], testset: str
                        ) -> dict[str, list[str]]:
        """Missing file -> the existing outputs made from it: a model or the KD data that the
        user deleted. Snakemake does not remake a missing file whose products exist, so the
        results would go on showing what was made from it."""
        kd, pairs = self.path("kd/train.tgt"), []
        for student, method, seed in systems:
            model = self.model_path(student, method, seed)
            pairs.append((model, self.path(f"eval/{student}/{method}/seed{seed}/{testset}.json")))
            if student != "teacher" and self.reads_kd(method):
                pairs.append((kd, model))
        stale: dict[str, list[str]] = {}
        for missing, made in dict.fromkeys(pairs):
            if not Path(missing).exists() and Path(made).exists():
                stale.setdefault(missing, []).append(made)
        return stale

    def _inputs(self, train: list[str]) -> dict:
        return {"bpe": self.bpe, "train": train, "valid": self.valid,
                "valid_refs": self.valid_refs}

    def teacher(self) -> RunPlan:
        job = self.job(shape(self.config, "teacher"), self.config["teacher"]["train"],
                       self.path("models/teacher/work"), self.config["seed"])
        return RunPlan(self._inputs(self.train_files["bitext"]), job)

    def phase2_section(self) -> dict:
        """student_train with WD Phase 2's values and the updates Phase 1 left."""
        c = self.config
        return {**c["student_train"], **c["wd"]["phase2"],
                "steps": c["student_train"]["steps"] - c["wd"]["phase1_steps"]}

    def student_section(self, method: methods.Method) -> dict:
        """The train settings of a student run: the student budget; WD methods its Phase-2
        share (with their own warm-up in a sweep); a learning-rate sweep point its scaled rate;
        a method with its own loss (word_kd, prune) that loss."""
        section = self.phase2_section() if method.is_wd else self.config["student_train"]
        section = {**section, "lr": section["lr"] * method.lr_scale}
        if method.warmup is not None:
            section["warmup"] = method.warmup
        if method.loss is not None:
            section["loss"] = method.loss
        return section

    def student(self, student: str, method_name: str, seed: int) -> RunPlan:
        """One student run: its data, initialisation (the teacher or its Phase-1 student) and
        the teacher where its loss needs it."""
        method = methods.get(method_name)
        section = self.student_section(method)
        inputs = self._inputs(self.train_files[method.train_data])
        if TrainSettings(**section).needs_teacher:
            inputs["teacher"] = self.teacher_model
        if method.init == "checkpoint":
            phase1 = self.phase1_dir(student, method.phase1_run, seed)
            inputs["init"] = self.path(phase1, "final.pt")
        elif INITS[method.init].from_teacher:
            inputs["init"] = self.teacher_model
        work = self.path(self.run_dir(student, method_name, seed), "work")
        job = self.job(shape(self.config, student), section, work, seed, method.init)
        return RunPlan(inputs, job)

    def phase1(self, student: str, run: str, seed: int) -> RunPlan:
        """WD Phase 1 of one student shape, Phase-1 run and seed, on WD's data; the teacher is
        its initialisation and, with a word-level loss, its loss's model."""
        transfer, start, warmup, lr_scale = methods.phase1_settings(run)
        c = self.config
        section = {**c["student_train"], **c["wd"]["phase1"], "steps": c["wd"]["phase1_steps"]}
        section["lr"] = section["lr"] * lr_scale
        if warmup is not None:
            section["warmup"] = warmup
        inputs = {**self._inputs(self.train_files[methods.get("wd").train_data]),
                  "init": self.teacher_model, "teacher": self.teacher_model}
        work = self.path(self.phase1_dir(student, run, seed), "work")
        job = self.job(shape(c, student), section, work, seed, phase1_transfer=transfer,
                       phase1_start=start)
        return RunPlan(inputs, job)

    def job(self, model: dict, section: dict, work: str, seed: int, init: str = "random",
            phase1_transfer: str | None = None, phase1_start: str = "random") -> dict:
        """``params.job``: ``section`` is a ``*_train`` section (with a WD phase's values);
        ``seed`` the experiment's for the teacher, a student's from ``seeds``. Keys that only
        some runs have are left out of the others, so that adding them did not change (and
        rerun) existing jobs."""
        c = self.config
        phase1 = None if phase1_transfer is None else {
            "transfer": phase1_transfer, "same_shape_layers": c["wd"]["same_shape_layers"],
            "conversion": c["wd"]["phase1_conversion"]}
        if phase1 and phase1_start != "random":
            phase1["start"] = phase1_start
        job = {"model": model, "max_len": c["data"].get("max_len"), "work": work,
               "settings": {**section, "amp": c["amp"], "compile": c["compile"], "seed": seed},
               "init": init, "phase1": phase1}
        if INITS[init].calibration:
            job["calibration"] = c["prune"]["calibration_sentences"]
        if TrainSettings(**section).translates:
            search = dataclasses.asdict(search_settings(c["evaluation"]))
            job["valid_search"] = {k: v for k, v in search.items() if k != "beam"} | {
                "int8": False}
            job["tgt_lang"] = c["data"]["tgt_lang"]
        return job
