"""Progress lines for long loops (downloads, KD decoding, training): how far, how fast, and when
it will end, as plain log lines that rule logs keep; and a tqdm bar for a command a person
watches on a terminal (wd-translate). Snakemake jobs never draw bars: several run at once on one
terminal, and their logs are files."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm


def duration(seconds: float) -> str:
    """``1h02m``, ``3m05s``, ``42s``: a human ETA."""
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def terminal() -> TextIO | None:
    """Standard error where it is a terminal (a bar is worth drawing), else None."""
    return sys.stderr if sys.stderr.isatty() else None


class Progress:
    """Logs ``done`` of ``total`` ``unit`` with the rate since it started and an ETA, at most
    every ``interval`` seconds (``force`` logs now). ``done`` may start above zero (a resumed
    job): the rate counts only what this process did. With ``bar`` (a stream), a tqdm bar on
    it follows every update."""

    def __init__(self, log: logging.Logger, what: str, total: int | None, unit: str,
                 done: int = 0, interval: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, bar: TextIO | None = None):
        self.log, self.what, self.total, self.unit = log, what, total, unit
        self.interval, self.clock = interval, clock
        self.start = self.last = clock()
        self.start_done = done
        self.bar = None if bar is None else tqdm(total=total, initial=done, desc=what,
                                                 unit=f" {unit}", file=bar, dynamic_ncols=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, done: int, force: bool = False, extra: str = "") -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
        now = self.clock()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        rate = (done - self.start_done) / max(now - self.start, 1e-9)
        line = f"{self.what}: {done}"
        if self.total:
            left = (self.total - done) / rate if rate > 0 else float("inf")
            eta = duration(left) if left != float("inf") else "unknown"
            line += f" of {self.total} {self.unit} ({100 * done / self.total:.0f}%)"
        else:
            line += f" {self.unit}"
        line += f", {rate:.3g} {self.unit}/s"
        if self.total:
            line += f", ETA {eta}"
        self.log.info(line + (f", {extra}" if extra else ""))
