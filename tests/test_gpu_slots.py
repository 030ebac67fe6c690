"""One GPU job per device: the gpu resource defaults to the GPUs visible on a local executor,
and concurrent jobs claim different devices (faked with CUDA_VISIBLE_DEVICES: no GPU needed)."""
import subprocess
import sys
from types import SimpleNamespace

import pytest

from wd import gpu_slots
from wd.gpu_slots import claim_gpus, limit_gpu_jobs, visible_gpus

HOLD = ("import sys, time; from pathlib import Path; from wd.gpu_slots import claim_gpus; "
        "import os; claim_gpus(int(sys.argv[1]), Path(sys.argv[2])); "
        "print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); sys.stdin.read()")


@pytest.mark.parametrize(("value", "devices"), [("0,1,3", ["0", "1", "3"]), ("", []),
                                                ("-1", []), ("GPU-5d1e,GPU-77aa", ["GPU-5d1e",
                                                                                   "GPU-77aa"])])
def test_the_visible_gpus_are_cuda_visible_devices_where_it_is_set(monkeypatch, value, devices):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert visible_gpus() == devices


@pytest.mark.process
def test_jobs_running_at_once_claim_different_gpus_and_free_them_when_they_end(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    held, claimed = [], []
    for n in (1, 2):  # one after the other, each holding its claim while the next asks
        held.append(subprocess.Popen([sys.executable, "-c", HOLD, str(n), str(tmp_path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        claimed.append(held[-1].stdout.readline().strip())
    assert claimed == ["0", "1,2"]
    with pytest.raises(RuntimeError, match="1 GPU\\(s\\) asked for, 0 of 3 free"):
        claim_gpus(1, tmp_path)
    held[0].communicate("")  # the first job ends: its GPU is free again
    assert claim_gpus(1, tmp_path) == ["0"]
    held[1].communicate("")


def test_nothing_is_claimed_without_gpus_under_a_scheduler_or_with_one_per_job(tmp_path,
                                                                               monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert claim_gpus(0, tmp_path) == [] and not list(tmp_path.iterdir())
    monkeypatch.setenv("SLURM_JOB_ID", "17")
    assert claim_gpus(1, tmp_path) == ["0"] and not list(tmp_path.iterdir())
    monkeypatch.delenv("SLURM_JOB_ID")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert claim_gpus(1, tmp_path) == ["3"] and not list(tmp_path.iterdir())


class Workflow(SimpleNamespace):
    def register_resource(self, name, value):
        self.global_resources[name] = value


def test_the_gpu_resource_defaults_to_the_gpus_visible_on_a_local_executor(monkeypatch,
                                                                         caplog):
    monkeypatch.setattr(gpu_slots, "visible_gpus", lambda: ["0", "1"])
    config = {"device": "auto", "gpus": 1}
    local = Workflow(local_exec=True, global_resources={})
    limit_gpu_jobs(local, config)
    assert local.global_resources == {"gpu": 2}
    given = Workflow(local_exec=True, global_resources={"gpu": 1})  # --resources gpu=1
    limit_gpu_jobs(given, config)
    assert given.global_resources == {"gpu": 1}
    cluster = Workflow(local_exec=False, global_resources={})  # SLURM: the scheduler's GPUs
    limit_gpu_jobs(cluster, {"device": "auto", "gpus": 4})
    assert cluster.global_resources == {}
    limit_gpu_jobs(Workflow(local_exec=True, global_resources={}), {"device": "auto", "gpus": 4})
    assert "gpus is 4, but this machine shows 2 GPU(s)" in caplog.text
