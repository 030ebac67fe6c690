"""benchmarks/data_scale.py (#42): its synthetic corpus is deterministic and WMT-like, and a small
run measures every stage."""

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "data_scale.py"
STAGES = ["prepare", "tokenize.src", "tokenize.tgt", "train_bpe", "apply_bpe.src",
          "apply_bpe.tgt", "binarize.src", "binarize.tgt", "train_worker", "train_worker 1/2",
          "train_worker 2/2", "kd_split", "kd_join"]


def load_script():
    spec = importlib.util.spec_from_file_location("data_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_corpus_is_deterministic_and_wmt_like(tmp_path: Path):
    data_scale = load_script()
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        data_scale.generate_corpus(tmp_path / name, 5000, seed)
    files = [f"{split}.{lang}" for split in ("train", "valid", "test") for lang in ("en", "de")]
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
               for f in files)
    assert (tmp_path / "a" / "train.en").read_bytes() != (tmp_path / "c" / "train.en").read_bytes()
    for lang in ("en", "de"):
        lines = (tmp_path / "a" / f"train.{lang}").read_text(encoding="utf-8").splitlines()
        words = np.array([len(line.split()) for line in lines])
        assert len(lines) == 5000 and words.min() >= 1
        assert 20 <= words.mean() <= 30 and words.max() <= 300
        assert (words > 100).sum() >= 5  # a long tail
        assert sum(line.endswith((".", "?", "!")) for line in lines) == len(lines)
        assert sum("," in line for line in lines) > len(lines) / 4  # Moses has work
        assert len((tmp_path / "a" / f"valid.{lang}").read_text("utf-8").splitlines()) == 1000


@pytest.mark.workflow  # starts a process for each stage
def test_small_run_measures_every_stage(tmp_path: Path):
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}  # this checkout's wd
    out = tmp_path / "scale.csv"
    subprocess.run([sys.executable, str(SCRIPT), "--sizes", "2000", "--threads", "1",
                    "--out", str(out), "--work", str(tmp_path / "work")],
                   check=True, env=env, capture_output=True, text=True)
    rows = list(csv.DictReader(out.open()))
    assert [r["stage"] for r in rows] == STAGES
    assert all(float(r["seconds"]) > 0 and float(r["peak_rss_mib"]) > 0 for r in rows)
    workers = [r for r in rows if r["stage"].startswith("train_worker")]
    assert all(float(r["private_mib"]) > 0 and float(r["map_mib"]) > 0 for r in workers)
    assert not list((tmp_path / "work").iterdir())  # each size's files removed
