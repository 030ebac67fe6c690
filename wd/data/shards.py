"""Contiguous shards of a line file, so that KD decoding runs as N independent (cluster) jobs,
and the re-joining of their outputs with every shard's line count checked against the count
recorded when the source was split: a lost or duplicated line is an error, never a silently
misaligned KD corpus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from wd.data.stream import iter_lines
from wd.io import write_json, write_lines


class ShardError(ValueError):
    """Shard outputs that do not match the split; the message names the shard file."""


def shard_bounds(n_lines: int, n_shards: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each shard: contiguous, in order, sizes differing by at most one."""
    if n_shards < 1:
        raise ValueError(f"number of shards must be at least 1, got {n_shards}")
    size, extra = divmod(n_lines, n_shards)
    bounds, start = [], 0
    for index in range(n_shards):
        end = start + size + (index < extra)
        bounds.append((start, end))
        start = end
    return bounds


def split_file(src: Path, shards: list[Path], counts: Path) -> list[int]:
    """Write ``src`` as ``len(shards)`` contiguous shards; record their line counts in ``counts``
    (JSON). Returns the counts. Streams ``src`` twice: once to count its lines (and check them,
    before any shard is written), once to write the shards."""
    n_lines = sum(1 for _ in iter_lines(src))
    lines = iter_lines(src)
    written = [write_lines(out, islice(lines, end - start))
               for out, (start, end) in zip(shards, shard_bounds(n_lines, len(shards)))]
    record = {"source": str(src), "lines": n_lines,
              "shards": [{"file": Path(out).name, "lines": n} for out, n in zip(shards, written)]}
    write_json(counts, record)
    return written


def join_files(shards: list[Path], counts: Path, out: Path) -> int:
    """Concatenate the shard outputs in order into ``out`` after checking each one's line count
    against ``counts`` (written by :func:`split_file`). Returns the number of lines. A wrong
    count stops the join midway; ``out`` is then not written (:func:`wd.io.write_lines`)."""
    recorded = json.loads(Path(counts).read_text(encoding="utf-8"))["shards"]
    if len(recorded) != len(shards):
        raise ShardError(f"{counts} records {len(recorded)} shards, got {len(shards)} outputs")
    return write_lines(out, _checked_lines(shards, recorded, counts))


def _checked_lines(shards: list[Path], recorded: list[dict], counts: Path) -> Iterator[str]:
    """The lines of ``shards`` in order, each shard's count checked at its end."""
    for index, (path, entry) in enumerate(zip(shards, recorded)):
        count = 0
        for count, line in enumerate(iter_lines(path), 1):
            yield line
        if count != entry["lines"]:
            raise ShardError(f"shard {index} ({path}) has {count} lines, its source shard "
                             f"{entry['file']} had {entry['lines']} (recorded in {counts})")
