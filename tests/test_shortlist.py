"""The lexical shortlist (vmap): co-occurrence counts equal a brute-force count, candidates are
ranked by Dice, the file is CTranslate2's format, and coverage is what the map keeps."""
import random
from collections import Counter

import numpy as np
import pytest

from wd.data import shortlist as sl
from wd.data.shortlist import Shortlist, build_shortlist, cooccurrences, coverage

END = np.iinfo(np.uint16).max


def write_side(path, sentences):
    ids = [t for sentence in sentences for t in [*sentence, END]]
    np.save(path, np.array(ids, dtype=np.uint16))
    return path


def corpus(tmp_path, pairs, name="c"):
    return [write_side(tmp_path / f"{name}.src.npy", [s for s, _ in pairs]),
            write_side(tmp_path / f"{name}.tgt.npy", [t for _, t in pairs])]


def random_pairs(n, seed):
    rng = random.Random(seed)
    return [([rng.randrange(4, 30) for _ in range(rng.randrange(0, 7))],
             [rng.randrange(4, 30) for _ in range(rng.randrange(0, 7))]) for _ in range(n)]


@pytest.mark.parametrize("chunk", [3, 1000])
def test_counts_equal_a_brute_force_count(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(sl, "CHUNK", chunk)
    first, second = random_pairs(40, 1), random_pairs(25, 2)
    files = corpus(tmp_path, first, "a") + corpus(tmp_path, second, "b")
    src_count, tgt_count, codes, counts = cooccurrences(files, 30)
    pairs = Counter()
    sources, targets = Counter(), Counter()
    for src, tgt in first + second:
        sources.update(set(src))
        targets.update(set(tgt))
        pairs.update((s, t) for s in set(src) for t in set(tgt))
    assert {(c // 30, c % 30): n for c, n in zip(codes.tolist(), counts.tolist())} == pairs
    assert {i: n for i, n in enumerate(src_count.tolist()) if n} == sources
    assert {i: n for i, n in enumerate(tgt_count.tolist()) if n} == targets


def test_candidates_are_ranked_by_dice_and_frequent_pieces_always_allowed(tmp_path):
    # 5 translates as 10 (always together); 6 as 11 most often, once beside 12; 12 is everywhere.
    pairs = [([5], [10, 12]), ([5, 6], [10, 11, 12]), ([6], [11, 12]), ([6], [11, 12]),
             ([7], [12]), ([7], [12, 13])]
    shortlist = build_shortlist(corpus(tmp_path, pairs), 20, top_k=1, frequent=1, skip=[0, 2])
    assert shortlist.common == [12]
    assert shortlist.table[5] == [10] and shortlist.table[6] == [11]
    # Dice prefers the rare 13 (2*1 / (2+1)) to 12 (2*2 / (2+6)), which is always allowed anyway.
    assert shortlist.table[7] == [13]
    assert shortlist.allowed([5, 6]) == {10, 11, 12}


def test_skipped_ids_are_never_candidates(tmp_path):
    pairs = [([5], [2, 10]), ([5], [2, 10])]
    shortlist = build_shortlist(corpus(tmp_path, pairs), 20, top_k=5, frequent=5, skip=[2])
    assert 2 not in shortlist.allowed([5]) and 10 in shortlist.allowed([5])


def test_the_file_is_ctranslate2s_format():
    lines = Shortlist([12, 13], {5: [10], 6: [11, 10]}).lines([f"w{i}" for i in range(20)])
    assert lines == ["\tw12 w13", "w5\tw10", "w6\tw11 w10"]


def test_coverage_counts_the_reference_pieces_the_map_allows():
    shortlist = Shortlist([1], {5: [10]})
    result = coverage(shortlist, [([5], [10, 1]), ([6], [10, 1])])
    assert result == {"piece_coverage": 0.75, "sentence_coverage": 0.5, "mean_allowed": 1.5}


def test_a_written_map_reads_back(tmp_path):
    vocabulary = [f"w{i}" for i in range(20)]
    shortlist = Shortlist([12, 13], {5: [10], 6: [11, 10]})
    sl.write_vmap(shortlist, vocabulary, tmp_path / "vmap.txt")
    assert sl.read_vmap(tmp_path / "vmap.txt", vocabulary) == shortlist
    (tmp_path / "bad.txt").write_text("\tw12\nw5\tw99\n")
    with pytest.raises(sl.InputError, match=r"bad.txt:2: 'w99' is not in the model's vocab"):
        sl.read_vmap(tmp_path / "bad.txt", vocabulary)


GOOD_MAP = "\tw12 w13\nw5\tw10\nw6\tw11 w10\n"


@pytest.mark.parametrize(("text", "message"), [
    ("", "{p}: empty: a vocabulary map starts with a line of the pieces always allowed, then "
         "has a line for each source piece"),
    (GOOD_MAP[:-3], "{p}: its last line has no line end: the file was cut short"),
    ("\tw12\nw5 w10\n", "{p}:2: not 'piece<TAB>candidates' (one tab a line)"),
    ("\tw12\nw5\tw10\tw11\n", "{p}:2: not 'piece<TAB>candidates' (one tab a line)"),
    ("w5\tw10\n", "{p}:1: the first line must hold the pieces always allowed (an empty key)"),
    ("\tw12\nw5\tw10\n\tw13\n", "{p}:3: a line with an empty key after the first"),
    ("\tw12\nw5\t\n", "{p}:2: no candidates for 'w5'"),
    ("\tw12\nw5\tw10\nw5\tw11\n", "{p}:3: 'w5' has a line already"),
    ("\tw12 w13\n", "{p}: no source piece's line after the first"),
])
def test_a_damaged_map_is_refused_naming_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "vmap.txt"
    path.write_text(text)
    with pytest.raises(sl.InputError) as err:
        sl.read_vmap(path, [f"w{i}" for i in range(20)])
    assert str(err.value) == message.format(p=path)


def test_a_map_without_frequent_pieces_reads(tmp_path):
    (tmp_path / "vmap.txt").write_text("\t\nw5\tw10\n")  # deploy.vmap_frequent: 0
    assert sl.read_vmap(tmp_path / "vmap.txt", [f"w{i}" for i in range(20)]) == Shortlist(
        [], {5: [10]})


def _sources(toy_teacher, n=40):
    from wd.data.batching import pieces_to_ids
    from wd.data.bpe import load_bpe
    return pieces_to_ids(load_bpe(toy_teacher.bpe),
                         toy_teacher.source.read_text().splitlines()[:n])


def test_a_map_keeps_every_reference_piece_the_training_data_paired_with_its_source(toy_teacher):
    vocab = toy_teacher.cfg.vocab_size
    shortlist = build_shortlist(toy_teacher.train, vocab, top_k=vocab, frequent=0)
    _, _, codes, _ = cooccurrences(toy_teacher.train, vocab)
    seen = set(codes.tolist())
    checked = 0
    for src, tgt in toy_teacher.valid:  # held out
        allowed = shortlist.allowed(src)
        for t in tgt:
            if any(s * vocab + t in seen for s in src):
                assert t in allowed
                checked += 1
    assert checked > 100


@pytest.mark.process
def test_the_map_restricts_ctranslate2_and_our_decoder_alike(toy_teacher, tmp_path):
    import torch

    from wd.decode.ct2 import Ct2Translator
    from wd.decode.search import length_sorted_batches, shortlist_mask, translate
    from wd.settings import SearchSettings
    from wd.vocab import BOS_ID, PAD_ID
    model, cpu = toy_teacher.model, torch.device("cpu")
    sources = _sources(toy_teacher)
    shortlist = build_shortlist(toy_teacher.train, model.cfg.vocab_size, top_k=2, frequent=8,
                                skip=[PAD_ID, BOS_ID])
    search = SearchSettings(beam=3, batch_size=8)
    free = translate(model, sources, search, cpu)
    ours = translate(model, sources, search, cpu, shortlist=shortlist)
    theirs = Ct2Translator(model, tmp_path / "ct2", "float32", cpu, 1, shortlist).translate(
        sources, search)
    unrestricted = Ct2Translator(model, tmp_path / "free", "float32", cpu, 1).translate(
        sources, search)
    for idx in length_sorted_batches(sources, search.batch_size):
        allowed = shortlist_mask(shortlist, [sources[i] for i in idx], model.cfg.vocab_size, cpu)
        assert all(allowed[t] for i in idx for t in ours[i] + theirs[i])
    assert ours != free  # the map changed some outputs
    same = sum(a == b for a, b in zip(ours, theirs))
    same_free = sum(a == b for a, b in zip(free, unrestricted))
    assert same >= same_free - 2, (same, same_free)


@pytest.mark.process
def test_a_package_with_a_map_translates_alike_through_wd_translate_and_ctranslate2(
        toy_teacher, tmp_path):
    import ctranslate2

    from conftest import CARD_ROW
    from wd.data.bpe import ids_to_text, load_bpe, source_ids
    from wd.decode.cli import main as wd_translate
    from wd.export.ct2 import main as export_ct2
    from wd.export.ct2 import vocabulary
    from wd.export.package import load_package, write_package
    from wd.settings import SearchSettings
    from wd.vocab import BOS_ID, PAD_ID
    vocab = vocabulary(toy_teacher.model, toy_teacher.bpe)
    shortlist = build_shortlist(toy_teacher.train, len(vocab), top_k=2, frequent=8,
                                skip=[PAD_ID, BOS_ID])
    sl.write_vmap(shortlist, vocab, tmp_path / "vmap.txt")
    search = SearchSettings(beam=3, batch_size=64, max_len_b=60)  # one length limit for all
    system = {"experiment": "toy", "student": "teacher", "method": "teacher", "seed": 1}
    package = tmp_path / "package"
    write_package(package, toy_teacher.path, toy_teacher.bpe, system, {"src": "en", "tgt": "ro"},
                  search, toy_teacher.path, CARD_ROW, vmap=tmp_path / "vmap.txt")
    assert load_package(package).vmap == package / "vmap.txt"
    raw = toy_teacher.source.with_name("train.src").read_text().splitlines()[:30]
    (tmp_path / "in.txt").write_text("\n".join(raw) + "\n")
    for flag, out in [([], "ours.txt"), (["--no-vmap"], "free.txt")]:
        wd_translate(["--model", str(package), "--input", str(tmp_path / "in.txt"),
                      "--output", str(tmp_path / out), *flag])
    export_ct2([str(package), str(tmp_path / "ct2")])
    sp = load_bpe(toy_teacher.bpe)
    pieces = [[vocab[i] for i in ids] for ids in source_ids(sp, raw, "en")]
    translator = ctranslate2.Translator(str(tmp_path / "ct2"), device="cpu")
    results = translator.translate_batch(  # CTranslate2's limit leaves out the EOS step
        pieces, beam_size=3, max_decoding_length=59, use_vmap=True,
        suppress_sequences=[["<s>"], ["<blank>"]])
    ids = {piece: i for i, piece in enumerate(vocab)}
    theirs = ids_to_text(sp, [[ids[p] for p in r.hypotheses[0]] for r in results], "ro")
    ours = (tmp_path / "ours.txt").read_text().splitlines()
    assert ours != (tmp_path / "free.txt").read_text().splitlines()  # the map is used
    same = sum(a == b for a, b in zip(ours, theirs))
    assert same >= 0.9 * len(raw), [(a, b) for a, b in zip(ours, theirs) if a != b][:3]


def test_the_aligner_benchmark_ranks_linked_pieces_by_their_probability():
    import importlib.util
    from pathlib import Path
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "vmap_coverage.py"
    spec = importlib.util.spec_from_file_location("vmap_coverage", script)
    vmap_coverage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vmap_coverage)
    # 5 is linked to 10 three times and to 12 once; 6 to 11 twice; 12 is the most frequent.
    vocab = 20
    codes = np.array([5 * vocab + 10, 5 * vocab + 12, 6 * vocab + 11])
    tgt_count = np.bincount([10, 11, 12, 12, 12], minlength=vocab)
    shortlist = vmap_coverage.aligned_shortlist(codes, np.array([3, 1, 2]), tgt_count, vocab,
                                               top_k=1, frequent=1)
    assert shortlist.table == {5: [10], 6: [11]} and shortlist.common == [12]
