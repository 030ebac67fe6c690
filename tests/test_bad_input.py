"""Bad input and faults, one row each: the user gets one line that names the file (and line)
and says what to do, before any training where the input is data, and nothing outside the
output is changed. (Bad config values: tests/test_faults.py; damaged checkpoints:
tests/test_resume_faults.py.)"""
import errno
import gzip
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from test_package import make_package

from conftest import peaked
from wd.config import ConfigError, check_files
from wd.data.bpe import train_bpe
from wd.data.checks import MAX_EVAL_CHARS
from wd.data.clean import CleanSettings
from wd.data.prepare import prepare_local
from wd.decode.cli import main as translate_main
from wd.export.ct2 import main as ct2_main
from wd.export.hf import main as hf_main
from wd.export.package import PackageError, load_any
from wd.io import InputError, NoSpaceError
from wd.model import checkpoint
from wd.model.checkpoint import save_model
from wd.pipeline import training_pairs
from wd.plan import TrainJob

GOOD = {"train.en": "a small cat\nthe big dog\n", "train.ro": "o pisică mică\ncâinele mare\n",
        "valid.en": "a dog\n", "valid.ro": "un câine\n",
        "test.en": "the cat\na dog\n", "test.ro": "pisica\nun câine\n"}

# (row, files changed from GOOD, the message after the input directory)
DATA_ROWS = [
    ("empty training files", {"train.en": "", "train.ro": ""},
     "{d}/train.en + {d}/train.ro: empty files"),
    ("all-blank training file", {"train.en": "  \n\n"},
     "{d}/train.en + {d}/train.ro: no training pairs left after cleaning (2 in; dropped: "
     "empty 2)"),
    ("CR-only training line ends", {"train.en": "a cat\rthe dog\ra bird\r", "train.ro": "x\r"},
     "{d}/train.en: CR-only line ends (2 carriage returns inside 1 line(s)): convert them to "
     "\\n (tr '\\r' '\\n')"),
    ("empty validation file", {"valid.en": "", "valid.ro": ""}, "{d}/valid.en: empty file"),
    ("empty test file", {"test.en": "", "test.ro": ""}, "{d}/test.en: empty file"),
    ("all-blank test references", {"test.ro": "\n \n"},
     "{d}/test.ro: every one of its 2 lines is blank"),
    ("CR-only test line ends", {"test.en": "the cat\ra dog\r"},
     "{d}/test.en:1: a carriage return inside the line (CR-only line ends?): convert the file "
     "to \\n line ends"),
    ("a test line too long", {"test.en": "the cat\n" + "x" * (MAX_EVAL_CHARS + 1) + "\n"},
     f"{{d}}/test.en:2: a line of {MAX_EVAL_CHARS + 1} characters, more than "
     f"data.max_eval_chars ({MAX_EVAL_CHARS}): shorten or remove it (in every file of the "
     "split), or raise the limit"),
    ("a test file not UTF-8", {"test.en": b"the cat\ncaf\xe9\n"},
     "{d}/test.en:2: not valid UTF-8 (unexpected end of data)"),
    ("a plain file named .gz", {"train.en": ("train.en.gz", "a small cat\nthe big dog\n")},
     "{d}/train.en.gz: named .gz but not gzip-compressed: rename it without .gz"),
    ("gzip without .gz", {"train.en": gzip.compress(GOOD["train.en"].encode())},
     "{d}/train.en: gzip-compressed but not named .gz: rename it to train.en.gz"),
    ("a training side in UTF-16", {"train.ro": GOOD["train.ro"].encode("utf-16")},
     "{d}/train.ro: UTF-16, not UTF-8: convert it (iconv -f UTF-16 -t UTF-8)"),
    ("a test side in UTF-16 without its mark", {"test.en": GOOD["test.en"].encode("utf-16-le")},
     "{d}/test.en: UTF-16 or UTF-32, not UTF-8: convert it (iconv -f UTF-16 -t UTF-8)"),
]


def write_corpus(root: Path, changes: dict) -> dict:
    """GOOD with ``changes`` (a new content, or (new file name, content)) as a data.local."""
    root.mkdir()
    names = {}
    for name, content in {**GOOD, **changes}.items():
        new_name, content = content if isinstance(content, tuple) else (name, content)
        (root / new_name).write_bytes(content if isinstance(content, bytes) else
                                      content.encode())
        names[name] = str(root / new_name)
    return {split: {"src": names[f"{split}.en"], "tgt": names[f"{split}.ro"]}
            for split in ("train", "valid", "test")}


def snapshot(root: Path) -> dict:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("changes", "message"), [row[1:] for row in DATA_ROWS],
                         ids=[row[0] for row in DATA_ROWS])
def test_bad_data_is_refused_where_it_enters_in_one_line(tmp_path, changes, message):
    local = write_corpus(tmp_path / "in", changes)
    before = snapshot(tmp_path)
    with pytest.raises(InputError) as err:
        prepare_local(local, tmp_path / "raw", ("en", "ro"), CleanSettings())
    assert str(err.value) == message.format(d=tmp_path / "in")
    assert snapshot(tmp_path) == before  # nothing written, the user's files untouched


def test_the_good_corpus_of_the_table_passes(tmp_path):
    prepare_local(write_corpus(tmp_path / "in", {}), tmp_path / "raw", ("en", "ro"),
                  CleanSettings())
    assert (tmp_path / "raw" / "test.tgt").read_text() == GOOD["test.ro"]


def test_byte_order_marks_are_removed_and_counted(tmp_path, caplog):
    bom = "\ufeff"
    local = write_corpus(tmp_path / "in", {"test.ro": bom + GOOD["test.ro"], "train.en":
                                           bom + "a small cat\n" + bom + "the big dog\n"})
    prepare_local(local, tmp_path / "raw", ("en", "ro"), CleanSettings())
    assert (tmp_path / "raw" / "test.tgt").read_text() == GOOD["test.ro"]
    assert (tmp_path / "raw" / "train.src").read_text() == GOOD["train.en"]
    for name, count in [("test.ro", 1), ("train.en", 2)]:
        assert (f"{tmp_path}/in/{name}: {count} UTF-8 byte-order mark(s) (U+FEFF) removed from "
                "the start of lines") in caplog.text


def test_a_vocabulary_larger_than_the_data_supports_is_said(tmp_path, caplog):
    (tmp_path / "text").write_text("a small cat\nthe big dog\n" * 50)
    pieces = train_bpe([tmp_path / "text"], tmp_path / "spm.model", 100000, 1)
    assert pieces < 100
    assert (f"bpe.vocab_size is 100000, but the training data supports only {pieces} pieces: "
            f"the BPE model has {pieces}") in caplog.text


def binarised_job(tmp_path, sides: dict[str, list[list[int]]], max_len: int) -> TrainJob:
    """A training job over binarised ``bin/<name>.npy`` sides (their token ids given)."""
    end = np.iinfo(np.uint16).max
    (tmp_path / "bin").mkdir()
    for name, sentences in sides.items():
        np.save(tmp_path / "bin" / f"{name}.npy",
                np.array([t for s in sentences for t in [*s, end]], dtype=np.uint16))
    return TrainJob(bpe="", train=[str(tmp_path / "bin" / f"{n}.npy") for n in sides], valid=[],
                    model={}, settings=None, max_len=max_len, work="", model_out="",
                    curve_out="")


def test_a_max_len_that_leaves_no_training_pair_names_the_key(tmp_path):
    job = binarised_job(tmp_path, {"train.src": [[5, 6, 7], [5, 6, 7, 8]],
                                   "train.tgt": [[5, 6], [5, 6, 7, 8, 9]]}, max_len=2)
    with pytest.raises(InputError) as err:
        training_pairs(job)
    assert str(err.value) == ("data.max_len is 2: none of the 2 training pairs has both sides "
                              "within that many BPE pieces (the shortest pair's longer side has "
                              "3); raise data.max_len")


def test_kd_data_cut_short_names_the_text_and_the_rule_that_makes_it_again(tmp_path):
    job = binarised_job(tmp_path, {"train.src": [[5], [6], [7]], "kd.tgt": [[5], [6]]}, 10)
    with pytest.raises(InputError) as err:
        training_pairs(job)
    assert str(err.value) == (
        f"misaligned: {tmp_path}/bin/train.src.npy has 3 sentences, {tmp_path}/bin/kd.tgt.npy has "
        f"2: {tmp_path}/kd/train.tgt, which kd.tgt.npy is made from, was cut short or changed "
        "since it was written; make it again with snakemake --forcerun kd_split (and the run's "
        "other arguments)")


def run_cli(main, argv: list[str], capsys, stdin: bytes | None = None,
            monkeypatch=None) -> tuple[int, str, str]:
    """(exit code, standard output, the last line of standard error) of a command's main."""
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    return exit_.value.code, out, err.strip().splitlines()[-1]


@pytest.fixture
def package(tmp_path, toy_bpe) -> Path:
    return make_package(tmp_path, toy_bpe)[1]


def test_translate_non_utf8_standard_input_names_the_line(package, capsys, monkeypatch):
    code, out, err = run_cli(translate_main, ["--model", str(package), "--batch-size", "1"],
                             capsys, b"the cat\na d\xffg\n", monkeypatch)
    assert (code, err) == (1, "wd-translate: error: <stdin>:2: not valid UTF-8 (invalid start "
                              "byte)")
    assert len(out.splitlines()) == 1  # the line before it was translated


def test_translate_non_utf8_input_file_names_the_file_and_line(package, tmp_path, capsys):
    (tmp_path / "in.en").write_bytes(b"the cat\n\xe9\n")
    code, _, err = run_cli(translate_main, ["--model", str(package), "--input",
                                            str(tmp_path / "in.en"), "--output",
                                            str(tmp_path / "out")], capsys)
    assert (code, err) == (1, f"wd-translate: error: {tmp_path}/in.en:2: not valid UTF-8 "
                              "(unexpected end of data)")
    assert not (tmp_path / "out").exists()  # no half output under the finished name


@pytest.mark.parametrize(("row", "message"), [
    ("missing input", "wd-translate: error: --input: file not found: {t}/nothing.en"),
    ("input a directory", "wd-translate: error: --input: {t} is a directory, not a file"),
    ("output a directory", "wd-translate: error: --output {t} is a directory: name the file to "
                           "write"),
    ("lenpen nan", "wd-translate: error: --lenpen must be a finite number, got nan"),
    ("missing model", "wd-translate: error: {t}/nothing: no such model package or checkpoint"),
    ("truncated weights", "wd-translate: error: {t}/package/model.safetensors: cannot load the "
                          "weights (Error while deserializing header: invalid header length)"),
    ("text as checkpoint", "wd-translate: error: cannot read checkpoint {t}/notes.txt: "
                           "truncated, damaged or not a checkpoint of wd (KeyError: 101)"),
    ("directory not a package", "wd-translate: error: {t} is not a complete model package: "
                                "missing model.safetensors, config.json, README.md"),
])
def test_translate_input_errors_are_one_line(package, tmp_path, capsys, row, message):
    weights = package / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    (tmp_path / "notes.txt").write_text("hello, not a checkpoint\n")
    model = {"missing model": tmp_path / "nothing", "text as checkpoint": tmp_path / "notes.txt",
             "directory not a package": tmp_path}.get(row, package)
    argv = ["--model", str(model), "--bpe", str(package / "spm.model"), "--src-lang", "en",
            "--tgt-lang", "en"]
    argv += {"missing input": ["--input", str(tmp_path / "nothing.en")],
             "input a directory": ["--input", str(tmp_path)],
             "output a directory": ["--output", str(tmp_path)],
             "lenpen nan": ["--lenpen", "nan"],
             "truncated weights": ["--no-verify"]}.get(row, [])  # else the manifest refuses it
    code, _, err = run_cli(translate_main, argv, capsys)
    assert err == message.format(t=tmp_path)
    assert code == (1 if row in ("missing model", "truncated weights", "text as checkpoint",
                                 "directory not a package") else 2)


def test_translate_gives_blank_lines_back_empty_and_crops_a_long_line(package, tmp_path, capsys,
                                                                     caplog):
    long = " ".join(["the cat"] * 400)
    (tmp_path / "in.txt").write_text(f"the cat\n\n   \n{long}\n")
    translate_main(["--model", str(package), "--input", str(tmp_path / "in.txt"),
                    "--max-chars", "100"])
    out = capsys.readouterr().out.splitlines()
    assert out[1:3] == ["", ""] and out[0] and out[3]
    assert ("line 4: 3,199 characters, more than --max-chars 100: translating its first 99 "
            "(--max-chars 0 translates it whole)") in caplog.text
    (tmp_path / "cut.txt").write_text(long[:99] + "\n")
    translate_main(["--model", str(package), "--input", str(tmp_path / "cut.txt")])
    assert capsys.readouterr().out.splitlines() == out[3:]
    translate_main(["--model", str(package), "--input", str(tmp_path / "in.txt"), "--nbest",
                    "1", "--max-chars", "100"])
    assert capsys.readouterr().out.splitlines()[1:3] == ["1 |||  ||| 0.0000", "2 |||  ||| 0.0000"]


@pytest.mark.parametrize("exporter", ["ct2", "hf"])
def test_an_exporter_keeps_what_is_in_its_output_directory(package, tmp_path, capsys, exporter):
    pytest.importorskip("ctranslate2" if exporter == "ct2" else "transformers")
    main = {"ct2": ct2_main, "hf": hf_main}[exporter]
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(main, [str(package), str(out)], capsys)
    assert (code, err) == (1, f"wd-export-{exporter}: error: {out} exists and is not empty: name "
                              "a new directory, or give --force to replace the files this "
                              "writes there (and only those)")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    main([str(package), str(out), "--force"])
    assert (out / "notes.txt").read_text() == "mine" and (out / "config.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("where", [".", "the package"])
def test_an_exporter_never_writes_over_the_working_directory_or_its_package(
        package, tmp_path, capsys, monkeypatch, where):
    pytest.importorskip("ctranslate2")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    out = "." if where == "." else str(package)
    code, _, err = run_cli(ct2_main, [str(package), out, "--force"], capsys)
    assert code == 1 and err.startswith(f"wd-export-ct2: error: {Path(out).resolve()} is the ")
    assert snapshot(tmp_path) == before


def test_an_exporter_on_a_missing_path_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(ct2_main, [str(tmp_path / "nothing"), str(tmp_path / "out")], capsys)
    assert (code, err) == (1, f"wd-export-ct2: error: {tmp_path}/nothing: no such model package "
                              "or checkpoint")


def test_load_any_names_what_it_cannot_read(tmp_path):
    with pytest.raises(PackageError, match="no such model package or checkpoint"):
        load_any(tmp_path / "none")


class FullDisk(io.FileIO):
    """A file on a disk that fills up after ``room`` bytes."""

    room = 4096

    def write(self, data):
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_a_full_disk_during_a_checkpoint_save_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "open", FullDisk, raising=False)
    with pytest.raises(NoSpaceError) as err:
        save_model(peaked(), tmp_path / "checkpoint_00000010.pt", {})
    assert str(err.value).startswith(f"no space left on device writing {tmp_path}/"
                                     "checkpoint_00000010.pt (")
    assert list(tmp_path.iterdir()) == []  # no draft left either
    monkeypatch.undo()
    save_model(peaked(), tmp_path / "checkpoint_00000010.pt", {})
    assert torch.load(tmp_path / "checkpoint_00000010.pt", weights_only=True)["model"]


@pytest.mark.parametrize(("text", "message"), [
    ("seed: 1\nkd:\n  beam: 4\n  beam: 5\n", "{f}:4: key 'beam' given twice (first on line 3)"),
    ("seed: [1\nkd: {\n", "{f}:2: expected ',' or ']', but got ':'"),
])
def test_config_files_repeated_keys_and_bad_yaml_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        check_files([path])
    assert str(err.value) == "config error in " + message.format(f=path)
