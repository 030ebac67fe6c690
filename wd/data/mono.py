"""Monolingual source text for the KD data (``data.mono``): sentences in the source language
that the teacher translates so that students see more of the teacher's outputs than the
training sources give (as production distillation pipelines do: mozilla/translations,
OpusDistillery).

Cleaned as the bitext's source side is (wd.data.clean: not UTF-8, control characters, empty,
longer than ``data.clean.max_len``), with the same spelling fix, and deduplicated against
itself and against the training sources. A sentence of a validation or test set's source side
never enters: they are compared with case and spacing ignored, so that a test sentence cannot
reach a student as a KD pair whatever the casing of the monolingual copy. Streamed: memory
holds a 16-byte digest per kept or excluded sentence, whatever the files' size.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from wd.data.clean import CleanSettings, source_reason
from wd.data.corpora import CORPORA, registry_corpus
from wd.data.prepare import spelling
from wd.data.stream import iter_lines
from wd.io import InputError, atomic_path

log = logging.getLogger(__name__)

REASONS = ("not_utf8", "control_chars", "empty", "too_long", "in_train", "in_eval",
           "duplicate")


def mono_sets(data: dict) -> dict[str, list[tuple[str, str]]]:
    """The named monolingual sets of a ``data`` section's source, each as its files:
    ``("download", file id)`` for a registry corpus's (``task2`` of Multi30k), ``("toy",
    "mono")`` for the toy pair's generated source text (``toy``, with ``data.toy.mono``)."""
    if data["source"] in CORPORA:
        corpus = registry_corpus(data["source"], data["src_lang"], data["tgt_lang"])
        return {name: [("download", i) for i in ids] for name, ids in corpus.mono.items()}
    if data["source"] == "toy" and data.get("toy", {}).get("mono"):
        return {"toy": [("toy", "mono")]}
    return {}


def mono_files(data: dict) -> list[tuple[str, str]]:
    """``data.mono`` resolved, in order: the files of each named set (:func:`mono_sets`), and
    ``("local", path)`` for anything else."""
    sets, out = mono_sets(data), []
    for entry in data.get("mono") or []:
        out += sets.get(entry, [("local", entry)])
    return out


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).digest()


def eval_key(line: str) -> bytes:
    """How a validation or test source is matched: case and spacing ignored."""
    return _digest(" ".join(line.casefold().split()))


class MonoFilter:
    """Decides sentence by sentence, as the text streams, which monolingual sentences are kept:
    the first occurrence of each that no reason drops (REASONS, the first that applies)."""

    def __init__(self, lang: str, settings: CleanSettings, train: Iterable[str],
                 evaluation: Iterable[str]):
        self.lang, self.settings = lang, settings
        self.train = {_digest(line) for line in train}
        self.evaluation = {eval_key(line) for line in evaluation}
        self.seen: set[bytes] = set()
        self.dropped = Counter({reason: 0 for reason in REASONS})
        self.total = self.kept = 0

    def reason(self, line: str) -> str | None:
        """Why ``line`` is dropped, None to keep it (and remember it)."""
        reason = source_reason(line, self.lang, self.settings)
        if reason is not None:
            return reason
        if eval_key(line) in self.evaluation:
            return "in_eval"
        digest = _digest(line)
        if digest in self.train:
            return "in_train"
        if digest in self.seen:
            return "duplicate"
        self.seen.add(digest)
        return None

    def keep(self, line: str) -> bool:
        self.total += 1
        reason = self.reason(line)
        if reason is None:
            self.kept += 1
            return True
        self.dropped[reason] += 1
        return False

    def summary(self) -> str:
        return (f"{self.total} sentences in, {self.kept} kept; dropped "
                + ", ".join(f"{reason} {self.dropped[reason]}" for reason in REASONS))


def prepare_mono(inputs: Sequence[Path], out: Path, lang: str, clean: CleanSettings,
                 train_source: Path, eval_sources: Sequence[Path]) -> dict:
    """Write the kept sentences of the monolingual files ``inputs`` (plain or ``.gz``) to
    ``out``, spelling-fixed as the bitext's sources; return the counts (kept, dropped per
    reason, per input file). Sentences of ``eval_sources`` (the validation and test sources) and
    of ``train_source`` are never kept. A result with no sentence is an error naming the
    inputs."""
    fix = spelling(lang)
    kept = MonoFilter(lang, clean, map(fix, iter_lines(train_source)),
                      (fix(line) for path in eval_sources for line in iter_lines(path)))
    per_file = {}
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        for path in inputs:
            before = kept.kept
            for line in iter_lines(path, errors="surrogateescape"):
                line = fix(line)
                if kept.keep(line):
                    handle.write(line + "\n")
            per_file[str(path)] = kept.kept - before
        log.info("monolingual %s text: %s", lang, kept.summary())
        if not kept.kept:
            raise InputError(f"data.mono: no sentence left of {', '.join(map(str, inputs))} "
                             f"({kept.summary()})")
    return {"total": kept.total, "kept": kept.kept, "dropped": dict(kept.dropped),
            "kept_per_file": per_file}
