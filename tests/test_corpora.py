"""Every registry corpus end to end on archives that mimic the real layouts (served from
127.0.0.1): download -> extract -> prepare -> BPE; local corpora with gzip and several
references; the offline dry run of the WMT16 config."""
import dataclasses
import gzip
import hashlib
import io
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_snakemake
from fake_server import Faults, serve
from wd.config import ConfigError, validate
from wd.data.bpe import encode_file, load_bpe, train_bpe
from wd.data.clean import CleanSettings
from wd.data.corpora import CORPORA, Corpus, registry_corpus
from wd.data.download import DownloadError, DownloadSettings, fetch
from wd.data.prepare import (
    experiment_testsets,
    prepare_local,
    prepare_remote_split,
    reference_count,
)
from wd.data.text import tokenize
from wd.evaluate.metrics import read_references, score
from wd.io import read_lines, write_lines

FAST = DownloadSettings(retries=2, timeout=5, backoff=0.01)
REGISTRY = {c.name: c for pairs in CORPORA.values() for c in pairs.values()}
# End to end: the WMT corpora, and Multi30k with three test sets (En-De) and with one (En-Cs).
END_TO_END = ["wmt16_en_ro", "wmt14_en_de", "multi30k_en_de", "multi30k_en_cs"]
CEDILLA, COMMA = "Şeful ţării şi Ţara", "Șeful țării și Țara"
WORDS = "the council votes on new rules for trade energy and water in every member state".split()


def sentence(lang: str, tag: str, i: int) -> str:
    words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(4 + i % 5))
    extra = f" {CEDILLA}" if lang == "ro" else ""
    return f"{lang} {tag} {i} {words}{extra}"


def sgm(lines: list[str]) -> bytes:
    segs = "".join(f'<seg id="{i}">  {line}  </seg>\n' for i, line in enumerate(lines, 1))
    return (f'<srcset setid="x" srclang="any">\n<doc sysid="ref" docid="d1" genre="news">\n'
            f"<p>\n{segs}</p>\n</doc>\n</srcset>\n").encode()


def tmx(src_lang: str, tgt_lang: str, n: int) -> bytes:
    units = "".join(
        f'<tu><tuv xml:lang="{src_lang}"><seg>{sentence(src_lang, "tmx", i)}</seg></tuv>'
        f'<tuv xml:lang="{tgt_lang}"><seg>{sentence(tgt_lang, "tmx", i)}\n</seg></tuv></tu>\n'
        for i in range(n))
    return gzip.compress(f'<?xml version="1.0" encoding="utf-8"?>\n<tmx version="1.4">'
                         f'<header srclang="{src_lang}"/><body>\n{units}</body></tmx>\n'.encode())


def tgz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def text(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def fake_files(corpus: Corpus, n: int = 40) -> dict[str, bytes]:
    """One file per registry file with the registry's layout: archives with its member paths
    (plus a decoy member), gzip-compressed text files; training text gets a duplicate, an empty
    and a non-UTF-8 pair that cleaning must drop."""
    members: dict[str, dict[str, bytes]] = {f.id: {"decoy/other.fr": b"ignore me\n"}
                                            for f in corpus.files}
    tmx_files = {}
    for split, parts in corpus.splits.items():
        for part in parts:
            if part.format == "tmx":
                tmx_files[part.file] = tmx(corpus.src_lang, corpus.tgt_lang, n)
                continue
            sides = [[sentence(lang, f"{split}-{part.file}", i) for i in range(n)]
                     for lang in (corpus.src_lang, corpus.tgt_lang)]
            if part.format == "sgm":
                blobs = [sgm(lines) for lines in sides]
            elif split == "train":  # + a duplicate pair, an empty source, a source not UTF-8
                blobs = [text(sides[0] + [sides[0][0], ""]) + b"caf\xe9\n",
                         text(sides[1] + [sides[1][0], "x"]) + b"ok\n"]
            else:
                blobs = [text(lines) for lines in sides]
            for file_id, member, blob in zip(part.files * 2, part.members, blobs):  # 1 or 2 files
                members[file_id][member] = blob
    for file_id in (i for ids in corpus.mono.values() for i in ids):  # monolingual, gzip text
        members[file_id][""] = text([sentence(corpus.src_lang, f"mono-{file_id}", i)
                                     for i in range(n)])
    return {f.name: tmx_files[f.id] if f.id in tmx_files else
            gzip.compress(members[f.id][""]) if f.archive == "gz" else tgz(members[f.id])
            for f in corpus.files}


def with_checksums(corpus: Corpus, files: dict[str, bytes]) -> Corpus:
    """The registry entry with the fake files' checksums in place of the published ones."""
    return dataclasses.replace(corpus, files=tuple(
        dataclasses.replace(f, checksum="sha256:" + hashlib.sha256(files[f.name]).hexdigest(),
                            size=len(files[f.name])) for f in corpus.files))


@pytest.mark.parametrize("name", END_TO_END)
def test_registry_entry_downloads_prepares_and_encodes(tmp_path, name):
    files = fake_files(REGISTRY[name])
    corpus = with_checksums(REGISTRY[name], files)
    faults = Faults(files=files)
    faults.fail[corpus.files[0].name] = 1            # a transient failure on the first file
    downloads = {}
    with serve(faults) as url:
        for remote in corpus.files:
            downloads[remote.id] = tmp_path / "downloads" / remote.name
            fetch(remote, downloads[remote.id], mirror=url, settings=FAST)
    raw = tmp_path / "raw"
    counts = {split: prepare_remote_split(corpus, split, downloads, raw / f"{split}.src",
                                          raw / f"{split}.tgt", CleanSettings())
              for split in corpus.splits}
    text_parts = sum(p.format == "text" for p in corpus.splits["train"])
    tmx_parts = sum(p.format == "tmx" for p in corpus.splits["train"])
    # Each text part: 40 pairs + 1 duplicate + 1 empty + 1 non-UTF-8, of which 40 survive.
    assert counts == {"train": 40 * (text_parts + tmx_parts), "valid": 40,
                      **dict.fromkeys(corpus.testsets, 40)}
    for split in corpus.splits:
        src, tgt = read_lines(raw / f"{split}.src"), read_lines(raw / f"{split}.tgt")
        assert all(s.startswith(corpus.src_lang + " ") for s in src)
        assert all(t.startswith(corpus.tgt_lang + " ") for t in tgt)
        assert all(s.split()[1:3] == t.split()[1:3] for s, t in zip(src, tgt))  # still aligned
    primary = corpus.testsets[0]
    test = read_lines(raw / f"{primary}.tgt")
    # <seg> text, surrounding spaces gone, spelt as published
    assert test[0] == sentence(corpus.tgt_lang, f"{primary}-{corpus.splits[primary][0].file}", 0)
    if corpus.tgt_lang == "ro":  # training targets comma-below, test references as published
        training = (raw / "train.tgt").read_text()
        assert COMMA in training and not re.search("[ŞşŢţ]", training)
        assert CEDILLA in (raw / "test.tgt").read_text()
    # Moses tokens -> joint BPE, as the pipeline's next rules do.
    for split in ("train", primary):
        for side, lang in (("src", corpus.src_lang), ("tgt", corpus.tgt_lang)):
            write_lines(tmp_path / f"tok.{split}.{side}",
                        [tokenize(line, lang) for line in read_lines(raw / f"{split}.{side}")])
    train_bpe([tmp_path / "tok.train.src", tmp_path / "tok.train.tgt"], tmp_path / "spm.model",
              vocab_size=120, seed=1)
    assert encode_file(load_bpe(tmp_path / "spm.model"), tmp_path / f"tok.{primary}.tgt",
                       tmp_path / "bpe.test.tgt") == 40


def test_registry_is_consistent():
    by_name = {}
    for corpus in REGISTRY.values():
        assert {"train", "valid"} < set(corpus.splits) and corpus.testsets
        for remote in corpus.files:  # a file shared by two pairs is the same file
            assert by_name.setdefault(remote.name, remote) == remote
            algorithm, digest = remote.checksum.split(":")
            assert len(digest) == {"sha256": 64, "md5": 32}[algorithm]
            assert remote.url.startswith(("http://", "https://"))
            assert re.fullmatch("[a-z0-9_]+", remote.id)
        for parts in corpus.splits.values():
            for part in parts:
                for file_id in part.files:
                    corpus.file(file_id)
                if part.target_file is not None:  # one file per language: its id says which
                    langs = tuple(file_id.rsplit("_", 1)[1] for file_id in part.files)
                elif part.format != "tmx":  # the member names say the languages
                    langs = tuple(re.sub(r"\.sgm$", "", m).rsplit(".", 1)[1]
                                  for m in part.members)
                else:
                    continue
                assert langs == (corpus.src_lang, corpus.tgt_lang)
    assert len(CORPORA["multi30k"]) == 12 and registry_corpus("multi30k", "fr", "en").testsets == [
        "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco"]
    assert registry_corpus("multi30k", "en", "cs").testsets == ["test_2016_flickr"]


def test_a_one_byte_change_of_a_pinned_file_fails_its_checksum(tmp_path):
    corpus = REGISTRY["multi30k_en_de"]
    files = fake_files(corpus)
    corpus = with_checksums(corpus, files)
    remote = corpus.file("multi30k_val_de")
    copy = tmp_path / remote.name
    copy.write_bytes(files[remote.name])
    fetch(remote, tmp_path / "ok" / remote.name, manual=copy)  # the fixture as pinned
    changed = bytearray(files[remote.name])
    changed[len(changed) // 2] ^= 1
    copy.write_bytes(changed)
    with pytest.raises(DownloadError, match="checksum mismatch for data.manual.multi30k_val_de"):
        fetch(remote, tmp_path / "bad" / remote.name, manual=copy)
    assert not (tmp_path / "bad" / remote.name).exists()


def test_misaligned_archive_members_name_both_and_their_counts(tmp_path):
    corpus = REGISTRY["wmt14_en_de"]
    files = fake_files(corpus)
    part = corpus.splits["train"][1]                    # commoncrawl
    files[corpus.file(part.file).name] = tgz({part.members[0]: text(["a", "b", "c"]),
                                              part.members[1]: text(["x", "y"])})
    corpus = with_checksums(corpus, files)
    downloads = {}
    for remote in corpus.split_files("train"):
        downloads[remote.id] = tmp_path / remote.name
        downloads[remote.id].write_bytes(files[remote.name])
    with pytest.raises(ValueError, match=r"commoncrawl.de-en.en has 3 sentences, "
                                         r".*commoncrawl.de-en.de has 2"):
        prepare_remote_split(corpus, "train", downloads, tmp_path / "a", tmp_path / "b",
                             CleanSettings())
    assert not (tmp_path / "a").exists()


def test_invalid_utf8_in_a_test_set_is_an_error(tmp_path):
    corpus = REGISTRY["wmt16_en_ro"]
    part = corpus.splits["test"][0]
    archive = tmp_path / "test.tgz"
    archive.write_bytes(tgz({part.members[0]: sgm(["fine", "also fine"]),
                             part.members[1]: sgm(["bun"]) + b'<seg id="2">r\xe2u</seg>\n'}))
    with pytest.raises(ValueError, match=r"wmt16_en_ro test \(target\):2: not valid UTF-8"):
        prepare_remote_split(corpus, "test", {part.file: archive}, tmp_path / "s", tmp_path / "t",
                             CleanSettings())


def local_corpus(tmp_path: Path, n_refs: int = 3) -> dict:
    """Train gzip-compressed, valid plain, a test set with ``n_refs`` references."""
    train_src = [sentence("en", "train", i) for i in range(30)] + ["same", "same"]
    train_tgt = [sentence("ro", "train", i) for i in range(30)] + ["la fel", "la fel"]
    files = {"train.en.gz": gzip.compress(text(train_src)),
             "train.ro.gz": gzip.compress(text(train_tgt)),
             "valid.en": text(["hello"]), "valid.ro": text([f"salut {CEDILLA}"]),
             "test.en": text(["a", "b"])}
    files.update({f"test.ref{i}.ro": text([f"ref{i} a", f"ref{i} b ţ"]) for i in range(n_refs)})
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    path = lambda name: str(tmp_path / name)  # noqa: E731
    return {"train": {"src": path("train.en.gz"), "tgt": path("train.ro.gz")},
            "valid": {"src": path("valid.en"), "tgt": path("valid.ro")},
            "test": {"src": path("test.en"),
                     "tgt": [path(f"test.ref{i}.ro") for i in range(n_refs)]}}


def test_local_corpus_gzip_and_several_references(tmp_path):
    local = local_corpus(tmp_path)
    prepare_local(local, tmp_path / "raw", ("en", "ro"), CleanSettings())
    raw = tmp_path / "raw"
    assert sorted(p.name for p in raw.iterdir()) == [
        "test.src", "test.tgt", "test.tgt.1", "test.tgt.2", "train.src", "train.tgt",
        "valid.src", "valid.tgt"]
    assert len(read_lines(raw / "train.src")) == 31              # duplicate pair dropped
    assert read_lines(raw / "valid.tgt") == [f"salut {COMMA}"]
    assert [read_lines(raw / name) for name in ("test.tgt", "test.tgt.1", "test.tgt.2")] == [
        [f"ref{i} a", f"ref{i} b ţ"] for i in range(3)]  # as supplied, cedilla and all


def test_hypotheses_equal_to_a_cedilla_reference_as_supplied_score_100(tmp_path):
    """BLEU and chrF are scored against the test references exactly as published."""
    local = local_corpus(tmp_path, n_refs=1)
    supplied = [f"{CEDILLA} au votat legea nouă ieri seara .", f"Ştiri din {CEDILLA} , azi ."]
    write_lines(tmp_path / "test.en", ["a", "b"])
    write_lines(local["test"]["tgt"][0], supplied)
    prepare_local(local, tmp_path / "raw", ("en", "ro"), CleanSettings())
    result = score(supplied, read_references([tmp_path / "raw" / "test.tgt"]), ["ro_normalised"])
    assert result["bleu"] == result["chrf"] == result["bleu_ro_normalised"] == 100.0
    comma_below = [line.translate(str.maketrans("ŞşŢţ", "ȘșȚț")) for line in supplied]
    assert score(comma_below, read_references([tmp_path / "raw" / "test.tgt"]))["bleu"] < 100


def test_local_misaligned_reference_names_both_files(tmp_path):
    local = local_corpus(tmp_path)
    Path(local["test"]["tgt"][2]).write_text("only one line\n")
    with pytest.raises(ValueError, match=r"test.en has 2 lines, .*test.ref2.ro has 1"):
        prepare_local(local, tmp_path / "raw", ("en", "ro"), CleanSettings())


def test_local_invalid_utf8_outside_training_data_is_an_error(tmp_path):
    local = local_corpus(tmp_path)
    Path(local["valid"]["src"]).write_bytes(b"caf\xe9\n")
    with pytest.raises(ValueError, match=r"valid.en:1: not valid UTF-8"):
        prepare_local(local, tmp_path / "raw", ("en", "ro"), CleanSettings())


def merged_config(path: Path) -> dict:
    """config.yaml with a --configfile on top (one level deep, as far as these configs need)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for key, value in yaml.safe_load(path.read_text()).items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    return config


def test_config_checks_corpus_languages_and_manual_copies(tmp_path):
    config = merged_config(REPO / "configs" / "wmt16_en_ro.yaml")
    validate(config)
    with pytest.raises(ConfigError, match="wmt16_en_ro has en->ro; got en->de"):
        validate({**config, "data": {**config["data"], "tgt_lang": "de"},
                  "evaluation": {**config["evaluation"], "bleu_variants": []}})
    with pytest.raises(ConfigError, match="data.manual.europarl_v7: wmt16_en_ro has no such file"):
        validate({**config, "data": {**config["data"], "manual": {"europarl_v7": "/x"}}})
    with pytest.raises(ConfigError, match="data.manual.europarl_v8: file not found"):
        validate({**config, "data": {**config["data"],
                                     "manual": {"europarl_v8": str(tmp_path / "x")}}})
    with pytest.raises(ConfigError) as err:  # a directory given for a file
        validate({**config, "data": {**config["data"], "manual": {"europarl_v8": str(tmp_path)}}})
    assert str(err.value) == (f"config error at data.manual.europarl_v8: {tmp_path} is a "
                              "directory, not a file")
    with pytest.raises(ConfigError, match="data.local.train.src: file not found"):
        validate(merged_config(REPO / "configs" / "nist12_zh_en.yaml"))
    validate(merged_config(REPO / "configs" / "wmt14_en_de.yaml"))


def dry_run(*args: str) -> subprocess.CompletedProcess:
    return run_snakemake("-n", *args)


@pytest.mark.workflow
def test_dry_run_of_wmt16_plans_the_downloads_offline(tmp_path):
    run = dry_run("--configfile", str(REPO / "configs" / "wmt16_en_ro.yaml"),
                  "--config", f"results_dir={tmp_path}")
    assert run.returncode == 0, run.stderr[-3000:]
    planned = set(re.findall(r"output: \S+/downloads/(\S+)", run.stdout))
    assert planned == {f.name for f in REGISTRY["wmt16_en_ro"].files}
    assert re.search(r"prepare_corpus\s+3\b", run.stdout) and "train_teacher" in run.stdout
    assert not any(tmp_path.iterdir())  # planned, nothing fetched or written


@pytest.mark.workflow
def test_dry_run_of_multi30k_plans_its_downloads_and_three_test_sets_offline(tmp_path):
    run = dry_run("--configfile", str(REPO / "configs" / "multi30k_en_de.yaml"),
                  "--config", f"results_dir={tmp_path}")
    assert run.returncode == 0, run.stderr[-3000:]
    planned = set(re.findall(r"output: \S+/downloads/(\S+)", run.stdout))
    corpus = registry_corpus("multi30k", "en", "de")
    task1 = {f.name for f in corpus.files if f.id not in corpus.mono["task2"]}
    task2 = {f.name for f in corpus.files if f.id in corpus.mono["task2"]}  # the config's mono
    assert planned == task1 | task2 and (len(task1), len(task2)) == (10, 5)
    assert re.search(r"prepare_corpus\s+5\b", run.stdout)
    assert re.search(r"prepare_mono\s+1\b", run.stdout)
    evaluated = re.findall(r"rule evaluate_system:\n(?:\s+input: .*\n)\s+output: (.*)",
                           run.stdout)
    wd_seed3 = next(out for out in evaluated if "eval/stu1/wd/seed3/" in out)
    for testset in ("test_2016_flickr", "test_2017_flickr", "test_2017_mscoco"):
        assert f"eval/stu1/wd/seed3/{testset}.json" in wd_seed3
    assert not any(tmp_path.iterdir())  # planned, nothing fetched or written


def test_a_local_corpus_may_have_further_test_sets(tmp_path):
    local = local_corpus(tmp_path, n_refs=2)
    write_lines(tmp_path / "news.en", ["x", "y", "z"])
    write_lines(tmp_path / "news.ro", ["ş", "b", "c"])
    local["news"] = {"src": str(tmp_path / "news.en"), "tgt": str(tmp_path / "news.ro")}
    data = {"source": "local", "local": local}
    assert experiment_testsets(data) == ["test", "news"]
    assert [reference_count(data, t) for t in ("test", "news")] == [2, 1]
    prepare_local(local, tmp_path / "raw", ("en", "ro"), CleanSettings())
    assert read_lines(tmp_path / "raw" / "news.tgt") == ["ş", "b", "c"]  # as supplied
    assert len(read_lines(tmp_path / "raw" / "test.tgt.1")) == 2


@pytest.mark.workflow
def test_dry_run_of_a_local_corpus_plans_every_reference(tmp_path):
    local = local_corpus(tmp_path, n_refs=4)
    local["news"] = local["valid"]  # a further test set, scored after the primary one
    config = tmp_path / "local.yaml"
    config.write_text(yaml.safe_dump({"experiment": "loc", "data": {
        "source": "local", "src_lang": "en", "tgt_lang": "ro", "local": local}}))
    run = dry_run("--configfile", str(config), "--config", f"results_dir={tmp_path / 'r'}")
    assert run.returncode == 0, run.stderr[-3000:]
    outputs = re.search(r"rule copy_local:\n\s+input: .*\n\s+output: (.*)", run.stdout).group(1)
    names = [Path(p).name for p in outputs.split(", ")]
    assert names[-3:] == ["test.tgt.1", "test.tgt.2", "test.tgt.3"]
    assert {"news.src", "news.tgt"} < set(names)
    assert "eval/teacher/teacher/seed1/news.json" in run.stdout


def run_rules(tmp_path: Path, target: Path, *overlays: dict) -> subprocess.CompletedProcess:
    """A real (not dry) snakemake run of the WMT16 config up to ``target``, with results under
    ``tmp_path`` and config overlays on top."""
    files = []
    for index, overlay in enumerate(overlays):
        files.append(tmp_path / f"overlay{index}.yaml")
        files[-1].write_text(yaml.safe_dump(overlay))
    return run_snakemake("--cores", "1", str(target), "--configfile",
                         str(REPO / "configs" / "wmt16_en_ro.yaml"), *map(str, files),
                         "--config", f"results_dir={tmp_path}")


@pytest.mark.workflow
def test_prepare_rule_extracts_a_downloaded_test_set(tmp_path):
    part = REGISTRY["wmt16_en_ro"].splits["test"][0]
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "wmt16_test.tgz").write_bytes(
        tgz({part.members[0]: sgm(["Hello .", "Two"]), part.members[1]: sgm([CEDILLA, "Doi"])}))
    run = run_rules(tmp_path, tmp_path / "wmt16_en_ro" / "data" / "raw" / "test.tgt")
    assert run.returncode == 0, run.stderr[-3000:]
    raw = tmp_path / "wmt16_en_ro" / "data" / "raw"
    assert read_lines(raw / "test.src") == ["Hello .", "Two"]
    assert read_lines(raw / "test.tgt") == [CEDILLA, "Doi"]  # the reference as published


@pytest.mark.workflow
def test_download_rule_rejects_a_manual_copy_with_the_wrong_checksum(tmp_path):
    wrong = tmp_path / "dev.tgz"
    wrong.write_bytes(b"not the newsdev2016 tarball")
    run = run_rules(tmp_path, tmp_path / "downloads" / "wmt16_dev.tgz",
                    {"data": {"manual": {"wmt16_dev": str(wrong)}}})
    assert run.returncode != 0
    log = (tmp_path / "downloads" / "logs" / "wmt16_dev.tgz.log").read_text()
    assert "checksum mismatch for data.manual.wmt16_dev" in log and "md5:4a3dc276" in log
    assert not (tmp_path / "downloads" / "wmt16_dev.tgz").exists() and wrong.exists()
