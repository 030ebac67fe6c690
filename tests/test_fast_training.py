"""The training step's speed-ups compute what the plain PyTorch ops compute."""

import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny
from wd.loss import smoothed_cross_entropy
from wd.memory import keep_freed_memory
from wd.model.dropout import dropout, keep_mask, relu_dropout
from wd.model.transformer import Attention, Transformer, attention_with_dropout
from wd.settings import TrainSettings
from wd.train import Trainer


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_smoothed_cross_entropy_matches_torch_loss_and_gradient(smoothing):
    torch.manual_seed(0)
    logits = torch.randn(40, 23, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 23, (40,))
    target[::7] = 0  # padding rows
    expected = F.cross_entropy(logits, target, ignore_index=0, label_smoothing=smoothing,
                               reduction="sum")
    (expected_grad,) = torch.autograd.grad(expected * 0.3, logits)
    loss, nll = smoothed_cross_entropy(logits, target, smoothing, ignore_index=0)
    (grad,) = torch.autograd.grad(loss * 0.3, logits)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    assert torch.allclose(grad, expected_grad, atol=1e-12)
    assert grad[::7].abs().sum() == 0
    assert nll.item() == pytest.approx(
        F.cross_entropy(logits, target, ignore_index=0, reduction="sum").item(), rel=1e-12)
    assert not nll.requires_grad


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
    assert torch.equal(attention.self_attend(x, None, True), attention.self_attend(x, None, True))
    attention.train()
    assert not torch.equal(attention.self_attend(x, None, True),
                           attention.self_attend(x, None, True))


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt")
def test_keep_freed_memory_applies_once_on_glibc():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True
    assert torch.empty(64 << 20, dtype=torch.uint8).fill_(1).sum().item() == 64 << 20


def test_compiled_training_step_matches_eager(tmp_path):
    """``compile: true`` trains the same function (dropout off: compiled random numbers differ)."""
    pairs = [([5, 6, 7, 8][: 1 + i % 4], [9, 10, 11][: 1 + i % 3]) for i in range(24)]
    losses = []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = Transformer(tiny(dropout=0.0))
        s = TrainSettings(steps=2, max_tokens=40, lr=1e-3, warmup=1, compile=compiled)
        trainer = Trainer(model, pairs, pairs[:4], s, tmp_path / str(compiled),
                          torch.device("cpu"))
        losses.append([trainer.update([pairs[:8]])[0], trainer.update([pairs[8:16]])[0]])
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
