"""Something is learnt: a teacher's validation loss falls with training, and a student cut from
that teacher starts below a random student of the same shape."""
import csv
import dataclasses

import pytest
import torch

from conftest import binarized_pairs
from wd.data.bpe import encode_file, load_bpe, train_bpe
from wd.data.toy import generate_toy_corpus
from wd.model.inits.cutoff import cutoff_student
from wd.model.transformer import Transformer
from wd.settings import ModelConfig, TrainSettings
from wd.train.trainer import Trainer, validate

SETTINGS = TrainSettings(steps=120, max_tokens=800, lr=3e-3, warmup=10, save_every=120,
                         valid_every=20, average_last=1, seed=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny pre-norm teacher trained 120 updates on 600 toy pairs; its data and log."""
    work = tmp_path_factory.mktemp("learning")
    generate_toy_corpus(work, seed=5, sizes={"valid": 60, "train": 600})
    train_bpe([work / "train.src", work / "train.tgt"], work / "spm.model", 200, seed=5)
    sp = load_bpe(work / "spm.model")
    for split in ("train", "valid"):
        for side in ("src", "tgt"):
            encode_file(sp, work / f"{split}.{side}", work / f"bpe.{split}.{side}")
    train, valid = (binarized_pairs(sp, work / f"bpe.{s}.src", work / f"bpe.{s}.tgt", 64)
                    for s in ("train", "valid"))
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=sp.get_piece_size(), enc_layers=2, dec_layers=2, enc_dim=48,
                      dec_dim=48, enc_ffn=96, dec_ffn=96, enc_heads=4, dec_heads=4, dropout=0.0,
                      pre_norm=True)
    teacher = Transformer(cfg)
    Trainer(teacher, train, valid, SETTINGS, work / "work", torch.device("cpu")).run()
    with open(work / "work" / "train_log.csv") as handle:
        log = list(csv.DictReader(handle))
    return teacher, cfg, valid, log


def test_the_teachers_validation_loss_falls(trained):
    _, _, _, log = trained
    losses = [float(row["valid_loss"]) for row in log]
    assert [int(row["step"]) for row in log] == [20, 40, 60, 80, 100, 120]
    assert losses[-1] < 0.9 * losses[0]  # 4.69 -> 4.07 on an AVX2 CPU
    assert all(b < a for a, b in zip(losses, losses[1:]))  # every validation lower than the last


def test_a_cut_off_student_starts_below_a_random_one(trained):
    teacher, cfg, valid, _ = trained
    student_cfg = dataclasses.replace(cfg, dec_layers=1, dec_dim=24, dec_ffn=48, dec_heads=2)
    torch.manual_seed(1)
    random_loss, _ = validate(Transformer(student_cfg), valid, SETTINGS, torch.device("cpu"))
    cut = cutoff_student(teacher.state_dict(), cfg, student_cfg)
    cut_loss, _ = validate(cut, valid, SETTINGS, torch.device("cpu"))
    teacher_loss, _ = validate(teacher, valid, SETTINGS, torch.device("cpu"))
    assert teacher_loss < cut_loss < random_loss
