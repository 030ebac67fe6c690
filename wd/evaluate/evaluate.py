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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import torch

from wd.data.batching import pieces_to_ids
from wd.data.bpe import ids_to_text, load_bpe
from wd.data.shortlist import Shortlist
from wd.decode.ct2 import Ct2Translator
from wd.decode.engines import resolve, translate_with
from wd.decode.search import translate
from wd.evaluate import deploy
from wd.evaluate.metrics import read_references, score
from wd.evaluate.timing import Runner, interleaved_timings
from wd.export.variants import VARIANTS
from wd.io import read_lines, write_json, write_lines
from wd.model.checkpoint import load_model
from wd.model.transformer import Transformer
from wd.settings import SearchSettings

log = logging.getLogger(__name__)
K = TypeVar("K")


def ct2_translators(models: dict[str, Transformer], device: torch.device,
                    variants: Sequence[str], workdir: Path, threads: int,
                    shortlist: Shortlist | None = None) -> dict[tuple[str, str], Ct2Translator]:
    """``(system, engine) -> translator`` for each model in each CTranslate2 variant
    (:data:`wd.decode.ct2.VARIANTS`), exported under ``workdir`` (once without the vocabulary
    map, once with it)."""
    translators = {}
    for i, (name, model) in enumerate(models.items()):
        for engine in variants:
            compute_type, vmap, _ = VARIANTS[engine]
            translators[name, engine] = Ct2Translator(
                model, workdir / f"{i}{'_vmap' if vmap else ''}", compute_type, device, threads,
                shortlist if vmap else None)
    return translators


def ct2_runners(models: dict[str, Transformer], search: SearchSettings, device: torch.device,
                variants: Sequence[str], workdir: Path, shortlist: Shortlist | None = None
                ) -> dict[tuple[str, str], Runner]:
    """``(system, engine) -> runner`` of :func:`ct2_translators` on the evaluation's threads."""
    return {key: partial(translator.translate, s=search) for key, translator in ct2_translators(
        models, device, variants, workdir, torch.get_num_threads(), shortlist).items()}


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
                    bleu_variants: Sequence[str] = (), ct2_variants: Sequence[str] = (),
                    engine: str = "ours", shortlist: Shortlist | None = None) -> None:
    """Decode each test set with one system and score it: BLEU and chrF against all its
    references and each of ``bleu_variants``, the hypotheses from ``engine`` (``ours``,
    ``ctranslate2`` or ``auto``, resolved as :func:`wd.decode.engines.resolve` does it); with
    ``ct2_variants`` (:data:`wd.decode.ct2.VARIANTS`; ``shortlist`` the vocabulary map's) also
    each deployment variant's BLEU and chrF (``<engine>_bleu``, ``<engine>_chrf``) and the
    share of its hypotheses equal to ours (``<engine>_same_output``). Speeds come from
    :func:`time_systems`."""
    sp = load_bpe(bpe_model)
    model, meta = load_model(model_path, device)
    name = resolve(engine, device, "evaluation.engine")
    for testset in testsets:
        sources = pieces_to_ids(sp, read_lines(testset.src_pieces))
        refs = read_references(testset.references)
        hyps = translate_with(name, model, sources, search, device)
        text = ids_to_text(sp, hyps, tgt_lang)
        result = {**score(text, refs, bleu_variants), **meta,
                  **_decoding(sources, hyps, search, device), "eval_engine": name}
        log.info("%s on %s: BLEU %.2f chrF %.2f", model_path, testset.name, result["bleu"],
                 result["chrf"])
        with tempfile.TemporaryDirectory() as workdir:
            engines = ct2_runners({"": model}, search, device, ct2_variants, Path(workdir),
                                  shortlist)
            ours = hyps if name == "ours" or not engines else translate(model, sources, search,
                                                                             device)
            for (_, kind), run in engines.items():
                theirs = run(sources)
                same = sum(a == b for a, b in zip(theirs, ours)) / len(ours)
                scores = score(ids_to_text(sp, theirs, tgt_lang), refs)
                result |= {f"{kind}_bleu": scores["bleu"], f"{kind}_chrf": scores["chrf"],
                           f"{kind}_same_output": same}
                log.info("%s in %s: BLEU %.2f, %.1f%% of hypotheses equal to ours", kind,
                         testset.name, scores["bleu"], 100 * same)
        _write(testset.output, text, result)


def timed_sample(count: int, wanted: int) -> list[int]:
    """The indices of the timed sentences: all with ``wanted`` 0, else a seeded sample (sorted),
    the same for every run of the experiment."""
    if not wanted or wanted >= count:
        return list(range(count))
    return sorted(random.Random(0).sample(range(count), wanted))


def time_systems(models: dict[str, Path], bpe_model: Path, src_pieces: Path,
                 search: SearchSettings, device: torch.device, timed_passes: int = 3,
                 timed_sentences: int = 0, ct2_variants: Sequence[str] = (),
                 shortlist: Shortlist | None = None, tgt_lang: str = "en"
                 ) -> dict[str, dict]:
    """Per system ``name -> checkpoint``: its speeds on ``timed_sentences`` sentences of the
    primary test set (0: all), its runs interleaved with every other system's (module
    docstring); with ``ct2_variants`` each CTranslate2 variant's speed on the evaluation's
    threads (``<engine>_sents_per_sec``), and as deployed (:mod:`wd.evaluate.deploy`): its size
    on disk (``<engine>_mb``) and its one-thread words per second and latency (output words
    counted in ``tgt_lang``)."""
    threads = torch.get_num_threads()  # CTranslate2 on one thread sets OpenMP's count to 1
    sp = load_bpe(bpe_model)
    loaded = {name: load_model(path, device)[0] for name, path in models.items()}
    sources = pieces_to_ids(sp, read_lines(src_pieces))
    sources = [sources[i] for i in timed_sample(len(sources), timed_sentences)]
    runners = {(name, "ours"): partial(translate, model, s=search, device=device)
               for name, model in loaded.items()}
    with tempfile.TemporaryDirectory() as workdir:
        runners |= ct2_runners(loaded, search, device, ct2_variants, Path(workdir), shortlist)
        hyps, seconds = interleaved_timings(runners, sources, search.batch_size, device,
                                            timed_passes)
        deployed, sizes = {}, {}
        if ct2_variants:  # as deployed: one CPU thread, sizes on disk
            on_one_thread = ct2_translators(loaded, torch.device("cpu"), ct2_variants,
                                            Path(workdir) / "1t", 1, shortlist)
            deployed = deploy.one_thread(on_one_thread, sources, search, sp, tgt_lang,
                                         timed_passes)
            sizes = {name: deploy.sizes(model.cpu(), ct2_variants, Path(workdir) / str(i),
                                        shortlist)
                     for i, (name, model) in enumerate(loaded.items())}
            torch.set_num_threads(threads)
    speeds: dict[str, dict] = {}
    for name in loaded:
        median = statistics.median(seconds[name, "ours"])
        result = {"timed_sentences": len(sources), "decode_seconds": round(median, 3),
                  "decode_seconds_passes": [round(t, 3) for t in seconds[name, "ours"]],
                  "sents_per_sec": round(len(sources) / median, 2),
                  "tokens_per_sec": round(sum(len(h) for h in hyps[name, "ours"]) / median, 1),
                  "device": _device_name(device), "threads": threads}
        for engine in ct2_variants:
            result[f"{engine}_sents_per_sec"] = round(
                len(sources) / statistics.median(seconds[name, engine]), 2)
            result[f"{engine}_mb"] = sizes[name][engine]
            result |= {f"{engine}_{key}": value
                       for key, value in deployed[name, engine].items()}
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
