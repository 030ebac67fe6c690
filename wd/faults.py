"""Named points where a test can hold a job mid-work (fault injection), so that a fault test
decides when a job is killed or signalled instead of racing it.

Off unless the environment sets both variables (tests set them; they pass through Snakemake and
SLURM to the jobs):

- ``WD_PAUSE_AT``: an ``fnmatch`` pattern for a point's description ``<point> key=value ...``,
  e.g. ``train.update step=5 work=*/teacher/work`` or ``decode.batch out=*/train.1.tgt *``.
- ``WD_PAUSE_FILE``: the first process to reach a matching point creates this file (atomically,
  holding its process id and the description) and waits there until it is asked to stop
  (SIGTERM or SIGUSR1, see :mod:`wd.stopping`) or the file is removed. Later matches, in any
  process, go on: a job resubmitted after the stop does not pause again.
"""

from __future__ import annotations

import logging
import os
import time
from fnmatch import fnmatchcase
from pathlib import Path

from wd import stopping

log = logging.getLogger(__name__)

PAUSE_AT, PAUSE_FILE = "WD_PAUSE_AT", "WD_PAUSE_FILE"
POLL_SECONDS = 0.01


def describe(point: str, **details) -> str:
    return " ".join([point, *(f"{key}={value}" for key, value in details.items())])


def pause_point(point: str, **details) -> None:
    """Wait here if ``WD_PAUSE_AT`` matches this point and no process has paused yet."""
    pattern, marker = os.environ.get(PAUSE_AT), os.environ.get(PAUSE_FILE)
    if not pattern or not marker:
        return
    where = describe(point, **details)
    if not fnmatchcase(where, pattern):
        return
    marker = Path(marker)
    draft = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    draft.write_text(f"{os.getpid()} {where}\n")
    try:
        os.link(draft, marker)  # atomic, and fails if another process paused first
    except FileExistsError:
        return
    finally:
        draft.unlink()
    log.warning("paused at '%s' until a stop signal or the removal of %s", where, marker)
    while marker.exists() and stopping.requested() is None:
        time.sleep(POLL_SECONDS)
