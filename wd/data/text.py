"""Moses-style text processing through sacremoses."""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache, partial
from itertools import chain
from multiprocessing import Pool
from pathlib import Path
from typing import TYPE_CHECKING

from wd.data.stream import CHUNK_LINES, read_chunks
from wd.io import write_lines

if TYPE_CHECKING:
    from sacremoses import MosesDetokenizer, MosesPunctNormalizer, MosesTokenizer


@lru_cache(maxsize=None)
def _tools(lang: str) -> tuple[MosesPunctNormalizer, MosesTokenizer, MosesDetokenizer]:
    # Imported here: sacremoses compiles its patterns on import (about 0.6 s), which every
    # training and decoding job would pay through wd.data.bpe without ever tokenising.
    from sacremoses import MosesDetokenizer, MosesPunctNormalizer, MosesTokenizer

    return MosesPunctNormalizer(lang=lang), MosesTokenizer(lang=lang), MosesDetokenizer(lang=lang)


def tokenize(line: str, lang: str) -> str:
    """Moses punctuation normalisation then tokenisation (no HTML escaping)."""
    normalizer, tokenizer, _ = _tools(lang)
    return tokenizer.tokenize(normalizer.normalize(line), escape=False, return_str=True)


def tokenize_lines(lines: list[str], lang: str) -> list[str]:
    """:func:`tokenize` of each line: one task of :func:`tokenize_file`'s worker processes."""
    return [tokenize(line, lang) for line in lines]


def tokenize_file(src: Path, out: Path, lang: str, workers: int = 1,
                  chunk: int = CHUNK_LINES) -> int:
    """Write ``src`` tokenised, ``chunk`` lines at a time (memory bounded whatever its size),
    the chunks shared among ``workers`` processes (sacremoses is pure Python, one core each) and
    written in order. ``Pool.imap`` reads ahead only as fast as the workers take chunks (its
    task pipe blocks). Returns the number of lines."""
    work = partial(tokenize_lines, lang=lang)
    with (Pool(workers) if workers > 1 else nullcontext()) as pool:
        done = (pool.imap if pool else map)(work, read_chunks(src, chunk))
        return write_lines(out, chain.from_iterable(done))


def detokenize(line: str, lang: str) -> str:
    return _tools(lang)[2].detokenize(line.split())
