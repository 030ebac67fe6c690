"""The run plan without Snakemake: each run's inputs, its job and its identity."""

import copy
import subprocess
import sys

import pytest

from conftest import DEFAULT_CONFIG, REPO
from wd.config import validate
from wd.plan import Plan, identity


def plan(**changes) -> Plan:
    config = copy.deepcopy(DEFAULT_CONFIG)
    config.update(changes)
    validate(config)
    return Plan(config)


@pytest.mark.process
def test_planning_needs_no_torch():
    code = "import sys, wd.plan, wd.config; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_each_method_reads_its_data_initialisation_and_teacher():
    p = plan(methods=["scratch", "kd", "cutoff", "wd", "word_kd", "prune"])
    teacher, root = p.teacher_model, p.root
    scratch, kd, cutoff = (p.student("stu1", m, 1).inputs for m in ("scratch", "kd", "cutoff"))
    assert scratch["train"] == [f"{root}/bin/train.src.npy", f"{root}/bin/train.tgt.npy"]
    assert kd["train"] == [f"{root}/bin/train.src.npy", f"{root}/bin/kd.tgt.npy"]
    assert "init" not in scratch and "init" not in kd and "teacher" not in kd
    assert cutoff["init"] == teacher and "teacher" not in cutoff
    wd = p.student("stu1", "wd", 2).inputs
    assert wd["init"] == f"{root}/models/stu1/wd_phase1_all/seed2/final.pt"
    assert len(wd["train"]) == 4  # bitext + KD data
    assert p.student("stu1", "word_kd", 1).inputs["teacher"] == teacher
    prune = p.student("stu1", "prune", 1)
    assert prune.inputs["init"] == teacher and prune.job["calibration"] > 0
    assert "calibration" not in p.student("stu1", "cutoff", 1).job


def test_wd_phases_split_the_student_budget():
    p = plan()
    c = p.config
    phase1 = p.phase1("stu2", "all", 1).job["settings"]
    phase2 = p.student("stu2", "wd", 1).job["settings"]
    assert phase1["steps"] == c["wd"]["phase1_steps"]
    assert phase1["steps"] + phase2["steps"] == c["student_train"]["steps"]
    assert p.student("stu2", "wd_lr2x", 1).job["settings"]["lr"] == 2 * phase2["lr"]
    assert p.phase1("stu2", "all_lr2x", 1).job["settings"]["lr"] == 2 * phase1["lr"]
    assert p.student("stu2", "wd_warmup7", 1).job["settings"]["warmup"] == 7


def test_identity_holds_only_the_keys_a_job_has():
    p = plan()
    teacher = identity(p.teacher().job)
    assert teacher["init"] == "random"
    assert teacher["valid_search"]["beam"] == p.config["teacher"]["train"].get("valid_beam", 1)
    assert "calibration" not in teacher and "same_shape_layers" not in teacher
    phase1 = identity(p.phase1("stu1", "all", 1).job)
    assert phase1["init"] == "all" and phase1["same_shape_layers"] == "elementwise"
    assert "start" not in phase1
    assert identity(p.phase1("stu1", "all_cutinit", 1).job)["start"] == "cutoff"
    no_bleu = plan(student_train={**DEFAULT_CONFIG["student_train"], "best_metric": "loss",
                                  "patience": 0})
    assert "valid_search" not in identity(no_bleu.student("stu1", "kd", 1).job)
