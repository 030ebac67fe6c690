"""Tests for the synthetic toy translation corpus (wd.data.toy)."""

from __future__ import annotations

import pathlib
import random
import re

import pytest

from wd.data import toy

SMALL = {"train": 300, "valid": 40, "test": 40}


class ModeRandom(random.Random):
    """Always takes the dominant option of every target-side random choice."""

    def random(self) -> float:
        return 0.999999


def read_lines(path: pathlib.Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, dict[str, list[str]]]:
    out = tmp_path_factory.mktemp("toy")
    toy.generate_toy_corpus(out, 1, {"train": 20000, "valid": 500, "test": 500})
    return {split: {side: read_lines(out / f"{split}.{side}") for side in ("src", "tgt")}
            for split in ("train", "valid", "test")}


def test_same_seed_gives_identical_bytes(tmp_path):
    toy.generate_toy_corpus(tmp_path / "a", 7, SMALL)
    toy.generate_toy_corpus(tmp_path / "b", 7, SMALL)
    for name in ("train.src", "train.tgt", "valid.src", "valid.tgt", "test.src", "test.tgt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_different_seed_gives_different_corpus(tmp_path):
    toy.generate_toy_corpus(tmp_path / "a", 7, SMALL)
    toy.generate_toy_corpus(tmp_path / "b", 8, SMALL)
    for name in ("train.src", "train.tgt", "test.src"):
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "b" / name).read_bytes()


def test_line_counts_files_and_atomic_writes(tmp_path):
    out = tmp_path / "nested" / "toy"
    counts = toy.generate_toy_corpus(out, 3, SMALL)
    assert counts == SMALL
    for split, size in SMALL.items():
        for side in ("src", "tgt"):
            data = (out / f"{split}.{side}").read_bytes()
            assert data.endswith(b"\n") and b"\r" not in data
            lines = read_lines(out / f"{split}.{side}")
            assert len(lines) == size and all(lines)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{split}.{side}" for split in SMALL for side in ("src", "tgt"))


def test_held_out_splits_do_not_change_with_train_size(tmp_path):
    toy.generate_toy_corpus(tmp_path / "a", 5, {"train": 100, "valid": 30, "test": 30})
    toy.generate_toy_corpus(tmp_path / "b", 5, {"train": 400, "valid": 30, "test": 30})
    for name in ("valid.src", "valid.tgt", "test.src", "test.tgt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize("size", [0, -3])
def test_non_positive_size_raises(tmp_path, size):
    with pytest.raises(ValueError, match="positive"):
        toy.generate_toy_corpus(tmp_path / "out", 1, {"train": 10, "valid": size})
    assert not (tmp_path / "out").exists()


def test_held_out_sources_not_in_train(corpus):
    train = set(corpus["train"]["src"])
    valid, test = set(corpus["valid"]["src"]), set(corpus["test"]["src"])
    assert not valid & train
    assert not test & train
    assert not valid & test


def test_sentence_lengths(corpus):
    lengths = [len(line.split()) for line in corpus["train"]["src"]]
    assert min(lengths) >= 3
    assert max(lengths) <= 45
    assert sum(n >= 25 for n in lengths) > 0.02 * len(lengths)
    assert 0.4 < sum(8 <= n <= 20 for n in lengths) / len(lengths)


def test_lexicon_has_its_configured_size(corpus):
    words = {w.strip(",.?").lower() for line in corpus["train"]["src"] for w in line.split()}
    assert len(words) >= 200  # lemmas with their inflected forms
    assert toy.build_lexicon(1).size() == sum(toy.LEXICON_SIZES.values()) + 44 == 182


def test_scripts_and_punctuation(corpus):
    src, tgt = corpus["train"]["src"], corpus["train"]["tgt"]
    assert all(line.isascii() for line in src)
    assert any(re.search("[ăâîșț]", line) for line in tgt)
    for line in src + tgt:
        assert line[0].isupper() and line[-1] in ".?"
    assert any(", dar " in line for line in tgt)
    assert any(line.endswith("?") for line in tgt)
    assert src != tgt


def test_target_varies_for_the_same_source():
    lex = toy.build_lexicon(1)
    rng = random.Random(0)
    sentences = [toy.sample_sentence(lex, rng) for _ in range(50)]
    variants = [{tuple(toy.realise_target(s, random.Random(k))) for k in range(20)}
                for s in sentences]
    assert sum(len(v) > 1 for v in variants) >= 25
    # Moderate randomness: the dominant realisation usually turns up among 20 draws.
    modes = [tuple(toy.realise_target(s, ModeRandom())) for s in sentences]
    assert sum(m in v for m, v in zip(modes, variants)) >= 25


def test_frequent_noun_has_two_target_stems():
    noun = toy.build_lexicon(1).inanimate.items[0]
    np_ = toy.NP(noun, plural=False, det="a")
    forms = {toy._tgt_np(np_, random.Random(k))[1] for k in range(40)}
    assert len(forms) == 2


def _lemma(pool: toy.Pool, predicate):
    return next(item for item in pool.items if predicate(item))


def test_verb_stem_depends_on_object_animacy():
    lex = toy.build_lexicon(2)
    verb = _lemma(lex.transitive, lambda v: v.animate_stem)
    person = toy.NP(_lemma(lex.animate, lambda n: True), False, "the")
    thing = toy.NP(_lemma(lex.inanimate, lambda n: True), False, "the")
    def verb_of(obj):
        clause = toy.Clause("he", verb, "present", obj=obj)
        return toy.realise_target(toy.Sentence((clause,), (), False), ModeRandom())[1]
    assert verb_of(person).startswith(verb.animate_stem)
    assert verb_of(thing).startswith(verb.stems[0])
    assert verb.animate_stem != verb.stems[0]


def test_enclitic_article_agreement_and_adjective_order():
    lex = toy.build_lexicon(3)
    fem = _lemma(lex.inanimate, lambda n: n.gender == "f" and not n.plural_stem)
    adj = lex.adjectives.items[1]
    np_ = toy.NP(fem, plural=True, det="the", adjs=(adj,))
    assert toy._src_np(np_) == ["the", adj.src, fem.src_plural]
    assert toy._tgt_np(np_, ModeRandom()) == [fem.stems[0] + "ele", adj.stems[0] + "e"]
    gen = toy.NP(fem, plural=False, det="the")
    head = toy.NP(_lemma(lex.animate, lambda n: n.gender == "m"), False, "the", gen=gen)
    assert toy._tgt_np(head, ModeRandom()) == [head.noun.stems[0] + "ul", fem.stems[0] + "ei"]


def test_relative_clause_is_verb_final():
    lex = toy.build_lexicon(4)
    verb = _lemma(lex.transitive, lambda v: not v.animate_stem and not v.participle)
    obj = toy.NP(_lemma(lex.inanimate, lambda n: n.gender == "m"), False, "the")
    rel = toy.Rel(verb, "past", object_gap=False, other=obj, adv=None)
    head = toy.NP(_lemma(lex.animate, lambda n: True), True, "the", rel=rel)
    tgt = toy._tgt_np(head, ModeRandom())
    participle = verb.stems[0] + toy._PARTICIPLE_ENDINGS[verb.conj]
    assert tgt[1:] == ["care", obj.noun.stems[0] + "ul", "au", participle]
    assert toy._src_np(head)[1:] == [head.noun.src_plural, "that", toy._past(verb.src), "the",
                                     obj.noun.src]
