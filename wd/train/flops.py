"""A training update at paper size, checked and counted on a CPU without the memory: the model,
the teacher's tables and the batch are fake tensors (``FakeTensorMode``: shapes and dtypes, no
data), so a forward pass, the label-smoothed loss and the backward pass of a Transformer-base
teacher, its students or WD's Phase-1 generator run in seconds, and ``FlopCounterMode`` counts
the floating-point operations of the update (what docs/performance.md turns into GPU-hours).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

from wd.model.generator import Phase1Model
from wd.model.transformer import Transformer
from wd.settings import ModelConfig
from wd.train.loss import smoothed_cross_entropy
from wd.vocab import PAD_ID


@dataclass(frozen=True)
class FakeUpdate:
    """What one update of a model did on fake tensors: its logits' shape and dtype, whether
    every trainable parameter got a gradient of its own shape, and the FLOPs counted."""

    logits_shape: tuple[int, ...]
    logits_dtype: torch.dtype
    gradients_match: bool
    flops: int


def fake_update(build: Callable[[], nn.Module], vocab: int, sentences: int,
                length: int) -> FakeUpdate:
    """Build the model with ``build`` under fake tensors and run one update on ``sentences``
    pairs of ``length`` tokens on each side (``sentences * length`` target tokens)."""
    with FakeTensorMode():
        model = build()
        src = torch.randint(4, vocab, (sentences, length))
        tgt = torch.randint(4, vocab, (sentences, length))
        with FlopCounterMode(display=False) as counter:
            logits = model(src, tgt)
            loss, _ = smoothed_cross_entropy(logits.float().view(-1, vocab), tgt.view(-1), 0.1,
                                             PAD_ID)
            loss.backward()
        trainable = [p for p in model.parameters() if p.requires_grad]
        matches = all(p.grad is not None and p.grad.shape == p.shape for p in trainable)
        return FakeUpdate(tuple(logits.shape), logits.dtype, matches, counter.get_total_flops())


def plain(cfg: ModelConfig) -> Callable[[], nn.Module]:
    """A Transformer of ``cfg`` (the teacher, or a student trained as itself)."""
    return lambda: Transformer(cfg)


def generator(teacher: ModelConfig, student: ModelConfig) -> Callable[[], nn.Module]:
    """WD's Phase-1 model: the generator over a teacher of ``teacher``'s shape (its tables
    frozen), making a student of ``student``'s."""
    return lambda: Phase1Model(Transformer(teacher).state_dict(), teacher, student)
