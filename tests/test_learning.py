"""Something is learnt: a teacher's validation loss falls with training, and a student cut from
that teacher starts below a random student of the same shape."""
import dataclasses

import torch

from conftest import TEACHER_SETTINGS
from wd.model.inits.cutoff import cutoff_student
from wd.model.transformer import Transformer
from wd.train.trainer import validate


def test_the_teachers_validation_loss_falls(toy_teacher):
    log = toy_teacher.log
    losses = [float(row["valid_loss"]) for row in log]
    assert [int(row["step"]) for row in log] == [20, 40, 60, 80, 100, 120]
    assert losses[-1] < 0.9 * losses[0]  # 4.69 -> 4.07 on an AVX2 CPU
    assert all(b < a for a, b in zip(losses, losses[1:]))  # every validation lower than the last


def test_a_cut_off_student_starts_below_a_random_one(toy_teacher):
    teacher, cfg, valid = toy_teacher.model, toy_teacher.cfg, toy_teacher.valid
    student_cfg = dataclasses.replace(cfg, dec_layers=1, dec_dim=24, dec_ffn=48, dec_heads=2)
    cpu = torch.device("cpu")
    torch.manual_seed(1)
    random_loss, _ = validate(Transformer(student_cfg), valid, TEACHER_SETTINGS, cpu)
    cut = cutoff_student(teacher.state_dict(), cfg, student_cfg)
    cut_loss, _ = validate(cut, valid, TEACHER_SETTINGS, cpu)
    teacher_loss, _ = validate(teacher, valid, TEACHER_SETTINGS, cpu)
    assert teacher_loss < cut_loss < random_loss
