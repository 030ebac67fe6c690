"""Line files read a bounded piece at a time, so that preparing a corpus takes the same memory
whatever its size (holding a whole side as Python strings took gigabytes at WMT size). The
lines are those of :func:`wd.io.read_lines`; writing needs nothing new, as
:func:`wd.io.write_lines` consumes its lines lazily and writes them atomically."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from wd.io import InputError, naming_damaged_gzip, open_bytes

CHUNK_LINES = 10_000  # a chunk of WMT-like lines is a few MB; big enough to amortise a call


def iter_lines(path: Path) -> Iterator[str]:
    """The lines of a plain or gzip (``.gz``) file one at a time, as :func:`wd.io.read_lines`
    gives them: UTF-8, no ``\\n``, no trailing ``\\r``; a line that is not UTF-8 is an error
    naming the file and the line."""
    path = Path(path)
    with open_bytes(path) as handle, naming_damaged_gzip(path):
        yield from decode_lines(handle, str(path))


def decode_lines(handle: BinaryIO, where: str) -> Iterator[str]:
    """The lines of a binary stream (a file, standard input) as :func:`iter_lines` gives them;
    ``where`` names the stream in errors."""
    for number, raw in enumerate(handle, 1):
        try:
            line = raw.removesuffix(b"\n").decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(f"{where}:{number}: not valid UTF-8 ({err.reason})") from None
        yield line.rstrip("\r")


def read_chunks(path: Path, size: int = CHUNK_LINES) -> Iterator[list[str]]:
    """:func:`iter_lines` in lists of ``size`` lines (the last may be shorter), for steps that
    work on many lines per call (sentencepiece, a worker process)."""
    lines = iter_lines(path)
    while chunk := list(islice(lines, size)):
        yield chunk
