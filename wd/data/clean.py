"""Training-data cleaning, as WMT recipes do it (Moses clean-corpus-n, deduplication), with the
number of pairs dropped for each reason logged. Valid and test sets are never cleaned: they are
scored as published."""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass

from wd.io import check_aligned

log = logging.getLogger(__name__)

# Languages written without spaces between words: their length is counted in characters.
UNSEGMENTED = frozenset({"zh", "ja", "th"})
NOT_UTF8 = re.compile("[\udc80-\udcff]")                # bytes kept by surrogateescape decoding
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0/C1 control characters except tab
REASONS = ("not_utf8", "control_chars", "empty", "too_long", "ratio", "duplicate")


@dataclass(frozen=True)
class CleanSettings:
    """``max_len``: longest side kept, in words (characters for unsegmented languages);
    ``max_ratio``: largest length ratio of the two sides kept."""

    max_len: int = 250
    max_ratio: float = 3.0


def length(text: str, lang: str) -> int:
    return len(text.replace(" ", "")) if lang in UNSEGMENTED else len(text.split())


def source_reason(text: str, lang: str, settings: CleanSettings) -> str | None:
    """Why one side (or a monolingual sentence) is dropped, the first of REASONS that applies;
    None to keep it."""
    if NOT_UTF8.search(text):
        return "not_utf8"
    if _CONTROL.search(text):
        return "control_chars"
    if not text.strip():
        return "empty"
    if length(text, lang) > settings.max_len:
        return "too_long"
    return None


def _reason(src: str, tgt: str, src_lang: str, tgt_lang: str,
            settings: CleanSettings) -> str | None:
    """Why a pair is dropped (the first reason that applies to either side, then the length
    ratio), None to keep it."""
    reasons = [r for r in (source_reason(src, src_lang, settings),
                           source_reason(tgt, tgt_lang, settings)) if r is not None]
    if reasons:
        return min(reasons, key=REASONS.index)
    n_src, n_tgt = length(src, src_lang), length(tgt, tgt_lang)
    if max(n_src, n_tgt) > settings.max_ratio * min(n_src, n_tgt):
        return "ratio"
    return None


class PairFilter:
    """Decides pair by pair, as the data streams, which training pairs are kept: the first
    occurrence of each exact pair that no reason drops. Duplicates are found by a 16-byte
    digest of each kept pair (not the pair itself), so that memory grows by a few dozen bytes a
    pair whatever the sentences' length."""

    def __init__(self, src_lang: str, tgt_lang: str, settings: CleanSettings):
        self.langs, self.settings = (src_lang, tgt_lang), settings
        self.seen: set[bytes] = set()
        self.dropped = Counter({r: 0 for r in REASONS})
        self.total = self.kept = 0

    def keep(self, src: str, tgt: str) -> bool:
        self.total += 1
        reason = _reason(src, tgt, *self.langs, self.settings)
        if reason is None:
            digest = hashlib.blake2b(f"{src}\n{tgt}".encode(), digest_size=16).digest()
            if digest in self.seen:
                reason = "duplicate"
            self.seen.add(digest)
        if reason is not None:
            self.dropped[reason] += 1
            return False
        self.kept += 1
        return True

    def log(self, where: str) -> None:
        log.info("cleaned %s: %d pairs in, %d kept; dropped %s", where, self.total, self.kept,
                 ", ".join(f"{reason} {self.dropped[reason]}" for reason in REASONS))


def clean_pairs(src: list[str], tgt: list[str], src_lang: str, tgt_lang: str,
                settings: CleanSettings, where: str = "training data"
                ) -> tuple[list[str], list[str], Counter]:
    """Kept source and target lines (first occurrence of each exact pair, order kept) and the
    count dropped per reason; logs the counts."""
    check_aligned((f"{where} (source)", src), (f"{where} (target)", tgt))
    pairs = PairFilter(src_lang, tgt_lang, settings)
    kept = [pair for pair in zip(src, tgt) if pairs.keep(*pair)]
    pairs.log(where)
    return [s for s, _ in kept], [t for _, t in kept], pairs.dropped
