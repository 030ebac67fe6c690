"""The pipeline's decoding step: translate a file of BPE pieces (the KD data's shards) with our
decoder or CTranslate2, resumable after a stop or a kill."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import torch

from wd import faults, stopping
from wd.data.batching import pieces_to_ids
from wd.data.bpe import ids_to_pieces, load_bpe
from wd.decode import engines
from wd.decode.journal import Journal
from wd.io import read_lines, write_lines
from wd.model.checkpoint import load_model
from wd.progress import Progress
from wd.runtime import file_digest
from wd.settings import EngineSettings, SearchSettings

log = logging.getLogger(__name__)


def translate_file(model_path: Path, bpe_model: Path, src: Path, out: Path,
                   search: SearchSettings, device: torch.device,
                   engine: EngineSettings = EngineSettings(), record: Path | None = None) -> int:
    """Translate a file of BPE pieces into a file of BPE pieces with ``engine.engine``; line
    counts are asserted. With CTranslate2, a sample is checked against our decoder before ``out``
    is written (:func:`wd.decode.engines.check`); ``record`` gets the engine and the check's result
    as JSON.

    Finished batches are journaled in ``<out>.partial`` (:class:`wd.decode.journal.Journal`): a run
    stopped by SIGTERM/SIGUSR1 after a batch (exit status 75), or killed, resumes there.
    """
    model, _ = load_model(model_path, device)
    sp = load_bpe(bpe_model)
    sources = pieces_to_ids(sp, read_lines(src))
    name = engines.resolve(engine.engine, device)
    identity = {"model": file_digest(model_path), "source": file_digest(src),
                "search": dataclasses.asdict(search)}
    journal = Journal(partial_path(out), identity if name == "ours" else {**identity,
                                                                           "engine": name})
    done = journal.load()
    if done:
        log.info("resuming from %s: %d of %d sentences translated", journal.path, len(done),
                 len(sources))
    log.info("decoding with %s (kd.engine: %s)", name, engine.engine)
    progress = Progress(log, f"translating {src}", len(sources), "sentences", done=len(done))
    with stopping.stop_signals(), engines.batch_decoder(name, model, search, device) as batches:
        for batch, hyps in batches(sources, frozenset(done)):
            texts = ids_to_pieces(sp, hyps)
            journal.append(zip(batch, texts))
            done.update(zip(batch, texts))
            progress.update(len(done))
            faults.pause_point("decode.batch", out=out, done=len(done))
            if len(done) < len(sources):
                stopping.stop_if_requested(f"{len(done)} of {len(sources)} sentences of {src} "
                                           f"translated, kept in {journal.path}")
    result = {"engine": "ours", "checked": 0, "identical": None}
    if name != "ours":
        result = engines.check(model, sources, done, lambda ids: ids_to_pieces(sp, ids), search,
                               engine, device, str(src))
        log.info("engine check: %s of %d sampled sentences identical to our decoder "
                 "(kd.min_identical %s)", result["identical"], result["checked"],
                 engine.min_identical)
    if record is not None:
        write_lines(record, [json.dumps(result)])
    written = write_lines(out, (done[i] for i in range(len(sources))))
    journal.remove()
    if written != len(sources):
        raise RuntimeError(f"{out}: wrote {written} lines for {len(sources)} sources in {src}")
    return written


def partial_path(out: Path) -> Path:
    """Where :func:`translate_file` keeps the finished part of ``out``."""
    return Path(out).with_name(Path(out).name + ".partial")
