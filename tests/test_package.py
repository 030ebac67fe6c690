"""Model packages: what they hold, what wd-translate and the exporter do with them, and the
errors for directories that are not one."""
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
import sentencepiece as spm
import torch

from conftest import CARD_ROW, tiny
from wd.data.shortlist import Shortlist, write_vmap
from wd.decode.cli import main as translate_main
from wd.decode.cli import translate_lines
from wd.export.ct2 import main as export_main
from wd.export.ct2 import vocabulary
from wd.export.manifest import MANIFEST
from wd.export.package import PackageError, load_package, write_package
from wd.model.checkpoint import save_model
from wd.model.transformer import Transformer
from wd.settings import SearchSettings

ROW = CARD_ROW
SOURCES = ["the cat", "a dog ran", "the mat", "birds sing in the park", "the dog", "a cat sat"]


def make_package(tmp_path, toy_bpe, row=ROW, vmap=None, **over):
    torch.manual_seed(0)
    vocab = spm.SentencePieceProcessor(model_file=str(toy_bpe)).get_piece_size()
    model = Transformer(tiny(vocab_size=vocab, **over)).eval()
    save_model(model, tmp_path / "final.pt", {})
    system = {"experiment": "toy", "student": "stu2", "method": "wd", "seed": 1}
    write_package(tmp_path / "package", tmp_path / "final.pt", toy_bpe, system,
                  {"src": "en", "tgt": "en"}, SearchSettings(beam=2, batch_size=4, max_len_b=12),
                  tmp_path / "final.pt", row, vmap)
    return model, tmp_path / "package"


def identity_vmap(tmp_path, toy_bpe) -> Path:
    """A vocabulary map that allows each source piece itself and the 20 first pieces."""
    pieces = vocabulary(None, toy_bpe)
    path = tmp_path / "vmap.txt"
    write_vmap(Shortlist(list(range(4, 24)), {i: [i] for i in range(4, len(pieces))}), pieces,
               path)
    return path


@pytest.mark.parametrize("over", [{}, {"share_embeddings": True}, {"tie_output": False}])
def test_a_package_holds_the_model_its_preprocessing_and_a_card(tmp_path, toy_bpe, over):
    model, path = make_package(tmp_path, toy_bpe, **over)
    package = load_package(path)
    for name, value in model.state_dict().items():
        assert torch.equal(package.model.state_dict()[name], value), name
    assert package.languages == ("en", "en") and package.search.beam == 2
    assert package.bpe.read_bytes() == toy_bpe.read_bytes()
    config = json.loads((path / "config.json").read_text())
    assert config["system"]["method"] == "wd" and config["architecture"] == model.cfg.to_dict()
    assert len(config["teacher_sha256"]) == 64 and config["format_version"] == 2
    card = (path / "README.md").read_text()
    assert "BLEU 12.35 (95% CI 11.00-13.50)" in card and ROW["bleu_signature"] in card
    assert "CTranslate2 float32" not in card  # not timed: no speeds
    assert "Weight distillation: Phase 1" in card and "wd-translate --model" in card
    assert not list(tmp_path.glob("*.tmp"))


def test_the_card_gives_the_ctranslate2_speeds_where_they_were_measured(tmp_path, toy_bpe):
    speeds = {"ct2_sents_per_sec": 80.0, "ct2_int8_sents_per_sec": 160.0, "ct2_speedup": 1.25,
              "ct2_int8_speedup": 1.5, "ct2_bleu": 12.345, "ct2_int8_bleu": 11.5}
    _, path = make_package(tmp_path, toy_bpe, row=ROW | speeds)
    assert ("CTranslate2 float32 80.0 and int8 160.0 sentences/s (1.25x and 1.50x the teacher "
            "in the same engine; BLEU 12.35 and 11.50)") in (path / "README.md").read_text()


@pytest.mark.parametrize(("kd", "note"), [
    ({}, "."),  # a row without KD data
    ({"kd_engine": "ours", "kd_identical": float("nan")}, " (KD data decoded by our decoder)."),
    ({"kd_engine": "ctranslate2", "kd_identical": 0.9975},
     " (KD data decoded by ctranslate2, identical to our decoder on 99.8% of the checked "
     "sentences)."),
])
def test_the_card_names_the_decoder_of_the_kd_data(tmp_path, toy_bpe, kd, note):
    _, path = make_package(tmp_path, toy_bpe, row=ROW | kd)
    card = (path / "README.md").read_text()
    assert (f"; trained on the original bitext and the KD data, concatenated{note} A "
            "Transformer") in card


def test_wd_translate_streams_batches_and_takes_the_packages_settings(tmp_path, toy_bpe,
                                                                     monkeypatch):
    _, path = make_package(tmp_path, toy_bpe)
    read = []

    class Source(io.BytesIO):
        def __iter__(self):
            for line in SOURCES:
                read.append(line)
                yield (line + "\n").encode()

    class Sink(io.StringIO):
        first_write_after = None

        def write(self, text):
            Sink.first_write_after = Sink.first_write_after or len(read)
            return super().write(text)

    out, bar = Sink(), io.StringIO()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(Source()))
    monkeypatch.setattr("sys.stdout", out)
    # as if standard error were a terminal
    monkeypatch.setattr("wd.decode.cli.terminal", lambda: bar)
    translate_main(["--model", str(path), "--batch-size", "2"])
    assert Sink.first_write_after == 2  # the first batch is out before the rest is read
    assert "translating: 6 sentences" in bar.getvalue()  # the bar's last state
    package = load_package(path)
    expected = translate_lines(package.model, package.bpe, SOURCES, "en", "en", package.search,
                               torch.device("cpu"))
    assert out.getvalue().splitlines() == expected


def test_a_checkpoint_needs_its_bpe_and_languages(tmp_path, toy_bpe, capsys):
    make_package(tmp_path, toy_bpe)
    with pytest.raises(SystemExit):
        translate_main(["--model", str(tmp_path / "final.pt"), "--bpe", str(toy_bpe)])
    assert "is a checkpoint, not a package: give --src-lang, --tgt-lang" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        translate_main(["--model", str(tmp_path / "nothing")])
    assert "nothing: no such model package or checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("breakage, message", [
    ("missing", "no model package at .*: not a directory"),
    ("no_bpe", "is not a complete model package: missing spm.model"),
    ("foreign", "is not a wd-model-package \\(config.json format: 'marian'\\)"),
    ("newer", "package format 99 is newer than this wd reads \\(2\\)"),
])
def test_what_is_not_a_package_is_refused_with_the_reason(tmp_path, toy_bpe, breakage,
                                                           message):
    _, path = make_package(tmp_path, toy_bpe)
    config = json.loads((path / "config.json").read_text())
    if breakage == "missing":
        shutil.rmtree(path)
    elif breakage == "no_bpe":
        (path / "spm.model").unlink()
    else:
        config.update({"format": "marian"} if breakage == "foreign" else {"format_version": 99})
        (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(PackageError, match=message):
        load_package(path)


def test_the_ctranslate2_exporter_takes_a_package(tmp_path, toy_bpe):
    pytest.importorskip("ctranslate2")
    _, path = make_package(tmp_path, toy_bpe)
    export_main([str(path), str(tmp_path / "ct2")])
    vocabulary = (tmp_path / "ct2" / "shared_vocabulary.json").read_text()
    assert "▁the" in vocabulary or "the" in vocabulary


def test_nbest_lines_count_on_across_batches_and_start_with_the_best(tmp_path, toy_bpe, capsys,
                                                                    monkeypatch):
    _, path = make_package(tmp_path, toy_bpe)
    stdin = "".join(line + "\n" for line in SOURCES).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    translate_main(["--model", str(path), "--batch-size", "4", "--nbest", "2"])
    lines = [line.split(" ||| ") for line in capsys.readouterr().out.splitlines()]
    indices = [int(index) for index, _, _ in lines]
    assert sorted(set(indices)) == list(range(len(SOURCES))) and indices == sorted(indices)
    package = load_package(path)
    best = translate_lines(package.model, package.bpe, SOURCES, "en", "en", package.search,
                           torch.device("cpu"))
    firsts = [next(text for index, text, _ in lines if int(index) == i)
              for i in range(len(SOURCES))]
    assert firsts == best
    with pytest.raises(SystemExit):
        translate_main(["--model", str(path), "--nbest", "3"])
    assert "--nbest 3 is more than the beam (2)" in capsys.readouterr().err


def test_a_package_lists_every_file_with_its_size_and_digest(tmp_path, toy_bpe):
    _, path = make_package(tmp_path, toy_bpe, vmap=identity_vmap(tmp_path, toy_bpe))
    files = json.loads((path / MANIFEST).read_text())["files"]
    assert sorted(files) == sorted(p.name for p in path.iterdir() if p.name != MANIFEST)
    assert sorted(files) == ["README.md", "config.json", "model.safetensors", "spm.model",
                             "vmap.txt"]
    for name, entry in files.items():
        data = (path / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _cut_mid_line(text: str) -> str:
    return text[:text.index("\n", len(text) // 2) - 2]


# (row, what is done to the package, the message after the package's path)
DAMAGE = [
    ("emptied map", lambda p: (p / "vmap.txt").write_text(""),
     "/vmap.txt: changed since the package was written (0 bytes, written with {size:,})"),
    ("map cut to 20 lines", lambda p: (p / "vmap.txt").write_text(
        "".join((p / "vmap.txt").read_text().splitlines(keepends=True)[:20])),
     "/vmap.txt: changed since the package was written ({cut:,} bytes, written with {size:,})"),
    ("map edited, same size", lambda p: (p / "vmap.txt").write_text(
        (p / "vmap.txt").read_text().replace("\t", " \t", 1)[:-2] + "\n"),
     "/vmap.txt: changed since the package was written (its SHA-256 differs)"),
    ("map removed", lambda p: (p / "vmap.txt").unlink(),
     "/vmap.txt: missing (the package was written with it)"),
    ("map added", lambda p: (p / MANIFEST).write_text(json.dumps({"algorithm": "sha256",
        "files": {k: v for k, v in json.loads((p / MANIFEST).read_text())["files"].items()
                  if k != "vmap.txt"}})),
     "/vmap.txt: not written with the package (not in its manifest.json)"),
    ("weights cut short", lambda p: (p / "model.safetensors").write_bytes(
        (p / "model.safetensors").read_bytes()[:1000]),
     "/model.safetensors: changed since the package was written (1,000 bytes, written with "
     "{weights:,})"),
    ("manifest removed", lambda p: (p / MANIFEST).unlink(), "/manifest.json: missing"),
]


@pytest.mark.parametrize(("damage", "message"), [row[1:] for row in DAMAGE],
                         ids=[row[0] for row in DAMAGE])
def test_a_changed_or_missing_file_is_refused_in_one_line_naming_it(tmp_path, toy_bpe, capsys,
                                                                     damage, message):
    _, path = make_package(tmp_path, toy_bpe, vmap=identity_vmap(tmp_path, toy_bpe))
    size = (path / "vmap.txt").stat().st_size
    weights = (path / "model.safetensors").stat().st_size
    damage(path)
    cut = (path / "vmap.txt").stat().st_size if (path / "vmap.txt").exists() else 0
    (tmp_path / "in.txt").write_text("the cat\n")
    with pytest.raises(SystemExit) as exit_:
        translate_main(["--model", str(path), "--input", str(tmp_path / "in.txt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 1 and len(err) == 1
    assert err[0] == (f"wd-translate: error: {path}" + message.format(size=size, cut=cut,
                                                                       weights=weights)
                      + ": the package is damaged; write it again, or give --no-verify to use "
                        "it as it is")


def test_no_verify_uses_an_edited_package_with_a_warning(tmp_path, toy_bpe, capsys, caplog):
    _, path = make_package(tmp_path, toy_bpe, vmap=identity_vmap(tmp_path, toy_bpe))
    card = path / "README.md"
    card.write_text(card.read_text() + "\nOur notes.\n")
    (tmp_path / "in.txt").write_text("the cat\n\n")
    translate_main(["--model", str(path), "--input", str(tmp_path / "in.txt"), "--no-verify"])
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert f"{path}: files not checked against its manifest.json (--no-verify)" in caplog.text


def test_a_package_written_before_manifests_loads_with_a_warning(tmp_path, toy_bpe, caplog):
    model, path = make_package(tmp_path, toy_bpe)
    (path / MANIFEST).unlink()
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "format_version": 1}))
    package = load_package(path)
    assert torch.equal(package.model.src_embed.weight, model.src_embed.weight)
    assert "a package of format 1 has no manifest.json: its files cannot be checked" in caplog.text


def test_a_damaged_map_given_to_the_exporter_is_refused(tmp_path, toy_bpe, capsys):
    _, path = make_package(tmp_path, toy_bpe)
    bad = tmp_path / "bad.txt"
    bad.write_text(_cut_mid_line(identity_vmap(tmp_path, toy_bpe).read_text()))
    for vmap, message in [(tmp_path / "missing.txt",
                           f"vocabulary map: file not found: {tmp_path}/missing.txt"),
                          (bad, f"{bad}: its last line has no line end: the file was cut short")]:
        with pytest.raises(SystemExit) as exit_:
            export_main([str(path), str(tmp_path / "ct2"), "--vmap", str(vmap)])
        err = capsys.readouterr().err.strip().splitlines()
        assert (exit_.value.code, err) == (1, [f"wd-export-ct2: error: {message}"])
        assert not (tmp_path / "ct2").exists()


def test_a_killed_packaging_leaves_no_draft_after_the_next_one(tmp_path, toy_bpe):
    draft = tmp_path / ".package.abc123.tmp"  # what a job killed with -9 leaves
    draft.mkdir()
    (draft / "model.safetensors").write_bytes(b"half a model")
    mine = tmp_path / ".package.notes"  # not a draft: kept
    mine.write_text("mine")
    make_package(tmp_path, toy_bpe)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [
        ".package.notes"]
