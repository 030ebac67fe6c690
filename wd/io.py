"""Files as every step writes and reads them.

Every output is written under a temporary name beside it and renamed when complete
(:func:`atomic_path`), so a crash never leaves a half file that looks finished; the data is
flushed to disk before the rename and the directory entry after it, so that a machine crash (not
only a killed process) cannot leave an empty file under the finished name either. Text is UTF-8
with ``\n`` line endings, one sentence per line.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def fsync(path: Path) -> None:
    """Flush ``path`` to disk: a file's data, or a directory's entries (a rename in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_replace(tmp: Path, path: Path) -> None:
    """Rename the finished ``tmp`` (a file, or a directory and every file in it) to ``path``:
    its data on disk before the rename, the rename itself after."""
    for item in [*(p for p in tmp.rglob("*") if p.is_file()), tmp] if tmp.is_dir() else [tmp]:
        fsync(item)
    os.replace(tmp, path)
    fsync(path.parent)


@contextmanager
def atomic_path(path: Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block ends,
    removed if it raises. ``suffix`` ends the temporary name, for writers that pick the format
    from it (matplotlib)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp" + suffix)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    durable_replace(tmp, path)


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """:func:`atomic_path` for a directory: a fresh temporary directory beside ``path`` to fill,
    which replaces ``path`` when the block ends and is removed if it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    durable_replace(tmp, path)


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """Write lines atomically; return how many were written."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            if "\n" in line:
                raise ValueError(f"{path}: line {count + 1} contains a newline")
            handle.write(line + "\n")
            count += 1
    return count


def write_json(path: Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8")


def split_lines(raw: bytes, where: str, errors: str = "strict") -> list[str]:
    """Decode newline-separated UTF-8 text into lines (no newline, no trailing CR).

    ``errors="strict"``: a line that is not UTF-8 is an error naming ``where`` and the line.
    ``errors="surrogateescape"``: its bad bytes become lone surrogates, so that cleaning can count
    and drop such lines (``wd.data.clean``) instead of failing the whole corpus.
    """
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for number, line in enumerate(lines, 1):
        try:
            out.append(line.decode("utf-8", errors).rstrip("\r"))
        except UnicodeDecodeError as err:
            raise ValueError(f"{where}:{number}: not valid UTF-8 ({err.reason})") from None
    return out


def read_lines(path: Path, errors: str = "strict") -> list[str]:
    """Lines of a plain or gzip (``.gz``) text file; see ``split_lines`` for ``errors``."""
    path = Path(path)
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as handle:
        raw = handle.read()
    return split_lines(raw, str(path), errors)


def check_aligned(*streams: tuple[str, Sequence], unit: str = "lines") -> int:
    """The common length of ``(name, items)`` streams that must be parallel (a corpus' sides, a
    test set's references); different lengths are an error naming the first stream and the
    first that differs."""
    (first, items), *others = streams
    for name, other in others:
        if len(other) != len(items):
            raise ValueError(f"misaligned: {first} has {len(items)} {unit}, "
                             f"{name} has {len(other)}")
    return len(items)
