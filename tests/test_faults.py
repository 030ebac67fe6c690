"""Fault injection outside training: kill -9 during KD decoding, bad config values of every
kind, and config values that would make the pipeline write outside results_dir.

(Kills during training, corrupt checkpoints and non-finite losses: tests/test_resume_faults.py.)
"""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import with_change
from wd.config import ConfigError, validate

REPO = Path(__file__).resolve().parent.parent
MICRO = REPO / "tests" / "micro.yaml"
TIMEOUT = 900  # generous: the suite may share its cores with other work


def snakemake_cmd(results: Path, *args: str) -> list[str]:
    """The micro experiment with KD decoding slow enough (one sentence per batch, wide beam)
    that a kill lands inside it, in two shards."""
    slow_kd = results.parent / "slow_kd.yaml"
    slow_kd.write_text("kd: {beam: 4, lenpen: 1.0, batch_size: 1, shards: 2}\n")
    # --nolock: a killed run leaves no stale lock to clear (the checkout's .snakemake is shared
    # with other runs, whose locks `--unlock` would remove as well).
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--nolock",
            "--configfile", str(MICRO), str(slow_kd), "--config", f"results_dir={results}", *args]


def run_snakemake(results: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_cmd(results, *args), cwd=REPO, capture_output=True,
                          text=True, timeout=TIMEOUT)


def wait_for(condition, what: str, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def read_if_exists(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def group_alive(pgid: int) -> list[int]:
    """PIDs of live (non-zombie) processes in process group ``pgid``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def test_kill_9_during_kd_decoding_then_rerun_completes(tmp_path):
    results = tmp_path / "results"
    exp = results / "micro"
    shard_out = [exp / f"kd/shards/train.{i}.tgt" for i in range(2)]
    shard_log = [exp / f"logs/kd/translate.{i}.log" for i in range(2)]
    prep = run_snakemake(results, "--cores", "2", str(exp / "models/teacher/final.pt"),
                         str(exp / "kd/shards/counts.json"))
    assert prep.returncode == 0, prep.stderr[-3000:]

    # One decoding job at a time: kill the whole run (snakemake and its job, as a node crash or
    # an OOM kill of the job's group would) while the second shard is being decoded.
    proc = subprocess.Popen(snakemake_cmd(results, "--cores", "1", str(exp / "kd/train.tgt")),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    killed = None
    try:
        def second_shard_decoding() -> bool:
            nonlocal killed
            done = [p.exists() for p in shard_out]
            if sum(done) != 1:
                return False
            killed = done.index(False)
            return "rule kd_translate on" in read_if_exists(shard_log[killed])
        wait_for(second_shard_decoding, "the second KD shard to start")
        time.sleep(0.5)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        wait_for(lambda: not group_alive(proc.pid), "the killed processes to go", timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # Nothing looks finished that is not: no KD file, no output of the killed shard; the shard
    # decoded before the kill is kept and not decoded again.
    assert not (exp / "kd/train.tgt").exists()
    assert not shard_out[killed].exists() and shard_out[1 - killed].exists()
    plan = run_snakemake(results, "-n", str(exp / "kd/train.tgt"))
    assert plan.returncode == 0, plan.stderr[-3000:]
    planned = plan.stdout + plan.stderr
    stats = planned.split("Job stats:")[1].split("\ntotal")[0]
    assert dict(re.findall(r"^(\w+)\s+(\d+)$", stats, re.M)) == {"kd_translate": "1",
                                                                "kd_join": "1"}
    assert f"kd/shards/train.{killed}.tgt" in planned

    rerun = run_snakemake(results, "--cores", "2", str(exp / "kd/train.tgt"))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    kd = (exp / "kd/train.tgt").read_text().splitlines()
    assert len(kd) == len((exp / "bpe/train.src").read_text().splitlines()) == 400
    assert not any(p.exists() for p in shard_out)  # temporary shards removed after the join
    assert not list(exp.rglob("*.tmp"))




BAD_VALUES = [
    # wrong types
    ("kd.beam", "four", "kd.beam: 'four' is not of type 'integer'"),
    ("threads.decode", 1.5, "threads.decode: 1.5 is not of type 'integer'"),
    ("teacher.model.pre_norm", "yes", "teacher.model.pre_norm: 'yes' is not of type 'boolean'"),
    ("students", {"name": "stu1"}, "students: {'name': 'stu1'} is not of type 'array'"),
    # out of range
    ("kd.shards", 0, "kd.shards: 0 is less than the minimum of 1"),
    ("teacher.model.dropout", 1.0, "teacher.model.dropout: 1.0 is greater than or equal to the "
                                   "maximum of 1"),
    ("bpe.vocab_size", 20, "bpe.vocab_size: 20 is less than the minimum of 100"),
    ("device", "gpu", "device: 'gpu' is not one of ['auto', 'cpu', 'cuda']"),
    # unknown keys
    ("kd.shard", 4, "kd: Unevaluated properties are not allowed ('shard' was unexpected)"),
    ("evaluation.beams", 4, "evaluation: Unevaluated properties are not allowed ('beams' was "
                            "unexpected)"),
    ("student_train.stepz", 4, "student_train: Additional properties are not allowed ('stepz'"),
    # bad method names
    ("methods", ["kd", "wd_p2wu"], "methods.1: 'wd_p2wu' does not match"),
    ("methods", ["kd", "kd"], "methods: ['kd', 'kd'] has non-unique elements"),
    ("methods", [], "methods: [] should be non-empty"),
    # bad student names (they become directory names too)
    ("students.0.name", "teacher", "students.0.name: 'teacher' does not match"),
    ("students.0.name", "../stu1", "students.0.name: '../stu1' does not match"),
    ("students", [{"name": "a"}, {"name": "a"}], "students: names must be unique"),
    # paths: nothing may be written outside results_dir
    ("experiment", "..", "experiment: '..' is not a plain directory name (outputs must stay "
                         "inside results_dir)"),
    ("experiment", ".", "experiment: '.' is not a plain directory name"),
    ("experiment", "../../etc", "experiment: '../../etc' does not match"),
    ("experiment", "a/b", "experiment: 'a/b' does not match"),
    ("results_dir", "", "results_dir: '' should be non-empty"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_VALUES,
                         ids=[f"{p}={v!r}" for p, v, _ in BAD_VALUES])
def test_bad_value_gives_one_clear_line(path, value, message):
    with pytest.raises(ConfigError) as err:
        validate(with_change(path, value))
    assert str(err.value).startswith(f"config error at {message}")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("setting", "message"), [
    ("experiment=..", "config error at experiment: '..' is not a plain directory name "
                      "(outputs must stay inside results_dir)"),
    ("seed=-1", "config error at seed: -1 is less than the minimum of 0"),
])
def test_snakemake_refuses_before_writing_anything(tmp_path, setting, message):
    results = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "1",
         "--nolock", "--config", f"results_dir={results}", setting],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == message
    assert list(tmp_path.iterdir()) == []
