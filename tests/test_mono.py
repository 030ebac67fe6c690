"""Monolingual source text for the KD data (data.mono): what enters, what never does, how the
config names it, and the methods that read it."""
import gzip
import logging

import pytest

from conftest import with_change
from wd import methods
from wd.config import ConfigError, validate
from wd.data.clean import CleanSettings
from wd.data.corpora import registry_corpus
from wd.data.mono import REASONS, mono_files, prepare_mono
from wd.io import InputError, read_lines
from wd.plan import Plan

TRAIN = ["A dog runs on the grass.", "Two men play chess."]
VALID = ["A cat sleeps on a red sofa."]
TEST = ["Children swim in a lake.", "A woman reads a book."]


def write(path, lines, gz=False):
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_no_validation_or_test_source_and_no_training_source_ever_enters(tmp_path, caplog):
    mono = [
        "A bird sings in a tree.",         # kept
        "a cat  sleeps on a RED sofa.",    # the validation source, other case and spacing
        "Children swim in a lake.",        # a test source
        " A woman reads a book. ",         # a test source with spaces around
        "A dog runs on the grass.",        # a training source
        "A bird sings in a tree.",         # a repeat of a kept one
        "",                                # empty
        "word " * 300,                     # longer than data.clean.max_len
        "Bad \x07 bell.",                  # a control character
        "Two men play chess in a park.",   # kept: only near a training source
    ]
    paths = [write(tmp_path / "a.en", mono[:5]), write(tmp_path / "b.en.gz", mono[5:], gz=True)]
    train = write(tmp_path / "train.en", TRAIN)
    evaluation = [write(tmp_path / "valid.en", VALID), write(tmp_path / "test.en", TEST)]
    with caplog.at_level(logging.INFO, logger="wd.data.mono"):
        counts = prepare_mono(paths, tmp_path / "mono.src", "en", CleanSettings(), train,
                              evaluation)
    kept = read_lines(tmp_path / "mono.src")
    assert kept == ["A bird sings in a tree.", "Two men play chess in a park."]
    canon = lambda s: " ".join(s.casefold().split())  # noqa: E731
    assert not {canon(s) for s in kept} & {canon(s) for s in VALID + TEST + TRAIN}
    assert counts["dropped"] == {"not_utf8": 0, "control_chars": 1, "empty": 1, "too_long": 1,
                                 "in_train": 1, "in_eval": 3, "duplicate": 1}
    assert counts["kept_per_file"] == {str(paths[0]): 1, str(paths[1]): 1}
    assert set(counts["dropped"]) == set(REASONS)
    assert "10 sentences in, 2 kept; dropped" in caplog.text


def test_monolingual_text_that_cleaning_empties_is_an_error_naming_it(tmp_path):
    path = write(tmp_path / "m.en", TEST)
    with pytest.raises(InputError, match=f"data.mono: no sentence left of {path}"):
        prepare_mono([path], tmp_path / "mono.src", "en", CleanSettings(),
                     write(tmp_path / "t.en", TRAIN), [write(tmp_path / "x.en", TEST)])
    assert not (tmp_path / "mono.src").exists()


def test_data_mono_names_registry_sets_the_toy_set_and_local_files(tmp_path):
    local = write(tmp_path / "news.en", ["x"])
    data = {"source": "multi30k", "src_lang": "en", "tgt_lang": "de",
            "mono": ["task2", str(local)]}
    files = mono_files(data)
    assert files[:5] == [("download", f"multi30k_task2_train_{n}_en") for n in range(1, 6)]
    assert files[5] == ("local", str(local))
    corpus = registry_corpus("multi30k", "en", "de")
    assert all(corpus.file(i).url.endswith(f"task2/raw/train.{i[-4]}.en.gz")
               for _, i in files[:5])
    assert registry_corpus("multi30k", "de", "en").mono["task2"][0] == "multi30k_task2_train_1_de"
    assert registry_corpus("multi30k", "fr", "en").mono == {}  # task 2 has English and German
    toy = {"source": "toy", "toy": {"train": 5, "mono": 10}, "mono": ["toy"]}
    assert mono_files(toy) == [("toy", "mono")]


def test_a_mono_entry_that_is_neither_a_set_nor_a_file_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        validate(with_change("data.mono", ["task2"]))
    assert str(err.value) == ("config error at data.mono.0: file not found: task2 (data.source "
                              "toy has no monolingual set; anything else is a path)")
    with pytest.raises(ConfigError, match="config error at methods.1: wd_mono reads the KD data "
                                          "of the monolingual source text: name it in data.mono"):
        validate(with_change("methods", ["kd", "wd_mono"]))


def test_the_mono_methods_add_the_monolingual_kd_data_wherever_kd_data_is_read():
    wd, kd_ft = methods.get("wd_mono"), methods.get("kd_ft_mono")
    assert [(r.name, r.train_data) for r in wd.runs] == [
        ("wd_phase1_all_mono", "bitext+kd+mono"), ("wd_mono", "bitext+kd+mono")]
    assert methods.chain("wd_phase1_all_mono") == wd.runs[:1]  # the rule's run, found by name
    assert [(r.name, r.train_data) for r in kd_ft.runs] == [("kd_mono", "kd+mono"),
                                                            ("kd_ft_mono", "bitext")]
    assert methods.get("cutoff_mono").run.init == "cutoff" and wd.reads_mono
    assert methods.get("wd_phase1_only_mono").run.name == "wd_phase1_all_mono"
    for name in ["scratch_mono", "kd_mono_mono", "teacher_mono"]:
        with pytest.raises(ValueError, match="unknown method"):
            methods.get(name)


def test_a_run_with_mono_reads_the_monolingual_pairs_after_its_other_parts():
    files = Plan(with_change("seeds", [1])).train_files("bitext+kd+mono")
    assert [f.rsplit("/", 1)[1] for f in files] == [
        "train.src.npy", "train.tgt.npy", "train.src.npy", "kd.tgt.npy", "mono.src.npy",
        "kd_mono.tgt.npy"]
