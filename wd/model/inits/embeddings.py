"""Embedding transfer: a random student but for its embeddings and output projection, cut from
the teacher's (their first columns). The baseline that asks how much of what a student inherits
is its vocabulary's vectors (cf. the embedding transfer of Sanh et al., 2019)."""

from __future__ import annotations

import torch
from torch import Tensor

from wd.model.inits.cutoff import cut
from wd.model.mapping import check_compatible, teacher_sources
from wd.model.names import parse
from wd.model.transformer import Transformer
from wd.settings import ModelConfig


@torch.no_grad()
def embedding_student(teacher_state: dict[str, Tensor], teacher_cfg: ModelConfig,
                      student_cfg: ModelConfig, sample: list = ()) -> Transformer:
    """The student with the teacher's embeddings (``sample`` unused: the builders' one
    signature)."""
    check_compatible(teacher_cfg, student_cfg)
    student = Transformer(student_cfg)
    for name, param in student.named_parameters():
        if parse(name).kind in ("embedding", "output", "output_bias"):
            source = teacher_sources(name, teacher_cfg, student_cfg)[-1]
            param.copy_(cut(teacher_state[source], param.shape))
    return student
