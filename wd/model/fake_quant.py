"""Quantisation-aware training for CTranslate2's int8: every matrix that CTranslate2 stores in int8
(the linear layers' weights and the embeddings, the tied output projection with them) is used
in the forward pass as int8 would give it back, so that training adapts the model to the
rounding it will be deployed with.

CTranslate2 quantises a matrix per row: ``scale = 127 / max |w|`` over the row, ``q =
round(w * scale)`` (half to even), and computes with ``q / scale``; :func:`int8_rows` is exactly
that (tests/test_fake_quant.py compares it with CTranslate2's own int8 weights). The gradient
passes straight through the rounding (the straight-through estimator), so the float weights
keep learning; biases and layer norms stay float, as in CTranslate2.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize


class _Int8Rows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor) -> Tensor:
        scale = 127.0 / weight.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
        return torch.round(weight * scale) / scale

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad


def int8_rows(weight: Tensor) -> Tensor:
    """``weight`` (rows, columns) as CTranslate2's int8 gives it back; gradient straight through."""
    return _Int8Rows.apply(weight)


class Int8Rows(nn.Module):
    def forward(self, weight: Tensor) -> Tensor:
        return int8_rows(weight)


def quantised_modules(model: nn.Module) -> list[nn.Module]:
    """The linear layers and embeddings whose weights CTranslate2 stores in int8."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Embedding))]


def quantisation_aware(model: nn.Module) -> nn.Module:
    """``model`` with every int8 matrix fake-quantised in its forward pass (in place)."""
    for module in quantised_modules(model):
        parametrize.register_parametrization(module, "weight", Int8Rows())
    return model


def plain(model: nn.Module) -> nn.Module:
    """``model`` without the fake quantisation, its float weights kept (in place): what is saved
    and exported (CTranslate2 rounds them again, to the same values)."""
    for module in quantised_modules(model):
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
    return model
