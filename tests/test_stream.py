"""Streaming preparation (#42): tokenisation, BPE application and KD split/join read a chunk at a
time and write exactly the bytes of the whole-file code they replace."""
import gzip

import pytest

from wd.data.bpe import encode_file, load_bpe, train_bpe
from wd.data.shards import ShardError, join_files, split_file
from wd.data.stream import iter_lines, read_chunks
from wd.data.text import tokenize, tokenize_file
from wd.data.toy import generate_toy_corpus
from wd.io import read_lines

SENTENCES = ["Hello, world!", "It's 3.5 o'clock -- isn't it?", "\"Quoted\" (text) & more…",
             "Fata, pe care o văd, cântă frumos.", "", "U.S.A. costs $1,000.00; e.g. now.",
             "a  b\tc", "«Guillemets» and – dashes — here", "Don't stop: 100% sure..."]


@pytest.mark.parametrize("raw", [
    b"a\nb\n", b"a\nb", b"", b"\n", b"a\r\n\r\nc\r", b"x\n\n\ny\n", "über\n€\n".encode()])
@pytest.mark.parametrize("name", ["text", "text.gz"])
def test_streamed_lines_are_read_lines(tmp_path, raw, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    assert list(iter_lines(path)) == read_lines(path)
    assert [line for chunk in read_chunks(path, 2) for line in chunk] == read_lines(path)
    assert all(0 < len(chunk) <= 2 for chunk in read_chunks(path, 2))


def test_a_line_that_is_not_utf8_is_named_as_read_lines_names_it(tmp_path):
    path = tmp_path / "text"
    path.write_bytes(b"ok\nalso ok\nbad \xff\n")
    with pytest.raises(ValueError) as whole:
        read_lines(path)
    with pytest.raises(ValueError) as streamed:
        list(iter_lines(path))
    assert str(streamed.value) == str(whole.value)
    assert str(whole.value) == f"{path}:3: not valid UTF-8 (invalid start byte)"


def test_chunked_bpe_application_is_the_whole_file_encoding(tmp_path):
    generate_toy_corpus(tmp_path, seed=5, sizes={"train": 40})
    train_bpe([tmp_path / "train.src", tmp_path / "train.tgt"], tmp_path / "spm.model", 120,
              seed=5)
    sp = load_bpe(tmp_path / "spm.model")
    src = tmp_path / "train.src"
    whole = "".join(" ".join(p) + "\n" for p in sp.encode(read_lines(src))).encode()  # before #42
    for chunk in (3, 40, 10_000):
        assert encode_file(sp, src, tmp_path / f"bpe.{chunk}", chunk=chunk) == 40
        assert (tmp_path / f"bpe.{chunk}").read_bytes() == whole
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.process
def test_tokenisation_in_worker_processes_is_the_per_line_result(tmp_path):
    src = tmp_path / "raw.en"
    src.write_text("".join(line + "\n" for line in SENTENCES * 2), encoding="utf-8")
    per_line = "".join(tokenize(line, "en") + "\n" for line in read_lines(src)).encode()
    for workers in (1, 2):
        out = tmp_path / f"tok.{workers}"
        assert tokenize_file(src, out, "en", workers=workers, chunk=3) == 2 * len(SENTENCES)
        assert out.read_bytes() == per_line


def test_kd_split_join_round_trip_and_a_lost_line(tmp_path):
    source = tmp_path / "train.src.gz"
    source.write_bytes(gzip.compress(b"".join(f"s{i}\n".encode() for i in range(11))))
    shards = [tmp_path / f"train.{i}.src" for i in range(3)]
    assert split_file(source, shards, tmp_path / "counts.json") == [4, 4, 3]
    joined = tmp_path / "joined"
    assert join_files(shards, tmp_path / "counts.json", joined) == 11
    assert joined.read_bytes() == gzip.decompress(source.read_bytes())

    shards[2].write_text("s8\ns9\n")  # the last shard's last line lost
    with pytest.raises(ShardError, match=r"shard 2 \(.*train\.2\.src\) has 2 lines, its source "
                                         r"shard train\.2\.src had 3"):
        join_files(shards, tmp_path / "counts.json", tmp_path / "lost")
    assert not (tmp_path / "lost").exists() and not list(tmp_path.glob("lost*"))
