"""Line files read a bounded piece at a time, so that preparing a corpus takes the same memory
whatever its size (holding a whole side as Python strings took gigabytes at WMT size). The
lines are those of :func:`wd.io.read_lines`; writing needs nothing new, as
:func:`wd.io.write_lines` consumes its lines lazily and writes them atomically."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from wd.io import InputError, decode_lines, naming_damaged_gzip, open_bytes

CHUNK_LINES = 10_000  # a chunk of WMT-like lines is a few MB; big enough to amortise a call


def iter_lines(path: Path, errors: str = "strict") -> Iterator[str]:
    """The lines of a plain or gzip (``.gz``) file one at a time, as :func:`wd.io.read_lines`
    gives them: UTF-8, no ``\\n``, no trailing ``\\r``; a line that is not UTF-8 is an error
    naming the file and the line."""
    path = Path(path)
    with open_bytes(path) as handle, naming_damaged_gzip(path):
        yield from decode_lines(handle, str(path), errors)


def read_chunks(path: Path, size: int = CHUNK_LINES) -> Iterator[list[str]]:
    """:func:`iter_lines` in lists of ``size`` lines (the last may be shorter), for steps that
    work on many lines per call (sentencepiece, a worker process)."""
    lines = iter_lines(path)
    while chunk := list(islice(lines, size)):
        yield chunk


def zip_aligned(first: tuple[str, Iterable[str]], second: tuple[str, Iterable[str]],
                unit: str = "lines") -> Iterator[tuple[str, str]]:
    """The pairs of two (name, lines) streams that must be parallel; streams of different
    lengths are an error naming both and both counts (as :func:`wd.io.check_aligned`), found
    when the shorter one ends."""
    (first_name, first_lines), (second_name, second_lines) = first, second
    first_lines, second_lines = iter(first_lines), iter(second_lines)
    count = 0
    for line in first_lines:
        other = next(second_lines, None)
        if other is None:
            more = 1 + sum(1 for _ in first_lines)
            raise InputError(f"misaligned: {first_name} has {count + more} {unit}, "
                             f"{second_name} has {count}")
        count += 1
        yield line, other
    more = sum(1 for _ in second_lines)
    if more:
        raise InputError(f"misaligned: {first_name} has {count} {unit}, {second_name} has "
                         f"{count + more}")
