import pytest

from wd.data.text import check_aligned, detokenize, read_lines, tokenize, write_lines


def test_invalid_utf8_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nbroken \xff here\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: not valid UTF-8"):
        read_lines(bad)


def test_misaligned_corpus_names_both_files_and_counts(tmp_path):
    (tmp_path / "a.en").write_text("one\ntwo\n")
    (tmp_path / "a.ro").write_text("unu\n")
    with pytest.raises(ValueError, match=r"a.en has 2 lines, .*a.ro has 1"):
        check_aligned(tmp_path / "a.en", tmp_path / "a.ro")


def test_write_lines_is_atomic_and_rejects_embedded_newlines(tmp_path):
    out = tmp_path / "out.txt"
    assert write_lines(out, ["a", "b"]) == 2
    with pytest.raises(ValueError):
        write_lines(out, ["ok", "not\nok"])
    assert out.read_text() == "a\nb\n"  # the earlier file is untouched
    assert not list(tmp_path.glob("*.tmp"))


def test_moses_round_trip():
    text = "Fata, pe care o văd, cântă frumos."
    tokens = tokenize(text, "ro")
    assert tokens.split()[1] == "," and tokens.endswith(" .")
    assert detokenize(tokens, "ro") == text
