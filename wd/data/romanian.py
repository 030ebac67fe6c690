"""Romanian orthography: the cedilla/comma-below split and diacritic removal.

Much Romanian text (WMT16 Europarl and SETIMES included) writes s and t with a cedilla (ş ţ, the
Turkish letters, from pre-Unicode-4 code pages) where the correct letters have a comma below (ș ț).
Both forms occur in the same corpus, so preparation maps every s/t cedilla to comma-below.
Removing the diacritics altogether is what the "normalised BLEU" of WMT16 En-Ro papers does
(Sennrich's wmt16-scripts, remove-diacritics.py), so that a system is not judged on them.
"""

from __future__ import annotations

import re

_TO_COMMA_BELOW = {"\u015e": "\u0218", "\u015f": "\u0219",   # Ş ş -> Ș ș
                   "\u0162": "\u021a", "\u0163": "\u021b"}  # Ţ ţ -> Ț ț
_BASE_TO_COMMA_BELOW = {"S": "\u0218", "s": "\u0219", "T": "\u021a", "t": "\u021b"}
_CEDILLA_FORM = re.compile("[\u015e\u015f\u0162\u0163]|([sStT])\u0327")  # or + combining cedilla

_PLAIN = str.maketrans({"\u0102": "A", "\u0103": "a", "\u00c2": "A", "\u00e2": "a",  # Ă ă Â â
                        "\u00ce": "I", "\u00ee": "i",                                # Î î
                        "\u0218": "S", "\u0219": "s", "\u021a": "T", "\u021b": "t"})  # Ș ș Ț ț
# The same letters written as a base letter and a combining breve, circumflex or comma below.
_COMBINING_MARK = re.compile("([aAiIsStT])[\u0306\u0302\u0326]")


def comma_below(text: str) -> str:
    """Write s and t with a comma below wherever they carry a cedilla (both cases, precomposed
    or as a letter followed by a combining cedilla); nothing else changes."""
    return _CEDILLA_FORM.sub(
        lambda m: _BASE_TO_COMMA_BELOW[m.group(1)] if m.group(1) else _TO_COMMA_BELOW[m.group(0)],
        text)


def strip_diacritics(text: str) -> str:
    """Remove the Romanian diacritics (ă â î ș ț, and ş ţ with a cedilla), both cases: ``ă -> a``,
    ``Ț -> T``. Other letters, e.g. the é of a French name, are kept, as remove-diacritics.py
    keeps them."""
    return _COMBINING_MARK.sub(r"\1", comma_below(text)).translate(_PLAIN)
