"""Evaluation: each system scored on every test set in its own job; speed measured fairly in
one job, every system timed several times, the systems interleaved."""
import json

import pytest
import torch

from conftest import tiny
from wd.data.batching import pieces_to_ids
from wd.data.bpe import encode_file, ids_to_text, load_bpe
from wd.data.shortlist import Shortlist
from wd.decode.ct2 import Ct2Translator
from wd.evaluate import evaluate
from wd.io import read_lines, write_lines
from wd.model.checkpoint import load_model, save_model
from wd.model.transformer import Transformer
from wd.settings import SearchSettings


def test_timed_passes_interleave_the_systems_and_report_every_time():
    calls = []

    def runner(name):
        def run(sources):
            calls.append((name, len(sources)))
            return [[5]] * len(sources)
        return run

    runners = {key: runner(key) for key in ("teacher", "kd", ("wd", "ct2"))}
    hyps, seconds = evaluate.interleaved_timings(runners, [[4, 5]] * 10, 2, torch.device("cpu"),
                                                 passes=3)
    warm_up, timed = calls[:3], [name for name, n in calls[3:]]
    assert warm_up == [("teacher", 2), ("kd", 2), (("wd", "ct2"), 2)]  # one batch each, untimed
    T, K, W = "teacher", "kd", ("wd", "ct2")
    assert timed == [T, K, W, K, W, T, W, T, K]  # each pass starts one system later
    assert {name: len(times) for name, times in seconds.items()} == {T: 3, K: 3, W: 3}
    assert hyps[W] == [[5]] * 10


@pytest.fixture
def tested(tmp_path, toy_bpe):
    """Two tiny random systems and two test sets (BPE sources and references)."""
    vocab = load_bpe(toy_bpe).get_piece_size()
    models = {}
    for seed in (0, 1):
        torch.manual_seed(seed)
        save_model(Transformer(tiny(vocab_size=vocab)).eval(), tmp_path / f"m{seed}.pt", {})
        models[f"s/m/{seed}"] = tmp_path / f"m{seed}.pt"
    testsets = {}
    for name, lines in {"first": SENTENCES, "second": SENTENCES[:3]}.items():
        write_lines(tmp_path / f"{name}.txt", lines)
        encode_file(load_bpe(toy_bpe), tmp_path / f"{name}.txt", tmp_path / f"{name}.src")
        testsets[name] = tmp_path / f"{name}.src", [tmp_path / f"{name}.txt"]
    return models, testsets


SENTENCES = ["the cat sat on the mat", "a dog ran", "birds sing", "the park", "a cat", "the dog"]
SEARCH = SearchSettings(beam=2, batch_size=4, max_len_b=12)


def test_a_system_is_scored_on_every_test_set_in_its_own_job(tested, toy_bpe, tmp_path):
    models, testsets = tested
    outputs = [evaluate.TestSet(name, src, refs, tmp_path / "eval" / f"{name}.json")
               for name, (src, refs) in testsets.items()]
    shortlist = Shortlist([4, 5], {})
    evaluate.evaluate_system(models["s/m/0"], toy_bpe, outputs, "en", SEARCH,
                             torch.device("cpu"), ct2_variants=["ct2", "ct2_int8_vmap"],
                             shortlist=shortlist)
    first, second = (json.loads(t.output.read_text()) for t in outputs)
    assert first["sentences"] == 6 and second["sentences"] == 3
    assert len(outputs[1].output.with_suffix(".hyp").read_text().splitlines()) == 3
    for result in first, second:  # every test set, every variant
        assert 0 <= result["ct2_same_output"] <= 1 and "ct2_chrf" in result
        assert "ct2_int8_vmap_bleu" in result and "ct2_int8_bleu" not in result
    assert "sents_per_sec" not in first  # speeds: time_systems
    again = evaluate.TestSet("first", *testsets["first"], tmp_path / "again.json")
    evaluate.evaluate_system(models["s/m/0"], toy_bpe, [again], "en", SEARCH,
                             torch.device("cpu"))
    assert again.output.with_suffix(".hyp").read_text() == \
        outputs[0].output.with_suffix(".hyp").read_text()  # the same hypotheses, job after job


def test_one_job_times_every_system_on_a_fixed_sample(tested, toy_bpe):
    models, testsets = tested
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    speeds = evaluate.time_systems(models, toy_bpe, testsets["first"][0], SEARCH,
                                   torch.device("cpu"), timed_passes=2, timed_sentences=4,
                                   ct2_variants=["ct2", "ct2_int8", "ct2_int8_vmap"],
                                   shortlist=Shortlist([4, 5], {}))
    assert set(speeds) == set(models)
    # the threads the timings ran on, kept after CTranslate2's one-thread runs
    assert torch.get_num_threads() == 2 and {s["threads"] for s in speeds.values()} == {2}
    torch.set_num_threads(threads)
    for speed in speeds.values():
        assert speed["timed_sentences"] == 4 and len(speed["decode_seconds_passes"]) == 2
        assert speed["sents_per_sec"] > 0 and speed["ct2_sents_per_sec"] > 0
        for variant in ("ct2", "ct2_int8", "ct2_int8_vmap"):
            assert speed[f"{variant}_words_per_sec_1t"] > 0
            assert speed[f"{variant}_latency_ms_1t"] > 0
        # int8 weights take less room than float32 (this tiny model's vocabulary and config
        # files weigh as much as its weights); the map adds a few bytes
        assert speed["ct2_int8_mb"] < speed["ct2_mb"]
        assert speed["ct2_int8_mb"] <= speed["ct2_int8_vmap_mb"] < 1.1 * speed["ct2_int8_mb"]
    plain = evaluate.time_systems(models, toy_bpe, testsets["first"][0], SEARCH,
                                  torch.device("cpu"), timed_passes=1, timed_sentences=4)
    assert not [key for speed in plain.values() for key in speed if key.startswith("ct2")]
    sample = evaluate.timed_sample(1000, 4)
    assert sample == evaluate.timed_sample(1000, 4) == sorted(sample) and len(set(sample)) == 4
    assert evaluate.timed_sample(6, 0) == evaluate.timed_sample(6, 9) == list(range(6))


def test_the_evaluated_hypotheses_may_come_from_ctranslate2(tested, toy_bpe, tmp_path):
    models, testsets = tested
    out = evaluate.TestSet("first", *testsets["first"], tmp_path / "ct2.json")
    evaluate.evaluate_system(models["s/m/0"], toy_bpe, [out], "en", SEARCH, torch.device("cpu"),
                             engine="ctranslate2")
    model, _ = load_model(models["s/m/0"])
    sources = pieces_to_ids(load_bpe(toy_bpe), read_lines(testsets["first"][0]))
    theirs = Ct2Translator(model, tmp_path / "m", "float32", torch.device("cpu"), 1).translate(
        sources, SEARCH)
    assert json.loads(out.output.read_text())["eval_engine"] == "ctranslate2"
    assert out.output.with_suffix(".hyp").read_text().splitlines() == ids_to_text(
        load_bpe(toy_bpe), theirs, "en")
