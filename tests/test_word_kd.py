"""Word-level distillation in training: the loss modes, the teacher they need, learning."""
import copy

import pytest
import torch

from conftest import run_snakemake, settings, tiny, toy_pairs
from wd.data.batching import collate
from wd.model.transformer import Transformer
from wd.train.loss import word_kd_loss
from wd.train.trainer import Trainer, loss_terms, training_loss
from wd.vocab import PAD_ID

CPU = torch.device("cpu")


def models():
    torch.manual_seed(0)
    teacher = Transformer(tiny()).eval()
    student = Transformer(tiny(dec_layers=1)).eval()
    return teacher, student


def test_the_loss_modes_combine_ce_and_word_kd():
    teacher, student = models()
    pairs = toy_pairs(6)
    ce = loss_terms(student, pairs, CPU, "none", 0.1)[0]
    kd = training_loss(student, teacher, pairs, CPU, settings(loss="word_kd", kd_temperature=2.0))
    batch = collate(pairs)
    with torch.no_grad():
        expected_kd = word_kd_loss(student(batch.src, batch.tgt_in).flatten(0, 1),
                                   teacher(batch.src, batch.tgt_in).flatten(0, 1),
                                   batch.tgt_out.flatten(), 2.0, PAD_ID)
    torch.testing.assert_close(kd.detach(), expected_kd)
    mixed = training_loss(student, teacher, pairs, CPU,
                          settings(loss="ce+word_kd", kd_weight=0.25, kd_temperature=2.0))
    torch.testing.assert_close(mixed.detach(), 0.75 * ce.detach() + 0.25 * expected_kd)
    assert training_loss(student, None, pairs, CPU, settings()).item() == ce.item()
    copy_of_teacher = copy.deepcopy(teacher)
    assert training_loss(copy_of_teacher, teacher, pairs, CPU,
                         settings(loss="word_kd")).abs().item() < 1e-4


def test_word_kd_needs_a_teacher(tmp_path):
    _, student = models()
    with pytest.raises(ValueError, match="loss word_kd needs the teacher's model"):
        Trainer(student, toy_pairs(4), toy_pairs(2), settings(loss="word_kd"), tmp_path, CPU)
    with pytest.raises(ValueError, match="unknown loss 'kl'"):
        training_loss(student, student, toy_pairs(2), CPU, settings(loss="kl"))


def test_a_student_trained_on_word_kd_moves_towards_the_teacher(tmp_path):
    teacher, student = models()
    pairs = toy_pairs(40)
    s = settings(loss="word_kd", steps=30, lr=3e-3, warmup=5, valid_every=30, save_every=30)

    def distance():
        with torch.no_grad():
            return training_loss(student, teacher, pairs, CPU, s).item()
    before = distance()
    trainer = Trainer(student, pairs, pairs[:8], s, tmp_path, CPU, teacher=teacher)
    trainer.run()
    student.load_state_dict(trainer.final_state())
    assert distance() < 0.5 * before
    assert all(not p.requires_grad for p in teacher.parameters())  # frozen throughout


@pytest.mark.workflow
def test_students_with_word_kd_wait_for_the_teacher_and_others_do_not(tmp_path):
    def scratch_inputs(extra: str) -> str:
        config = tmp_path / "wkd.yaml"
        config.write_text(f"results_dir: {tmp_path}\nmethods: [scratch]\n{extra}")
        run = run_snakemake("-n", "--configfile", str(config))
        assert run.returncode == 0, run.stderr[-2000:]
        output = "output: " + str(tmp_path / "toy/models/stu1/scratch/seed1/final.pt")
        job = next(b for b in run.stdout.split("\nrule ") if b.startswith("train_student:")
                   and output in b)  # one block per planned job
        return next(line for line in job.splitlines() if line.strip().startswith("input:"))
    assert "models/teacher/final.pt" not in scratch_inputs("")
    student_train = ("student_train: {steps: 1000, max_tokens: 1500, lr: 0.003, warmup: 100, "
                     "loss: ce+word_kd, kd_weight: 0.5, kd_temperature: 2}\n")
    assert "models/teacher/final.pt" in scratch_inputs(student_train)
