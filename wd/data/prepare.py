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

from pathlib import Path

from wd.data.checks import (
    MAX_EVAL_CHARS,
    check_eval_lengths,
    check_line_ends,
    check_not_blank,
)
from wd.data.clean import NOT_UTF8, REASONS, CleanSettings, clean_pairs
from wd.data.corpora import Corpus, registry_corpus
from wd.data.extract import read_part
from wd.data.romanian import comma_below
from wd.io import InputError, check_aligned, read_lines, write_lines

TRAINING_SPLITS = ("train", "valid")  # every other split is a test set


def normalise(lines: list[str], lang: str) -> list[str]:
    """Language-specific spelling fixes for model inputs and training targets: Romanian
    comma-below."""
    return [comma_below(line) for line in lines] if lang == "ro" else lines


def _check_utf8(lines: list[str], where: str) -> None:
    for number, line in enumerate(lines, 1):
        if NOT_UTF8.search(line):
            raise InputError(f"{where}:{number}: not valid UTF-8")


def _checked_split(split: str, src: list[str], refs: list[list[str]], langs: tuple[str, str],
                   clean: CleanSettings, where: list[str], max_eval_chars: int
                   ) -> list[list[str]]:
    """The lines to write for ``split`` (source, then each reference): normalised and cleaned
    (train) or checked (valid, test sets; see :mod:`wd.data.checks`). Test references are
    kept as supplied."""
    src = normalise(src, langs[0])
    if split in TRAINING_SPLITS:
        refs = [normalise(ref, langs[1]) for ref in refs]
    if split == "train":
        pairs = f"{where[0]} + {where[1]}"
        if not src:
            raise InputError(f"{pairs}: empty files")
        kept_src, kept_tgt, dropped = clean_pairs(src, refs[0], *langs, clean, where=pairs)
        if not kept_src:
            reasons = ", ".join(f"{r} {dropped[r]}" for r in REASONS if dropped[r])
            raise InputError(f"{pairs}: no training pairs left after cleaning ({len(src)} in"
                            + (f"; dropped: {reasons})" if reasons else ")"))
        return [kept_src, kept_tgt]
    for lines, name in zip([src, *refs], where):
        _check_utf8(lines, name)
        check_not_blank(lines, name)
    check_eval_lengths(src, where[0], max_eval_chars)
    return [src, *refs]


def prepare_remote_split(corpus: Corpus, split: str, downloads: dict[str, Path], out_src: Path,
                         out_tgt: Path, clean: CleanSettings,
                         max_eval_chars: int = MAX_EVAL_CHARS) -> int:
    """Concatenate the parts of ``split`` from the downloaded files (file id -> path), check
    or clean them, and write them; return the sentence count."""
    src, tgt = [], []
    for part in corpus.splits[split]:
        files = [(corpus.file(file_id), downloads[file_id]) for file_id in part.files]
        part_src, part_tgt = read_part(part, files, corpus.src_lang, corpus.tgt_lang)
        src += part_src
        tgt += part_tgt
    names = [f"{corpus.name} {split} ({side})" for side in ("source", "target")]
    lines = _checked_split(split, src, [tgt], (corpus.src_lang, corpus.tgt_lang), clean, names,
                           max_eval_chars)
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
    the same number of lines. Every split is read and checked before any is written, so that a
    bad test file leaves no training data that looks prepared."""
    checked = {}
    for split in splits({"source": "local", "local": local}):
        src_path, ref_paths = local[split]["src"], references(local[split])
        errors = "surrogateescape" if split == "train" else "strict"
        src = read_lines(src_path, errors)
        refs = [read_lines(path, errors) for path in ref_paths]
        for lines, path in zip([src, *refs], [src_path, *ref_paths]):
            check_line_ends(lines, str(path), split == "train")
        check_aligned((src_path, src), *zip(ref_paths, refs))
        checked[split] = _checked_split(split, src, refs, langs, clean,
                                        [str(src_path), *map(str, ref_paths)], max_eval_chars)
    for split, lines in checked.items():
        for text, out in zip(lines, raw_outputs(raw_dir, split, len(lines) - 1)):
            write_lines(out, text)
