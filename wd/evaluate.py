"""Decode a test set with every system in one process, time it, and score it (wd.metrics).

Timing all systems in the same job on the same device and thread count is what makes the
student/teacher speed-ups comparable. Every system is loaded first and decodes one untimed
warm-up batch; then the test set is decoded ``timed_passes`` times per system, the systems
interleaved (each pass starts one system later, so none is always first or always last while the
machine warms up or is disturbed), and each system's median time is reported.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from wd.checkpoint import load_model
from wd.data.batching import pieces_to_ids
from wd.data.bpe import ids_to_text, load_bpe
from wd.decode import translate
from wd.io import read_lines, write_json, write_lines
from wd.metrics import read_references, score
from wd.settings import SearchSettings

log = logging.getLogger(__name__)


def timed_translate(model: torch.nn.Module, sources: list[list[int]], search: SearchSettings,
                    device: torch.device) -> tuple[list[list[int]], float]:
    """Hypotheses and the seconds one decoding of ``sources`` took."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    hyps = translate(model, sources, search, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return hyps, time.perf_counter() - start


def interleaved_timings(models: dict[str, torch.nn.Module], sources: list[list[int]],
                        search: SearchSettings, device: torch.device,
                        passes: int) -> tuple[dict[str, list[list[int]]], dict[str, list[float]]]:
    """Each system's hypotheses and its ``passes`` decoding times, pass ``p`` starting with the
    ``p``-th system (after one untimed warm-up batch each)."""
    names = list(models)
    for name in names:
        translate(models[name], sources[: search.batch_size], search, device)
    hyps: dict[str, list[list[int]]] = {}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for p in range(passes):
        for name in names[p % len(names):] + names[: p % len(names)]:
            hyps[name], elapsed = timed_translate(models[name], sources, search, device)
            seconds[name].append(elapsed)
    return hyps, seconds


def evaluate_all(systems: dict[str, tuple[Path, Path]], bpe_model: Path, src_pieces: Path,
                 references: Sequence[Path], tgt_lang: str, search: SearchSettings,
                 device: torch.device, bleu_variants: Sequence[str] = (),
                 timed_passes: int = 3) -> dict[str, dict]:
    """Decode, time and score each system ``name -> (checkpoint, result json)`` against all
    ``references`` (primary BLEU and chrF, and each of ``bleu_variants``); write each result
    json and, beside it with the suffix ``.hyp``, the detokenised hypotheses."""
    sp = load_bpe(bpe_model)
    sources = pieces_to_ids(sp, read_lines(src_pieces))
    refs = read_references(references)
    loaded = {name: load_model(model_path, device) for name, (model_path, _) in systems.items()}
    hyps, seconds = interleaved_timings({name: m for name, (m, _) in loaded.items()}, sources,
                                        search, device, timed_passes)
    results = {}
    for name, (model_path, json_out) in systems.items():
        text = ids_to_text(sp, hyps[name], tgt_lang)
        write_lines(Path(json_out).with_suffix(".hyp"), text)
        tokens = sum(len(h) for h in hyps[name])
        median = statistics.median(seconds[name])
        results[name] = {**score(text, refs, bleu_variants), **loaded[name][1],
                         "sentences": len(sources), "target_tokens": tokens,
                         "decode_seconds": round(median, 3),
                         "decode_seconds_passes": [round(t, 3) for t in seconds[name]],
                         "sents_per_sec": round(len(sources) / median, 2),
                         "tokens_per_sec": round(tokens / median, 1), "beam": search.beam,
                         "int8": search.int8, "batch_size": search.batch_size,
                         "device": _device_name(device), "threads": torch.get_num_threads()}
        log.info("%s: BLEU %.2f chrF %.2f, %.1f sent/s (median of %d passes)", model_path,
                 results[name]["bleu"], results[name]["chrf"], results[name]["sents_per_sec"],
                 timed_passes)
        write_json(json_out, results[name])
    return results


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"
