"""Minitron pruning: units built to be unused rank last and go; what cannot matter is exact."""
import random
from dataclasses import replace

import pytest
import torch

from wd.model.inits.prune import importance, prune_plan, pruned_student, top
from wd.model.transformer import Transformer
from wd.settings import ModelConfig

TEACHER = ModelConfig(vocab_size=40, enc_layers=2, dec_layers=3, enc_dim=16, dec_dim=16,
                      enc_ffn=32, dec_ffn=32, enc_heads=4, dec_heads=4, dropout=0.0,
                      pre_norm=True, tie_output=False)
UNUSED_NEURONS = {"encoder.0.ffn": [3, 17], "encoder.1.ffn": [0, 31],
                  "decoder.0.ffn": [5, 6], "decoder.1.ffn": [9, 30], "decoder.2.ffn": [1, 2]}
IDENTITY_LAYER = 1  # decoder layer 1: every block's output projection is zero


def calibration(n=24, seed=0):
    rng = random.Random(seed)
    return [([rng.randrange(4, 40) for _ in range(rng.randrange(2, 9))],
             [rng.randrange(4, 40) for _ in range(rng.randrange(2, 9))]) for _ in range(n)]


@pytest.fixture
def teacher():
    """A random teacher with FFN neurons that never fire and a decoder layer that is the
    identity (pre-norm: x + 0); pruning exactly those changes nothing."""
    torch.manual_seed(0)
    model = Transformer(TEACHER).eval()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for unit, rows in UNUSED_NEURONS.items():
            params[f"{unit}.fc1.weight"][rows] = 0
            params[f"{unit}.fc1.bias"][rows] = 0
        for block in ("self_attn.out", "cross_attn.out", "ffn.fc2"):
            params[f"decoder.{IDENTITY_LAYER}.{block}.weight"].zero_()
            params[f"decoder.{IDENTITY_LAYER}.{block}.bias"].zero_()
    return model


def logits(model, pairs):
    from wd.data.batching import collate
    batch = collate(pairs)
    with torch.no_grad():
        return model.eval()(batch.src, batch.tgt_in), batch.tgt_out != 0


def test_unused_neurons_and_an_identity_layer_rank_last_and_pruning_them_changes_nothing(teacher):
    pairs = calibration()
    scores = importance(teacher, pairs)
    for unit, rows in UNUSED_NEURONS.items():
        assert scores.neurons[unit][rows].max() == 0
        assert scores.neurons[unit].sort().indices[:2].sort().values.tolist() == rows
    assert scores.layers["decoder"][IDENTITY_LAYER] == pytest.approx(0, abs=1e-6)
    assert scores.layers["decoder"].argmin() == IDENTITY_LAYER
    student_cfg = replace(TEACHER, dec_layers=2, enc_ffn=30, dec_ffn=30)
    student = pruned_student(teacher.state_dict(), teacher.cfg, student_cfg, pairs)
    (want, mask), (got, _) = logits(teacher, pairs), logits(student, pairs)
    assert (got - want)[mask].abs().max() < 1e-5  # bound tested: 1e-5 on every real position


def test_a_silent_head_and_a_silent_channel_rank_last_and_are_dropped(teacher):
    params = dict(teacher.named_parameters())
    with torch.no_grad():  # head 2 of decoder layer 0's cross-attention outputs zero
        params["decoder.0.cross_attn.v.weight"][8:12] = 0
        params["decoder.0.cross_attn.v.bias"][8:12] = 0
        for name, param in params.items():  # decoder channel 5 is zero after every LayerNorm
            if name.startswith(("decoder.", "dec_norm")) and "norm." in name:
                param[5] = 0
    pairs = calibration()
    scores = importance(teacher, pairs)
    assert scores.heads["decoder.0.cross_attn"].argmin() == 2
    assert scores.heads["decoder.0.cross_attn"][2] == 0
    assert scores.channels["dec"].argmin() == 5 and scores.channels["dec"][5] == 0
    student_cfg = replace(TEACHER, dec_dim=12, dec_heads=3)
    plan = prune_plan(scores, TEACHER, student_cfg)
    assert 5 not in plan.indices["dec_model"] and len(plan.indices["dec_model"]) == 12
    assert not set(range(8, 12)) & set(plan.units["decoder.0.cross_attn"])
    student = pruned_student(teacher.state_dict(), teacher.cfg, student_cfg, pairs)
    assert torch.isfinite(logits(student, pairs)[0]).all()


def test_the_teachers_own_shape_is_the_teacher(teacher):
    student = pruned_student(teacher.state_dict(), teacher.cfg, TEACHER, calibration())
    for name, value in teacher.state_dict().items():
        assert torch.equal(student.state_dict()[name], value), name


def test_importance_does_not_depend_on_batching_or_padding(teacher):
    pairs = calibration(13)
    alone, batched = importance(teacher, pairs, batch_size=1), importance(teacher, pairs, 5)
    for field in ("channels", "heads", "neurons", "layers"):
        for key, value in getattr(alone, field).items():
            got = getattr(batched, field)[key]
            assert torch.allclose(got, value, rtol=1e-5, atol=1e-6), (field, key)


def test_kept_units_keep_their_order_and_whole_heads():
    assert top(torch.tensor([0.1, 0.9, 0.5, 0.9, 0.0]), 3) == [1, 2, 3]
    torch.manual_seed(1)
    model = Transformer(TEACHER)
    scores = importance(model, calibration())
    plan = prune_plan(scores, TEACHER, replace(TEACHER, dec_layers=1, dec_dim=8, dec_heads=2,
                                               dec_ffn=8))
    assert len(plan.layers["decoder"]) == 1 and plan.layers["encoder"] == [0, 1]
    rows = plan.units[f"decoder.{plan.layers['decoder'][0]}.self_attn"]
    assert len(rows) == 8 and all(rows[i + 1] == rows[i] + 1 for i in (0, 1, 2, 4, 5, 6))
    assert rows == sorted(rows) and rows[0] % 4 == 0 and rows[4] % 4 == 0


@pytest.mark.parametrize("change, message", [
    ({"dec_dim": 10, "dec_heads": 2}, "whole teacher heads: dec_dim must be a multiple of the "
                                      "teacher's head width 4"),
    ({"enc_ffn": 64}, "no larger than the teacher: enc_ffn 64 > 32"),
    ({"dec_layers": 4}, "dec_layers 4 > 3"),
])
def test_shapes_pruning_cannot_make_are_refused(teacher, change, message):
    with pytest.raises(ValueError, match=message):
        pruned_student(teacher.state_dict(), teacher.cfg, replace(TEACHER, **change), calibration())


def test_train_model_prunes_on_a_seeded_calibration_sample_then_distils(teacher, tmp_path):
    from conftest import settings
    from wd.model.checkpoint import load_model, save_model
    from wd.pipeline import calibration_sample, train_model
    save_model(teacher, tmp_path / "teacher.pt", {})
    pairs = calibration(40)
    assert calibration_sample(pairs, 8, seed=3) == calibration_sample(pairs, 8, seed=3)
    assert calibration_sample(pairs, 8, seed=3) != calibration_sample(pairs, 8, seed=4)
    assert len(calibration_sample(pairs, 100, seed=3)) == 40
    student_cfg = replace(TEACHER, dec_layers=2, enc_ffn=30, dec_ffn=30)
    run = dict(model_cfg=student_cfg, init="prune", train_pairs=pairs, valid_pairs=pairs[:4],
               settings=settings(loss="word_kd", steps=2, valid_every=2, save_every=2),
               out=tmp_path / "student.pt", curve_out=tmp_path / "log.csv",
               device=torch.device("cpu"), init_from=tmp_path / "teacher.pt", teacher=teacher)
    with pytest.raises(ValueError, match="prune scores the teacher on calibration pairs"):
        train_model(work_dir=tmp_path / "none", **run)
    meta = train_model(work_dir=tmp_path / "work", calibration=16, **run)
    assert meta["init"] == "prune" and meta["train_steps"] == 2
    assert load_model(tmp_path / "student.pt")[0].cfg == student_cfg


def test_narrower_student_heads_read_whole_teacher_heads_as_cut_off_does():
    torch.manual_seed(2)
    model = Transformer(TEACHER)
    plan = prune_plan(importance(model, calibration()), TEACHER,
                      replace(TEACHER, dec_dim=8, dec_heads=4))  # 2 teacher heads of 4, read as 4
    for layer in range(3):
        rows = plan.units[f"decoder.{layer}.self_attn"]
        assert len(rows) == 8 and rows[0] % 4 == 0 and rows[4] % 4 == 0
        assert rows == [rows[0] + j for j in range(4)] + [rows[4] + j for j in range(4)]
