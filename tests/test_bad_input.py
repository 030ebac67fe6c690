"""Bad input and faults, one row each: the user gets one line that names the file (and line)
and says what to do, before any training where the input is data, and nothing outside the
output is changed. (Bad config values: tests/test_faults.py; damaged checkpoints:
tests/test_resume_faults.py.)"""
import errno
import gzip
import io
import os
from pathlib import Path

import pytest
import torch
from test_package import make_package

from conftest import peaked
from wd.config import ConfigError, check_files
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
    ("missing input", "wd-translate: error: --input {t}/nothing.en: no such file"),
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
    model = {"missing input": package, "missing model": tmp_path / "nothing",
             "truncated weights": package, "text as checkpoint": tmp_path / "notes.txt",
             "directory not a package": tmp_path}[row]
    argv = ["--model", str(model), "--bpe", str(package / "spm.model"), "--src-lang", "en",
            "--tgt-lang", "en"]
    argv += ["--input", str(tmp_path / "nothing.en")] if row == "missing input" else []
    code, _, err = run_cli(translate_main, argv, capsys)
    assert err == message.format(t=tmp_path)
    assert code == (2 if row == "missing input" else 1)


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
