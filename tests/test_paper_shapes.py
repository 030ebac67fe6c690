"""Every paper config's teacher, students and WD Phase-1 generator run a training update at
paper size (8192 target tokens, the real vocabulary) on fake tensors: the shapes and dtypes of
the GPU runs, checked on a CPU without their memory; the update's FLOPs are counted."""
import importlib.util

import pytest

from conftest import REPO
from wd.train.flops import fake_update, generator, plain

spec = importlib.util.spec_from_file_location("paper_flops", REPO / "benchmarks" / "paper_flops.py")
paper_flops = importlib.util.module_from_spec(spec)
spec.loader.exec_module(paper_flops)

# Each distinct (model, teacher of a Phase-1 run) of the paper configs, once.
SHAPES = {(cfg, teacher) for name in paper_flops.CONFIGS
          for _, cfg, teacher, _, _ in paper_flops.config_runs(name)}


@pytest.mark.parametrize(("cfg", "teacher"), sorted(SHAPES, key=str),
                         ids=lambda v: "" if v is None else f"{v.dec_layers}x{v.dec_dim}")
def test_a_paper_size_update_runs_with_the_shapes_of_the_gpu_run(cfg, teacher):
    update = fake_update(generator(teacher, cfg) if teacher else plain(cfg), cfg.vocab_size,
                         sentences=256, length=32)
    assert update.logits_shape == (256, 32, cfg.vocab_size)
    assert str(update.logits_dtype) == "torch.float32" and update.gradients_match
    # At least the forward and backward matrix products of the output projection
    assert update.flops >= 6 * 256 * 32 * cfg.dec_dim * cfg.vocab_size
