"""Timing decoders fairly: one decoding timed (synchronised on a GPU), and several decoders'
runs interleaved, each pass starting one decoder later, so that none is always first or last
while the machine warms up or is disturbed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import torch

K = TypeVar("K")
Runner = Callable[[list[list[int]]], list[list[int]]]  # token-id sources -> hypotheses


def timed(run: Runner, sources: list[list[int]], device: torch.device
          ) -> tuple[list[list[int]], float]:
    """Hypotheses and the seconds one decoding of ``sources`` took."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    hyps = run(sources)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return hyps, time.perf_counter() - start


def interleaved_timings(runners: dict[K, Runner], sources: list[list[int]], warm_up: int,
                        device: torch.device, passes: int
                        ) -> tuple[dict[K, list[list[int]]], dict[K, list[float]]]:
    """Each runner's hypotheses and its ``passes`` decoding times, pass ``p`` starting with the
    ``p``-th runner (after each decoded the first ``warm_up`` sources untimed)."""
    names = list(runners)
    for name in names:
        runners[name](sources[:warm_up])
    hyps: dict[K, list[list[int]]] = {}
    seconds: dict[K, list[float]] = {name: [] for name in names}
    for p in range(passes):
        for name in names[p % len(names):] + names[: p % len(names)]:
            hyps[name], elapsed = timed(runners[name], sources, device)
            seconds[name].append(elapsed)
    return hyps, seconds


