"""Contiguous shards of a line file, so that KD decoding runs as N independent (cluster) jobs,
and the re-joining of their outputs with every shard's line count checked against the count
recorded when the source was split: a lost or duplicated line is an error, never a silently
misaligned KD corpus."""

from __future__ import annotations

import json
from pathlib import Path

from wd.io import read_lines, write_json, write_lines


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
    (JSON). Returns the counts."""
    lines = read_lines(src)
    written = [write_lines(out, lines[start:end])
               for out, (start, end) in zip(shards, shard_bounds(len(lines), len(shards)))]
    record = {"source": str(src), "lines": len(lines),
              "shards": [{"file": Path(out).name, "lines": n} for out, n in zip(shards, written)]}
    write_json(counts, record)
    return written


def join_files(shards: list[Path], counts: Path, out: Path) -> int:
    """Concatenate the shard outputs in order into ``out`` after checking each one's line count
    against ``counts`` (written by :func:`split_file`). Returns the number of lines."""
    recorded = json.loads(Path(counts).read_text(encoding="utf-8"))["shards"]
    if len(recorded) != len(shards):
        raise ShardError(f"{counts} records {len(recorded)} shards, got {len(shards)} outputs")
    joined: list[str] = []
    for index, (path, entry) in enumerate(zip(shards, recorded)):
        lines = read_lines(path)
        if len(lines) != entry["lines"]:
            raise ShardError(f"shard {index} ({path}) has {len(lines)} lines, its source shard "
                             f"{entry['file']} had {entry['lines']} (recorded in {counts})")
        joined += lines
    return write_lines(out, joined)
