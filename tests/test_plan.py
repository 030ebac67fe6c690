"""The run plan without Snakemake: each run's inputs, its job and its identity."""

import copy
import json
import subprocess
import sys

import pytest

from conftest import DEFAULT_CONFIG, REPO
from wd.config import validate
from wd.plan import Plan, TrainJob


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
    scratch, kd, cutoff = (p.run("stu1", m, 1).inputs for m in ("scratch", "kd", "cutoff"))
    assert scratch["train"] == [f"{root}/bin/train.src.npy", f"{root}/bin/train.tgt.npy"]
    assert kd["train"] == [f"{root}/bin/train.src.npy", f"{root}/bin/kd.tgt.npy"]
    assert "init" not in scratch and "init" not in kd and "teacher" not in kd
    assert cutoff["init"] == teacher and "teacher" not in cutoff
    wd = p.run("stu1", "wd", 2)
    phase1_model = f"{root}/models/stu1/wd_phase1_all/seed2/final.pt"
    assert wd.inputs["init"] == wd.job.init_from == phase1_model
    assert len(wd.inputs["train"]) == 4 and wd.job.generator is None  # bitext + KD data
    phase1 = p.run("stu1", "wd_phase1_all", 2)
    assert phase1.inputs["init"] == teacher and phase1.job.generator["transfer"] == "all"
    assert phase1.job.model_out == phase1_model
    assert p.run("stu1", "word_kd", 1).inputs["teacher"] == teacher
    prune = p.run("stu1", "prune", 1)
    assert prune.inputs["init"] == teacher and prune.job.calibration > 0
    assert p.run("stu1", "cutoff", 1).job.calibration is None


def test_wd_phases_split_the_student_budget():
    p = plan()
    c = p.config
    phase1 = p.run("stu2", "wd_phase1_all", 1).job.settings
    phase2 = p.run("stu2", "wd", 1).job.settings
    assert phase1.steps == c["wd"]["phase1_steps"]
    assert phase1.steps + phase2.steps == c["student_train"]["steps"]
    assert p.run("stu2", "wd_lr2x", 1).job.settings.lr == 2 * phase2.lr
    assert p.run("stu2", "wd_phase1_all_lr2x", 1).job.settings.lr == 2 * phase1.lr
    assert p.run("stu2", "wd_warmup7", 1).job.settings.warmup == 7


def test_identity_holds_only_the_keys_a_job_has():
    p = plan()
    teacher = p.teacher().job.identity()
    assert teacher["init"] == "random"
    assert teacher["valid_search"]["beam"] == p.config["teacher"]["train"].get("valid_beam", 1)
    assert "calibration" not in teacher and "same_shape_layers" not in teacher
    phase1 = p.run("stu1", "wd_phase1_all", 1).job.identity()
    assert phase1["init"] == "all" and phase1["same_shape_layers"] == "elementwise"
    assert "start" not in phase1
    assert p.run("stu1", "wd_phase1_all_cutinit", 1).job.identity()["start"] == "cutoff"
    no_bleu = plan(student_train={**DEFAULT_CONFIG["student_train"], "best_metric": "loss",
                                  "patience": 0})
    assert "valid_search" not in no_bleu.run("stu1", "kd", 1).job.identity()


def test_the_length_penalty_reaches_only_a_validation_that_searches_a_beam():
    """Greedy validation keeps one hypothesis whatever the penalty: tuning the test search's
    penalty must not make every trained model another run's (snakemake reruns a job whose
    params changed, and the trainer starts over beside checkpoints of another identity)."""
    evaluation = {**DEFAULT_CONFIG["evaluation"], "lenpen": 1.6}
    greedy, tuned = plan(), plan(evaluation=evaluation)
    for p in (greedy, tuned):
        assert p.teacher().job.valid_search.beam == 1
    assert tuned.teacher().job.to_dict() == greedy.teacher().job.to_dict()
    assert tuned.run("stu1", "wd", 1).job.to_dict() == greedy.run("stu1", "wd", 1).job.to_dict()
    beam2 = {**DEFAULT_CONFIG["student_train"], "valid_beam": 2}
    searched = plan(evaluation=evaluation, student_train=beam2).run("stu1", "kd", 1).job
    assert (searched.valid_search.beam, searched.valid_search.lenpen) == (2, 1.6)


def test_a_job_crosses_to_the_training_process_as_plain_json_and_back():
    job = plan().run("stu1", "wd_phase1_all_cutinit", 1).job
    assert TrainJob.from_dict(json.loads(json.dumps(job.to_dict()))) == job


def test_a_chained_method_continues_the_run_of_another():
    p = plan(methods=["kd", "kd_ft"])
    root, steps = p.root, p.config["student_train"]["steps"]
    kd, ft = p.run("stu1", "kd", 1), p.run("stu1", "kd_ft", 1)
    assert ft.inputs["init"] == ft.job.init_from == kd.job.model_out
    assert ft.job.init == "checkpoint" and ft.inputs["train"] == p.train_files("bitext")
    assert ft.job.settings.steps == round(steps / 10) and ft.job.settings.warmup == 0
    assert ft.job.settings.lr == kd.job.settings.lr / 4
    assert p.model_path("stu1", "kd_ft", 1) == f"{root}/models/stu1/kd_ft/seed1/final.pt"
