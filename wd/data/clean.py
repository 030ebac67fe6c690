"""Training-data cleaning, as WMT recipes do it (Moses clean-corpus-n, deduplication), with the
number of pairs dropped for each reason logged. Valid and test sets are never cleaned: they are
scored as published."""

from __future__ import annotations

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


def _reason(src: str, tgt: str, src_lang: str, tgt_lang: str,
            settings: CleanSettings) -> str | None:
    """Why a pair is dropped (the first reason that applies), None to keep it."""
    if NOT_UTF8.search(src) or NOT_UTF8.search(tgt):
        return "not_utf8"
    if _CONTROL.search(src) or _CONTROL.search(tgt):
        return "control_chars"
    if not src.strip() or not tgt.strip():
        return "empty"
    n_src, n_tgt = length(src, src_lang), length(tgt, tgt_lang)
    if max(n_src, n_tgt) > settings.max_len:
        return "too_long"
    if max(n_src, n_tgt) > settings.max_ratio * min(n_src, n_tgt):
        return "ratio"
    return None


def clean_pairs(src: list[str], tgt: list[str], src_lang: str, tgt_lang: str,
                settings: CleanSettings, where: str = "training data"
                ) -> tuple[list[str], list[str], Counter]:
    """Kept source and target lines (first occurrence of each exact pair, order kept) and the
    count dropped per reason; logs the counts."""
    check_aligned((f"{where} (source)", src), (f"{where} (target)", tgt))
    kept_src, kept_tgt, seen, dropped = [], [], set(), Counter({r: 0 for r in REASONS})
    for pair in zip(src, tgt):
        reason = _reason(*pair, src_lang, tgt_lang, settings)
        if reason is None and pair in seen:
            reason = "duplicate"
        if reason is not None:
            dropped[reason] += 1
            continue
        seen.add(pair)
        kept_src.append(pair[0])
        kept_tgt.append(pair[1])
    log.info("cleaned %s: %d pairs in, %d kept; dropped %s", where, len(src), len(kept_src),
             ", ".join(f"{reason} {dropped[reason]}" for reason in REASONS))
    return kept_src, kept_tgt, dropped
