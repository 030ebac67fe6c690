"""Files: atomic writes (nothing half-written under the real name), UTF-8 errors that name the
file and line, and one alignment check for parallel streams."""
import errno
import gzip
import json
import os
import re
import stat
from pathlib import Path

import pytest

from wd.io import (
    InputError,
    NoSpaceError,
    OutputExists,
    atomic_dir,
    atomic_path,
    check_aligned,
    read_lines,
    write_csv,
    write_json,
    write_lines,
)


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
        assert re.fullmatch(rf"plot\.png\.{os.getpid()}-[0-9a-f]{{6}}\.tmp\.png", tmp.name)
        assert tmp.parent.is_dir()
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


def test_write_csv_writes_a_header_and_keeps_the_old_table_when_a_row_is_bad(tmp_path):
    out = tmp_path / "sub" / "table.csv"
    write_csv(out, [{"b": 1, "a": "x"}, {"b": 2, "a": "y,z"}])
    assert out.read_text().splitlines() == ["b,a", "1,x", '2,"y,z"']
    write_csv(out, [], fields=["a", "b"])
    assert out.read_text().splitlines() == ["a,b"]
    with pytest.raises(ValueError, match="fields not in fieldnames"):
        write_csv(out, [{"a": 1, "b": 2}, {"a": 3, "c": 4}])
    assert out.read_text().splitlines() == ["a,b"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["table.csv"]
    with pytest.raises(ValueError, match="table.csv: no rows"):
        write_csv(out, [])


def test_two_writers_of_one_output_never_share_a_draft(tmp_path):
    out = tmp_path / "out.txt"
    with atomic_path(out) as first, atomic_path(out) as second:
        assert first != second
        first.write_text("1")
        second.write_text("2")
    assert out.read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_directory_appears_only_when_complete_and_never_over_files(tmp_path):
    out = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as draft:
            (draft / "a").write_text("2")
            raise RuntimeError("crash while writing")
    assert list(tmp_path.iterdir()) == []
    out.mkdir()  # an empty directory is filled
    with atomic_dir(out) as draft:
        (draft / "a").write_text("1")
    assert (out / "a").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["model"]
    with pytest.raises(OutputExists, match=f"^{out} exists and is not empty: name a new "
                                           "directory, or give --force"):
        with atomic_dir(out) as draft:
            (draft / "a").write_text("2")
    assert (out / "a").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["model"]


def test_forced_a_directory_replaces_only_the_files_it_writes(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "a").write_text("old")
    (out / "notes.txt").write_text("the user's")
    (out / "sub").mkdir()
    (out / "sub" / "keep").write_text("the user's too")
    with atomic_dir(out, force=True) as draft:
        (draft / "a").write_text("new")
        (draft / "b").write_text("new")
    assert {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()} == {
        "a": "new", "b": "new", "notes.txt": "the user's", "sub/keep": "the user's too"}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.parametrize("where", ["cwd", "above cwd", "source", "inside source", "a file"])
def test_a_directory_is_never_written_over_the_working_directory_or_what_it_is_made_from(
        tmp_path, monkeypatch, where):
    source = tmp_path / "package"
    (source / "sub").mkdir(parents=True)
    (source / "model.bin").write_text("weights")
    monkeypatch.chdir(source / "sub")
    out = {"cwd": Path("."), "above cwd": tmp_path, "source": source,
           "inside source": source / "ct2", "a file": source / "model.bin"}[where]
    with pytest.raises(OutputExists):
        with atomic_dir(out, force=True, source=source) as draft:
            (draft / "model.bin").write_text("export")
    assert (source / "model.bin").read_text() == "weights"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["model.bin", "package", "sub"]


def test_outputs_get_the_umasks_permissions_whatever_the_writer_chose(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "pkg") as draft:
            (draft / "weights").write_text("x")
            (draft / "weights").chmod(0o600)  # as safetensors writes them
        with atomic_path(tmp_path / "file") as tmp:
            tmp.write_text("x")
            tmp.chmod(0o600)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    assert modes == {"pkg": 0o755, "weights": 0o644, "file": 0o644}


def test_a_full_disk_is_one_line_naming_the_file(tmp_path):
    def full(*_):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(NoSpaceError) as err:
        with atomic_path(tmp_path / "out.txt") as tmp, open(tmp, "w") as handle:
            handle.write = full
            handle.write("x")
    assert re.fullmatch(rf"no space left on device writing {tmp_path}/out.txt \(\d+ MiB free "
                        r"there\): free some space \(or point results_dir elsewhere\) and "
                        r"rerun; finished outputs and checkpoints are kept", str(err.value))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.gz", b"plain\n", "a.gz: named .gz but not gzip-compressed: rename it without .gz"),
    ("a", gzip.compress(b"x\n"), "a: gzip-compressed but not named .gz: rename it to a.gz"),
    ("a.gz", gzip.compress(b"x\n" * 100)[:-9], "a.gz: damaged gzip file"),
])
def test_a_files_name_must_say_what_it_is(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=f"^{tmp_path}/{re.escape(message)}"):
        read_lines(tmp_path / name)


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
    assert [(event, re.sub(r"\.\d+-\w+\.tmp$", ".tmp", name)) for event, name in events] == [
        ("fsync", "out.txt.tmp"), ("rename", "out.txt"), ("fsync", tmp_path.name)]


def test_a_directory_and_its_files_are_on_disk_before_its_rename(tmp_path, monkeypatch):
    events = record_disk_writes(monkeypatch)
    with atomic_dir(tmp_path / "pkg") as tmp:
        (tmp / "model.bin").write_bytes(b"x")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "card.md").write_text("y")
    assert {name for event, name in events[:3]} == {"model.bin", "card.md", tmp.name}
    assert events[2:] == [("fsync", tmp.name), ("rename", "pkg"), ("fsync", tmp_path.name)]
