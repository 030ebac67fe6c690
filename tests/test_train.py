import os
import random
import signal

import pytest
import torch

from conftest import settings, tiny, toy_pairs
from wd import faults
from wd.data.batching import collate, token_buckets
from wd.model.transformer import Transformer
from wd.stopping import Stopped
from wd.train.log import BOARD_ENV
from wd.train.state import CheckpointStore, checkpoint_step, checkpoints
from wd.train.trainer import Trainer, learning_rate


def test_learning_rate_warms_up_then_decays_as_inverse_sqrt():
    s = settings(lr=1e-3, warmup=4)
    assert learning_rate(0, s) == pytest.approx(1e-7)
    assert learning_rate(4, s) == pytest.approx(1e-3)
    assert learning_rate(16, s) == pytest.approx(5e-4)
    assert learning_rate(2, s) < learning_rate(3, s) < learning_rate(4, s)
    no_warmup = settings(lr=1e-3, warmup=0)
    assert learning_rate(1, no_warmup) == pytest.approx(1e-3)
    assert learning_rate(4, no_warmup) == pytest.approx(5e-4)


def test_token_buckets_respect_budget_and_cover_everything():
    lengths = [random.Random(i).randrange(1, 30) for i in range(500)]
    batches = token_buckets(lengths, 100, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(len(b) * max(lengths[i] for i in b) <= 100 for b in batches)


def test_collate_shifts_target_and_appends_eos():
    batch = collate([([5, 6], [7, 8, 9]), ([5], [7])])
    assert batch.src.tolist() == [[5, 6, 3], [5, 3, 0]]
    assert batch.tgt_in.tolist() == [[2, 7, 8, 9], [2, 7, 0, 0]]
    assert batch.tgt_out.tolist() == [[7, 8, 9, 3], [7, 3, 0, 0]]
    assert batch.target_tokens == 6


def run(work, steps: int, job: dict | None = None, **over) -> Transformer:
    torch.manual_seed(0)
    model = Transformer(tiny(dropout=0.1))
    pairs = toy_pairs(80)
    Trainer(model, pairs, pairs[:10], settings(steps=steps, **over), work, torch.device("cpu"),
            job).run()
    return model


def test_interrupted_training_resumes_to_identical_parameters(tmp_path):
    straight = run(tmp_path / "a", 6)
    run(tmp_path / "b", 3)  # "crash" after the step-3 checkpoint
    resumed = run(tmp_path / "b", 6)
    for (name, p), q in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name
    log = (tmp_path / "b" / "train_log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log] == ["step", "3", "6"]


def test_a_cap_lowered_below_a_stop_checkpoint_ends_the_run_at_the_cap(tmp_path, caplog,
                                                                       monkeypatch):
    """A run stopped by SIGTERM (its stop checkpoint at step 7) and rerun with the cap lowered
    to its last scheduled checkpoint (6) ends there, as a run capped at 6 from the start."""
    keys = dict(save_every=2, valid_every=2, average_last=1)
    straight = run(tmp_path / "a", 6, **keys)
    real = faults.pause_point

    def sigterm_after_7(point, **details):
        if details.get("step") == 7:
            os.kill(os.getpid(), signal.SIGTERM)
        real(point, **details)
    with monkeypatch.context() as patch:
        patch.setattr(faults, "pause_point", sigterm_after_7)
        with pytest.raises(Stopped):
            run(tmp_path / "b", 10, **keys)
    updates = []
    real_update = Trainer.update
    monkeypatch.setattr(Trainer, "update", lambda self, *a: updates.append(1) or real_update(
        self, *a))
    lowered = run(tmp_path / "b", 6, **keys)
    assert not updates  # resumed at the cap, not trained again
    assert "the cap is now 6 updates: resuming from step 6" in caplog.text
    for (name, p), q in zip(straight.state_dict().items(), lowered.state_dict().values()):
        assert torch.equal(p, q), name
    log = (tmp_path / "b" / "train_log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log] == ["step", "2", "4", "6"]


def test_kept_models_give_the_average_of_any_shorter_cap(tmp_path, caplog):
    """With keep_models every scheduled checkpoint keeps its model (the optimizer state goes):
    the run rerun with its cap lowered to one of them ends there without training, with the
    final average a run capped there from the start makes; a cap between them is refused
    before any checkpoint is dropped."""
    keys = dict(save_every=2, valid_every=2, average_last=2)

    def final(work: str, steps: int, **over) -> dict:
        torch.manual_seed(0)
        pairs = toy_pairs(80)
        trainer = Trainer(Transformer(tiny(dropout=0.1)), pairs, pairs[:10],
                          settings(steps=steps, **keys, **over), tmp_path / work,
                          torch.device("cpu"))
        trainer.run()
        return trainer.final_state()

    final("kept", 10, keep_models=True)
    store = CheckpointStore(tmp_path / "kept", settings(steps=10, **keys))
    model, state = store.capped(6)
    assert state["step"] == 6
    with pytest.raises(FileNotFoundError, match="no checkpoint at update 5"):
        store.capped(5)
    found = checkpoints(tmp_path / "kept")
    assert [checkpoint_step(p) for p in found] == [2, 4, 6, 8, 10]
    assert ["optimizer" in torch.load(p, weights_only=False) for p in found] == [
        False, False, False, True, True]
    with pytest.raises(RuntimeError, match=r"up to the cap of 5 updates hold models without "
                                           r"optimizer state \(the newest: step 4\)"):
        final("kept", 5)
    assert len(checkpoints(tmp_path / "kept")) == 5
    updates = []
    real_update = Trainer.update
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "update", lambda self, *a: updates.append(1) or real_update(
            self, *a))
        lowered = final("kept", 6)
    assert not updates and "the cap is now 6 updates: resuming from step 6" in caplog.text
    assert [checkpoint_step(p) for p in checkpoints(tmp_path / "kept")] == [2, 4, 6]
    straight = final("straight", 6)
    for name, value in straight.items():
        assert torch.equal(lowered[name], value) and torch.equal(model[name], value), name
    with pytest.raises(FileNotFoundError, match=r"needs the checkpoints of updates 2, 4\b"):
        CheckpointStore(tmp_path / "straight", settings(steps=6, **keys)).capped(4)


@pytest.mark.parametrize("change, key", [({"over": {"lr": 2e-3}}, "lr"),
                                         ({"job": {"inputs": ["other"]}}, "inputs")])
def test_checkpoints_of_another_run_are_not_resumed(tmp_path, caplog, change, key):
    """A rerun after a config or input change (what Snakemake does when params or inputs change)
    starts over: its result equals a fresh run's, not a continuation of the old one."""
    old_job, job = {"inputs": ["data"]}, change.get("job", {"inputs": ["data"]})
    over = change.get("over", {})
    fresh = run(tmp_path / "fresh", 6, job, **over)
    run(tmp_path / "b", 3, old_job)  # the old run, stopped after step 3
    rerun = run(tmp_path / "b", 6, job, **over)
    assert f"({key} changed since): starting over" in caplog.text
    for (name, p), q in zip(fresh.state_dict().items(), rerun.state_dict().values()):
        assert torch.equal(p, q), name
    log = (tmp_path / "b" / "train_log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log] == ["step", "3", "6"]
    saved = torch.load(checkpoints(tmp_path / "b")[-1], weights_only=False)
    assert saved["job"] == job and saved["settings"]["lr"] == settings(**over).lr


def test_keeps_last_checkpoints_and_averages_them(tmp_path):
    torch.manual_seed(0)
    model = Transformer(tiny())
    pairs = toy_pairs(40)
    trainer = Trainer(model, pairs, pairs[:5], settings(), tmp_path, torch.device("cpu"))
    trainer.run()
    kept = checkpoints(tmp_path)
    assert [p.name for p in kept] == ["checkpoint_00000003.pt", "checkpoint_00000006.pt"]
    a, b = (torch.load(p, weights_only=True)["model"] for p in kept)
    name = "decoder.0.ffn.fc2.weight"
    torch.testing.assert_close(trainer.final_state()[name], (a[name] + b[name]) / 2)


def test_progress_lines_every_log_interval_updates_with_an_eta(tmp_path, caplog):
    with caplog.at_level("INFO", logger="wd.train.trainer"):
        run(tmp_path / "a", 3)
        run(tmp_path / "a", 6, log_interval=2)  # resumed at 3: lines at 4 and 6
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("update:")]
    assert [line.split(",")[0] for line in lines] == ["update: 4 of 6 updates (67%)",
                                                     "update: 6 of 6 updates (100%)"]
    assert all(" ETA " in line and " tok/s, lr " in line and "train loss" in line
               for line in lines)


def board_scalars(path, tag) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(path))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_tensorboard_events_hold_the_csv_rows_across_a_resume(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.setenv(BOARD_ENV, "1")  # what wd.workflow.step sets for logging.tensorboard
    work = tmp_path / "run" / "work"
    run(work, 6, valid_every=1)
    for later in checkpoints(work)[1:]:  # a crash after step 5's row, before its checkpoint
        later.unlink()
    run(work, 6, valid_every=1)  # resumes at 3, writes rows 4-6 again
    rows = [line.split(",") for line in (work / "train_log.csv").read_text().splitlines()[1:]]
    expected = [(int(row[0]), pytest.approx(float(row[4]), abs=1e-4)) for row in rows]
    assert [row[0] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    assert board_scalars(tmp_path / "run" / "tensorboard", "loss/valid") == expected
    assert [step for step, _ in board_scalars(tmp_path / "run" / "tensorboard", "lr")] == [
        1, 2, 3, 4, 5, 6]
    run(work, 6, {"inputs": ["other data"]})  # another run: starts over
    assert [step for step, _ in board_scalars(tmp_path / "run" / "tensorboard", "loss/valid")
            ] == [3, 6]


def test_no_event_files_unless_asked(tmp_path, monkeypatch):
    monkeypatch.setenv(BOARD_ENV, "0")
    run(tmp_path / "run" / "work", 3)
    assert not (tmp_path / "run" / "tensorboard").exists()


@pytest.mark.parametrize("on", [True, False])
def test_the_workflow_step_passes_logging_tensorboard_to_training(on, monkeypatch):
    from types import SimpleNamespace

    from wd.train.log import board_requested
    from wd.workflow import step
    monkeypatch.setenv(BOARD_ENV, "")  # restored after the test
    smk = SimpleNamespace(log=[], threads=1, rule="train", config={
        "device": "cpu", "logging": {"tensorboard": on}})
    with step(smk):
        assert board_requested() is on


def test_a_finished_runs_checkpoints_drop_their_optimizer_state_and_it_still_continues(
        tmp_path, caplog):
    """After the model is written, the checkpoints before the newest keep their weights only
    (averaging reads them); raising the cap continues from the newest, whole one, exactly as a
    run with that cap from the start."""
    from wd.model.checkpoint import load, load_model
    from wd.pipeline import train_model
    pairs, cfg = toy_pairs(60), tiny(dropout=0.1)
    caplog.set_level("INFO", logger="wd")

    def run(work: str, steps: int) -> tuple:
        torch.manual_seed(0)
        meta = train_model(cfg, "random", pairs, pairs[:8], settings(steps=steps, save_every=2,
                                                                      valid_every=2),
                           tmp_path / work, tmp_path / f"{work}.pt", tmp_path / f"{work}.csv",
                           torch.device("cpu"))
        return meta, load_model(tmp_path / f"{work}.pt")[0].state_dict()

    run("shrunk", 6)
    found = checkpoints(tmp_path / "shrunk")
    assert [p.name for p in found] == ["checkpoint_00000004.pt", "checkpoint_00000006.pt"]
    assert "optimizer" not in load(found[0]) and "optimizer" in load(found[1])
    assert "MB freed from the checkpoints before the newest" in caplog.text
    _, longer = run("shrunk", 10)  # the cap raised: resumed from update 6
    assert "resumed from" in caplog.text and "checkpoint_00000006.pt at step 6" in caplog.text
    _, straight = run("straight", 10)
    for name, value in straight.items():
        assert torch.equal(longer[name], value), name
