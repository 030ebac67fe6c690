"""Stop signals and pause points in one process: what the fault tests rely on."""
import os
import signal

import pytest

from wd import faults
from wd.faults import PAUSE_AT, PAUSE_FILE
from wd.stopping import EXIT_STOPPED, Stopped, requested, stop_if_requested, stop_signals


def test_a_stop_signal_inside_the_block_is_recorded_and_stops_at_the_safe_point():
    before = signal.getsignal(signal.SIGTERM)
    with stop_signals():
        stop_if_requested("nothing yet")  # no signal: goes on
        os.kill(os.getpid(), signal.SIGUSR1)
        assert requested() == "SIGUSR1"
        with pytest.raises(Stopped) as stop:
            stop_if_requested("3 of 5 done")
    assert stop.value.code == EXIT_STOPPED and not isinstance(stop.value, Exception)
    assert str(stop.value) == ("stopped by SIGUSR1: 3 of 5 done; exit status 75, run the job "
                               "again to resume")
    assert signal.getsignal(signal.SIGTERM) is before
    with stop_signals():  # a new block forgets the old request
        assert requested() is None


def test_pause_point_holds_only_the_first_process_at_a_matching_point(tmp_path, monkeypatch):
    marker = tmp_path / "paused"
    monkeypatch.setenv(PAUSE_AT, "train.update step=5 *")
    monkeypatch.setenv(PAUSE_FILE, str(marker))
    faults.pause_point("train.update", step=4, work=tmp_path)  # no match: no pause, no marker
    assert not marker.exists()
    marker.write_text("123 train.update step=5 work=elsewhere\n")  # another process paused
    faults.pause_point("train.update", step=5, work=tmp_path)  # so this one goes on
    with stop_signals():  # a held process goes on when asked to stop
        marker.unlink()
        os.kill(os.getpid(), signal.SIGTERM)
        faults.pause_point("train.update", step=5, work=tmp_path)
    assert marker.read_text() == f"{os.getpid()} train.update step=5 work={tmp_path}\n"
    assert list(tmp_path.iterdir()) == [marker]
