"""The CPU fast paths (wd/model/kernels.py) compute what the plain PyTorch they replace does."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wd.model.kernels import (
    attention_with_dropout,
    dropout,
    keep_mask,
    linear_concat,
    relu_dropout,
)
from wd.model.transformer import Attention


def test_keep_mask_drops_the_requested_fraction_uniformly():
    torch.manual_seed(0)
    mask = keep_mask((4000, 1000), 0.1, torch.device("cpu"))
    assert mask.dtype == torch.bool and mask.shape == (4000, 1000)
    assert (~mask).float().mean().item() == pytest.approx(0.1, abs=1e-3)
    lanes = (~mask).view(-1, 4).float().mean(0)  # the four 16-bit lanes of each 64-bit draw
    assert torch.allclose(lanes, torch.full((4,), 0.1), atol=2e-3)
    torch.manual_seed(0)
    assert torch.equal(mask, keep_mask((4000, 1000), 0.1, torch.device("cpu")))  # seeded


def test_dropout_scales_kept_elements_and_its_gradient_uses_the_same_mask():
    torch.manual_seed(1)
    x = torch.randn(300, 70, requires_grad=True)
    y = dropout(x, 0.25, training=True)
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / 0.75)
    assert (~kept).float().mean().item() == pytest.approx(0.25, abs=0.01)
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad != 0, kept)
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.75))
    assert torch.equal(dropout(x, 0.25, training=False), x)


def test_relu_dropout_is_dropout_of_relu():
    torch.manual_seed(2)
    x = torch.randn(200, 50, requires_grad=True)
    y = relu_dropout(x, 0.1, training=True)
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / 0.9) and bool((x[kept] > 0).all())
    dropped_positive = (~kept & (x > 0)).sum() / (x > 0).sum()
    assert dropped_positive.item() == pytest.approx(0.1, abs=0.03)
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)
    assert torch.equal(relu_dropout(x, 0.1, training=False), F.relu(x))


@pytest.mark.parametrize("causal", [False, True])
def test_attention_with_dropout_zero_equals_sdpa(causal):
    torch.manual_seed(3)
    q, k, v = (torch.randn(2, 4, 6, 8) for _ in range(3))
    mask = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    mask[1, ..., 4:] = False
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=None if causal else mask,
                                              is_causal=causal)
    got = attention_with_dropout(q, k, v, None if causal else mask, causal, p=0.0)
    assert torch.allclose(got, expected, atol=1e-5)


def test_attention_weights_are_dropped_in_training_only():
    torch.manual_seed(4)
    attention = Attention(16, 16, 2, dropout=0.5)
    x = torch.randn(3, 5, 16)
    attention.eval()
    assert torch.equal(attention(x, causal=True), attention(x, causal=True))
    attention.train()
    assert not torch.equal(attention(x, causal=True),
                           attention(x, causal=True))


def test_linear_concat_is_the_linears_side_by_side():
    torch.manual_seed(5)
    layers = [nn.Linear(8, n) for n in (8, 8, 4)]
    x = torch.randn(3, 5, 8)
    expected = torch.cat([layer(x) for layer in layers], -1)
    assert torch.allclose(linear_concat(x, layers), expected, atol=1e-6)


def test_self_attention_from_one_product_equals_cross_attention_to_itself():
    """The fused q/k/v path and the cross-attention path (separate q, given k and v) agree."""
    torch.manual_seed(6)
    attention = Attention(16, 16, 2, dropout=0.0).eval()
    x = torch.randn(3, 5, 16)
    b, t, d = x.shape
    k, v = (m(x).view(b, t, 2, d // 2).transpose(1, 2) for m in (attention.k, attention.v))
    assert torch.allclose(attention(x, causal=True), attention(x, causal=True, kv=(k, v)),
                          atol=1e-6)
