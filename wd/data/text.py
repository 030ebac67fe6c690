"""Moses-style text processing through sacremoses, and line-file helpers used by every step."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from sacremoses import MosesDetokenizer, MosesPunctNormalizer, MosesTokenizer


def split_lines(raw: bytes, where: str, errors: str = "strict") -> list[str]:
    """Decode newline-separated UTF-8 text into lines (no newline, no trailing CR).

    ``errors="strict"``: a line that is not UTF-8 is an error naming ``where`` and the line.
    ``errors="surrogateescape"``: its bad bytes become lone surrogates, so that cleaning can count
    and drop such lines (``wd.data.clean``) instead of failing the whole corpus.
    """
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for number, line in enumerate(lines, 1):
        try:
            out.append(line.decode("utf-8", errors).rstrip("\r"))
        except UnicodeDecodeError as err:
            raise ValueError(f"{where}:{number}: not valid UTF-8 ({err.reason})") from None
    return out


def read_lines(path: Path, errors: str = "strict") -> list[str]:
    """Lines of a plain or gzip (``.gz``) text file; see ``split_lines`` for ``errors``."""
    path = Path(path)
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as handle:
        raw = handle.read()
    return split_lines(raw, str(path), errors)


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """Write lines atomically (temporary name, then rename); return how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            for line in lines:
                if "\n" in line:
                    raise ValueError(f"{path}: line {count + 1} contains a newline")
                handle.write(line + "\n")
                count += 1
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return count


def check_aligned(src: Path, tgt: Path) -> int:
    """Line count of a parallel pair; different counts are an error naming both files."""
    n_src, n_tgt = len(read_lines(src)), len(read_lines(tgt))
    if n_src != n_tgt:
        raise ValueError(f"misaligned corpus: {src} has {n_src} lines, {tgt} has {n_tgt}")
    return n_src


@lru_cache(maxsize=None)
def _tools(lang: str) -> tuple[MosesPunctNormalizer, MosesTokenizer, MosesDetokenizer]:
    return MosesPunctNormalizer(lang=lang), MosesTokenizer(lang=lang), MosesDetokenizer(lang=lang)


def tokenize(line: str, lang: str) -> str:
    """Moses punctuation normalisation then tokenisation (no HTML escaping)."""
    normalizer, tokenizer, _ = _tools(lang)
    return tokenizer.tokenize(normalizer.normalize(line), escape=False, return_str=True)


def detokenize(line: str, lang: str) -> str:
    return _tools(lang)[2].detokenize(line.split())
