"""Data parallelism: N processes with update_freq 1 make the same updates as one process with
update_freq N (the same global batch), through the real torchrun launcher (CPU, gloo); a job
of two processes stopped by SIGTERM resumes to the same parameters."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import settings, tiny, toy_pairs
from waiting import pause_env, wait_until
from wd.data.batching import epoch_batches
from wd.model.transformer import Transformer
from wd.stopping import EXIT_STOPPED
from wd.train.distributed import launch
from wd.train.state import checkpoints
from wd.train.trainer import Trainer

pytestmark = pytest.mark.process  # torchrun workers

STEPS = 5
PAIRS = 55
MAX_TOKENS = 60


def train_tiny(work: str, update_freq: int, *, device: torch.device) -> None:
    """The job every worker runs (imported by name from this file by the torchrun workers)."""
    # One thread everywhere: the same kernels and summation order in every process. (The key
    # biases have a zero true gradient, softmax being shift-invariant, so Adam turns any rounding
    # difference in their gradient into a full-size step: only matching arithmetic passes.)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    pairs = toy_pairs(PAIRS)
    s = settings(steps=STEPS, max_tokens=MAX_TOKENS, update_freq=update_freq, save_every=STEPS,
                 valid_every=STEPS, average_last=1)
    try:
        Trainer(Transformer(tiny()), pairs, pairs[:8], s, Path(work), device).run()
    finally:
        torch.set_num_threads(threads)


def final_params(work: Path) -> dict:
    (last,) = checkpoints(work)
    return torch.load(last, weights_only=True)["model"]


@pytest.fixture
def workers_import_this_file(monkeypatch):
    here = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([here, *sys.path]))


def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path,
                                                                     workers_import_this_file):
    batches = epoch_batches(toy_pairs(PAIRS), MAX_TOKENS, seed=7, epoch=0)
    # An odd number of batches per epoch, crossed within the run: at the end of the first epoch
    # rank 1 has no batch of its own and joins with a zero-weighted one.
    assert len(batches) % 2 == 1 and 2 * STEPS > len(batches)
    cpu = torch.device("cpu")
    launch("test_ddp:train_tiny", {"work": str(tmp_path / "ddp"), "update_freq": 1}, cpu,
           processes=2, spec_path=tmp_path / "ddp" / "launch.json")
    launch("test_ddp:train_tiny", {"work": str(tmp_path / "accum"), "update_freq": 2}, cpu,
           processes=1, spec_path=tmp_path / "accum" / "launch.json")
    launch("test_ddp:train_tiny", {"work": str(tmp_path / "single"), "update_freq": 1}, cpu,
           processes=1, spec_path=tmp_path / "single" / "launch.json")
    ddp, accum, single = (final_params(tmp_path / d) for d in ("ddp", "accum", "single"))
    for name, p in ddp.items():
        torch.testing.assert_close(p, accum[name], rtol=0, atol=1e-6, msg=name)
    # Not vacuous: half the global batch gives different parameters.
    name = "decoder.0.ffn.fc2.weight"
    assert (ddp[name] - single[name]).abs().max() > 1e-4
    # Only rank 0 wrote: one checkpoint and one log with one header.
    log = (tmp_path / "ddp" / "train_log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log] == ["step", str(STEPS)]


def test_failing_worker_fails_the_launch_naming_torchrun_and_the_worker_error(
        tmp_path, workers_import_this_file):
    # update_freq 0 gives a worker no batch: it divides by zero tokens. The exception's message
    # carries the worker's traceback (a test report or a scheduler shows only the exception).
    with pytest.raises(RuntimeError, match="torchrun with 2 workers for test_ddp:train_tiny") as e:
        launch("test_ddp:train_tiny", {"work": str(tmp_path), "update_freq": 0},
               torch.device("cpu"), processes=2, spec_path=tmp_path / "launch.json")
    assert "ZeroDivisionError" in str(e.value)


# The launcher of a two-process job as a workflow script runs it (python -c LAUNCHER WORK).
LAUNCHER = ("import sys, torch; from wd.train.distributed import launch; "
            "launch('test_ddp:train_tiny', {'work': sys.argv[1], 'update_freq': 1}, "
            "torch.device('cpu'), processes=2, spec_path=sys.argv[1] + '/launch.json')")


def test_stop_signal_to_a_two_process_job_checkpoints_then_resumes_identically(
        tmp_path, workers_import_this_file):
    cpu = torch.device("cpu")
    launch("test_ddp:train_tiny", {"work": str(tmp_path / "straight"), "update_freq": 1}, cpu,
           processes=2, spec_path=tmp_path / "straight" / "launch.json")
    stopped, marker = tmp_path / "stopped", tmp_path / "paused"
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(stopped)], text=True,
                            stderr=subprocess.PIPE, start_new_session=True,
                            env=pause_env("train.update step=3 *", marker))
    wait_until(marker.exists, proc, "a worker reached update 3")
    os.killpg(proc.pid, signal.SIGTERM)  # every process of the job, as SLURM signals a job
    _, err = proc.communicate()
    assert proc.returncode == EXIT_STOPPED, err[-3000:]
    assert "stopped by SIGTERM: torchrun with 2 workers" in err
    assert [p.name for p in checkpoints(stopped)] == ["checkpoint_00000003.pt"]

    launch("test_ddp:train_tiny", {"work": str(stopped), "update_freq": 1}, cpu, processes=2,
           spec_path=stopped / "launch.json")
    straight, resumed = final_params(tmp_path / "straight"), final_params(stopped)
    for name, p in straight.items():
        assert torch.equal(p, resumed[name]), name
