"""Early stopping and best-checkpoint selection: the step patience stops at and the checkpoints
the final model is averaged from, on scripted validation curves; validation BLEU as sacreBLEU
scores the same hypotheses; a run killed or stopped by SIGTERM inside a patience window resumes
to the uninterrupted run's model, logs and stop."""
import os
import signal

import pytest
import sacrebleu
import torch

from conftest import peaked, settings, sources, tiny, toy_pairs
from wd.data.bpe import ids_to_text, load_bpe
from wd.decode.search import translate
from wd.evaluate.validation import ValidationSet, subset
from wd.io import write_lines
from wd.model.transformer import Transformer
from wd.settings import SearchSettings, TrainSettings
from wd.stopping import Stopped
from wd.train import trainer as train
from wd.train.state import TrainState, checkpoint_step, checkpoints
from wd.train.trainer import Trainer

CPU = torch.device("cpu")


def test_patience_counts_validations_without_a_strictly_better_score():
    state, stops = TrainState(), []
    for step, score in zip(range(1, 9), [1.0, 2.0, 2.0, 1.5, 3.0, 2.9, 2.8, 2.7]):
        state.step = step
        state.record_validation(score, bleu=score * 10)
        stops.append(state.out_of_patience(3))
    assert (state.best_step, state.best_score, state.best_bleu) == (5, 3.0, 30.0)
    assert stops == [False, False, False, False, False, False, False, True]
    assert not state.out_of_patience(0)  # patience 0 never stops


def test_min_delta_spends_patience_on_small_gains_but_keeps_the_best():
    state, stops = TrainState(), []
    for step, score in enumerate([30.0, 31.0, 31.1, 31.2, 31.25, 31.7, 31.8], 1):
        state.step = step
        state.record_validation(score, bleu=score, min_delta=0.3)
        stops.append(state.out_of_patience(3))
    # gains: 30.0, 31.0 (+1.0), 31.7 (+0.7 over 31.0); 31.1-31.25 each a new best, not a gain
    assert stops == [False, False, False, False, True, False, False]
    assert (state.best_step, state.best_score, state.gain_score) == (7, 31.8, 31.7)


def test_a_checkpoint_from_before_min_delta_resumes_counting_from_its_best():
    saved = {k: v for k, v in vars(TrainState(step=8, best_step=6, best_score=2.0,
                                              bad_validations=1)).items() if k != "gain_score"}
    state = TrainState.from_checkpoint(saved)
    assert state.gain_score == 2.0
    state.record_validation(1.9, bleu=None)
    assert state.bad_validations == 2


def test_patience_needs_a_checkpoint_at_every_validation():
    with pytest.raises(ValueError, match="valid_every .3. must be a multiple of save_every .2."):
        settings(patience=2, save_every=2, valid_every=3)
    with pytest.raises(ValueError, match="best_metric must be one of loss, bleu, chrf"):
        settings(best_metric="bleu4")
    assert settings(best_metric="chrf").translates and not settings().translates


# Validation loss per step (validations every 2 updates): best at step 10, then three worse.
CURVE = {2: 5.0, 4: 4.0, 6: 3.0, 8: 3.5, 10: 2.9, 12: 3.0, 14: 2.9, 16: 3.2, 18: 1.0, 20: 1.0}


def scripted(monkeypatch, trainers: list) -> None:
    """Validation losses from CURVE at the step of the newest trainer in ``trainers``."""
    def validate(model, pairs, s, device):
        loss = CURVE[trainers[-1].state.step]
        return loss, loss
    monkeypatch.setattr(train, "validate", validate)


def scripted_run(work, monkeypatch, trainers=None, **over) -> Trainer:
    trainers = [] if trainers is None else trainers
    scripted(monkeypatch, trainers)
    torch.manual_seed(0)
    pairs = toy_pairs(60)
    s = settings(**{"steps": 20, "save_every": 2, "valid_every": 2, "average_last": 2,
                    "patience": 3, **over})
    trainers.append(Trainer(Transformer(tiny(dropout=0.1)), pairs, pairs[:5], s, work, CPU))
    trainers[-1].result = trainers[-1].run()
    return trainers[-1]


def test_patience_stops_at_the_third_worse_validation_and_averages_up_to_the_best(
        tmp_path, monkeypatch):
    trainer = scripted_run(tmp_path, monkeypatch)
    assert trainer.result | {"seconds": 0} == {
        "steps": 16, "seconds": 0, "best_step": 10, "stopped_by": "patience", "valid_bleu": None}
    steps = [checkpoint_step(p) for p in checkpoints(tmp_path)]
    assert steps == [8, 10, 14, 16]  # the window ending at the best, the last two
    a, b = (torch.load(tmp_path / f"checkpoint_{k:08d}.pt", weights_only=True)["model"]
            for k in (8, 10))
    final = trainer.final_state()
    for name in ("decoder.0.ffn.fc2.weight", "encoder.0.self_attn.out.weight"):
        torch.testing.assert_close(final[name], ((a[name].double() + b[name].double()) / 2)
                                   .float())


def test_after_the_final_model_only_its_window_and_the_newest_are_kept(tmp_path, monkeypatch):
    trainer = scripted_run(tmp_path, monkeypatch)
    final = trainer.final_state()
    trainer.store.shrink(trainer.final_step)
    assert [checkpoint_step(p) for p in checkpoints(tmp_path)] == [8, 10, 16]
    assert ["optimizer" in torch.load(p, weights_only=True) for p in checkpoints(tmp_path)] == [
        False, False, True]
    for name, value in trainer.final_state().items():  # the same average from the slim ones
        assert torch.equal(value, final[name]), name


def test_without_patience_the_best_is_tracked_but_the_last_is_kept(tmp_path, monkeypatch):
    trainer = scripted_run(tmp_path, monkeypatch, patience=0)
    assert (trainer.result["steps"], trainer.result["best_step"],
            trainer.result["stopped_by"]) == (20, 20, "steps")
    assert trainer.state.best_step == 18  # the first of the two 1.0s
    assert [checkpoint_step(p) for p in checkpoints(tmp_path)] == [18, 20]


def test_the_step_cap_ends_a_run_whose_patience_lasts(tmp_path, monkeypatch):
    trainer = scripted_run(tmp_path, monkeypatch, patience=5)
    assert trainer.result["stopped_by"] == "steps" and trainer.result["steps"] == 20
    assert trainer.result["best_step"] == 18


class Crash(Exception):
    """Stands for kill -9 at a pause point."""


def interrupt_at(monkeypatch, step: int, how: str) -> None:
    """Kill (an exception that skips the rest of the job) or SIGTERM the run after ``step``."""
    real = train.faults.pause_point

    def pause_point(point, **details):
        if details.get("step") == step:
            if how == "kill":
                raise Crash
            os.kill(os.getpid(), signal.SIGTERM)
        real(point, **details)
    monkeypatch.setattr(train.faults, "pause_point", pause_point)


def log_without_timing(work) -> list[list[str]]:
    rows = [line.split(",") for line in (work / "train_log.csv").read_text().splitlines()]
    return [row[:6] + row[8:11] for row in rows]


# Inside the patience window (after the best at 10: 12 and 14 were worse), before a scheduled
# checkpoint (13: its own stop checkpoint, or for a kill the one of 12), and at the validation
# that spends the patience (16).
@pytest.mark.parametrize(("how", "step"), [("kill", 13), ("sigterm", 13), ("kill", 16),
                                           ("sigterm", 15)])
def test_interrupted_inside_a_patience_window_resumes_to_the_same_stop(
        tmp_path, monkeypatch, how, step):
    straight = scripted_run(tmp_path / "straight", monkeypatch)
    trainers: list = []
    with monkeypatch.context() as patch:
        interrupt_at(patch, step, how)
        with pytest.raises(Crash if how == "kill" else Stopped):
            scripted_run(tmp_path / "resumed", patch, trainers)
    resumed = scripted_run(tmp_path / "resumed", monkeypatch, trainers)
    assert resumed.result | {"seconds": 0} == straight.result | {"seconds": 0}
    assert resumed.state.bad_validations == straight.state.bad_validations == 3
    for name, tensor in straight.final_state().items():
        assert torch.equal(tensor, resumed.final_state()[name]), name
    assert log_without_timing(tmp_path / "resumed") == log_without_timing(tmp_path / "straight")


@pytest.fixture
def validation_set(toy_bpe, tmp_path):
    sp = load_bpe(toy_bpe)
    refs = ["the cat sat on the mat", "a dog ran in the park", "birds sing", "the park"] * 5
    write_lines(tmp_path / "valid.tgt", refs)
    srcs = sources(len(refs))
    return ValidationSet.load(srcs, tmp_path / "valid.tgt", toy_bpe, "en",
                              SearchSettings(beam=2, max_len_b=12), sentences=0), sp


def test_validation_bleu_is_sacrebleu_of_the_same_hypotheses(validation_set):
    valid, sp = validation_set
    model = peaked(vocab_size=sp.get_piece_size())
    scores = valid.scores(model, CPU)
    text = ids_to_text(sp, translate(model, valid.sources, valid.search, CPU), "en")
    assert scores["bleu"] == round(sacrebleu.corpus_bleu(text, [valid.references]).score, 2)
    assert scores["chrf"] == round(sacrebleu.corpus_chrf(text, [valid.references]).score, 2)
    assert any(h for h in text)  # the model does write something to score


def test_validation_subset_is_fixed_and_a_line_count_mismatch_is_named(validation_set, tmp_path,
                                                                       toy_bpe):
    assert subset(10, 4) == subset(10, 4) == sorted(subset(10, 4)) and len(subset(10, 4)) == 4
    assert subset(10, 0) == subset(10, 20) == list(range(10))
    with pytest.raises(ValueError, match=r"valid.tgt has 20 lines for 3 validation sources"):
        ValidationSet.load(sources(3), tmp_path / "valid.tgt", toy_bpe, "en", SearchSettings())


def test_validation_translation_leaves_the_rng_alone(validation_set):
    valid, sp = validation_set
    model = peaked(vocab_size=sp.get_piece_size())
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    valid.scores(model, CPU)
    assert torch.equal(torch.rand(3), expected)


def test_bleu_as_best_metric_logs_bleu_and_keeps_the_best_bleu_step(validation_set, tmp_path):
    valid, sp = validation_set
    torch.manual_seed(0)
    pairs = [(s, s) for s in sources(40)]
    s = TrainSettings(steps=12, max_tokens=80, lr=3e-3, warmup=2, save_every=2, valid_every=2,
                      patience=50, best_metric="bleu", valid_beam=1, seed=1)
    model = Transformer(tiny(vocab_size=sp.get_piece_size()))
    trainer = Trainer(model, pairs, pairs[:10], s, tmp_path, CPU, validation=valid)
    result = trainer.run()
    rows = [line.split(",") for line in (tmp_path / "train_log.csv").read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    bleu = [float(r[header.index("valid_bleu")]) for r in rows]
    assert len(bleu) == 6 and all(r[header.index("valid_chrf")] for r in rows)
    best = max(range(6), key=lambda i: (bleu[i], -i))  # the first of equal bests
    assert result["best_step"] == 2 * (best + 1) and result["valid_bleu"] == bleu[best]
    with pytest.raises(ValueError, match="needs the validation references"):
        Trainer(model, pairs, pairs[:10], s, tmp_path / "x", CPU)
