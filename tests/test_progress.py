"""Progress lines: rate and ETA from a clock the test moves, at most one per interval."""
import io
import logging

from wd.progress import Progress, duration


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_lines_come_at_most_every_interval_with_rate_and_eta(caplog):
    clock, log = Clock(), logging.getLogger("wd.test")
    progress = Progress(log, "translating", 1000, "sentences", done=200, interval=30,
                        clock=clock)
    with caplog.at_level(logging.INFO, logger="wd.test"):
        clock.now += 10
        progress.update(300)  # within the interval: nothing
        clock.now += 30
        progress.update(600)  # 400 sentences in 40 s since the start: 10/s, 400 left
        progress.update(650, force=True, extra="lr 0.001")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["translating: 600 of 1000 sentences (60%), 10 sentences/s, ETA 40s",
                     "translating: 650 of 1000 sentences (65%), 11.2 sentences/s, ETA 31s, "
                     "lr 0.001"]


def test_unknown_total_and_no_progress_yet(caplog):
    clock = Clock()
    progress = Progress(logging.getLogger("wd.test"), "download", None, "bytes", clock=clock)
    with caplog.at_level(logging.INFO, logger="wd.test"):
        progress.update(0, force=True)
        Progress(logging.getLogger("wd.test"), "kd", 10, "sentences", clock=clock).update(
            0, force=True)
    assert [r.getMessage() for r in caplog.records] == [
        "download: 0 bytes, 0 bytes/s", "kd: 0 of 10 sentences (0%), 0 sentences/s, ETA unknown"]


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (0, 42, 185, 3720, 90061)] == ["0s", "42s", "3m05s", "1h02m",
                                                                 "25h01m"]


def test_a_bar_follows_every_update_and_lines_keep_their_interval(caplog):
    clock, bar = Clock(), io.StringIO()
    progress = Progress(logging.getLogger("wd.test"), "kd", 10, "sentences", done=2,
                        clock=clock, bar=bar)
    with caplog.at_level(logging.INFO, logger="wd.test"):
        progress.update(5)
        assert progress.bar.n == 5 and not caplog.records  # the bar moved, no line yet
        progress.update(10)
        progress.close()
    assert "10/10" in bar.getvalue() and "kd" in bar.getvalue()
