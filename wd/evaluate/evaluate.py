"""Evaluation in two kinds of job: each system decodes and scores every test set in its own job
(:func:`evaluate_system`, so adding a system decodes only it), and one job times all systems
together on the primary test set (:func:`time_systems`).

Timing all systems in the same job on the same device and thread count is what makes the
student/teacher speed-ups comparable. Every system is loaded first and decodes one untimed
warm-up batch; then the timed sentences are decoded ``timed_passes`` times per system, the
systems interleaved (each pass starts one system later, so none is always first or always last
while the machine warms up or is disturbed), and each system's median time is reported. Where
CTranslate2 is timed too (:mod:`wd.decode.ct2`, float32 and int8), its runs join the same
interleaving.
"""

from __future__ import annotations

import logging
import random
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
from wd.decode.engines import resolve, translate_with
from wd.decode.search import translate
from wd.evaluate.metrics import read_references, score
from wd.io import read_lines, write_json, write_lines
from wd.model.checkpoint import load_model
from wd.model.transformer import Transformer
from wd.settings import SearchSettings

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
    """One test set a system is scored on: its BPE source, its references, and the result json
    to write (the hypotheses go beside it, suffix ``.hyp``)."""

    name: str
    src_pieces: Path
    references: Sequence[Path]
    output: Path


def evaluate_system(model_path: Path, bpe_model: Path, testsets: Sequence[TestSet],
                    tgt_lang: str, search: SearchSettings, device: torch.device,
                    bleu_variants: Sequence[str] = (), ct2_types: Sequence[str] = (),
                    engine: str = "ours") -> None:
    """Decode each test set with one system and score it: BLEU and chrF against all its
    references and each of ``bleu_variants``, the hypotheses from ``engine`` (``ours``,
    ``ctranslate2`` or ``auto``, resolved as :func:`wd.decode.engines.resolve` does it); on the
    first (primary) test set with ``ct2_types`` also CTranslate2's BLEU (``<engine>_bleu``) and
    the share of its hypotheses equal to ours (``<engine>_same_output``). Speeds come from
    :func:`time_systems`."""
    sp = load_bpe(bpe_model)
    model, meta = load_model(model_path, device)
    name = resolve(engine, device, "evaluation.engine")
    for number, testset in enumerate(testsets):
        sources = pieces_to_ids(sp, read_lines(testset.src_pieces))
        refs = read_references(testset.references)
        hyps = translate_with(name, model, sources, search, device)
        text = ids_to_text(sp, hyps, tgt_lang)
        result = {**score(text, refs, bleu_variants), **meta,
                  **_decoding(sources, hyps, search, device), "eval_engine": name}
        log.info("%s on %s: BLEU %.2f chrF %.2f", model_path, testset.name, result["bleu"],
                 result["chrf"])
        with tempfile.TemporaryDirectory() as workdir:
            engines = ct2_runners({"": model}, search, device, ct2_types if number == 0 else (),
                                  Path(workdir))
            ours = hyps if name == "ours" or not engines else translate(model, sources, search,
                                                                             device)
            for (_, kind), run in engines.items():
                theirs = run(sources)
                same = sum(a == b for a, b in zip(theirs, ours)) / len(ours)
                bleu = score(ids_to_text(sp, theirs, tgt_lang), refs)["bleu"]
                result |= {f"{kind}_bleu": bleu, f"{kind}_same_output": same}
                log.info("%s in %s: BLEU %.2f, %.1f%% of hypotheses equal to ours", kind,
                         testset.name, bleu, 100 * same)
        _write(testset.output, text, result)


def timed_sample(count: int, wanted: int) -> list[int]:
    """The indices of the timed sentences: all with ``wanted`` 0, else a seeded sample (sorted),
    the same for every run of the experiment."""
    if not wanted or wanted >= count:
        return list(range(count))
    return sorted(random.Random(0).sample(range(count), wanted))


def time_systems(models: dict[str, Path], bpe_model: Path, src_pieces: Path,
                 search: SearchSettings, device: torch.device, timed_passes: int = 3,
                 timed_sentences: int = 0, ct2_types: Sequence[str] = ()) -> dict[str, dict]:
    """Per system ``name -> checkpoint``: its speeds on ``timed_sentences`` sentences of the
    primary test set (0: all), its runs interleaved with every other system's (module
    docstring), and with ``ct2_types`` its CTranslate2 speeds (``<engine>_sents_per_sec``)."""
    sp = load_bpe(bpe_model)
    loaded = {name: load_model(path, device)[0] for name, path in models.items()}
    sources = pieces_to_ids(sp, read_lines(src_pieces))
    sources = [sources[i] for i in timed_sample(len(sources), timed_sentences)]
    runners = {(name, "ours"): partial(translate, model, s=search, device=device)
               for name, model in loaded.items()}
    with tempfile.TemporaryDirectory() as workdir:
        runners |= ct2_runners(loaded, search, device, ct2_types, Path(workdir))
        hyps, seconds = interleaved_timings(runners, sources, search.batch_size, device,
                                            timed_passes)
    speeds: dict[str, dict] = {}
    for name in loaded:
        median = statistics.median(seconds[name, "ours"])
        result = {"timed_sentences": len(sources), "decode_seconds": round(median, 3),
                  "decode_seconds_passes": [round(t, 3) for t in seconds[name, "ours"]],
                  "sents_per_sec": round(len(sources) / median, 2),
                  "tokens_per_sec": round(sum(len(h) for h in hyps[name, "ours"]) / median, 1),
                  "device": _device_name(device), "threads": torch.get_num_threads()}
        for engine in [e for system, e in runners if system == name and e != "ours"]:
            result[f"{engine}_sents_per_sec"] = round(
                len(sources) / statistics.median(seconds[name, engine]), 2)
        log.info("%s: %.1f sent/s (median of %d passes)%s", name, result["sents_per_sec"],
                 timed_passes, "".join(f", {key} {value}" for key, value in result.items()
                                       if key.startswith("ct2")))
        speeds[name] = result
    return speeds


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
