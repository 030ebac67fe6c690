"""CPU fast paths of the model, each beside the plain PyTorch it replaces (the tests check that
they agree): dropout with a cheaper mask, ReLU and dropout in one pass, attention with dropped
weights, and several linear layers on one input as one matrix product.

Dropout for CPU training whose random mask costs a quarter of the random draws.

``F.dropout`` on CPU draws one random number per element (``bernoulli_``): in a Transformer-base
training step on two AVX2 cores that was 11% of the step (62 masks, ~190M elements). Here one
64-bit draw of the default generator gives four 16-bit uniform numbers, and an element is kept
when its number is at or above ``p``'s 16-bit quantile, so the drop probability is ``p``
rounded to a multiple of 1/65536 (0.1 becomes 0.100006). Same generator, so seeding and the
checkpointed RNG state make runs reproducible as before. On GPUs ``F.dropout`` is one fused
kernel already and is used as is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LEVELS = 1 << 16


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device) -> Tensor:
    """Boolean mask of ``shape``, each element False with probability ``p`` (in 1/65536 steps)."""
    numel = 1
    for size in shape:
        numel *= size
    draws = torch.empty((numel + 3) // 4, dtype=torch.int64, device=device)
    draws.random_(-(1 << 63), None)  # the full 64-bit range: four uniform 16-bit lanes
    threshold = round(p * _LEVELS) - _LEVELS // 2
    return draws.view(torch.int16)[:numel].view(shape) >= threshold


class _MaskedScale(torch.autograd.Function):
    """``where(keep, x, 0) / (1 - p)`` saving only the boolean mask, scaled in place."""

    @staticmethod
    def forward(ctx, x: Tensor, keep: Tensor, scale: float) -> Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.where(keep, x, 0.0).mul_(scale)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (keep,) = ctx.saved_tensors
        return torch.where(keep, grad, 0.0).mul_(ctx.scale), None, None


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """``F.dropout(x, p, training)`` with the cheaper mask on CPU (see the module docstring)."""
    if not training or p == 0.0 or x.device.type != "cpu":
        return F.dropout(x, p, training)
    if p >= 1.0:
        return x * 0.0
    return _MaskedScale.apply(x, keep_mask(x.shape, p, x.device), 1.0 / (1.0 - p))


def relu_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """``dropout(relu(x))``; on CPU in training one masked pass whose mask also holds ReLU's
    zeros, so neither ReLU nor its backward runs as a pass of its own."""
    if not training or p == 0.0 or x.device.type != "cpu" or p >= 1.0:
        return dropout(F.relu(x), p, training)
    keep = keep_mask(x.shape, p, x.device).logical_and_(x > 0)
    return _MaskedScale.apply(x, keep, 1.0 / (1.0 - p))


def linear_concat(x: Tensor, layers: Sequence[nn.Linear]) -> Tensor:
    """``x`` through several linears that share it, as one matrix product: the weights are
    concatenated at call time, so the parameters stay separate modules (q, k, v, ...) for the
    weight-distillation generator, and ``functional_call`` still substitutes them.
    Reference: ``torch.cat([layer(x) for layer in layers], -1)``."""
    return F.linear(x, torch.cat([layer.weight for layer in layers]),
                    torch.cat([layer.bias for layer in layers]))


def attention_with_dropout(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool,
                           p: float) -> Tensor:
    """What sdpa computes in training (``mask`` True = attend), with the attention weights
    dropped by :func:`dropout`. Reference: ``F.scaled_dot_product_attention`` (which would draw
    its dropout mask with ``bernoulli_``)."""
    scores = torch.matmul(q * q.size(-1) ** -0.5, k.transpose(-2, -1))
    if causal:
        t, s = scores.shape[-2:]
        scores.masked_fill_(torch.ones(t, s, dtype=torch.bool, device=q.device).triu(1),
                            float("-inf"))
    if mask is not None:
        scores.masked_fill_(~mask, float("-inf"))
    return torch.matmul(dropout(scores.softmax(-1), p, True), v)
