"""A training step that does not wait on the device: one read of device values an update (the
loss sum and gradient norm together; the stop check reads a host flag), and WD's Phase 1
generating the student's weights once an update instead of once a micro-batch."""
import contextlib

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from conftest import settings, tiny, toy_pairs
from wd.model.generator import Phase1Model
from wd.model.transformer import Transformer
from wd.train.trainer import Trainer

CPU = torch.device("cpu")


class DeviceReads(TorchDispatchMode):
    """Counts the reads of tensor values into Python (item, float, bool: the op every one of
    them dispatches to) and of tolist (not dispatched on a CPU, so counted by a patch): on a
    GPU each is a wait for the device."""

    def __init__(self, monkeypatch):
        super().__init__()
        self.count, self.on = 0, True
        tolist = torch.Tensor.tolist

        def counted(tensor):
            self.count += self.on
            return tolist(tensor)

        monkeypatch.setattr(torch.Tensor, "tolist", counted)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += self.on
        return func(*args, **(kwargs or {}))


def test_an_update_reads_the_device_once(tmp_path, monkeypatch):
    pairs = toy_pairs(40)
    trainer = Trainer(Transformer(tiny()), pairs, pairs[:4], settings(update_freq=2), tmp_path,
                      CPU)
    step = trainer.optimizer.step

    def uncounted_step(*args, **kwargs):  # Adam's own step counters live on the host
        reads.on = False
        try:
            return step(*args, **kwargs)
        finally:
            reads.on = True

    trainer.optimizer.step = uncounted_step
    batches = [[pairs[i] for i in range(j, j + 3)] for j in (0, 3)]
    with DeviceReads(monkeypatch) as reads:
        loss, tokens = trainer.update(batches)
        trainer._stop_if_requested(saved=False)
    assert reads.count == 1 and loss > 0 and tokens == sum(len(t) + 1 for b in batches
                                                            for _, t in b)


def phase1_update(tmp_path, monkeypatch, once: bool) -> tuple[int, dict]:
    """Generations made and gradients reached in one WD Phase-1 update of 3 micro-batches,
    the student's weights generated once for it or (as before) once a micro-batch."""
    torch.manual_seed(0)
    teacher = Transformer(tiny())
    model = Phase1Model(teacher.state_dict(), teacher.cfg, tiny(dec_layers=1, dec_dim=16,
                                                                  dec_ffn=32, dec_heads=2))
    pairs = toy_pairs(40)
    trainer = Trainer(model, pairs, pairs[:4], settings(update_freq=3), tmp_path, CPU)
    if not once:
        monkeypatch.setattr(trainer, "_one_generation", lambda n: contextlib.nullcontext())
    calls, grads = [], {}
    generate = model.generator.forward
    monkeypatch.setattr(model.generator, "forward", lambda: calls.append(1) or generate())
    trainer.optimizer.step = lambda: grads.update(
        {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    trainer.update([[pairs[i] for i in range(j, j + 4)] for j in (0, 4, 8)])
    return len(calls), grads


def test_phase_1_generates_once_an_update_with_the_same_gradients(tmp_path, monkeypatch):
    once, grads = phase1_update(tmp_path / "once", monkeypatch, once=True)
    each, expected = phase1_update(tmp_path / "each", monkeypatch, once=False)
    assert (once, each) == (1, 3) and grads and set(grads) == set(expected)
    for name, grad in expected.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-7)
