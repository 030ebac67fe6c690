"""Raw split files (``data/raw/<split>.{src,tgt}``: train, valid and each test set) from a
registry corpus or from the user's local files: Romanian cedilla s/t to comma-below in what the
models read (sources, training and validation targets), training data cleaned, valid and test
sets checked (UTF-8, line counts). Test references stay exactly as published: BLEU and chrF
score against them, and only the labelled BLEU variants (``wd.evaluate.metrics``) transform them.

An experiment has one or more test sets (:func:`experiment_testsets`), the first the primary
one. A test set may have several references (NIST Zh-En has 4): the first is ``<name>.tgt``,
further ones ``<name>.tgt.1``, ``<name>.tgt.2``, ... (what the evaluate_system rule reads).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from wd.data.checks import (
    MAX_EVAL_CHARS,
    check_eval_lengths,
    check_line_ends,
    check_not_blank,
)
from wd.data.clean import NOT_UTF8, REASONS, CleanSettings, PairFilter
from wd.data.corpora import Corpus, registry_corpus
from wd.data.extract import extract_part, read_part
from wd.data.romanian import comma_below
from wd.data.stream import iter_lines, zip_aligned
from wd.io import InputError, atomic_path, check_aligned, read_lines, write_lines

TRAINING_SPLITS = ("train", "valid")  # every other split is a test set


# Language-specific spelling fixes for model inputs and training targets, by language code: one
# entry a language (Romanian: cedilla s/t to comma-below).
SPELLING: dict[str, Callable[[str], str]] = {"ro": comma_below}


def spelling(lang: str) -> Callable[[str], str]:
    """The spelling fix of a language; the line as it is for a language without one."""
    return SPELLING.get(lang, str)


def normalise(lines: list[str], lang: str) -> list[str]:
    """:func:`spelling` of every line."""
    fix = spelling(lang)
    return [fix(line) for line in lines]


def _check_utf8(lines: list[str], where: str) -> None:
    for number, line in enumerate(lines, 1):
        if NOT_UTF8.search(line):
            raise InputError(f"{where}:{number}: not valid UTF-8")


def _checked_eval_split(split: str, src: list[str], refs: list[list[str]],
                        langs: tuple[str, str], where: list[str], max_eval_chars: int
                        ) -> list[list[str]]:
    """The lines to write for a validation or test split (source, then each reference),
    normalised (not a test set's references, kept as supplied) and checked
    (:mod:`wd.data.checks`)."""
    src = normalise(src, langs[0])
    if split in TRAINING_SPLITS:
        refs = [normalise(ref, langs[1]) for ref in refs]
    for lines, name in zip([src, *refs], where):
        _check_utf8(lines, name)
        check_not_blank(lines, name)
    check_eval_lengths(src, where[0], max_eval_chars)
    return [src, *refs]


def write_training(pairs: Iterable[tuple[str, str]], langs: tuple[str, str],
                   clean: CleanSettings, outputs: list[Path], where: str) -> int:
    """Normalise, clean and write the training pairs as they stream in (memory bounded by the
    cleaning's digests, whatever the corpus' size); return how many were kept. The outputs
    appear only when every pair is in: an empty corpus, or one that cleaning empties, is an
    error naming ``where`` and leaves none."""
    kept = PairFilter(*langs, clean)
    with (atomic_path(outputs[0]) as tmp_src, atomic_path(outputs[1]) as tmp_tgt,
          open(tmp_src, "w", encoding="utf-8", newline="\n") as out_src,
          open(tmp_tgt, "w", encoding="utf-8", newline="\n") as out_tgt):
        fix_src, fix_tgt = spelling(langs[0]), spelling(langs[1])
        for src, tgt in pairs:
            src, tgt = fix_src(src), fix_tgt(tgt)
            if kept.keep(src, tgt):
                out_src.write(src + "\n")
                out_tgt.write(tgt + "\n")
        kept.log(where)
        if not kept.total:
            raise InputError(f"{where}: empty files")
        if not kept.kept:
            reasons = ", ".join(f"{r} {kept.dropped[r]}" for r in REASONS if kept.dropped[r])
            raise InputError(f"{where}: no training pairs left after cleaning ({kept.total} in"
                            + (f"; dropped: {reasons})" if reasons else ")"))
    return kept.kept


def training_lines(path: Path) -> Iterator[str]:
    """The lines of a training file as they are read (bad UTF-8 kept for cleaning to drop),
    CR-only line ends found once the file is read (:func:`wd.data.checks.check_line_ends`)."""
    count = total = 0
    for line in iter_lines(path, errors="surrogateescape"):
        count, total = count + line.count("\r"), total + 1
        yield line
    if total and count >= total:
        raise InputError(f"{path}: CR-only line ends ({count} carriage returns inside "
                         f"{total} line(s)): convert them to \\n (tr '\\r' '\\n')")


def prepare_remote_split(corpus: Corpus, split: str, downloads: dict[str, Path], out_src: Path,
                         out_tgt: Path, clean: CleanSettings,
                         max_eval_chars: int = MAX_EVAL_CHARS) -> int:
    """Concatenate the parts of ``split`` from the downloaded files (file id -> path), check
    or clean them, and write them; return the sentence count. The training split streams:
    each part's two sides are extracted to files beside the outputs first (a compressed
    archive is read in one pass), then read line by line."""
    langs = (corpus.src_lang, corpus.tgt_lang)
    names = [f"{corpus.name} {split} ({side})" for side in ("source", "target")]
    parts = [(part, [(corpus.file(file_id), downloads[file_id]) for file_id in part.files])
             for part in corpus.splits[split]]
    if split == "train":
        # The extracted sides (gigabytes at WMT size) under a name of this job's own, so that
        # what a killed run left there is removed by the next, and nothing else ever is.
        scratch = Path(out_src).parent / ".extract.train"
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            sides = [extract_part(part, files, *langs, scratch / str(i))
                     for i, (part, files) in enumerate(parts)]
            pairs = itertools.chain.from_iterable(
                zip_aligned((src_name, iter_lines(src, "surrogateescape")),
                            (tgt_name, iter_lines(tgt, "surrogateescape")), "sentences")
                for (src, src_name), (tgt, tgt_name) in sides)
            return write_training(pairs, langs, clean, [Path(out_src), Path(out_tgt)],
                                  f"{names[0]} + {names[1]}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    src, tgt = [], []
    for part, files in parts:
        part_src, part_tgt = read_part(part, files, *langs)
        src += part_src
        tgt += part_tgt
    lines = _checked_eval_split(split, src, [tgt], langs, names, max_eval_chars)
    for text, out in zip(lines, [out_src, out_tgt]):
        write_lines(Path(out), text)
    return len(lines[0])


def references(files: dict) -> list[str]:
    """The target path(s) of a ``data.local`` split as a list (a test set may list several)."""
    tgt = files["tgt"]
    return list(tgt) if isinstance(tgt, list) else [tgt]


def local_inputs(local: dict) -> list[str]:
    """Every file named under ``data.local``."""
    return [path for files in local.values() for path in [files["src"], *references(files)]]


def experiment_testsets(data: dict) -> list[str]:
    """The test sets of a ``data`` config section, the primary one first: ``test`` for the toy
    pair, ``test`` and every further split of ``data.local``, a registry corpus's own."""
    if data["source"] == "toy":
        return ["test"]
    if data["source"] == "local":
        return ["test", *[s for s in data["local"] if s not in (*TRAINING_SPLITS, "test")]]
    return registry_corpus(data["source"], data["src_lang"], data["tgt_lang"]).testsets


def reference_count(data: dict, testset: str) -> int:
    """References per sentence of one test set of a ``data`` config section."""
    return len(references(data["local"][testset])) if data["source"] == "local" else 1


def splits(data: dict) -> list[str]:
    """Every split of an experiment: train, valid and the test sets."""
    return [*TRAINING_SPLITS, *experiment_testsets(data)]


def raw_outputs(raw_dir: Path, split: str, n_refs: int = 1) -> list[Path]:
    """``{split}.src``, ``{split}.tgt`` and the further references ``{split}.tgt.<i>``."""
    raw_dir = Path(raw_dir)
    return ([raw_dir / f"{split}.src", raw_dir / f"{split}.tgt"]
            + [raw_dir / f"{split}.tgt.{i}" for i in range(1, n_refs)])


def prepare_local(local: dict, raw_dir: Path, langs: tuple[str, str], clean: CleanSettings,
                  max_eval_chars: int = MAX_EVAL_CHARS) -> None:
    """Copy the user's files (plain or ``.gz``) of every split; all files of a split must have
    the same number of lines. The validation and test sets are read and checked first, the
    training data then streams through cleaning, and the checked sets are written last, so that
    bad data anywhere leaves nothing that looks prepared."""
    checked = {}
    for split in splits({"source": "local", "local": local})[1:]:
        src_path, ref_paths = local[split]["src"], references(local[split])
        src = read_lines(src_path)
        refs = [read_lines(path) for path in ref_paths]
        for lines, path in zip([src, *refs], [src_path, *ref_paths]):
            check_line_ends(lines, str(path))
        check_aligned((src_path, src), *zip(ref_paths, refs))
        checked[split] = _checked_eval_split(split, src, refs, langs,
                                             [str(src_path), *map(str, ref_paths)],
                                             max_eval_chars)
    src, tgt = local["train"]["src"], local["train"]["tgt"]
    write_training(zip_aligned((src, training_lines(src)), (tgt, training_lines(tgt))), langs,
                   clean, raw_outputs(raw_dir, "train"), f"{src} + {tgt}")
    for split, lines in checked.items():
        for text, out in zip(lines, raw_outputs(raw_dir, split, len(lines) - 1)):
            write_lines(out, text)
