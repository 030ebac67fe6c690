"""What a system costs as users deploy it: each CTranslate2 variant's size on disk and its speed
on one CPU thread (Bergamot and Firefox Translations ship students that way), words per second
for batches of 32 sentences and the median latency of one sentence alone.

The one-thread runs of every system and variant are interleaved as the evaluation's own timings
are (:func:`wd.evaluate.evaluate.interleaved_timings`), and the latency is measured a sentence at
a time, each sentence through every system and variant in turn, so that a disturbance of the
machine falls on all of them alike.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch

from wd.data.bpe import Tokenizer, ids_to_text
from wd.data.shortlist import Shortlist, write_vmap
from wd.decode.ct2 import Ct2Translator
from wd.evaluate.timing import interleaved_timings, timed
from wd.export.ct2 import export_model, vocabulary
from wd.export.variants import VARIANTS
from wd.model.transformer import Transformer
from wd.settings import SearchSettings

BATCH = 32              # sentences a batch in the words-per-second measure
LATENCY_SENTENCES = 50  # sentences timed alone for the latency


def _megabytes(path: Path) -> float:
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files) / 2**20


def sizes(model: Transformer, variants: list[str], workdir: Path,
          shortlist: Shortlist | None) -> dict[str, float]:
    """Engine -> megabytes on disk of the variant's CTranslate2 directory: float32 weights, or
    int8 weights (with the vocabulary map beside them)."""
    out = {}
    for engine in variants:
        compute_type, vmap, _ = VARIANTS[engine]
        directory = workdir / f"size_{engine}"
        quantization = None if compute_type == "float32" else compute_type
        vmap_file = None
        if vmap:
            vmap_file = workdir / f"size_{engine}.vmap.txt"
            write_vmap(shortlist, vocabulary(model, None), vmap_file)
        export_model(model, directory, vocabulary(model, None), quantization, vmap=vmap_file)
        out[engine] = round(_megabytes(directory), 3)
    return out


def one_thread(translators: dict[tuple[str, str], Ct2Translator], sources: list[list[int]],
               search: SearchSettings, sp: Tokenizer, tgt_lang: str, passes: int
               ) -> dict[tuple[str, str], dict]:
    """``(system, engine) -> {words_per_sec_1t, latency_ms_1t}`` of one-thread translators."""
    cpu = torch.device("cpu")
    batched = replace(search, batch_size=BATCH)
    runners = {key: partial(t.translate, s=batched) for key, t in translators.items()}
    hyps, seconds = interleaved_timings(runners, sources, BATCH, cpu, passes)
    single = replace(search, batch_size=1)
    latency: dict[tuple[str, str], list[float]] = {key: [] for key in translators}
    for src in sources[:LATENCY_SENTENCES]:
        for key, translator in translators.items():
            _, elapsed = timed(partial(translator.translate, s=single), [src], cpu)
            latency[key].append(elapsed)
    out = {}
    for key in translators:
        words = sum(len(line.split()) for line in ids_to_text(sp, hyps[key], tgt_lang))
        out[key] = {"words_per_sec_1t": round(words / statistics.median(seconds[key]), 1),
                    "latency_ms_1t": round(1000 * statistics.median(latency[key]), 2)}
    return out
