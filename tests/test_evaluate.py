"""Decoding speed measured fairly: every system timed several times, the systems interleaved."""
import torch

from wd.evaluate import evaluate


def test_timed_passes_interleave_the_systems_and_report_every_time():
    calls = []

    def runner(name):
        def run(sources):
            calls.append((name, len(sources)))
            return [[5]] * len(sources)
        return run

    runners = {key: runner(key) for key in ("teacher", "kd", ("wd", "ct2"))}
    hyps, seconds = evaluate.interleaved_timings(runners, [[4, 5]] * 10, 2, torch.device("cpu"),
                                                 passes=3)
    warm_up, timed = calls[:3], [name for name, n in calls[3:]]
    assert warm_up == [("teacher", 2), ("kd", 2), (("wd", "ct2"), 2)]  # one batch each, untimed
    T, K, W = "teacher", "kd", ("wd", "ct2")
    assert timed == [T, K, W, K, W, T, W, T, K]  # each pass starts one system later
    assert {name: len(times) for name, times in seconds.items()} == {T: 3, K: 3, W: 3}
    assert hyps[W] == [[5]] * 10
