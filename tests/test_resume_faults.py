"""Faults during training: a training process killed with SIGKILL, or stopped by SIGTERM or
SIGUSR1 (a cluster's time limit) or SIGINT (Ctrl-C), and restarted ends exactly where an
uninterrupted run ends; non-finite losses are skipped, then stop training; a corrupt, truncated
or foreign newest checkpoint is set aside and the run resumes from the one before it; a model
checkpoint that cannot be read gives an error naming the file. Processes are held at a named
point (wd.faults) while the test acts."""
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import settings, tiny, toy_pairs
from waiting import pause_env, wait_until
from wd.model.checkpoint import CheckpointError, load_model, save_model
from wd.model.transformer import Transformer
from wd.stopping import EXIT_STOPPED
from wd.train.state import checkpoints
from wd.train.trainer import NonFiniteLossError, Trainer

HERE = Path(__file__).resolve().parent
STEPS = 12


def train_child(work: str) -> None:
    """The training process of the kill and stop tests (``python tests/test_resume_faults.py
    WORK``): checkpoints after updates 3, 6, 9, 12, log rows after 2, 4, 6, ..."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    pairs = toy_pairs(80)
    s = settings(steps=STEPS, save_every=3, valid_every=2, average_last=2)
    Trainer(Transformer(tiny(dropout=0.1)), pairs, pairs[:10], s, Path(work),
            torch.device("cpu")).run()


def start_child(work: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, str(work)], cwd=HERE,
                            stderr=subprocess.PIPE, text=True, env=env)


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]


def start_held_at_update(work: Path, step: int) -> subprocess.Popen:
    """A training child held after update ``step`` (its checkpoint, if one is due, written)."""
    marker = work.parent / f"{work.name}.paused"
    proc = start_child(work, pause_env(f"train.update step={step} *", marker))
    wait_until(marker.exists, proc, f"training reached update {step}")
    return proc


def log_rows(work: Path) -> list[list[str]]:
    """train_log.csv without the timing columns (tokens_per_sec, elapsed_sec, translate_sec)."""
    lines = (work / "train_log.csv").read_text().splitlines()
    return [line.split(",")[:6] + line.split(",")[8:11] for line in lines]


def assert_same_run(straight: Path, resumed: Path) -> None:
    a, b = (torch.load(checkpoints(d)[-1], weights_only=True) for d in (straight, resumed))
    assert a["step"] == b["step"] == STEPS
    for name, p in a["model"].items():
        assert torch.equal(p, b["model"][name]), name
    assert log_rows(resumed) == log_rows(straight)  # rows logged after a checkpoint not doubled
    assert [p.name for p in checkpoints(resumed)] == [p.name for p in checkpoints(straight)]
    assert not list(resumed.glob("*.tmp"))


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """An uninterrupted run."""
    work = tmp_path_factory.mktemp("straight") / "work"
    finish(start_child(work))
    return work


@pytest.mark.process
def test_training_killed_after_a_checkpoint_resumes_to_identical_parameters(tmp_path, straight):
    killed = tmp_path / "killed"
    proc = start_held_at_update(killed, 5)  # checkpoint 3 written, log row 4 after it
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in checkpoints(killed)] == ["checkpoint_00000003.pt"]
    assert log_rows(killed)[-1][0] == "4"
    # As if it had also been killed while writing a checkpoint: the partial file is ignored.
    (killed / "checkpoint_00000006.pt.tmp").write_bytes(b"half a checkpoint")

    finish(start_child(killed))
    assert_same_run(straight, killed)


# Held after update 5 the stop writes a checkpoint of its own; after update 6 the one due then;
# after update 11 its own, which must not take a place among the 2 averaged at the end.
@pytest.mark.process
@pytest.mark.parametrize(("sig", "step"), [(signal.SIGTERM, 5), (signal.SIGUSR1, 6),
                                           (signal.SIGTERM, 11), (signal.SIGINT, 6)],
                         ids=["SIGTERM-5", "SIGUSR1-6", "SIGTERM-11", "SIGINT-6"])
def test_stop_signal_checkpoints_the_update_and_exits_75_then_resumes_identically(
        tmp_path, straight, sig, step):
    stopped = tmp_path / "stopped"
    proc = start_held_at_update(stopped, step)
    proc.send_signal(sig)
    _, err = proc.communicate()
    assert proc.returncode == EXIT_STOPPED, err[-3000:]
    assert (f"stopped by {sig.name}: training in {stopped} after update {step} of {STEPS}, "
            f"checkpoint_{step:08d}.pt written; exit status 75, run the job again to resume"
            in err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    # the last two scheduled checkpoints (every 3 updates), and the stop's own
    kept = sorted({*range(3, step + 1, 3)[-2:], step})
    assert [p.name for p in checkpoints(stopped)] == [f"checkpoint_{k:08d}.pt" for k in kept]
    finish(start_child(stopped))
    assert_same_run(straight, stopped)


class NaNInjector(nn.Module):
    """A model whose training forward passes number ``bad`` (1-based) return NaN logits."""

    def __init__(self, model: nn.Module, bad):
        super().__init__()
        self.model, self.bad, self.calls = model, bad, 0

    def forward(self, src, tgt_in):
        logits = self.model(src, tgt_in)
        if self.training:
            self.calls += 1
            if self.calls in self.bad:
                return logits * float("nan")
        return logits


def nan_trainer(work: Path, bad, **over) -> Trainer:
    torch.manual_seed(0)
    pairs = toy_pairs(40)
    return Trainer(NaNInjector(Transformer(tiny()), bad), pairs, pairs[:5], settings(**over), work,
                   torch.device("cpu"))


def test_a_non_finite_update_is_skipped_counted_and_logged(tmp_path):
    trainer = nan_trainer(tmp_path, bad={2})
    result = trainer.run()
    assert result["steps"] == 6 and trainer.state.skipped == 1 and trainer.model.calls == 7
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert trainer.optimizer.state_dict()["state"][0]["step"] == 6  # Adam never saw the NaN
    header, *rows = (tmp_path / "train_log.csv").read_text().splitlines()
    column = header.split(",").index("skipped_updates")
    assert rows[-1].split(",")[column] == "1"


def test_too_many_non_finite_updates_in_a_row_stop_and_keep_the_last_good_checkpoint(tmp_path):
    trainer = nan_trainer(tmp_path, bad=range(5, 100), steps=20, max_bad_steps=2)
    with pytest.raises(NonFiniteLossError, match=r"3 updates in a row .*max_bad_steps=2.*"
                                                 r"after step 4 .*checkpoint_00000003\.pt"):
        trainer.run()
    (kept,) = checkpoints(tmp_path)
    state = torch.load(kept, weights_only=True)
    assert state["step"] == 3
    assert all(torch.isfinite(t).all() for t in state["model"].values())


def damage(path: Path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "garbage":
        path.write_bytes(b"this is not a checkpoint\n" * 10)
    else:  # a pickle with arbitrary objects: refused by weights_only=True
        torch.save({"model": nn.Linear(2, 2)}, path)


@pytest.mark.process
@pytest.mark.parametrize("how", ["truncated", "garbage", "foreign"])
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(
        tmp_path, straight, how):
    killed = tmp_path / "killed"
    proc = start_held_at_update(killed, 8)  # checkpoints 3 and 6 written
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    newest = killed / "checkpoint_00000006.pt"
    damage(newest, how)

    proc = start_child(killed)
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert (f"cannot read checkpoint {newest}" in err
            and "set aside as checkpoint_00000006.pt.unreadable; resuming from the checkpoint "
                "before it" in err)
    assert (killed / "checkpoint_00000006.pt.unreadable").is_file()
    assert_same_run(straight, killed)


def test_model_checkpoint_in_the_work_dir_is_not_taken_for_a_training_one(tmp_path):
    save_model(Transformer(tiny()), tmp_path / "checkpoint_00000003.pt", {})
    with pytest.raises(RuntimeError, match="checkpoint_00000003.pt is not a training checkpoint"):
        nan_trainer(tmp_path, bad=(), steps=6).run()


@pytest.mark.parametrize("how", ["truncated", "garbage", "foreign"])
def test_damaged_model_checkpoint_stops_loading_naming_it(tmp_path, how):
    path = tmp_path / "final.pt"
    save_model(Transformer(tiny()), path, {"train_steps": 1})
    damage(path, how)
    with pytest.raises(CheckpointError, match=f"cannot read checkpoint {path}"):
        load_model(path)


if __name__ == "__main__":
    train_child(sys.argv[1])
