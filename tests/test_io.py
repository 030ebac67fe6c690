"""Files: atomic writes (nothing half-written under the real name), UTF-8 errors that name the
file and line, and one alignment check for parallel streams."""
import json
import os

import pytest

from wd.io import atomic_dir, atomic_path, check_aligned, read_lines, write_json, write_lines


def test_invalid_utf8_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nbroken \xff here\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: not valid UTF-8"):
        read_lines(bad)


def test_misaligned_streams_name_the_first_and_the_differing_one_with_counts():
    assert check_aligned(("a.en", ["x", "y"]), ("a.ro", ["u", "v"])) == 2
    with pytest.raises(ValueError, match=r"^misaligned: a.en has 2 lines, a.de has 1$"):
        check_aligned(("a.en", ["x", "y"]), ("a.ro", ["u", "v"]), ("a.de", ["w"]))
    with pytest.raises(ValueError, match=r"has 1 sentences, b has 0$"):
        check_aligned(("a", ["x"]), ("b", []), unit="sentences")


def test_write_lines_is_atomic_and_rejects_embedded_newlines(tmp_path):
    out = tmp_path / "out.txt"
    assert write_lines(out, ["a", "b"]) == 2
    with pytest.raises(ValueError):
        write_lines(out, ["ok", "not\nok"])
    assert out.read_text() == "a\nb\n"  # the earlier file is untouched
    assert not list(tmp_path.glob("*.tmp"))


def test_atomic_path_renames_on_success_and_removes_the_draft_on_error(tmp_path):
    out = tmp_path / "sub" / "plot.png"
    with atomic_path(out, suffix=".png") as tmp:
        assert tmp.name == "plot.png.tmp.png" and tmp.parent.is_dir()
        tmp.write_bytes(b"png")
    assert out.read_bytes() == b"png" and not tmp.exists()
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert out.read_bytes() == b"png" and not tmp.exists()


def test_write_json(tmp_path):
    write_json(tmp_path / "x.json", {"a": [1, 2]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": [1, 2]}


def test_a_directory_replaces_the_old_one_only_when_complete(tmp_path):
    out = tmp_path / "model"
    with atomic_dir(out) as draft:
        (draft / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as draft:
            (draft / "a").write_text("2")
            raise RuntimeError("crash while writing")
    assert (out / "a").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["model"]


def record_disk_writes(monkeypatch) -> list:
    """(event, name) of every fsync and rename, in order."""
    events, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", os.path.basename(dst)))
        real_replace(src, dst)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_a_file_is_on_disk_before_its_rename_and_the_rename_after(tmp_path, monkeypatch):
    events = record_disk_writes(monkeypatch)
    write_lines(tmp_path / "out.txt", ["a"])
    assert events == [("fsync", "out.txt.tmp"), ("rename", "out.txt"),
                      ("fsync", tmp_path.name)]


def test_a_directory_and_its_files_are_on_disk_before_its_rename(tmp_path, monkeypatch):
    events = record_disk_writes(monkeypatch)
    with atomic_dir(tmp_path / "pkg") as tmp:
        (tmp / "model.bin").write_bytes(b"x")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "card.md").write_text("y")
    assert {name for event, name in events[:3]} == {"model.bin", "card.md", tmp.name}
    assert events[2:] == [("fsync", tmp.name), ("rename", "pkg"), ("fsync", tmp_path.name)]
