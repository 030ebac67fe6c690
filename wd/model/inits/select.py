"""Weight selection (Xu et al., "Initializing Models with Larger Ones", ICLR 2024): a student made
of evenly spaced parts of the teacher.

Cut-off (:mod:`wd.model.inits.cutoff`) keeps the first rows and columns of every teacher tensor;
weight selection keeps evenly spaced ones, and keeps them consistently: the same residual (model
width) indices in every layer, the embeddings, the norms and the output projection, the same hidden
units in a layer's two feed-forward matrices, and whole attention heads where the student's heads
are as wide as the teacher's (otherwise evenly spaced rows). Layers are chosen as cut-off chooses
them (the top layer of each group of :func:`wd.model.mapping.layer_groups`, evenly spaced and ending
at the teacher's last). With the teacher's own shape it copies the teacher exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wd.model.inits import check_inheritable
from wd.model.mapping import check_compatible, teacher_sources
from wd.model.names import parse
from wd.model.transformer import Transformer
from wd.settings import ModelConfig


def spaced(keep: int, total: int) -> list[int]:
    """``keep`` evenly spaced indices of ``range(total)``, from 0: ``i * total // keep``."""
    if keep > total:
        raise ValueError(f"cannot select {keep} of {total}")
    return [i * total // keep for i in range(keep)]


def head_rows(keep_heads: int, keep_dim: int, heads: int, dim: int) -> list[int]:
    """Rows of a query/key/value projection (``dim`` = ``heads`` x head width) to keep: whole
    heads, evenly spaced, when the student's heads are as wide as the teacher's."""
    width = dim // heads
    if keep_dim // keep_heads != width:
        return spaced(keep_dim, dim)
    return [head * width + j for head in spaced(keep_heads, heads) for j in range(width)]


def selected_indices(teacher: ModelConfig, student: ModelConfig) -> dict[str, list[int]]:
    """The kept teacher indices of every kind of axis (``enc_model``, ``dec_heads``, ...)."""
    check_inheritable("select", teacher, student)
    out = {"vocab": list(range(teacher.vocab_size))}
    for side in ("enc", "dec"):
        t, s = ({k: getattr(cfg, f"{side}_{k}") for k in ("dim", "ffn", "heads")}
                for cfg in (teacher, student))
        out[f"{side}_model"] = spaced(s["dim"], t["dim"])
        out[f"{side}_ffn"] = spaced(s["ffn"], t["ffn"])
        out[f"{side}_heads"] = head_rows(s["heads"], s["dim"], t["heads"], t["dim"])
    return out


def axes(name: str) -> tuple[str, ...]:
    """The kind of each axis of the parameter ``name`` (out, in for a weight; out for a bias).
    Read off the parameter's place (wd.model.names), as the generator's transfer kinds are."""
    place = parse(name)
    side, model = place.side, f"{place.side}_model"
    if place.kind in ("embedding", "output"):
        return ("vocab", model)
    if place.kind == "output_bias":
        return ("vocab",)
    if place.kind == "norm":
        return (model,)
    if place.module == "fc1":
        roles = (f"{side}_ffn", model)
    elif place.module == "fc2":
        roles = (model, f"{side}_ffn")
    elif place.module == "out":
        roles = (model, f"{side}_heads")
    else:  # q, k, v: cross-attention keys and values read the encoder's output
        cross_kv = place.block == "cross_attn" and place.module in ("k", "v")
        roles = (f"{side}_heads", "enc_model" if cross_kv else model)
    return roles if place.tensor == "weight" else roles[:1]


def select(tensor: Tensor, kinds: tuple[str, ...], indices: dict[str, list[int]]) -> Tensor:
    """``tensor`` restricted to the kept indices along each axis."""
    for axis, kind in enumerate(kinds):
        tensor = tensor.index_select(axis, torch.tensor(indices[kind]))
    return tensor


@torch.no_grad()
def selected_student(teacher_state: dict[str, Tensor], teacher_cfg: ModelConfig,
                     student_cfg: ModelConfig, sample: list = ()) -> Transformer:
    """The student initialised by weight selection from the teacher's ``teacher_state``
    (``sample`` unused: the builders' one signature)."""
    check_compatible(teacher_cfg, student_cfg)
    indices = selected_indices(teacher_cfg, student_cfg)
    student = Transformer(student_cfg)
    for name, param in student.named_parameters():
        source = teacher_sources(name, teacher_cfg, student_cfg)[-1]
        param.copy_(select(teacher_state[source], axes(name), indices))
    return student
