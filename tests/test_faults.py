"""Fault injection outside training: kill -9 during KD decoding, bad config values of every
kind, and config values that would make the pipeline write outside results_dir.

(Kills during training, corrupt checkpoints and non-finite losses: tests/test_resume_faults.py.)
"""
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import REPO, run_snakemake, snakemake_cmd, with_change
from waiting import group_alive, pause_env, wait_gone, wait_until
from wd.config import ConfigError, engine_settings, read_configs, search_settings, validate
from wd.decode.translate import partial_path, translate_file

MICRO = REPO / "tests" / "micro.yaml"


def micro_args(results: Path, *args: str, mono: bool = False) -> list[str]:
    """The micro experiment with KD decoding in two shards of many small batches; with
    ``mono``, also KD data of 60 generated monolingual source sentences (for kd_mono)."""
    small_batches = results.parent / "small_batches.yaml"
    small_batches.write_text("kd: {beam: 2, lenpen: 1.0, batch_size: 8, shards: 2}\n")
    more = []
    if mono:
        more = [results.parent / "mono.yaml"]
        more[0].write_text("data: {toy: {train: 400, valid: 40, test: 40, mono: 60}, "
                           "mono: [toy]}\nmethods: [kd, kd_mono]\n")
    # --nolock: a killed run leaves no stale lock to clear (the checkout's .snakemake is shared
    # with other runs, whose locks `--unlock` would remove as well).
    return ["--nolock", "--configfile", str(MICRO), str(small_batches), *map(str, more),
            "--config", f"results_dir={results}", *args]


# The monolingual text's KD data (data.mono) here; the training sources' is killed and recovered
# within the whole run below.
@pytest.mark.workflow
def test_kill_9_during_kd_decoding_then_rerun_completes(tmp_path):
    results = tmp_path / "results"
    exp = results / "micro"
    part, sentences, mono = "mono", 60, True
    shard_out = [exp / f"kd/shards/{part}.{i}.tgt" for i in range(2)]
    kd = exp / f"kd/{part}.tgt"
    prep = run_snakemake(*micro_args(results, "--cores", "2", str(exp / "models/teacher/final.pt"),
                                     str(exp / f"kd/shards/{part}.counts.json"), mono=mono))
    assert prep.returncode == 0, prep.stderr[-3000:]

    # Both shards decode at once; shard 1 is held after its first batch (wd.faults). Once
    # shard 0 is done, kill the whole run (snakemake and its jobs, as a node crash or an OOM
    # kill of the job's group would) while shard 1 is provably mid-work.
    marker, log = tmp_path / "paused", tmp_path / "snakemake.log"
    env = pause_env(f"decode.batch out=*/kd/shards/{part}.1.tgt *", marker)
    with open(log, "w") as handle:
        cmd = snakemake_cmd(*micro_args(results, "--cores", "2", str(kd), mono=mono))
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)

    def shard_0_recorded() -> bool:  # decoded, and snakemake has taken note of it
        return re.search(r"^1 of 3 steps \(33%\) done", log.read_text(), re.M) is not None

    try:
        wait_until(lambda: marker.exists() and shard_0_recorded(), proc,
                   "shard 1 paused and shard 0 finished")
        assert shard_out[0].exists()
        partial = partial_path(shard_out[1]).read_text().splitlines()
        assert not shard_out[1].exists() and len(partial) == 1 + 8  # identity, one batch
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_gone(group_alive(proc.pid))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # Nothing looks finished that is not: no KD file, no output of the killed shard; the shard
    # decoded before the kill is kept and not decoded again.
    assert not kd.exists()
    assert not shard_out[1].exists() and shard_out[0].exists()
    plan = run_snakemake(*micro_args(results, "-n", str(kd), mono=mono))
    assert plan.returncode == 0, plan.stderr[-3000:]
    planned = plan.stdout + plan.stderr
    stats = planned.split("Job stats:")[1].split("\ntotal")[0]
    assert dict(re.findall(r"^(\w+)\s+(\d+)$", stats, re.M)) == {"kd_translate": "1",
                                                                "kd_join": "1"}
    assert f"kd/shards/{part}.1.tgt" in planned

    # The rerun of shard 1 takes up after its journaled batch, and ends as one run would have.
    rerun = run_snakemake(*micro_args(results, "--cores", "2", str(kd), mono=mono))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (f"8 of {sentences // 2} sentences translated"
            in (exp / f"logs/kd/{part}.translate.1.log").read_text())
    lines = kd.read_text().splitlines()
    assert len(lines) == len((exp / f"bpe/{part}.src").read_text().splitlines()) == sentences
    assert not any(p.exists() for p in shard_out)  # temporary shards removed after the join
    assert not list(exp.rglob("*.tmp")) and not list(exp.rglob("*.partial"))
    # The same KD data as one decoding of the whole text that was never killed.
    kd_section = read_configs([MICRO, results.parent / "small_batches.yaml",
                               results.parent / "mono.yaml"])["kd"]
    translate_file(exp / "models/teacher/final.pt", exp / "bpe/spm.model", exp / "bpe/mono.src",
                   tmp_path / "alone.tgt", search_settings(kd_section), torch.device("cpu"),
                   engine_settings(kd_section))
    assert (tmp_path / "alone.tgt").read_bytes() == kd.read_bytes()


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
    ("methods", ["kd", "wd_p2wu"], "methods.1: unknown method 'wd_p2wu'; expected one of"),
    ("methods", ["teacher"], "methods.0: the teacher is always evaluated"),
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
    # YAML's .nan and .inf pass every bound of the schema
    ("teacher.train.lr", float("nan"), "teacher.train.lr: nan is not a finite number"),
    ("kd.max_len_a", float("inf"), "kd.max_len_a: inf is not a finite number"),
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
@pytest.mark.workflow
def test_snakemake_refuses_before_writing_anything(tmp_path, setting, message):
    results = tmp_path / "results"
    run = run_snakemake("--cores", "1", "--nolock", "--config", f"results_dir={results}",
                        setting)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.workflow
def test_a_config_file_with_a_key_given_twice_is_refused_naming_file_and_line(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text(f"results_dir: {tmp_path / 'results'}\nseed: 1\nseed: 2\n")
    run = run_snakemake("-n", "--nolock", "--configfile", str(config))
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == (f"config error in {config}:3: key 'seed' "
                                                   "given twice (first on line 2)")
    assert [p.name for p in tmp_path.iterdir()] == ["exp.yaml"]


@pytest.mark.workflow
@pytest.mark.parametrize(("methods", "decodes"), [("[scratch, word_kd]", False), ("[kd]", True)])
def test_kd_data_is_decoded_only_when_a_planned_run_reads_it(tmp_path, methods, decodes):
    config = tmp_path / "exp.yaml"
    config.write_text(f"results_dir: {tmp_path / 'results'}\nmethods: {methods}\n")
    run = run_snakemake("-n", "--nolock", "--configfile", str(MICRO), str(config))
    assert run.returncode == 0, run.stderr[-2000:]
    assert ("kd_translate" in run.stdout) == decodes


def recovery_args(results: Path, workdir: Path) -> list[str]:
    """The micro experiment, KD data and its student only, in a working directory of its own
    (where Snakemake keeps its locks), KD decoding in two shards of small batches."""
    workdir.mkdir(exist_ok=True)
    small = results.parent / "kd_only.yaml"
    small.write_text("methods: [kd]\nkd: {beam: 2, lenpen: 1.0, batch_size: 8, shards: 2}\n")
    return ["--directory", str(workdir), "--configfile", str(REPO / "config.yaml"), str(MICRO),
            str(small), "--config", f"results_dir={results}"]


def kill_run_at(args: list[str], pattern: str, marker: Path) -> None:
    """Start the whole run, hold the first job that reaches ``pattern``, then kill -9 snakemake
    and every job (a node crash, an OOM kill of the job's group)."""
    with open(marker.with_suffix(".log"), "w") as log:
        proc = subprocess.Popen(snakemake_cmd("--cores", "2", "all", *args), cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=pause_env(pattern, marker))
    try:
        wait_until(marker.exists, proc, f"a job reached {pattern}")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_gone(group_alive(proc.pid))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def recover(args: list[str]) -> subprocess.CompletedProcess:
    """The recovery that docs/training.md gives: unlock, then rerun with --rerun-incomplete."""
    unlock = run_snakemake("--unlock", *args)
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    return run_snakemake("--cores", "2", "all", "--rerun-incomplete", *args)


SCORED = ("eval/teacher/teacher/seed1/test", "eval/tiny1/kd/seed1/test")


def scores(exp: Path) -> list[tuple]:
    """Each system's test hypotheses and scores (what results.csv reads of the evaluation)."""
    return [((exp / f"{system}.hyp").read_text(),
             *(json.loads((exp / f"{system}.json").read_text())[key] for key in ("bleu", "chrf")))
            for system in SCORED]


@pytest.mark.workflow
def test_kill_9_of_the_whole_run_then_the_documented_recovery_ends_identical(tmp_path):
    straight = tmp_path / "straight"  # only what is compared: no timing, tables or packages
    run = run_snakemake("--cores", "2", *(str(straight / "micro" / f"{system}.json")
                                          for system in SCORED),
                        *recovery_args(straight, tmp_path / "w1"))
    assert run.returncode == 0, run.stderr[-3000:]

    results, workdir = tmp_path / "killed", tmp_path / "w2"
    args = recovery_args(results, workdir)
    exp = results / "micro"
    # Killed during teacher training (checkpoint 10 written), then during KD decoding.
    kill_run_at(args, "train.update step=15 work=*/teacher/work", tmp_path / "teacher.paused")
    assert (exp / "models/teacher/work/checkpoint_00000010.pt").is_file()
    plain = run_snakemake("--cores", "2", "all", *args)
    assert plain.returncode != 0 and "LockException" in plain.stderr  # hence --unlock
    assert run_snakemake("--unlock", *args).returncode == 0
    kill_run_at(args + ["--rerun-incomplete"], "decode.batch out=*/kd/shards/train.1.tgt *",
                tmp_path / "kd.paused")
    assert (exp / "models/teacher/final.pt").is_file() and not (exp / "kd/train.tgt").exists()

    done = recover(args)
    assert done.returncode == 0, done.stderr[-3000:]
    for model in ("models/teacher/final.pt", "models/tiny1/kd/seed1/final.pt"):
        a, b = (torch.load(root / "micro" / model, weights_only=True)["model"]
                for root in (straight, results))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), model
    assert (exp / "kd/train.tgt").read_bytes() == (straight / "micro/kd/train.tgt").read_bytes()
    assert scores(exp) == scores(straight / "micro")
    assert (exp / "tables/results.csv").is_file()
