"""The method registry: every method's record, the families, the wildcard, old names."""
import re

import pytest

from conftest import run_snakemake
from wd import methods
from wd.config import rename_methods
from wd.model.inits import INITS
from wd.train.losses import LOSSES

# name: (train_data, init, transfer, trains, warmup)
EXPECTED = {
    "teacher": ("bitext", "random", None, True, None),
    "scratch": ("bitext", "random", None, True, None),
    "kd": ("kd", "random", None, True, None),
    "word_kd": ("bitext", "random", None, True, None),
    "kd_mixed": ("bitext+kd", "random", None, True, None),
    "cutoff": ("kd", "cutoff", None, True, None),
    "cutoff_mixed": ("bitext+kd", "cutoff", None, True, None),
    "select": ("kd", "select", None, True, None),
    "prune": ("bitext", "prune", None, True, None),
    "embed_kd": ("kd", "embeddings", None, True, None),
    "wd_phase1_only": ("bitext+kd", "checkpoint", "all", False, None),
    "wd": ("bitext+kd", "checkpoint", "all", True, None),
    "wd_cutinit": ("bitext+kd", "checkpoint", "all", True, None),
    "wd_selectinit": ("bitext+kd", "checkpoint", "all", True, None),
    "wd_encoder_only": ("bitext+kd", "checkpoint", "encoder", True, None),
    "wd_decoder_only": ("bitext+kd", "checkpoint", "decoder", True, None),
    "wd_attention_only": ("bitext+kd", "checkpoint", "attention", True, None),
    "wd_ffn_only": ("bitext+kd", "checkpoint", "ffn", True, None),
    "wd_warmup0": ("bitext+kd", "checkpoint", "all", True, 0),
    "wd_warmup250": ("bitext+kd", "checkpoint", "all", True, 250),
    "wd_no_encoder": ("bitext+kd", "checkpoint", "decoder", True, None),  # the complement
    "wd_no_decoder": ("bitext+kd", "checkpoint", "encoder", True, None),
    "wd_no_attention": ("bitext+kd", "checkpoint", "no_attention", True, None),
    "wd_no_ffn": ("bitext+kd", "checkpoint", "no_ffn", True, None),
    "wd_phase1_warmup50": ("bitext+kd", "checkpoint", "all", True, None),
    "kd_lr0.5x": ("kd", "random", None, True, None),
    "wd_lr2x": ("bitext+kd", "checkpoint", "all", True, None),
    "cutoff_mixed_lr1.5x": ("bitext+kd", "cutoff", None, True, None),
    "prune_lr2x": ("bitext", "prune", None, True, None),
    "wd_cutinit_lr2x": ("bitext+kd", "checkpoint", "all", True, None),
}
# Methods that train with their own loss instead of student_train's.
LOSS = {"word_kd": "word_kd", "prune": "word_kd", "prune_lr2x": "word_kd"}
# name: (Phase-1 run, generator start, Phase-1 warm-up, learning-rate scale)
PHASE1 = {"wd": ("all", "random", None, 1.0), "wd_phase1_only": ("all", "random", None, 1.0),
          "wd_warmup250": ("all", "random", None, 1.0), "wd_ffn_only": ("ffn", "random", None, 1.0),
          "wd_no_ffn": ("no_ffn", "random", None, 1.0),
          "wd_no_encoder": ("decoder", "random", None, 1.0),
          "wd_phase1_warmup50": ("all_warmup50", "random", 50, 1.0),
          "wd_lr2x": ("all_lr2x", "random", None, 2.0),
          "wd_cutinit": ("all_cutinit", "cutoff", None, 1.0),
          "wd_selectinit": ("all_selectinit", "select", None, 1.0),
          "wd_cutinit_lr2x": ("all_cutinit_lr2x", "cutoff", None, 2.0)}


@pytest.mark.parametrize("name", EXPECTED)
def test_every_method_record(name):
    method = methods.get(name)
    assert method.name == name
    assert (method.train_data, method.init, method.transfer, method.trains,
            method.warmup) == EXPECTED[name]
    assert method.train_data in methods.TRAIN_DATA and method.init in INITS
    assert method.is_wd == (method.transfer is not None) == (method.init == "checkpoint")
    assert method.transfer in (None, *methods.TRANSFER_KINDS)
    assert method.loss == LOSS.get(name) and method.loss in (None, *LOSSES)
    assert method.phase1_start in methods.PHASE1_STARTS
    assert method.description


@pytest.mark.parametrize("name", PHASE1)
def test_wd_methods_name_the_phase1_run_they_start_from(name):
    method = methods.get(name)
    assert (method.phase1_run, method.phase1_start, method.phase1_warmup,
            method.lr_scale) == PHASE1[name]
    assert methods.phase1_settings(method.phase1_run) == (
        method.transfer, method.phase1_start, method.phase1_warmup, method.lr_scale)
    assert re.fullmatch(methods.phase1_pattern(), method.phase1_run)


def test_learning_rate_sweep_points_scale_their_base_method_only():
    assert methods.get("kd_lr0.5x").lr_scale == 0.5 and methods.get("kd").lr_scale == 1.0
    assert methods.get("kd_lr0.5x").description.endswith("at 0.5x the learning rate (sweep)")
    with pytest.raises(ValueError, match="has no WD Phase 1"):
        methods.get("kd_lr2x").phase1_run
    for name in ("kd_lr0x", "wd_phase1_only_lr2x", "teacher_lr2x", "kd_lr2"):
        with pytest.raises(ValueError, match="unknown method"):
            methods.get(name)


def test_report_order_is_the_papers_then_ablations_then_sweeps():
    ranked = sorted(EXPECTED, key=lambda name: methods.get(name).order)
    assert ranked[:14] == ["teacher", "scratch", "kd", "word_kd", "kd_mixed", "cutoff",
                           "cutoff_mixed", "select", "prune", "embed_kd", "wd_phase1_only", "wd",
                           "wd_cutinit", "wd_selectinit"]
    assert ranked[14:22] == ["wd_encoder_only", "wd_decoder_only", "wd_attention_only",
                             "wd_ffn_only", "wd_no_encoder", "wd_no_decoder", "wd_no_attention",
                             "wd_no_ffn"]
    assert ranked[22:] == ["wd_warmup0", "wd_warmup250", "wd_phase1_warmup50", "kd_lr0.5x",
                           "wd_lr2x", "cutoff_mixed_lr1.5x", "prune_lr2x", "wd_cutinit_lr2x"]


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
    run = run_snakemake("-n", "--config", f"results_dir={tmp_path}",
                        "methods=[kd,wd_p2wu50,wd_no_ffn,wd_lr2x,wd_phase1_warmup5,kd_lr0.5x,"
                        "wd_cutinit]")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "config warning at methods.1: wd_p2wu50 is now called wd_warmup50" in run.stderr
    for planned in ["stu1/wd_warmup50/seed1", "stu1/wd_phase1_all/seed1", "stu2/kd_lr0.5x/seed1",
                    "stu1/wd_phase1_no_ffn/seed1", "stu1/wd_no_ffn/seed1",
                    "stu1/wd_phase1_all_lr2x/seed1", "stu1/wd_lr2x/seed1",
                    "stu1/wd_phase1_all_warmup5/seed1", "stu1/wd_phase1_warmup5/seed1",
                    "stu1/wd_phase1_all_cutinit/seed1", "stu1/wd_cutinit/seed1"]:
        assert f"models/{planned}/final.pt" in run.stdout


def test_every_initialisation_made_from_the_teacher_has_a_builder_of_the_one_signature():
    import inspect
    for name, record in INITS.items():
        if record.from_teacher:
            module, function = record.builder.split(":")
            builder = getattr(__import__(module, fromlist=[function]), function)
            assert [*inspect.signature(builder).parameters][:3] == [
                "teacher_state", "teacher_cfg", "student_cfg"], name
