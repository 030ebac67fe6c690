"""The finished part of a long line-by-line job (KD decoding of a shard), kept under a temporary
name while the job runs, so that a job stopped or killed midway resumes where it was instead of
starting over. The final output is written only when every line is done.

Format: a first line with the job's identity (JSON), then one ``[index, text]`` JSON line per
finished item. A torn last line (a kill during a write) is ignored; a journal written for
another identity (another model, source or search) is discarded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)


class Journal:
    def __init__(self, path: Path, identity: dict):
        self.path, self.identity = Path(path), identity

    def open(self) -> bool:
        """Whether the journal holds finished items of this job. A torn last line is cut off
        (later appends start a new line); a journal of another job, or a damaged one, is
        removed. Reads the first line and the end only: a journal may be gigabytes."""
        if not self.path.exists():
            return False
        _cut_torn_line(self.path)
        with open(self.path, "rb") as handle:
            first = handle.readline()
        try:
            same = json.loads(first) == {"identity": self.identity}
        except ValueError:
            same = False
        if not same:
            log.warning("%s belongs to another job or is damaged: starting over", self.path)
            self.remove()
        return same

    def entries(self) -> Iterator[tuple[int, str]]:
        """The finished items in the order they were written (after :meth:`open`); an item
        damaged by a machine crash is left out (it is done again)."""
        with open(self.path, "rb") as handle:
            handle.readline()  # the identity
            for line in handle:
                try:
                    index, text = json.loads(line)
                except (ValueError, TypeError):
                    continue
                yield int(index), text

    def load(self) -> dict[int, str]:
        """The items finished so far ({} without a usable journal, which is then removed)."""
        return dict(self.entries()) if self.open() else {}

    def append(self, items: Iterable[tuple[int, str]]) -> None:
        """Record finished items (one write, flushed before returning)."""
        new = not self.path.exists()
        text = "".join(json.dumps([index, line], ensure_ascii=False) + "\n"
                       for index, line in items)
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"identity": self.identity}) + "\n" + text
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _cut_torn_line(path: Path, block: int = 1 << 16) -> None:
    """Truncate ``path`` after its last newline (a kill during a write leaves a torn line)."""
    with open(path, "r+b") as handle:
        end = handle.seek(0, 2)
        at = end
        while at > 0:
            start = max(0, at - block)
            handle.seek(start)
            newline = handle.read(at - start).rfind(b"\n")
            if newline >= 0:
                if start + newline + 1 < end:
                    handle.truncate(start + newline + 1)
                return
            at = start
        handle.truncate(0)
