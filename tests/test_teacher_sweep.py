"""benchmarks/teacher_sweep.py's caps: the model a run capped at a step would have written,
made from the models a longer run kept, is that capped run's final model."""
import dataclasses
import importlib.util

import torch

from conftest import REPO, settings, tiny, toy_pairs
from wd.model.checkpoint import load_model, save_model
from wd.model.transformer import Transformer
from wd.train.trainer import Trainer

spec = importlib.util.spec_from_file_location("teacher_sweep",
                                              REPO / "benchmarks" / "teacher_sweep.py")
teacher_sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(teacher_sweep)


def train(exp, steps: int, **over) -> Transformer:
    """A teacher trained in ``exp`` as the pipeline lays it out (work directory, final.pt)."""
    torch.manual_seed(0)
    pairs, model = toy_pairs(80), Transformer(tiny(dropout=0.1))
    s = settings(steps=steps, save_every=2, valid_every=2, average_last=2, **over)
    trainer = Trainer(model, pairs, pairs[:10], s, exp / "models/teacher/work",
                      torch.device("cpu"))
    trainer.run()
    model.load_state_dict(trainer.final_state())
    save_model(model, exp / "models/teacher/final.pt",
               {"params": 1, "train_steps": steps, "train_seconds": 1.0, "best_step": steps,
                "stopped_by": "steps"})
    return model


def test_a_cap_is_the_final_model_of_a_run_capped_there(tmp_path):
    train(tmp_path / "long", 10, keep_models=True)
    straight = train(tmp_path / "short", 6)
    config = {"teacher": {"train": dataclasses.asdict(settings(
        steps=10, save_every=2, valid_every=2, average_last=2, keep_models=True))}}
    path = teacher_sweep.capped_model(config, tmp_path / "long", 6)
    capped, meta = load_model(path)
    assert (meta["train_steps"], meta["best_step"], meta["stopped_by"]) == (6, 6, "steps")
    for name, value in straight.state_dict().items():
        assert torch.equal(capped.state_dict()[name], value), name
