"""Decoding speed measured fairly: every system timed several times, the systems interleaved."""
import torch

from wd import evaluate
from wd.settings import SearchSettings


def test_timed_passes_interleave_the_systems_and_report_every_time(monkeypatch):
    calls = []

    def fake_translate(model, sources, search, device):
        calls.append((model, len(sources)))
        return [[5]] * len(sources)

    monkeypatch.setattr(evaluate, "translate", fake_translate)
    models = {"teacher": "T", "kd": "K", "wd": "W"}
    hyps, seconds = evaluate.interleaved_timings(models, [[4, 5]] * 10, SearchSettings(
        batch_size=2), torch.device("cpu"), passes=3)
    warm_up, timed = calls[:3], [model for model, n in calls[3:]]
    assert warm_up == [("T", 2), ("K", 2), ("W", 2)]  # one batch each, untimed
    assert timed == ["T", "K", "W", "K", "W", "T", "W", "T", "K"]  # each pass one system later
    assert {name: len(times) for name, times in seconds.items()} == {"teacher": 3, "kd": 3,
                                                                    "wd": 3}
    assert hyps["wd"] == [[5]] * 10
