"""Waiting for another process to reach a state: on a condition, never for a duration, so that
the fault tests pass on a machine of any speed. Jobs are held at a named point by
``wd.faults.pause_point`` (enabled by :func:`pause_env`) until the test acts."""

from __future__ import annotations

import os
import select
import subprocess
from collections.abc import Callable
from pathlib import Path

from wd.faults import PAUSE_AT, PAUSE_FILE


def pause_env(pattern: str, marker: Path) -> dict[str, str]:
    """The environment that holds the first job to reach a point matching ``pattern``; the
    job creates ``marker`` when it gets there."""
    return {**os.environ, PAUSE_AT: pattern, PAUSE_FILE: str(marker)}


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen, what: str) -> None:
    """Return once ``condition()`` holds; fail if ``proc`` ends first."""
    while not condition():
        try:
            proc.wait(timeout=0.05)  # returns at once when the process ends
        except subprocess.TimeoutExpired:
            continue
        if not condition():
            raise AssertionError(f"the process ended (status {proc.returncode}) before {what}")


def wait_gone(pids: list[int]) -> None:
    """Return once every process in ``pids`` has ended (a pidfd wakes at its exit)."""
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            select.select([fd], [], [])
        finally:
            os.close(fd)


def group_alive(pgid: int) -> list[int]:
    """PIDs of live (non-zombie) processes in process group ``pgid``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive
