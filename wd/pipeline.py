"""Training and translation steps of the pipeline, one function per workflow step.

Each function takes explicit paths and settings, so it runs (and is tested) without Snakemake.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from pathlib import Path

import torch

from wd import faults
from wd.data.batching import Pair, pieces_to_ids
from wd.data.binary import PairCorpus
from wd.data.bpe import ids_to_pieces, load_bpe
from wd.decode import engines
from wd.decode.journal import Journal
from wd.io import read_lines, write_lines
from wd.model.generator import build_generator, generator_parameters
from wd.model.inits import INITS
from wd.model.transformer import Transformer, count_parameters
from wd.plan import identity as job_identity
from wd.plan import validation_search
from wd.progress import Progress
from wd.runtime import file_digest
from wd.settings import EngineSettings, ModelConfig, SearchSettings, TrainSettings
from wd.train import stopping
from wd.train.checkpoint import load, load_model, save_model
from wd.train.log import FIELDS as LOG_FIELDS
from wd.train.trainer import Trainer
from wd.train.validation import ValidationSet

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
                calibration: int | None = None, validation: ValidationSet | None = None) -> dict:
    """Train a Transformer from a random, teacher-made or checkpoint initialisation; save ``out``.

    ``init_from`` is the teacher (``cutoff``, ``select``, ``prune``: scored on ``calibration``
    training pairs) or a student checkpoint (``checkpoint``, e.g. the converted Phase-1
    student); its recorded steps and seconds are added to this run's, and its generator size is
    carried over.
    """
    if init not in INITS:
        raise ValueError(f"unknown initialisation {init!r}; expected one of {[*INITS]}")
    torch.manual_seed(settings.seed)
    before: dict = {"train_steps": 0, "train_seconds": 0.0}
    record = INITS[init]
    if record.from_teacher:  # init_from is the teacher (``teacher`` is the KD loss's model)
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
    trainer, result = fit(model, train_pairs, valid_pairs, settings, work_dir, device, curve_out,
                          job, teacher, validation)
    if not trainer.is_main:  # under torchrun, rank 0 writes the model
        return result
    model.load_state_dict(trainer.final_state())
    meta = {**before, "train_steps": before["train_steps"] + result["steps"],
            "train_seconds": round(before["train_seconds"] + result["seconds"], 2),
            "params": count_parameters(model), "init": init,
            **stopping_meta(result, before["train_steps"])}
    save_model(model.cpu(), out, meta)
    return meta


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
    return meta


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """One training run as the workflow defines it (the rule's files and its ``params.job``,
    made by :class:`wd.plan.Plan`). Plain values only, so that
    ``wd.train.distributed.launch`` can hand it to every torchrun worker as JSON."""

    bpe: str
    train: list[str]             # binarised sides [src1, tgt1, src2, tgt2, ...] (wd.data.binary)
    valid: list[str]
    model: dict                  # ModelConfig keys but vocab_size (the BPE model's)
    settings: dict               # TrainSettings keys
    max_len: int | None          # training pairs longer than this many pieces are dropped
    work: str                    # checkpoints and train_log.csv; a rerun resumes from here
    model_out: str
    curve_out: str
    init: str = "random"         # wd.model.inits.INITS
    init_from: str | None = None  # the teacher (cutoff, select, Phase 1) or a checkpoint
    phase1: dict | None = None   # WD Phase 1: transfer, same_shape_layers, conversion[, start]
    teacher: str | None = None   # the teacher, when the loss is word-level distillation
    calibration: int | None = None  # prune: the training pairs its importance is scored on
    # Validation by translation (settings valid_bleu or best_metric bleu/chrf): the raw
    # references of ``valid``, their language, and the search's keys but the beam (valid_beam).
    valid_refs: str | None = None
    tgt_lang: str | None = None
    valid_search: dict | None = None


def run_train_job(job: dict, *, device: torch.device) -> None:
    """Train the :class:`TrainJob` ``job``: WD Phase 1 (:func:`train_phase1`) on the teacher
    when ``phase1`` is set, otherwise :func:`train_model`."""
    job = TrainJob(**job)
    train_pairs = PairCorpus(job.train, job.max_len)
    valid_pairs = PairCorpus(job.valid)
    cfg, settings = model_config(job.bpe, job.model), TrainSettings(**job.settings)
    # A rerun after a change of any of these starts over instead of resuming the old run.
    inputs = [job.bpe, *job.train, *job.valid] + ([job.init_from] if job.init_from else [])
    teacher = None
    if settings.needs_teacher:
        if job.teacher is None:
            raise ValueError(f"loss {settings.loss} needs the teacher: the job names none")
        teacher, _ = load_model(job.teacher)
        inputs.append(job.teacher)
    validation, search = None, validation_search(dataclasses.asdict(job))
    if search is not None:
        validation = ValidationSet.load([src for src, _ in valid_pairs], job.valid_refs, job.bpe,
                                        job.tgt_lang, search, settings.valid_sentences)
        inputs.append(job.valid_refs)
    identity = {"model": cfg.to_dict(), **job_identity(dataclasses.asdict(job)),
                "inputs": [file_digest(path) for path in inputs]}
    if job.phase1:
        train_phase1(job.init_from, cfg, train_pairs, valid_pairs, settings, job.work,
                     job.model_out, job.curve_out, device, job=identity, teacher=teacher,
                     validation=validation, **job.phase1)
    else:
        train_model(cfg, job.init, train_pairs, valid_pairs, settings, job.work, job.model_out,
                    job.curve_out, device, init_from=job.init_from, job=identity,
                    teacher=teacher, calibration=job.calibration, validation=validation)


def translate_file(model_path: Path, bpe_model: Path, src: Path, out: Path,
                   search: SearchSettings, device: torch.device,
                   engine: EngineSettings = EngineSettings(), record: Path | None = None) -> int:
    """Translate a file of BPE pieces into a file of BPE pieces with ``engine.engine``; line
    counts are asserted. With CTranslate2, a sample is checked against our decoder before ``out``
    is written (:func:`wd.decode.engines.check`); ``record`` gets the engine and the check's result
    as JSON.

    Finished batches are journaled in ``<out>.partial`` (:class:`wd.decode.journal.Journal`): a run
    stopped by SIGTERM/SIGUSR1 after a batch (exit status 75), or killed, resumes there.
    """
    model, _ = load_model(model_path, device)
    sp = load_bpe(bpe_model)
    sources = pieces_to_ids(sp, read_lines(src))
    name = engines.resolve(engine.engine, device)
    identity = {"model": file_digest(model_path), "source": file_digest(src),
                "search": dataclasses.asdict(search)}
    journal = Journal(partial_path(out), identity if name == "ours" else {**identity,
                                                                           "engine": name})
    done = journal.load()
    if done:
        log.info("resuming from %s: %d of %d sentences translated", journal.path, len(done),
                 len(sources))
    log.info("decoding with %s (kd.engine: %s)", name, engine.engine)
    progress = Progress(log, f"translating {src}", len(sources), "sentences", done=len(done))
    with stopping.stop_signals(), engines.batch_decoder(name, model, search, device) as batches:
        for batch, hyps in batches(sources, frozenset(done)):
            texts = ids_to_pieces(sp, hyps)
            journal.append(zip(batch, texts))
            done.update(zip(batch, texts))
            progress.update(len(done))
            faults.pause_point("decode.batch", out=out, done=len(done))
            if len(done) < len(sources):
                stopping.stop_if_requested(f"{len(done)} of {len(sources)} sentences of {src} "
                                           f"translated, kept in {journal.path}")
    result = {"engine": "ours", "checked": 0, "identical": None}
    if name != "ours":
        result = engines.check(model, sources, done, lambda ids: ids_to_pieces(sp, ids), search,
                               engine, device, str(src))
        log.info("engine check: %s of %d sampled sentences identical to our decoder "
                 "(kd.min_identical %s)", result["identical"], result["checked"],
                 engine.min_identical)
    if record is not None:
        write_lines(record, [json.dumps(result)])
    written = write_lines(out, (done[i] for i in range(len(sources))))
    journal.remove()
    if written != len(sources):
        raise RuntimeError(f"{out}: wrote {written} lines for {len(sources)} sources in {src}")
    return written


def partial_path(out: Path) -> Path:
    """Where :func:`translate_file` keeps the finished part of ``out``."""
    return Path(out).with_name(Path(out).name + ".partial")
