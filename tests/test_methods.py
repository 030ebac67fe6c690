"""The method registry: every method's record, the families, the wildcard, old names."""
import re

import pytest

from conftest import run_snakemake
from wd import methods
from wd.config import rename_methods
from wd.model.inits import INITS
from wd.train.losses import LOSSES

# name: (train_data, the runs of its chain, the last run's init, the generator's transfer kind,
# trains, the last run's warm-up)
WD = ("bitext+kd", "checkpoint")
EXPECTED = {
    "teacher": ("bitext", ["teacher"], "random", None, True, None),
    "scratch": ("bitext", ["scratch"], "random", None, True, None),
    "kd": ("kd", ["kd"], "random", None, True, None),
    "word_kd": ("bitext", ["word_kd"], "random", None, True, None),
    "kd_mixed": ("bitext+kd", ["kd_mixed"], "random", None, True, None),
    "cutoff": ("kd", ["cutoff"], "cutoff", None, True, None),
    "cutoff_mixed": ("bitext+kd", ["cutoff_mixed"], "cutoff", None, True, None),
    "select": ("kd", ["select"], "select", None, True, None),
    "prune": ("bitext", ["prune"], "prune", None, True, None),
    "embed_kd": ("kd", ["embed_kd"], "embeddings", None, True, None),
    "wd_phase1_only": ("bitext+kd", ["wd_phase1_all"], "generator", "all", False, None),
    "wd": (*WD[:1], ["wd_phase1_all", "wd"], WD[1], "all", True, None),
    "wd_cutinit": (*WD[:1], ["wd_phase1_all_cutinit", "wd_cutinit"], WD[1], "all", True, None),
    "wd_selectinit": (*WD[:1], ["wd_phase1_all_selectinit", "wd_selectinit"], WD[1], "all", True,
                      None),
    "wd_encoder_only": (*WD[:1], ["wd_phase1_encoder", "wd_encoder_only"], WD[1], "encoder",
                        True, None),
    "wd_decoder_only": (*WD[:1], ["wd_phase1_decoder", "wd_decoder_only"], WD[1], "decoder",
                        True, None),
    "wd_attention_only": (*WD[:1], ["wd_phase1_attention", "wd_attention_only"], WD[1],
                          "attention", True, None),
    "wd_ffn_only": (*WD[:1], ["wd_phase1_ffn", "wd_ffn_only"], WD[1], "ffn", True, None),
    "wd_warmup0": (*WD[:1], ["wd_phase1_all", "wd_warmup0"], WD[1], "all", True, 0),
    "wd_warmup250": (*WD[:1], ["wd_phase1_all", "wd_warmup250"], WD[1], "all", True, 250),
    # the complement: the same Phase 1 as wd_decoder_only's
    "wd_no_encoder": (*WD[:1], ["wd_phase1_decoder", "wd_no_encoder"], WD[1], "decoder", True,
                      None),
    "wd_no_decoder": (*WD[:1], ["wd_phase1_encoder", "wd_no_decoder"], WD[1], "encoder", True,
                      None),
    "wd_no_attention": (*WD[:1], ["wd_phase1_no_attention", "wd_no_attention"], WD[1],
                        "no_attention", True, None),
    "wd_no_ffn": (*WD[:1], ["wd_phase1_no_ffn", "wd_no_ffn"], WD[1], "no_ffn", True, None),
    "wd_phase1_warmup50": (*WD[:1], ["wd_phase1_all_warmup50", "wd_phase1_warmup50"], WD[1],
                           "all", True, None),
    "kd_lr0.5x": ("kd", ["kd_lr0.5x"], "random", None, True, None),
    "kd_ft": ("kd, then bitext", ["kd", "kd_ft"], "checkpoint", None, True, 0),
    "kd_ft_lr2x": ("kd, then bitext", ["kd_lr2x", "kd_ft_lr2x"], "checkpoint", None, True, 0),
    "wd_lr2x": (*WD[:1], ["wd_phase1_all_lr2x", "wd_lr2x"], WD[1], "all", True, None),
    "cutoff_mixed_lr1.5x": ("bitext+kd", ["cutoff_mixed_lr1.5x"], "cutoff", None, True, None),
    "prune_lr2x": ("bitext", ["prune_lr2x"], "prune", None, True, None),
    "wd_cutinit_lr2x": (*WD[:1], ["wd_phase1_all_cutinit_lr2x", "wd_cutinit_lr2x"], WD[1], "all",
                        True, None),
}
# Methods whose last run trains with its own loss instead of student_train's.
LOSS = {"word_kd": "word_kd", "prune": "word_kd", "prune_lr2x": "word_kd"}
# name: (generator start, Phase-1 warm-up, learning-rate scale of every run)
PHASE1 = {"wd": ("random", None, 1.0), "wd_phase1_only": ("random", None, 1.0),
          "wd_warmup250": ("random", None, 1.0), "wd_no_ffn": ("random", None, 1.0),
          "wd_phase1_warmup50": ("random", 50, 1.0), "wd_lr2x": ("random", None, 2.0),
          "wd_cutinit": ("cutoff", None, 1.0), "wd_selectinit": ("select", None, 1.0),
          "wd_cutinit_lr2x": ("cutoff", None, 2.0)}


@pytest.mark.parametrize("name", EXPECTED)
def test_every_method_record(name):
    method = methods.get(name)
    train_data, runs, init, transfer, trains, warmup = EXPECTED[name]
    assert method.name == name and method.train_data == train_data
    assert [run.name for run in method.runs] == runs
    assert (method.run.init, method.trains, method.run.warmup) == (init, trains, warmup)
    first = method.runs[0]
    assert (first.generator.transfer if first.generator else None) == transfer
    assert (first.generator is not None) == (first.init == "generator") == name.startswith("wd")
    for run in method.runs:
        assert run.train_data in methods.TRAIN_DATA and run.init in INITS
        assert (run.init == "checkpoint") == (method.before(run) is not None)
        assert run.loss in (None, *LOSSES)
        budget = run.budget  # the config check reads the keys of those in BUDGETS
        assert budget in methods.BUDGETS or not (budget.overlay or budget.steps or budget.less)
    assert method.run.loss == LOSS.get(name)
    assert method.description
    if trains:  # the training rule finds the chain by the run's name
        assert methods.chain(name) == method.runs
    assert methods.chain(method.runs[0].name) == method.runs[:1]


@pytest.mark.parametrize("name", PHASE1)
def test_wd_methods_start_from_the_phase1_run_their_parameters_name(name):
    method = methods.get(name)
    first = method.runs[0]
    assert (first.generator.start, first.warmup, first.lr_scale) == PHASE1[name]
    assert {run.lr_scale for run in method.runs} == {PHASE1[name][2]}
    assert first.budget == methods.PHASE1_BUDGET and method.run.budget in (
        methods.PHASE1_BUDGET, methods.PHASE2_BUDGET)
    assert re.fullmatch(methods.run_pattern(), first.name)


def test_learning_rate_sweep_points_scale_their_base_method_only():
    assert methods.get("kd_lr0.5x").run.lr_scale == 0.5 and methods.get("kd").run.lr_scale == 1.0
    assert methods.get("kd_lr0.5x").description.endswith("at 0.5x the learning rate (sweep)")
    for name in ("kd_lr0x", "wd_phase1_only_lr2x", "teacher_lr2x", "kd_lr2"):
        with pytest.raises(ValueError, match="unknown method"):
            methods.get(name)


def test_a_run_that_is_no_method_of_its_own_is_refused():
    with pytest.raises(ValueError, match="evaluated as wd_phase1_all left it"):
        methods.chain("wd_phase1_only")


def test_report_order_is_the_papers_then_ablations_then_sweeps():
    ranked = sorted(EXPECTED, key=lambda name: methods.get(name).order)
    assert ranked[:15] == ["teacher", "scratch", "kd", "kd_ft", "word_kd", "kd_mixed", "cutoff",
                           "cutoff_mixed", "select", "prune", "embed_kd", "wd_phase1_only", "wd",
                           "wd_cutinit", "wd_selectinit"]
    assert ranked[15:23] == ["wd_encoder_only", "wd_decoder_only", "wd_attention_only",
                             "wd_ffn_only", "wd_no_encoder", "wd_no_decoder", "wd_no_attention",
                             "wd_no_ffn"]
    assert ranked[23:] == ["wd_warmup0", "wd_warmup250", "wd_phase1_warmup50", "kd_lr0.5x",
                           "kd_ft_lr2x", "wd_lr2x", "cutoff_mixed_lr1.5x", "prune_lr2x",
                           "wd_cutinit_lr2x"]


@pytest.mark.parametrize("name", ["wd_bogus_only", "wd_warmup", "wd_p2wu5", "kd2", "", "all"])
def test_unknown_names_are_refused_with_the_known_ones(name):
    with pytest.raises(ValueError, match=r"unknown method .*; expected one of scratch, kd"):
        methods.get(name)


def test_the_wildcard_matches_exactly_the_runs_that_train():
    wildcard = re.compile(f"(?:{methods.run_pattern()})")
    assert wildcard.groupindex == {}  # Snakemake would take named groups for wildcards
    for name in EXPECTED:
        assert bool(wildcard.fullmatch(name)) == (methods.get(name).trains and name != "teacher")
        assert all(wildcard.fullmatch(run.name) for run in methods.get(name).runs[:-1])
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


def test_every_initialisation_made_by_a_builder_has_the_one_signature():
    import inspect
    for name, record in INITS.items():
        if record.builder is not None:
            module, function = record.builder.split(":")
            builder = getattr(__import__(module, fromlist=[function]), function)
            assert [*inspect.signature(builder).parameters][:3] == [
                "teacher_state", "teacher_cfg", "student_cfg"], name
