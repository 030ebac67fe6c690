"""Importance-based structured pruning, as Minitron does it (Muralidharan et al., "Compact
Language Models via Pruning and Knowledge Distillation", 2024), for an encoder-decoder.

The teacher reads a calibration sample of the training data once (teacher-forced, no dropout)
and forward hooks score every unit that a smaller shape can drop:

* residual channels: the magnitude of each channel at the output of every LayerNorm of a side
  (Minitron's embedding-channel importance); one choice per side, kept in every layer, the
  embeddings and the output projection (both sides together when they share embeddings);
* attention heads: the L2 norm of each head's output (its attention result before the output
  projection), for every layer and every attention (self, cross) on its own; whole teacher heads
  are kept (student width / teacher head width of them), which a student with narrower heads
  reads as more, narrower heads, as it reads cut-off's;
* FFN neurons: the magnitude of each hidden unit (the input of the second FFN matrix), per layer;
* layers: block importance, one minus the mean cosine similarity of a layer's input and output
  (Men et al. 2024, ShortGPT; Minitron's BI); the most important layers stay, in their order.

A width score is the mean over a sentence's tokens (padding excluded), then the L2 norm over the
sentences: Minitron's best aggregation. Block importance is the mean over all real tokens. Both
add up sentence by sentence, so batching does not change them.

Only pruning FFN neurons and layers that contribute nothing can leave the output unchanged: a
head's width is the model width divided by the head count here, and LayerNorm normalises over the
width, so fewer heads or channels always change the function a little.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from wd.data.batching import Pair, collate
from wd.model.inits import check_inheritable, head_width
from wd.model.inits.select import axes, select
from wd.model.mapping import check_compatible, teacher_sources
from wd.model.names import STACKS, Name, parse
from wd.model.transformer import DecoderLayer, EncoderLayer, Transformer
from wd.settings import ModelConfig
from wd.vocab import PAD_ID

log = logging.getLogger(__name__)


def unit(place: Name) -> str:
    """The key of a pruned unit group: ``decoder.1.cross_attn`` (its heads) or ``decoder.1.ffn``
    (its neurons)."""
    return f"{place.stack}.{place.layer}.{place.block}"


@dataclass
class Importance:
    """Scores of one model: higher is more important."""

    channels: dict[str, Tensor]  # "enc" / "dec" -> (dim,)
    heads: dict[str, Tensor]     # "decoder.1.cross_attn" -> (heads,)
    neurons: dict[str, Tensor]   # "decoder.1.ffn" -> (ffn,)
    layers: dict[str, Tensor]    # "encoder" / "decoder" -> (layers,)


class _Scores:
    """Sums over sentences: of squared per-sentence means (width), of per-token values (depth)."""

    def __init__(self) -> None:
        self.squares: dict[str, Tensor] = {}
        self.sums: dict[str, Tensor] = {}
        self.tokens: dict[str, Tensor] = {}

    def width(self, key: str, values: Tensor, mask: Tensor) -> None:
        """``values`` (batch, time, units) of real tokens where ``mask`` (batch, time) is True."""
        mask = mask.to(values.dtype)
        means = (values * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        self.squares[key] = self.squares.get(key, 0) + (means ** 2).sum(0)

    def depth(self, key: str, values: Tensor, mask: Tensor) -> None:
        """``values`` (batch, time) of one layer."""
        self.sums[key] = self.sums.get(key, 0) + (values * mask).sum()
        self.tokens[key] = self.tokens.get(key, 0) + mask.sum()


@torch.no_grad()
def importance(model: Transformer, pairs: list[Pair], batch_size: int = 64) -> Importance:
    """Minitron's activation-based importance of every unit of ``model`` on ``pairs``."""
    scores, masks, hooks = _Scores(), {}, []
    for name, module in model.named_modules():
        if not isinstance(module, (nn.LayerNorm, nn.Linear, EncoderLayer, DecoderLayer)):
            continue
        place = parse(name)
        side = place.side
        if place.kind == "norm":
            hooks.append(module.register_forward_hook(
                lambda m, args, out, side=side: scores.width(side, out.abs(), masks[side])))
        elif place.kind == "attention" and place.module == "out":
            heads = getattr(model.cfg, f"{side}_heads")

            def head_norms(m, args, key=unit(place), side=side, heads=heads):
                x = args[0]
                per_head = x.view(*x.shape[:2], heads, -1).norm(dim=-1)
                scores.width(key, per_head, masks[side])
            hooks.append(module.register_forward_pre_hook(head_norms))
        elif place.module == "fc2":
            hooks.append(module.register_forward_pre_hook(
                lambda m, args, key=unit(place), side=side:
                scores.width(key, args[0].abs(), masks[side])))
        elif place.block is None and place.layer is not None:
            def block(m, args, out, key=name, side=side):
                distance = 1 - torch.cosine_similarity(args[0], out, dim=-1)
                scores.depth(key, distance, masks[side])
            hooks.append(module.register_forward_hook(block))
    was_training = model.training
    model.eval()
    try:
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
        for start in range(0, len(order), batch_size):
            batch = collate([pairs[i] for i in order[start:start + batch_size]])
            masks.update(enc=batch.src != PAD_ID, dec=batch.tgt_out != PAD_ID)
            model(batch.src, batch.tgt_in)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    width = {key: value.sqrt() for key, value in scores.squares.items()}
    units = {key: value for key, value in width.items() if key not in STACKS.values()}
    layers = {stack: torch.stack([scores.sums[f"{stack}.{i}"] / scores.tokens[f"{stack}.{i}"]
                                  for i in range(len(getattr(model, stack)))])
              for stack in STACKS}
    return Importance(channels={side: width[side] for side in STACKS.values()},
                      heads={k: v for k, v in units.items() if parse(k).block != "ffn"},
                      neurons={k: v for k, v in units.items() if parse(k).block == "ffn"},
                      layers=layers)


def top(scores: Tensor, keep: int) -> list[int]:
    """Indices of the ``keep`` highest ``scores`` in increasing order (ties: the lower index)."""
    ranked = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    return sorted(ranked[:keep])


@dataclass(frozen=True)
class PrunePlan:
    """Which teacher units a pruned student keeps."""

    layers: dict[str, list[int]]   # "encoder" / "decoder": kept teacher layers, in order
    indices: dict[str, list[int]]  # vocab and residual channels (wd.model.inits.select.axes kinds)
    units: dict[str, list[int]]    # "decoder.1.cross_attn": kept rows; "decoder.1.ffn": neurons

    def source(self, name: str) -> str:
        """The teacher parameter that the student parameter ``name`` is cut from."""
        place = parse(name)
        if place.layer is None:
            return name
        return place.in_layer(self.layers[place.stack][place.layer])

    def kept(self, name: str) -> dict[str, list[int]]:
        """The kept indices of every axis kind of the student parameter ``name``."""
        place = parse(self.source(name))
        if place.kind not in ("attention", "ffn"):
            return self.indices
        kind = "ffn" if place.block == "ffn" else "heads"
        return {**self.indices, f"{place.side}_{kind}": self.units[unit(place)]}


def prune_plan(scores: Importance, teacher: ModelConfig, student: ModelConfig) -> PrunePlan:
    """Keep the most important layers, channels, heads and neurons for the ``student`` shape."""
    check_inheritable("prune", teacher, student)
    layers, indices, units = {}, {"vocab": list(range(teacher.vocab_size))}, {}
    for stack, side in STACKS.items():
        size = {key: (getattr(teacher, f"{side}_{key}"), getattr(student, f"{side}_{key}"))
                for key in ("layers", "dim", "ffn")}
        width = head_width(teacher, side)
        layers[stack] = top(scores.layers[stack], size["layers"][1])
        channels = scores.channels[side]
        if student.share_embeddings:  # one embedding table: one choice of channels for both
            channels = scores.channels["enc"] + scores.channels["dec"]
        indices[f"{side}_model"] = top(channels, size["dim"][1])
        for layer in layers[stack]:
            units[f"{stack}.{layer}.ffn"] = top(scores.neurons[f"{stack}.{layer}.ffn"],
                                                size["ffn"][1])
            for attn in ("self_attn", "cross_attn") if stack == "decoder" else ("self_attn",):
                heads = top(scores.heads[f"{stack}.{layer}.{attn}"], size["dim"][1] // width)
                units[f"{stack}.{layer}.{attn}"] = [h * width + j for h in heads
                                                    for j in range(width)]
    return PrunePlan(layers, indices, units)


@torch.no_grad()
def pruned_student(teacher_state: dict[str, Tensor], teacher_cfg: ModelConfig,
                   student_cfg: ModelConfig, pairs: list[Pair]) -> Transformer:
    """The student made of the teacher's most important units on the calibration ``pairs``."""
    check_compatible(teacher_cfg, student_cfg)
    teacher = Transformer(teacher_cfg)
    teacher.load_state_dict(teacher_state)
    teacher.eval()
    scores = importance(teacher, pairs)
    plan = prune_plan(scores, teacher_cfg, student_cfg)
    for stack, kept in plan.layers.items():
        log.info("%s layers kept: %s of block importance %s (%d calibration pairs)", stack, kept,
                 [round(float(x), 4) for x in scores.layers[stack]], len(pairs))
    student = Transformer(student_cfg)
    for name, param in student.named_parameters():
        source = (teacher_sources(name, teacher_cfg, student_cfg)[0] if name == "output.weight"
                  else plan.source(name))  # the teacher's output may be its tied embedding
        param.copy_(select(teacher_state[source], axes(name), plan.kept(name)))
    return student
