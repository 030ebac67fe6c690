"""The training steps of the pipeline: a run of any kind from its job, the teacher imported.

Each function takes explicit paths and settings, so it runs (and is tested) without Snakemake.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import torch

from wd.data.batching import Pair
from wd.data.binary import MisalignedSides, PairCorpus
from wd.data.bpe import load_bpe
from wd.evaluate.validation import ValidationSet
from wd.io import InputError, read_lines, write_lines
from wd.model.checkpoint import load, load_model, save_model
from wd.model.fake_quant import plain, quantisation_aware
from wd.model.generator import build_generator, generator_parameters
from wd.model.inits import INITS
from wd.model.transformer import Transformer, count_parameters
from wd.plan import TrainJob, binary_origin
from wd.runtime import file_digest
from wd.settings import ModelConfig, TrainSettings
from wd.train import losses
from wd.train.log import FIELDS as LOG_FIELDS
from wd.train.trainer import Trainer

log = logging.getLogger(__name__)


def model_config(bpe_model: Path, shape: dict) -> ModelConfig:
    """Architecture from a config shape, with the vocabulary the BPE model really has."""
    return ModelConfig(vocab_size=load_bpe(bpe_model).get_piece_size(), **shape)


def fit(model: torch.nn.Module, train_pairs: list[Pair], valid_pairs: list[Pair],
        settings: TrainSettings, work_dir: Path, device: torch.device,
        curve_out: Path, job: dict | None = None, teacher: torch.nn.Module | None = None,
        validation: ValidationSet | None = None) -> tuple[Trainer, dict]:
    """Train; copy the run's loss log to ``curve_out`` (the report's training curves).
    ``job`` identifies the run beyond its settings (see :class:`wd.train.trainer.Trainer`);
    ``teacher`` is the model whose logits a word-level distillation loss follows; ``validation`` the
    set translated at each validation (valid_bleu)."""
    trainer = Trainer(model, train_pairs, valid_pairs, settings, work_dir, device, job, teacher,
                      validation)
    result = trainer.run()
    if trainer.is_main:
        log.info("trained %d steps in %.1f s", result["steps"], result["seconds"])
        write_lines(curve_out, read_lines(trainer.log_path))
    return trainer, result


def calibration_sample(pairs: list[Pair], size: int, seed: int) -> list[Pair]:
    """``size`` training pairs drawn with ``seed`` (all of them if there are fewer)."""
    return random.Random(seed).sample(pairs, min(size, len(pairs)))


def train_model(model_cfg: ModelConfig, init: str, train_pairs: list[Pair],
                valid_pairs: list[Pair], settings: TrainSettings, work_dir: Path, out: Path,
                curve_out: Path, device: torch.device, init_from: Path | None = None,
                job: dict | None = None, teacher: torch.nn.Module | None = None,
                calibration: int | None = None, validation: ValidationSet | None = None,
                qat: bool = False) -> dict:
    """Train a Transformer from a random, teacher-made or checkpoint initialisation; save ``out``.

    ``init_from`` is the teacher (``cutoff``, ``select``, ``prune``: scored on ``calibration``
    training pairs) or a student checkpoint (``checkpoint``, e.g. the converted Phase-1
    student); its recorded steps and seconds are added to this run's, and its generator size is
    carried over. With ``qat`` the training sees int8 weights (wd.model.fake_quant) and the
    float weights are saved.
    """
    if init not in INITS:
        raise ValueError(f"unknown initialisation {init!r}; expected one of {[*INITS]}")
    torch.manual_seed(settings.seed)
    before: dict = {"train_steps": 0, "train_seconds": 0.0}
    record = INITS[init]
    if record.builder is not None:  # init_from is the teacher (``teacher`` is the KD loss's model)
        if record.calibration and calibration is None:
            raise ValueError(f"{init} scores the teacher on calibration pairs: give their number")
        sample = (calibration_sample(train_pairs, calibration, settings.seed)
                  if record.calibration else [])
        source = load(init_from)
        model = record.build(source["model"], ModelConfig(**source["config"]), model_cfg, sample)
    elif init == "checkpoint":
        model, meta = load_model(init_from)
        before = {k: meta[k] for k in [*before, "generator_params"] if k in meta}
    else:
        model = Transformer(model_cfg)
    if qat:
        quantisation_aware(model)
    trainer, result = fit(model, train_pairs, valid_pairs, settings, work_dir, device, curve_out,
                          job, teacher, validation)
    if not trainer.is_main:  # under torchrun, rank 0 writes the model
        return result
    model.load_state_dict(trainer.final_state())
    plain(model)
    meta = {**before, "train_steps": before["train_steps"] + result["steps"],
            "train_seconds": round(before["train_seconds"] + result["seconds"], 2),
            "params": count_parameters(model), "init": init,
            **stopping_meta(result, before["train_steps"])}
    save_model(model.cpu(), out, meta)
    shrink_checkpoints(trainer)
    return meta


def shrink_checkpoints(trainer: Trainer) -> None:
    """The run's work checkpoints, once its model is written: those it was averaged from
    without the optimizer state that only a resume reads, the newest whole, no others
    (wd.train.state.CheckpointStore.shrink)."""
    freed = trainer.store.shrink(trainer.final_step)
    if freed:
        log.info("%s: %.1f MB freed from the checkpoints before the newest (optimizer state, "
                 "checkpoints outside the final average)", trainer.work_dir, freed / 2**20)


def stopping_meta(result: dict, steps_before: int) -> dict:
    """The checkpoint meta that says where a run stopped and which step it kept: ``best_step``
    counts the updates of the runs before it (WD Phase 1 for Phase 2); ``valid_bleu`` (at the
    best step) only where the run translated its validation set."""
    meta = {"best_step": steps_before + result["best_step"], "stopped_by": result["stopped_by"]}
    if result["valid_bleu"] is not None:
        meta["valid_bleu"] = result["valid_bleu"]
    return meta


def import_teacher(source: str, model_out: Path, curve_out: Path) -> dict:
    """A pretrained MarianMT teacher (``teacher.pretrained``) as the experiment's teacher: its
    weights in our Transformer (wd.model.marian), and an empty training log (no updates here)."""
    from wd.model.marian import import_marian
    model, _ = import_marian(source)
    meta = {"train_steps": 0, "train_seconds": 0.0, "params": count_parameters(model),
            "init": "pretrained"}
    save_model(model, model_out, meta)
    write_lines(curve_out, [",".join(LOG_FIELDS)])
    log.info("imported %s: %d parameters", source, meta["params"])
    return meta


CONVERSIONS = ("last", "student_average")


def train_phase1(teacher_path: Path, student_cfg: ModelConfig, train_pairs: list[Pair],
                 valid_pairs: list[Pair], settings: TrainSettings, work_dir: Path, out: Path,
                 curve_out: Path, device: torch.device, transfer: str = "all",
                 job: dict | None = None, same_shape_layers: str = "elementwise",
                 conversion: str = "last", teacher: torch.nn.Module | None = None,
                 start: str = "random", validation: ValidationSet | None = None) -> dict:
    """Phase 1: train the generator on frozen teacher tensors, then write the plain student.
    ``transfer`` limits which tensor kinds come from the teacher (ablations); ``start`` says how
    the generator's projections start (wd.model.generator.STARTS). The student is the
    generator's output at the ``last`` checkpoint (as released; with patience, the best), or the
    mean of the students generated at each of the ``average_last`` checkpoints ending there
    (``student_average``)."""
    if conversion not in CONVERSIONS:
        raise ValueError(f"unknown conversion {conversion!r}; expected one of {CONVERSIONS}")
    torch.manual_seed(settings.seed)
    model = build_generator(teacher_path, student_cfg, transfer, same_shape_layers, start)
    trainer, result = fit(model, train_pairs, valid_pairs, settings, work_dir, device, curve_out,
                          job, teacher, validation)
    if not trainer.is_main:  # under torchrun, rank 0 writes the model
        return result
    window = trainer.store.window(trainer.final_step)
    states = [load(path)["model"] for path in (window[-1:] if conversion == "last" else window)]
    student = model.cpu().export_student(states)
    meta = {"train_steps": result["steps"], "train_seconds": result["seconds"],
            "params": count_parameters(student), "generator_params": generator_parameters(model),
            "init": f"wd_phase1_{transfer}", **stopping_meta(result, 0)}
    save_model(student, out, meta)
    shrink_checkpoints(trainer)
    return meta


def training_pairs(job: TrainJob) -> PairCorpus:
    """The run's training pairs within data.max_len. Sides of different lengths name the text
    to make again; a max_len that leaves no pair names the key: both before any update."""
    try:
        pairs = PairCorpus(job.train, job.max_len)
    except MisalignedSides as err:
        text, rule = binary_origin(err.shorter)
        raise InputError(f"{err}: {text}, which {err.shorter.name} is made from, was cut short "
                         f"or changed since it was written; make it again with snakemake "
                         f"--forcerun {rule} (and the run's other arguments)") from None
    if not len(pairs):
        every = PairCorpus(job.train)
        raise InputError(f"data.max_len is {job.max_len}: none of the {len(every)} training "
                         "pairs has both sides within that many BPE pieces (the shortest "
                         f"pair's longer side has {int(every.lengths.min()) - 1}); raise "
                         "data.max_len")
    return pairs


def run_train_job(job: dict, *, device: torch.device) -> None:
    """Train the :class:`wd.plan.TrainJob` ``job`` (as a dict): WD Phase 1
    (:func:`train_phase1`) when the generator makes its model, otherwise :func:`train_model`."""
    job = TrainJob.from_dict(job)
    train_pairs = training_pairs(job)
    valid_pairs = PairCorpus(job.valid)
    cfg, settings = model_config(job.bpe, job.model), job.settings
    # A rerun after a change of any of these starts over instead of resuming the old run.
    inputs = [job.bpe, *job.train, *job.valid] + ([job.init_from] if job.init_from else [])
    teacher = None
    if losses.loss(settings.loss).needs_teacher:
        if job.teacher is None:
            raise ValueError(f"loss {settings.loss} needs the teacher: the job names none")
        teacher, _ = load_model(job.teacher)
        inputs.append(job.teacher)
    validation = None
    if job.valid_search is not None:
        validation = ValidationSet.load([src for src, _ in valid_pairs], job.valid_refs, job.bpe,
                                        job.tgt_lang, job.valid_search, settings.valid_sentences)
        inputs.append(job.valid_refs)
    identity = {"model": cfg.to_dict(), **job.identity(),
                "inputs": [file_digest(path) for path in inputs]}
    if job.generator:
        train_phase1(job.init_from, cfg, train_pairs, valid_pairs, settings, job.work,
                     job.model_out, job.curve_out, device, job=identity, teacher=teacher,
                     validation=validation, **job.generator)
    else:
        train_model(cfg, job.init, train_pairs, valid_pairs, settings, job.work, job.model_out,
                    job.curve_out, device, init_from=job.init_from, job=identity,
                    teacher=teacher, calibration=job.calibration, validation=validation,
                    qat=job.qat)
