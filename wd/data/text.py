"""Moses-style text processing through sacremoses."""

from __future__ import annotations

from functools import lru_cache

from sacremoses import MosesDetokenizer, MosesPunctNormalizer, MosesTokenizer


@lru_cache(maxsize=None)
def _tools(lang: str) -> tuple[MosesPunctNormalizer, MosesTokenizer, MosesDetokenizer]:
    return MosesPunctNormalizer(lang=lang), MosesTokenizer(lang=lang), MosesDetokenizer(lang=lang)


def tokenize(line: str, lang: str) -> str:
    """Moses punctuation normalisation then tokenisation (no HTML escaping)."""
    normalizer, tokenizer, _ = _tools(lang)
    return tokenizer.tokenize(normalizer.normalize(line), escape=False, return_str=True)


def detokenize(line: str, lang: str) -> str:
    return _tools(lang)[2].detokenize(line.split())
