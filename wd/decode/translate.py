"""The pipeline's decoding step: translate a file of BPE pieces (the KD data's shards) with our
decoder or CTranslate2, resumable after a stop or a kill."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from wd import faults, stopping
from wd.data.batching import pieces_to_ids
from wd.data.bpe import ids_to_pieces, load_bpe
from wd.data.stream import iter_lines, read_chunks
from wd.decode import engines
from wd.decode.journal import Journal
from wd.io import write_lines
from wd.model.checkpoint import load_model
from wd.progress import Progress
from wd.runtime import file_digest
from wd.settings import EngineSettings, SearchSettings

log = logging.getLogger(__name__)


CHUNK = 100_000  # source sentences decoded at a time: memory holds one chunk's ids and outputs


def translate_file(model_path: Path, bpe_model: Path, src: Path, out: Path,
                   search: SearchSettings, device: torch.device,
                   engine: EngineSettings = EngineSettings(), record: Path | None = None,
                   chunk: int = CHUNK) -> int:
    """Translate a file of BPE pieces into a file of BPE pieces with ``engine.engine``; line
    counts are asserted. With CTranslate2, a sample is checked against our decoder before ``out``
    is written (:func:`wd.decode.engines.check`); ``record`` gets the engine and the check's result
    as JSON.

    The source streams ``chunk`` sentences at a time (batches are sorted by length within a
    chunk), so that a shard of millions of lines takes the memory of one chunk. Finished batches
    are journaled in ``<out>.partial`` (:class:`wd.decode.journal.Journal`): a run stopped by
    SIGTERM/SIGUSR1/SIGINT after a batch (exit status 75), or killed, resumes there; ``out`` is
    written from the journal, in order, when every sentence is done.
    """
    model, _ = load_model(model_path, device)
    sp = load_bpe(bpe_model)
    total = sum(1 for _ in iter_lines(src))
    name = engines.resolve(engine.engine, device)
    identity = {"model": file_digest(model_path), "source": file_digest(src),
                "search": dataclasses.asdict(search)}
    journal = Journal(partial_path(out), identity if name == "ours" else {**identity,
                                                                           "engine": name})
    per_chunk = (Counter(index // chunk for index, _ in journal.entries()) if journal.open()
                 else Counter())
    done = sum(per_chunk.values())
    if done:
        log.info("resuming from %s: %d of %d sentences translated", journal.path, done, total)
    log.info("decoding with %s (kd.engine: %s)", name, engine.engine)
    progress = Progress(log, f"translating {src}", total, "sentences", done=done)
    with stopping.stop_signals(), engines.batch_decoder(name, model, search, device) as batches:
        for number, lines in enumerate(read_chunks(src, chunk)):
            if per_chunk[number] >= len(lines):
                continue
            start = number * chunk
            skip = frozenset(index - start for index, _ in journal.entries()
                             if index // chunk == number) if per_chunk[number] else frozenset()
            for batch, hyps in batches(pieces_to_ids(sp, lines), skip):
                journal.append(zip([start + i for i in batch], ids_to_pieces(sp, hyps)))
                done += len(batch)
                progress.update(done)
                faults.pause_point("decode.batch", out=out, done=done)
                if done < total:
                    stopping.stop_if_requested(f"{done} of {total} sentences of {src} "
                                               f"translated, kept in {journal.path}")
    result = {"engine": "ours", "checked": 0, "identical": None}
    if name != "ours":
        wanted = set(engines.check_sample(total, engine))
        sample = {i: pieces_to_ids(sp, [line])[0] for i, line in enumerate(iter_lines(src))
                  if i in wanted}
        outputs = {i: text for i, text in journal.entries() if i in wanted}
        result = engines.check(model, sample, outputs, lambda ids: ids_to_pieces(sp, ids),
                               search, engine, device, str(src))
        log.info("engine check: %s of %d sampled sentences identical to our decoder "
                 "(kd.min_identical %s)", result["identical"], result["checked"],
                 engine.min_identical)
    if record is not None:
        write_lines(record, [json.dumps(result)])
    written = write_lines(out, in_order(journal.entries(), total, journal.path))
    journal.remove()
    return written


def in_order(entries: Iterable[tuple[int, str]], total: int, where: Path) -> Iterator[str]:
    """The texts of ``(index, text)`` entries in index order, ``0 .. total - 1``, each given as
    soon as those before it are (entries come about in order: a chunk's batches at a time)."""
    pending: dict[int, str] = {}
    following = 0
    for index, text in entries:
        pending[index] = text
        while following in pending:
            yield pending.pop(following)
            following += 1
    if following != total:
        raise RuntimeError(f"{where}: sentence {following} of {total} was never translated")


def partial_path(out: Path) -> Path:
    """Where :func:`translate_file` keeps the finished part of ``out``."""
    return Path(out).with_name(Path(out).name + ".partial")
