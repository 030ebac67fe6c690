"""The initialisations of a student by name (a method's ``init``), read without torch.

A record says what a run needs (the teacher's checkpoint as an input, a calibration sample of
the training pairs), which shapes it can make (checked at start-up, before the teacher trains),
and where its builder is. Every builder has one signature, ``build(teacher_state, teacher_cfg,
student_cfg, sample) -> Transformer``, lives in a module of this package and is imported on its
first use (it needs torch). Adding an initialisation made from the teacher is one builder module
and one entry in ``INITS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wd.settings import ModelConfig

if TYPE_CHECKING:
    from wd.model.transformer import Transformer


def head_width(cfg: ModelConfig, side: str) -> int:
    return getattr(cfg, f"{side}_dim") // getattr(cfg, f"{side}_heads")


@dataclass(frozen=True)
class Init:
    description: str
    builder: str | None = None    # "module:function" of a student made from the teacher
    calibration: bool = False     # its builder scores the teacher on a sample of training pairs
    bounded: tuple[str, ...] = ()  # model keys (per side) in which the student is no larger
    whole_heads: bool = False     # keeps whole teacher heads: widths in the teacher's head width
    label: str = ""               # the name a refusal uses
    teacher: bool = False         # made from the teacher by other code than a builder

    @property
    def from_teacher(self) -> bool:
        """Whether the run's inputs include the teacher's checkpoint."""
        return self.builder is not None or self.teacher

    def check(self, teacher: ModelConfig, student: ModelConfig) -> None:
        """ValueError naming the model key when this cannot make ``student`` from ``teacher``."""
        for side in ("enc", "dec"):
            for key in self.bounded:
                t, s = getattr(teacher, f"{side}_{key}"), getattr(student, f"{side}_{key}")
                if s > t:
                    raise ValueError(f"{self.label} needs a student no larger than the teacher: "
                                     f"{side}_{key} {s} > {t}")
            width = head_width(teacher, side)
            if self.whole_heads and getattr(student, f"{side}_dim") % width:
                raise ValueError(f"{self.label} keeps whole teacher heads: {side}_dim must be a "
                                 f"multiple of the teacher's head width {width}")

    def build(self, teacher_state: dict, teacher_cfg: ModelConfig, student_cfg: ModelConfig,
              sample: list) -> Transformer:
        """The student made from the teacher (``sample``: the calibration pairs, or empty)."""
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(module), function)(
            teacher_state, teacher_cfg, student_cfg, sample)


INITS = {
    "random": Init("a fresh random initialisation"),
    "cutoff": Init("cut from the teacher (wd.model.inits.cutoff)",
                   "wd.model.inits.cutoff:cutoff_student", label="cut-off"),
    "select": Init("weight selection from the teacher (wd.model.inits.select)",
                   "wd.model.inits.select:selected_student", bounded=("dim", "ffn"),
                   label="weight selection"),
    "prune": Init("the teacher's most important units on a calibration sample "
                  "(wd.model.inits.prune)", "wd.model.inits.prune:pruned_student",
                  calibration=True, bounded=("layers", "dim", "ffn"), whole_heads=True,
                  label="pruning"),
    "embeddings": Init("random but for the embeddings, cut from the teacher "
                       "(wd.model.inits.embeddings)",
                       "wd.model.inits.embeddings:embedding_student", label="embedding transfer"),
    "checkpoint": Init("the model the run before it in the method's chain left (e.g. the "
                       "converted WD Phase-1 student)"),
    "generator": Init("WD's parameter generator over the frozen teacher, trained, then "
                      "converted to a student (wd.model.generator)", teacher=True),
}


def check_inheritable(init: str, teacher: ModelConfig, student: ModelConfig) -> None:
    """ValueError naming the model key when ``init`` cannot make ``student`` from ``teacher``."""
    INITS[init].check(teacher, student)
