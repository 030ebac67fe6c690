"""What a run checks when it starts, before any job (the Snakefile's ``onstart``): what would
otherwise fail or fill the disk hours later, on a node other than the one the config was written
on. The config itself was checked at start-up (wd.config), optional packages included.

* every package the jobs import (a node with PyTorch but not the rest: docs/cluster.md);
* on a local executor, the device (``device: cuda`` needs a GPU) and CTranslate2 where the
  config uses it (it translates one sentence on the device: wd.decode.ct2.usable); a cluster's
  jobs run elsewhere, so these are theirs to find;
* the free disk under ``results_dir`` against the checkpoints the run's training keeps
  (:func:`checkpoint_volume`), a warning, as other results may share the disk.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from wd import methods
from wd.config import shape, student_methods
from wd.model.generator import Phase1Model
from wd.model.transformer import Transformer
from wd.settings import ModelConfig

log = logging.getLogger(__name__)

# What the jobs import (pyproject.toml's dependencies, by module name).
REQUIRED = ("torch", "sentencepiece", "sacremoses", "sacrebleu", "numpy", "pandas",
            "matplotlib", "jsonschema", "yaml", "safetensors", "tqdm", "packaging")


@dataclass(frozen=True)
class RunDisk:
    """The checkpoints of one run: bytes of one whole checkpoint and of its model only, and how
    many it keeps at most while it trains and once its model is written."""

    name: str
    whole: int
    model: int
    while_training: int
    after: int

    @property
    def peak(self) -> int:
        return self.while_training * self.whole

    @property
    def kept(self) -> int:
        return self.whole + (self.after - 1) * self.model


def _kept(settings: dict) -> tuple[int, int]:
    """Checkpoints a run keeps at most while it trains (wd.train.state.CheckpointStore: the
    last average_last, as many ending at the best with patience, the newest) and after its
    shrink (the average's and the newest)."""
    k = settings.get("average_last", 1)
    return k + (k if settings.get("patience") else 0) + 1, k + 1


def _sizes(model: torch.nn.Module) -> tuple[int, int]:
    """(bytes of a checkpoint: the model's state and Adam's two moments, of the model alone)."""
    state = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    moments = sum(2 * 4 * p.numel() for p in model.parameters() if p.requires_grad)
    return state + moments, state


@contextlib.contextmanager
def _sizes_only() -> Iterator[None]:
    """Models built for their sizes: on PyTorch's meta device, with the initialisers skipped
    (on the meta device each is a slow reference kernel, seconds for a run's models)."""
    names = ("normal_", "xavier_normal_", "xavier_uniform_", "zeros_")
    saved = {name: getattr(nn.init, name) for name in names}
    for name in names:
        setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        with torch.device("meta"):
            yield
    finally:
        for name, init in saved.items():
            setattr(nn.init, name, init)


def checkpoint_volume(config: dict, vocab: int | None = None,
                      bound: bool = False) -> list[RunDisk]:
    """Every training run of the config (each seed), with its checkpoints' sizes: models
    built for their sizes only, at ``vocab`` pieces (default ``bpe.vocab_size``). With
    ``bound``, a Phase-1 generator is not built (that pulls in torch's compiler, seconds) but
    bounded: the teacher's tables and six times the student's weights (each student matrix's
    two projections and element-wise scale and shift), with Adam's moments for the latter."""
    vocab = vocab or config["bpe"]["vocab_size"]
    teacher_cfg = ModelConfig(vocab_size=vocab, **shape(config, "teacher"))
    with _sizes_only():
        teacher = Transformer(teacher_cfg)
    runs = [RunDisk("teacher", *_sizes(teacher), *_kept(config["teacher"]["train"]))]
    state = {k: torch.empty(v.shape, device="meta") for k, v in teacher.state_dict().items()}
    built: dict[tuple, tuple[int, int]] = {}  # each distinct model once (runs share shapes)
    for student in config["students"]:
        cfg = ModelConfig(vocab_size=vocab, **shape(config, student["name"]))
        chained = {run.name: run for m in student_methods(config, student["name"])
                   for run in methods.get(m).runs}
        for name, run in sorted(chained.items()):
            key = (cfg, run.generator)
            if key not in built:
                with _sizes_only():
                    if run.generator and bound:
                        _, plain = _sizes(Transformer(cfg))
                        built[key] = (runs[0].model + 18 * plain, runs[0].model + 6 * plain)
                    elif run.generator:
                        built[key] = _sizes(Phase1Model(state, teacher_cfg, cfg,
                                                        run.generator.transfer,
                                                        start=run.generator.start))
                    else:
                        built[key] = _sizes(Transformer(cfg))
            train = {**config["student_train"],
                     **(config["wd"].get("phase1", {}) if run.generator else {})}
            runs += [RunDisk(f"{student['name']}/{name}/seed{seed}", *built[key], *_kept(train))
                     for seed in config["seeds"]]
    return runs


def missing_packages() -> list[str]:
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def preflight(config: dict, local: bool) -> None:
    """The checks of the module docstring; an error ends the run before any job with one line
    (SystemExit), a doubt is a warning."""
    missing = missing_packages()
    if missing:
        raise SystemExit(f"preflight: these packages are not installed here: {', '.join(missing)} "
                         "(pip install -e ., or from an offline kit: docs/cluster.md)")
    if local:
        from wd.decode import ct2
        from wd.runtime import resolve_device
        try:
            device = resolve_device(config["device"])
        except RuntimeError as err:
            raise SystemExit(f"config error at device: {err}") from None
        for key, value in (("kd.engine", config["kd"]["engine"]),
                           ("evaluation.ctranslate2", config["evaluation"]["ctranslate2"])):
            if value in ("ctranslate2", True) and not ct2.usable(device):
                raise SystemExit(f"config error at {key}: CTranslate2 cannot run on {device}: "
                                 f"{ct2.unusable_reason(device)}; set it to auto to fall back")
            if value == "auto" and not ct2.usable(device):
                log.warning("preflight: %s is auto and CTranslate2 cannot run on %s (%s): our "
                            "decoder is used", key, device, ct2.unusable_reason(device))
    disk_check(config)


def need(runs: list[RunDisk]) -> int:
    """Bytes the runs' checkpoints take at most: every run's once shrunk, and the largest run's
    whole set while it trains."""
    return sum(r.kept for r in runs) + max(r.peak - r.kept for r in runs)


def disk_check(config: dict) -> None:
    """A warning when the free disk under results_dir is below what the training runs keep
    (:func:`need`); the exact sizes are computed only where the quick bound does not fit."""
    where = Path(config["results_dir"])
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    if free >= need(checkpoint_volume(config, bound=True)):
        return
    need_bytes = need(checkpoint_volume(config))
    if free < need_bytes:
        log.warning("preflight: %.1f GB free under %s, and the training checkpoints of this run "
                    "may take up to %.1f GB (benchmarks/checkpoint_disk.py; less where runs are "
                    "done already)", free / 1e9, config["results_dir"], need_bytes / 1e9)
