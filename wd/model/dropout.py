"""Dropout for CPU training whose random mask costs a quarter of the random draws.

``F.dropout`` on CPU draws one random number per element (``bernoulli_``): in a Transformer-base
training step on two AVX2 cores that was 11% of the step (62 masks, ~190M elements). Here one
64-bit draw of the default generator gives four 16-bit uniform numbers, and an element is kept
when its number is at or above ``p``'s 16-bit quantile, so the drop probability is ``p``
rounded to a multiple of 1/65536 (0.1 becomes 0.100006). Same generator, so seeding and the
checkpointed RNG state make runs reproducible as before. On GPUs ``F.dropout`` is one fused
kernel already and is used as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

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
