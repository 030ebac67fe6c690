"""The checks a run makes before its first job: packages, device, CTranslate2 where the config
uses it, and the disk its checkpoints need (faked, no GPU needed)."""
from collections import namedtuple

import pytest
import torch

from conftest import DEFAULT_CONFIG, with_change
from wd import preflight as pf
from wd.decode import ct2


def test_a_missing_package_stops_the_run_naming_it(monkeypatch):
    real = pf.importlib.util.find_spec
    monkeypatch.setattr(pf.importlib.util, "find_spec",
                        lambda name: None if name in ("sacremoses", "jsonschema") else real(name))
    with pytest.raises(SystemExit, match="preflight: these packages are not installed here: "
                                         "sacremoses, jsonschema"):
        pf.preflight(DEFAULT_CONFIG, local=True)


def test_cuda_without_a_gpu_and_an_unusable_ctranslate2_are_said_before_any_job(monkeypatch,
                                                                                  caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="config error at device: device: cuda requested but no "
                                         "GPU is visible"):
        pf.preflight(with_change("device", "cuda"), local=True)
    pf.preflight(with_change("device", "cuda"), local=False)  # a cluster's node decides
    monkeypatch.setattr(ct2, "unusable_reason", lambda device: "it failed to translate")
    with pytest.raises(SystemExit, match="config error at kd.engine: CTranslate2 cannot run on "
                                         "cpu: it failed to translate; set it to auto"):
        pf.preflight(with_change("kd.engine", "ctranslate2"), local=True)
    pf.preflight(with_change("kd.engine", "auto"), local=True)
    assert "kd.engine is auto and CTranslate2 cannot run on cpu" in caplog.text


def test_too_little_disk_for_the_checkpoints_is_a_warning(monkeypatch, caplog):
    need = pf.need(pf.checkpoint_volume(DEFAULT_CONFIG))
    assert pf.need(pf.checkpoint_volume(DEFAULT_CONFIG, bound=True)) > need  # a bound
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(pf.shutil, "disk_usage", lambda path: usage(0, 0, need - 1))
    pf.disk_check(DEFAULT_CONFIG)
    assert f"may take up to {need / 1e9:.1f} GB" in caplog.text
    caplog.clear()
    monkeypatch.setattr(pf.shutil, "disk_usage", lambda path: usage(0, 0, need))
    pf.disk_check(DEFAULT_CONFIG)
    assert not caplog.text


def test_the_volume_counts_each_run_and_seed_with_the_generator_of_phase_1():
    runs = {r.name: r for r in pf.checkpoint_volume(with_change("seeds", [1, 2]))}
    assert {"teacher", "stu1/wd_phase1_all/seed1", "stu1/wd_phase1_all/seed2",
            "stu2/scratch/seed2"} <= set(runs)
    phase1, scratch = runs["stu1/wd_phase1_all/seed1"], runs["stu1/scratch/seed1"]
    assert phase1.whole > scratch.whole  # the generator and the teacher's tables
    assert scratch.whole == 3 * scratch.model  # model, and Adam's two moments
