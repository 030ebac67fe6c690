"""A clean stop before a cluster's time limit.

SLURM sends SIGTERM when a job reaches its time limit (then SIGKILL after ``KillWait``, 30 s by
default), and with ``sbatch --signal=TERM@<seconds>`` that many seconds ahead of it; Ctrl-C
sends SIGINT to every process of the terminal's job. While a training or decoding loop runs
inside :func:`stop_signals`, SIGTERM, SIGUSR1 and SIGINT only record the request; the loop
calls :func:`stop_if_requested` at its next safe point (after the current
update or batch, once its progress is saved), which exits the process with :data:`EXIT_STOPPED`.
The workflow then resubmits the job (``retries`` in the SLURM profile) and it resumes.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
EXIT_STOPPED = 75  # EX_TEMPFAIL (sysexits.h): a temporary failure; running it again will resume

_received: list[int] = []


class Stopped(SystemExit):
    """A job stopped on request with its progress saved. A ``SystemExit`` (so ``except
    Exception`` does not swallow it) whose exit status is :data:`EXIT_STOPPED`."""

    def __init__(self, message: str):
        super().__init__(EXIT_STOPPED)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _record(signum: int, _frame) -> None:
    _received.append(signum)


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block, SIGTERM, SIGUSR1 and SIGINT are recorded instead of ending the
    process.

    Only the main thread can install signal handlers; elsewhere the block changes nothing.
    Blocks nest; the outermost one forgets requests recorded before it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _record) for sig in SIGNALS}
    if all(handler is not _record for handler in previous.values()):
        _received.clear()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def requested() -> str | None:
    """The name of the first stop signal received inside :func:`stop_signals`, or None."""
    return signal.Signals(_received[0]).name if _received else None


def stopped(progress: str) -> Stopped:
    """The :class:`Stopped` to raise at a safe point, logged; ``progress`` says what was saved.
    (In a job of several processes, those that got no signal stop with the one that did.)"""
    cause = requested() or "a stop signal to another process of the job"
    stop = Stopped(f"stopped by {cause}: {progress}; exit status {EXIT_STOPPED}, run the job "
                   "again to resume")
    log.warning("%s", stop)
    return stop


def stop_if_requested(progress: str) -> None:
    """Raise :func:`stopped` if a stop signal came."""
    if requested() is not None:
        raise stopped(progress)
