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
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


class Journal:
    def __init__(self, path: Path, identity: dict):
        self.path, self.identity = Path(path), identity

    def load(self) -> dict[int, str]:
        """The items finished so far ({} without a usable journal, which is then removed)."""
        if not self.path.exists():
            return {}
        raw = self.path.read_bytes()
        whole = raw.rfind(b"\n") + 1
        if whole < len(raw):  # a torn last line: cut it off, later appends start a new line
            with open(self.path, "r+b") as handle:
                handle.truncate(whole)
        lines = raw[:whole].split(b"\n")[:-1]
        try:
            same = bool(lines) and json.loads(lines[0]) == {"identity": self.identity}
        except ValueError:
            same = False
        if not same:
            log.warning("%s belongs to another job or is damaged: starting over", self.path)
            self.remove()
            return {}
        done: dict[int, str] = {}
        for line in lines[1:]:
            try:
                index, text = json.loads(line)
            except (ValueError, TypeError):  # damaged by a machine crash: the item is redone
                continue
            done[int(index)] = text
        return done

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
