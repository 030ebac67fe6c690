"""Decode the test sets with every system in one process, time the primary one, and score them
all (wd.evaluate.metrics).

Timing all systems in the same job on the same device and thread count is what makes the
student/teacher speed-ups comparable. Every system is loaded first and decodes one untimed
warm-up batch; then the test set is decoded ``timed_passes`` times per system, the systems
interleaved (each pass starts one system later, so none is always first or always last while the
machine warms up or is disturbed), and each system's median time is reported. Where CTranslate2
is timed too (:mod:`wd.decode.ct2`, float32 and int8), its runs join the same interleaving.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import torch

from wd.data.batching import pieces_to_ids
from wd.data.bpe import ids_to_text, load_bpe
from wd.decode.ct2 import Ct2Translator
from wd.decode.search import translate
from wd.evaluate.metrics import read_references, score
from wd.io import read_lines, write_json, write_lines
from wd.model.transformer import Transformer
from wd.settings import SearchSettings
from wd.train.checkpoint import load_model

log = logging.getLogger(__name__)
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


def ct2_runners(models: dict[str, Transformer], search: SearchSettings, device: torch.device,
                types: Sequence[str], workdir: Path) -> dict[tuple[str, str], Runner]:
    """``(system, engine) -> runner`` for each model in CTranslate2 with each compute type
    (engine ``ct2`` for float32, ``ct2_<type>`` for the others), exported once under
    ``workdir``."""
    runners = {}
    for i, (name, model) in enumerate(models.items()):
        for compute_type in types:
            engine = "ct2" if compute_type == "float32" else f"ct2_{compute_type}"
            translator = Ct2Translator(model, workdir / str(i), compute_type, device,
                                       torch.get_num_threads())
            runners[name, engine] = partial(translator.translate, s=search)
    return runners


@dataclass(frozen=True)
class TestSet:
    """One test set to score every system on: its BPE source, its references, and per system
    name the result json to write (the hypotheses go beside it, suffix ``.hyp``)."""

    name: str
    src_pieces: Path
    references: Sequence[Path]
    outputs: dict[str, Path]


def evaluate_all(models: dict[str, Path], bpe_model: Path, testsets: Sequence[TestSet],
                 tgt_lang: str, search: SearchSettings, device: torch.device,
                 bleu_variants: Sequence[str] = (), timed_passes: int = 3,
                 ct2_types: Sequence[str] = ()) -> None:
    """Decode, time and score each system ``name -> checkpoint`` on the first (primary) test
    set: BLEU and chrF against all its references, each of ``bleu_variants``, and with
    ``ct2_types`` the CTranslate2 speeds (``<engine>_sents_per_sec``, ``<engine>_bleu``, the
    share of its hypotheses equal to ours). The further test sets are decoded once, untimed,
    and scored the same way without the speed fields."""
    sp = load_bpe(bpe_model)
    loaded = {name: load_model(path, device) for name, path in models.items()}
    primary, *others = testsets
    _timed_results(primary, loaded, sp, tgt_lang, search, device, bleu_variants, timed_passes,
                   ct2_types)
    for testset in others:
        sources = pieces_to_ids(sp, read_lines(testset.src_pieces))
        refs = read_references(testset.references)
        for name, (model, meta) in loaded.items():
            ours = translate(model, sources, s=search, device=device)
            text = ids_to_text(sp, ours, tgt_lang)
            result = {**score(text, refs, bleu_variants), **meta,
                      **_decoding(sources, ours, search, device)}
            _write(testset.outputs[name], text, result)
            log.info("%s on %s: BLEU %.2f chrF %.2f", name, testset.name, result["bleu"],
                     result["chrf"])


def _timed_results(testset: TestSet, loaded: dict[str, tuple[Transformer, dict]], sp,
                   tgt_lang: str, search: SearchSettings, device: torch.device,
                   bleu_variants: Sequence[str], timed_passes: int,
                   ct2_types: Sequence[str]) -> None:
    """The primary test set: every system's runners timed together (module docstring)."""
    sources = pieces_to_ids(sp, read_lines(testset.src_pieces))
    refs = read_references(testset.references)
    models = {name: model for name, (model, _) in loaded.items()}
    runners = {(name, "ours"): partial(translate, model, s=search, device=device)
               for name, model in models.items()}
    with tempfile.TemporaryDirectory() as workdir:
        runners |= ct2_runners(models, search, device, ct2_types, Path(workdir))
        hyps, seconds = interleaved_timings(runners, sources, search.batch_size, device,
                                            timed_passes)
    for name, (_, meta) in loaded.items():
        ours = hyps[name, "ours"]
        text = ids_to_text(sp, ours, tgt_lang)
        median = statistics.median(seconds[name, "ours"])
        result = {**score(text, refs, bleu_variants), **meta,
                  **_decoding(sources, ours, search, device),
                  "decode_seconds": round(median, 3),
                  "decode_seconds_passes": [round(t, 3) for t in seconds[name, "ours"]],
                  "sents_per_sec": round(len(sources) / median, 2),
                  "tokens_per_sec": round(sum(len(h) for h in ours) / median, 1)}
        log.info("%s on %s: BLEU %.2f chrF %.2f, %.1f sent/s (median of %d passes)", name,
                 testset.name, result["bleu"], result["chrf"], result["sents_per_sec"],
                 timed_passes)
        for engine in [e for system, e in runners if system == name and e != "ours"]:
            same = sum(a == b for a, b in zip(hyps[name, engine], ours)) / len(ours)
            speed = round(len(sources) / statistics.median(seconds[name, engine]), 2)
            bleu = score(ids_to_text(sp, hyps[name, engine], tgt_lang), refs)["bleu"]
            result |= {f"{engine}_sents_per_sec": speed, f"{engine}_bleu": bleu,
                       f"{engine}_same_output": same}
            log.info("%s in %s: %.1f sent/s, BLEU %.2f, %.1f%% of hypotheses equal to ours",
                     name, engine, speed, bleu, 100 * same)
        _write(testset.outputs[name], text, result)


def _decoding(sources: list[list[int]], hyps: list[list[int]], search: SearchSettings,
              device: torch.device) -> dict:
    """The result fields that say what was decoded, and how."""
    return {"sentences": len(sources), "target_tokens": sum(len(h) for h in hyps),
            "beam": search.beam, "int8": search.int8, "batch_size": search.batch_size,
            "device": _device_name(device), "threads": torch.get_num_threads()}


def _write(json_out: Path, text: list[str], result: dict) -> None:
    """The hypotheses first, then the json that marks the system as evaluated."""
    write_lines(Path(json_out).with_suffix(".hyp"), text)
    write_json(json_out, result)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"
