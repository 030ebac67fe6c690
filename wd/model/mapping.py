"""Which teacher tensors each student parameter is built from.

Shared by the weight-distillation generator and cut-off initialisation so both read the teacher
the same way.

Layer rule (any depth ratio): student layer ``i`` of ``n_s`` draws on the contiguous teacher layers
``[floor(i * n_t / n_s), floor((i + 1) * n_t / n_s))``. When ``n_s <= n_t`` the groups cover every
teacher layer exactly once and their sizes differ by at most one (6 -> 4 gives sizes 1, 2, 1, 2);
no layer is dropped. When the student is deeper, each student layer takes the single teacher layer
``floor(i * n_t / n_s)``, so teacher layers are repeated evenly.
"""

from __future__ import annotations

from wd.model.names import parse
from wd.settings import ModelConfig


def layer_groups(n_teacher: int, n_student: int) -> list[list[int]]:
    """Teacher layer indices feeding each student layer (see module docstring)."""
    if n_teacher < 1 or n_student < 1:
        raise ValueError("layer counts must be positive")
    groups = []
    for i in range(n_student):
        lo = i * n_teacher // n_student
        hi = max((i + 1) * n_teacher // n_student, lo + 1)
        groups.append(list(range(lo, hi)))
    return groups


def check_compatible(teacher: ModelConfig, student: ModelConfig) -> None:
    """Refuse pairs the mapping cannot relate, with a message naming the mismatch."""
    if teacher.vocab_size != student.vocab_size:
        raise ValueError(f"vocabulary differs: teacher {teacher.vocab_size}, "
                         f"student {student.vocab_size}")
    if teacher.pre_norm != student.pre_norm:
        raise ValueError("teacher and student must both be pre-norm or both post-norm")


def teacher_sources(name: str, teacher: ModelConfig, student: ModelConfig) -> list[str]:
    """Teacher state-dict keys that the student parameter ``name`` is generated from.

    Layer parameters map to the same tensor in each teacher layer of the group; embeddings and
    final norms map to their counterparts; an untied student output projection maps to the
    teacher's output matrix (its target embedding when the teacher ties them).
    """
    place = parse(name)
    if place.layer is not None:
        n_t, n_s = (getattr(cfg, f"{place.side}_layers") for cfg in (teacher, student))
        return [place.in_layer(j) for j in layer_groups(n_t, n_s)[place.layer]]
    if place.kind == "output":
        return ["tgt_embed.weight" if teacher.tie_output else "output.weight"]
    return [name]
