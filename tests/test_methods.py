"""The method registry: every method's record, the families, the wildcard, old names."""
import re

import pytest

from conftest import run_snakemake
from wd import methods
from wd.config import rename_methods

# name: (train_data, init, transfer, trains, warmup)
EXPECTED = {
    "teacher": ("bitext", "random", None, True, None),
    "scratch": ("bitext", "random", None, True, None),
    "kd": ("kd", "random", None, True, None),
    "kd_mixed": ("bitext+kd", "random", None, True, None),
    "cutoff": ("kd", "cutoff", None, True, None),
    "cutoff_mixed": ("bitext+kd", "cutoff", None, True, None),
    "wd_phase1_only": ("bitext+kd", "checkpoint", "all", False, None),
    "wd": ("bitext+kd", "checkpoint", "all", True, None),
    "wd_encoder_only": ("bitext+kd", "checkpoint", "encoder", True, None),
    "wd_decoder_only": ("bitext+kd", "checkpoint", "decoder", True, None),
    "wd_attention_only": ("bitext+kd", "checkpoint", "attention", True, None),
    "wd_ffn_only": ("bitext+kd", "checkpoint", "ffn", True, None),
    "wd_warmup0": ("bitext+kd", "checkpoint", "all", True, 0),
    "wd_warmup250": ("bitext+kd", "checkpoint", "all", True, 250),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_every_method_record(name):
    method = methods.get(name)
    assert method.name == name
    assert (method.train_data, method.init, method.transfer, method.trains,
            method.warmup) == EXPECTED[name]
    assert method.train_data in methods.TRAIN_DATA and method.init in methods.INITS
    assert method.is_wd == (method.transfer is not None) == (method.init == "checkpoint")
    assert method.transfer in (None, *methods.TRANSFER_KINDS)
    assert method.description


def test_report_order_is_the_papers_then_ablations_then_sweeps():
    ranked = sorted(EXPECTED, key=lambda name: methods.get(name).order)
    assert ranked[:8] == ["teacher", "scratch", "kd", "kd_mixed", "cutoff", "cutoff_mixed",
                          "wd_phase1_only", "wd"]
    ablations, sweeps = ([methods.get(n).order for n in part] for part in (ranked[8:12],
                                                                          ranked[12:]))
    assert ranked[8:12] == ["wd_encoder_only", "wd_decoder_only", "wd_attention_only",
                            "wd_ffn_only"] and max(ablations) < min(sweeps)


@pytest.mark.parametrize("name", ["wd_bogus_only", "wd_warmup", "wd_p2wu5", "kd2", "", "all"])
def test_unknown_names_are_refused_with_the_known_ones(name):
    with pytest.raises(ValueError, match=r"unknown method .*; expected one of scratch, kd"):
        methods.get(name)


def test_the_wildcard_matches_exactly_the_methods_that_train():
    wildcard = re.compile(f"(?:{methods.trained_pattern()})")
    assert wildcard.groupindex == {}  # Snakemake would take named groups for wildcards
    for name in EXPECTED:
        assert bool(wildcard.fullmatch(name)) == (methods.get(name).trains and name != "teacher")
    assert not wildcard.fullmatch("wd_p2wu5")


def test_old_names_are_renamed_with_one_warning_each():
    config = {"methods": ["kd", "wd_p2wu0", "wd_p2wu100"]}
    assert rename_methods(config) == [
        "config warning at methods.1: wd_p2wu0 is now called wd_warmup0",
        "config warning at methods.2: wd_p2wu100 is now called wd_warmup100"]
    assert config["methods"] == ["kd", "wd_warmup0", "wd_warmup100"]
    assert rename_methods(config) == []


@pytest.mark.workflow
def test_the_workflow_accepts_an_old_name_and_plans_the_new_one(tmp_path):
    run = run_snakemake("-n", "--config", f"results_dir={tmp_path}", "methods=[kd,wd_p2wu50]")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "config warning at methods.1: wd_p2wu50 is now called wd_warmup50" in run.stderr
    assert "models/stu1/wd_warmup50/seed1/final.pt" in run.stdout
