"""The training step's speed-ups compute what the plain PyTorch ops compute."""

import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny
from wd.memory import keep_freed_memory
from wd.model.transformer import Transformer
from wd.settings import TrainSettings
from wd.train.loss import smoothed_cross_entropy
from wd.train.trainer import Trainer


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
