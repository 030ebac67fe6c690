"""The training losses by name (a config's ``loss``): one class each, one call signature.

A loss gets the student's logits and, when it ``needs_teacher``, the frozen teacher's logits on
the same batch (``rows x vocabulary``, float32), the targets, and the run's settings; it returns
the summed loss. Planning reads ``needs_teacher`` without torch (the workflow decides from it
whether a run's inputs include the teacher), so the tensor code is imported on the first call.
Adding a loss is one class and one entry in ``LOSSES``; the schema's enum is checked against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from torch import Tensor

    from wd.settings import TrainSettings

class Loss:
    needs_teacher: ClassVar[bool] = False

    def __call__(self, logits: Tensor, teacher_logits: Tensor | None, target: Tensor,
                 s: TrainSettings) -> Tensor:
        raise NotImplementedError


class CrossEntropy(Loss):
    """Label-smoothed cross-entropy (``label_smoothing``), the default."""

    def __call__(self, logits, teacher_logits, target, s):
        from wd.train.loss import smoothed_cross_entropy
        from wd.vocab import PAD_ID
        return smoothed_cross_entropy(logits, target, s.label_smoothing, PAD_ID)[0]


class WordKD(Loss):
    """Word-level distillation: the teacher's output distribution at ``kd_temperature``."""

    needs_teacher = True

    def __call__(self, logits, teacher_logits, target, s):
        from wd.train.loss import word_kd_loss
        from wd.vocab import PAD_ID
        return word_kd_loss(logits, teacher_logits, target, s.kd_temperature, PAD_ID)


class CrossEntropyAndWordKD(Loss):
    """``(1 - kd_weight) * ce + kd_weight * word_kd``."""

    needs_teacher = True

    def __call__(self, logits, teacher_logits, target, s):
        kd = WordKD()(logits, teacher_logits, target, s)
        ce = CrossEntropy()(logits, teacher_logits, target, s)
        return (1.0 - s.kd_weight) * ce + s.kd_weight * kd


LOSSES: dict[str, Loss] = {"ce": CrossEntropy(), "word_kd": WordKD(),
                           "ce+word_kd": CrossEntropyAndWordKD()}


def loss(name: str) -> Loss:
    """The loss called ``name``; a ValueError lists the known ones."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    return LOSSES[name]
