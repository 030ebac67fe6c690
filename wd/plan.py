"""The plan of every training run, without torch or Snakemake.

For a validated config and one run (the teacher, or a run of a student shape at a seed: a
method's, or a link of a method's chain such as WD's Phase 1), :class:`Plan` gives the rule's
input files and its :class:`TrainJob`. Each decision (the data a run trains on, the model it
starts from, its settings and budget, the teacher its loss reads, how it validates) is made
here once, from the method records (wd.methods): the rules unpack the plan, the training job
reads the job, and the tests call it directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from pathlib import Path

from wd import methods
from wd.config import config_value, search_settings, shape
from wd.model.inits import INITS
from wd.settings import SearchSettings, TrainSettings
from wd.train.losses import loss as named_loss


@dataclass(frozen=True)
class TrainJob:
    """One training run, as the plan made it: files, model, settings, the model it starts from,
    and how it validates. Its :meth:`to_dict` is plain JSON, so that the rule can hold it as a
    parameter and ``wd.train.distributed.launch`` can hand it to every torchrun worker."""

    bpe: str
    train: list[str]             # binarised sides [src1, tgt1, src2, tgt2, ...] (wd.data.binary)
    valid: list[str]
    model: dict                  # ModelConfig keys but vocab_size (the BPE model's)
    settings: TrainSettings
    max_len: int | None          # training pairs longer than this many pieces are dropped
    work: str                    # checkpoints and train_log.csv; a rerun resumes from here
    model_out: str
    curve_out: str
    init: str = "random"         # wd.model.inits.INITS
    init_from: str | None = None  # the teacher (cutoff, select, prune, generator) or a checkpoint
    generator: dict | None = None  # WD Phase 1: transfer, same_shape_layers, conversion[, start]
    teacher: str | None = None   # the teacher, when the loss reads its logits
    calibration: int | None = None  # prune: the training pairs its importance is scored on
    qat: bool = False            # int8 quantisation-aware training (wd.model.fake_quant)
    # Validation by translation (settings valid_bleu or best_metric bleu/chrf): the raw
    # references of ``valid``, their language, and the search (at the settings' valid_beam).
    valid_refs: str | None = None
    tgt_lang: str | None = None
    valid_search: SearchSettings | None = None

    def identity(self) -> dict:
        """What the run's checkpoints record of it beyond settings, model and input digests
        (wd.pipeline adds those): a rerun whose initialisation, calibration, generator or
        validation search changed starts over. Keys a job does not have are left out, so that
        the identity of runs planned before a key existed stays the same."""
        out = {"init": self.generator["transfer"] if self.generator else self.init}
        if self.valid_search is not None:
            out["valid_search"] = dataclasses.asdict(self.valid_search)
        if self.calibration is not None:
            out["calibration"] = self.calibration
        if self.qat:
            out["qat"] = True
        if self.generator:
            out["same_shape_layers"] = self.generator["same_shape_layers"]
            if "start" in self.generator:
                out["start"] = self.generator["start"]
        return out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, job: dict) -> TrainJob:
        settings = TrainSettings(**{**job["settings"], "betas": tuple(job["settings"]["betas"])})
        search = job["valid_search"] and SearchSettings(**job["valid_search"])
        return cls(**{**job, "settings": settings, "valid_search": search})


@dataclass(frozen=True)
class RunPlan:
    inputs: dict[str, str | list[str]]  # the rule's named input files
    job: TrainJob


def kd_binary(part: str) -> str:
    """The binarised name of the KD data of a source part (``train``: the training sources,
    ``mono``: the monolingual text), beside the splits' (``train.src``, ...)."""
    return "kd.tgt" if part == "train" else f"kd_{part}.tgt"


# The parts a run's training data joins ("bitext+kd+mono"): source and target sides, binarised.
DATA_PARTS = {"bitext": ("train.src", "train.tgt"), "kd": ("train.src", kd_binary("train")),
              "mono": ("mono.src", kd_binary("mono"))}
KD_PARTS = {kd_binary(part): part for part in ("train", "mono")}  # binarised name -> source part


def binary_origin(path: Path) -> tuple[Path, str]:
    """The text that the binarised file ``results/<exp>/bin/<name>.npy`` is made from, and the
    rule that writes that text (the KD data: the first of its chain, whose later steps follow)."""
    root, name = path.parent.parent, path.name.removesuffix(".npy")
    if name in KD_PARTS:
        return root / "kd" / f"{KD_PARTS[name]}.tgt", "kd_split"
    return root / "bpe" / name, "apply_bpe"


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

    def train_files(self, data: str) -> list[str]:
        """The binarised sides of a run's training data (``bitext+kd``, wd.methods.TRAIN_DATA):
        source, target, source, target, ... of its parts in order."""
        return [self.binarized(name) for part in data.split("+") for name in DATA_PARTS[part]]

    def binarized(self, name: str) -> str:
        """The ids file of a BPE text: ``bpe/<split>.<side>``, or KD data (``kd.tgt``,
        ``kd_mono.tgt``)."""
        return self.path(f"bin/{name}.npy")

    def binarize_source(self, name: str) -> str:
        """The BPE text that :meth:`binarized` ``name`` is made from."""
        return str(binary_origin(Path(self.binarized(name)))[0])

    def path(self, *parts: str) -> str:
        """A path under results/<experiment>/ (joined from parts: snakemake --lint reads a
        string literal that begins with a slash as an absolute path)."""
        return str(self.root.joinpath(*parts))

    @staticmethod
    def run_dir(student: str, run: str, seed: int | str = "{seed}") -> str:
        """Work, log and final model of one run of a student (wd.methods.Run.name) at a seed."""
        return f"models/{student}/{run}/seed{seed}"

    def model_path(self, student: str, method: str, seed: int) -> str:
        """The checkpoint evaluated for a (student, method, seed) row: its chain's last run's."""
        if student == "teacher":
            return self.teacher_model
        return self.path(self.run_dir(student, methods.get(method).run.name, seed), "final.pt")

    def missing_sources(self, systems: list[tuple[str, str, int]], testset: str
                        ) -> dict[str, list[str]]:
        """Missing file -> the existing outputs made from it: a model or the KD data that the
        user deleted. Snakemake does not remake a missing file whose products exist, so the
        results would go on showing what was made from it."""
        pairs = []
        for student, method, seed in systems:
            model = self.model_path(student, method, seed)
            pairs.append((model, self.path(f"eval/{student}/{method}/seed{seed}/{testset}.json")))
            if student != "teacher" and methods.get(method).reads_kd:
                pairs.append((self.path("kd/train.tgt"), model))
            if student != "teacher" and methods.get(method).reads_mono:
                pairs.append((self.path("kd/mono.tgt"), model))
        stale: dict[str, list[str]] = {}
        for missing, made in dict.fromkeys(pairs):
            if not Path(missing).exists() and Path(made).exists():
                stale.setdefault(missing, []).append(made)
        return stale

    def teacher(self) -> RunPlan:
        return self._plan(methods.get("teacher").run, None, "teacher", self.config["seed"],
                          self.config["teacher"]["train"], "models/teacher")

    def run(self, student: str, run: str, seed: int) -> RunPlan:
        """One run of a student shape at a seed: a trained method's, or a link its chain
        starts with (wd.methods.chain)."""
        chain = methods.chain(run)
        before = chain[-2] if len(chain) > 1 else None
        return self._plan(chain[-1], before, student, seed, self.section(chain[-1]),
                          self.run_dir(student, run, seed))

    def section(self, run: methods.Run) -> dict:
        """A student run's train settings: ``student_train`` with its budget's section over it
        and its budget's updates, then the run's own learning-rate scale, warm-up and loss."""
        c, budget = self.config, run.budget
        section = dict(c["student_train"])
        if budget.overlay:
            section.update(config_value(c, budget.overlay))
        if budget.steps:
            section["steps"] = config_value(c, budget.steps)
        if budget.less:
            section["steps"] = c["student_train"]["steps"] - config_value(c, budget.less)
        if budget.fraction != 1.0:
            section["steps"] = max(1, round(section["steps"] * budget.fraction))
        section["lr"] = section["lr"] * run.lr_scale
        if run.warmup is not None:
            section["warmup"] = run.warmup
        if run.loss is not None:
            section["loss"] = run.loss
        return section

    def _plan(self, run: methods.Run, before: methods.Run | None, student: str, seed: int,
              section: dict, run_dir: str) -> RunPlan:
        c = self.config
        settings = TrainSettings(**{**section, "amp": c["amp"], "compile": c["compile"],
                                    "seed": seed})
        inputs = {"bpe": self.bpe, "train": self.train_files(run.train_data),
                  "valid": self.valid, "valid_refs": self.valid_refs}
        job = {}
        if named_loss(settings.loss).needs_teacher:
            inputs["teacher"] = job["teacher"] = self.teacher_model
        if run.init == "checkpoint":
            inputs["init"] = self.path(self.run_dir(student, before.name, seed), "final.pt")
        elif INITS[run.init].from_teacher:
            inputs["init"] = self.teacher_model
        if INITS[run.init].calibration:
            job["calibration"] = c["prune"]["calibration_sentences"]
        if run.qat:
            job["qat"] = True
        if run.generator:
            job["generator"] = {"transfer": run.generator.transfer,
                                **{k: config_value(c, key)
                                   for k, key in methods.GENERATOR_KEYS.items()}}
            if run.generator.start != "random":
                job["generator"]["start"] = run.generator.start
        if settings.translates:
            job["valid_refs"], job["tgt_lang"] = self.valid_refs, c["data"]["tgt_lang"]
            search = replace(search_settings(c["evaluation"]), beam=settings.valid_beam,
                             int8=False)
            # Greedy search ends with one hypothesis whatever the length penalty: leaving it
            # out of a greedy validation lets the test search be tuned without retraining.
            if search.beam == 1:
                search = replace(search, lenpen=1.0)
            job["valid_search"] = search
        return RunPlan(inputs, TrainJob(
            bpe=self.bpe, train=inputs["train"], valid=self.valid, model=shape(c, student),
            settings=settings, max_len=c["data"].get("max_len"),
            work=self.path(run_dir, "work"), model_out=self.path(run_dir, "final.pt"),
            curve_out=self.path(run_dir, "train_log.csv"), init=run.init,
            init_from=inputs.get("init"), **job))
