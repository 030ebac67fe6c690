"""Cut-off initialisation: a student made by cutting the teacher's parameters.

For every student parameter, take the teacher tensor of one evenly chosen layer (the top layer of
the group that :func:`wd.model.mapping.layer_groups` assigns, so the student's last layer is the
teacher's last) and keep its first rows and columns. With the teacher's own shape this copies the
teacher exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wd.model.mapping import check_compatible, teacher_sources
from wd.model.transformer import Transformer
from wd.settings import ModelConfig


def cut(teacher_tensor: Tensor, shape: torch.Size) -> Tensor:
    """First rows (and columns) of ``teacher_tensor``; zero-padded where the student is wider."""
    out = torch.zeros(shape, dtype=teacher_tensor.dtype)
    index = tuple(slice(0, min(s, t)) for s, t in zip(shape, teacher_tensor.shape))
    out[index] = teacher_tensor[index]
    return out


@torch.no_grad()
def cutoff_student(teacher_state: dict[str, Tensor], teacher_cfg: ModelConfig,
                   student_cfg: ModelConfig, sample: list = ()) -> Transformer:
    """The student cut from the teacher (``sample`` unused: the builders' one signature)."""
    check_compatible(teacher_cfg, student_cfg)
    student = Transformer(student_cfg)
    for name, param in student.named_parameters():
        source = teacher_sources(name, teacher_cfg, student_cfg)[-1]
        param.copy_(cut(teacher_state[source], param.shape))
    return student



def axis_sizes(cfg: ModelConfig) -> dict[str, int]:
    """The length of every kind of axis (wd.model.inits.select.axes) in a model of shape ``cfg``."""
    sizes = {"vocab": cfg.vocab_size}
    for side in ("enc", "dec"):
        dim, ffn = getattr(cfg, f"{side}_dim"), getattr(cfg, f"{side}_ffn")
        sizes.update({f"{side}_model": dim, f"{side}_heads": dim, f"{side}_ffn": ffn})
    return sizes


def cut_indices(teacher: ModelConfig, student: ModelConfig) -> dict[str, list[int]]:
    """The teacher indices :func:`cut` keeps along each kind of axis: the first ones (the rest
    of a wider student is zeros)."""
    t, s = axis_sizes(teacher), axis_sizes(student)
    return {kind: list(range(min(t[kind], s[kind]))) for kind in t}
