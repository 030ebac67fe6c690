"""Scoring against one or more references: detokenised sacreBLEU and chrF for every corpus, plus
the tokenised BLEU variants that papers on each corpus quote (docs/method.md, "Scoring").

A variant prepares hypotheses and references the same way, then scores them with sacreBLEU's own
tokenisation off, so its signature (``tok:none``) says the text was prepared outside sacreBLEU; the
variant's name in the results table says how. Numbers of different variants are not comparable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING

import sacrebleu

from wd.data.romanian import comma_below, strip_diacritics
from wd.io import check_aligned, read_lines

if TYPE_CHECKING:
    from sacremoses import MosesPunctNormalizer, MosesTokenizer


@lru_cache(maxsize=None)
def _tokenizer(lang: str) -> MosesTokenizer:
    from sacremoses import MosesTokenizer  # imported when first used, as in wd.data.text

    return MosesTokenizer(lang=lang)


def moses_tokenize(line: str, lang: str) -> str:
    """Moses tokenisation as ``tokenizer.perl -no-escape -l <lang>`` (hyphens kept in words)."""
    return _tokenizer(lang).tokenize(line, escape=False, return_str=True)


@lru_cache(maxsize=None)
def _punctuation(lang: str, **options: bool) -> MosesPunctNormalizer:
    from sacremoses import MosesPunctNormalizer

    return MosesPunctNormalizer(lang=lang, **options)


def ro_normalised(line: str) -> str:
    """The WMT16 En-Ro "normalised" preparation (as in Sennrich's wmt16-scripts and fairseq's
    mBART recipe): Moses unicode-punctuation replacement and punctuation normalisation, control
    characters removed, cedilla to comma-below, Romanian diacritics removed, Moses tokenisation."""
    line = _punctuation("ro", pre_replace_unicode_punct=True,
                        post_remove_control_chars=True).normalize(line)
    return moses_tokenize(strip_diacritics(comma_below(line)), "ro")


_COMPOUND_HYPHEN = re.compile(r"(\S)-(\S)")


def split_compounds(tokenized: str) -> str:
    """Compound splitting of tensor2tensor's get_ende_bleu.sh, ``s{(\\S)-(\\S)}{$1 ##AT##-##AT##
    $2}g``, with its quirk kept so numbers stay comparable: matches do not overlap, so in
    ``a-b-c`` the second hyphen (after a one-letter part) is left alone."""
    return _COMPOUND_HYPHEN.sub(r"\1 ##AT##-##AT## \2", tokenized)


def de_tok_compound(line: str) -> str:
    """The classic WMT14 En-De tokenised BLEU preparation: Moses-tokenised, compounds split."""
    return split_compounds(moses_tokenize(line, "de"))


def en_tokenized(line: str) -> str:
    """NIST Zh-En practice: Moses-tokenised English (lowercasing is left to sacreBLEU, so that
    the signature shows ``case:lc``)."""
    return moses_tokenize(line, "en")


def lc_norm_tok(line: str, lang: str) -> str:
    """Multi30k's preparation (its ``*.lc.norm.tok.*`` files, which this reproduces on 3,999 of
    the 4,000 test_2016_flickr lines): lowercased, Moses punctuation normalisation, Moses
    tokenisation with its default escaping."""
    return _tokenizer(lang).tokenize(_punctuation(lang).normalize(line.lower()), escape=True,
                                     return_str=True)


@dataclass(frozen=True)
class Variant:
    """A BLEU variant: the target language it is defined for, how both sides are prepared, and
    the sacreBLEU options it is scored with."""
    lang: str
    prepare: Callable[[str], str]
    description: str
    lowercase: bool = False


VARIANTS: dict[str, Variant] = {
    "ro_normalised": Variant(
        "ro", ro_normalised, "WMT16 En-Ro normalised BLEU: both sides punctuation-normalised, "
        "cedilla to comma-below, diacritics removed, Moses-tokenised; tokenize=none"),
    "de_tok_compound": Variant(
        "de", de_tok_compound, "WMT14 En-De tokenised BLEU with compound splitting: both sides "
        "Moses-tokenised, hyphens in compounds written ##AT##-##AT##; tokenize=none"),
    "zh_en_nist": Variant(
        "en", en_tokenized, "NIST Zh-En case-insensitive tokenised BLEU: both sides "
        "Moses-tokenised, lowercased, all references; tokenize=none", lowercase=True),
} | {
    f"{lang}_lc_tok": Variant(
        lang, partial(lc_norm_tok, lang=lang), "Multi30k lowercased tokenised BLEU (as the "
        "literature scores it): both sides lowercased, Moses punctuation-normalised and "
        "Moses-tokenised; tokenize=none", lowercase=True)
    for lang in ("en", "de", "fr", "cs")
}


def read_references(paths: Sequence[Path]) -> list[list[str]]:
    """All reference streams of a test set, one list of lines per file; they must be aligned."""
    streams = [read_lines(path) for path in paths]
    if not streams:
        raise ValueError("a test set needs at least one reference file")
    check_aligned(*zip(paths, streams))
    return streams


def score(hyps: list[str], refs: list[list[str]], variants: Sequence[str] = ()) -> dict:
    """``bleu`` (detokenised sacreBLEU), ``chrf`` and ``bleu_<variant>`` for each variant, each
    with its sacreBLEU signature, against all reference streams in ``refs``."""
    check_aligned(("the hypotheses", hyps),
                  *((f"reference {i + 1} of {len(refs)}", r) for i, r in enumerate(refs)))
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    result = {"bleu": round(bleu.corpus_score(hyps, refs).score, 2),
              "chrf": round(chrf.corpus_score(hyps, refs).score, 2),
              "bleu_signature": str(bleu.get_signature()),
              "chrf_signature": str(chrf.get_signature())}
    for name in variants:
        if name not in VARIANTS:
            raise ValueError(f"unknown BLEU variant {name!r}; known: {', '.join(VARIANTS)}")
        variant = VARIANTS[name]
        metric = sacrebleu.metrics.BLEU(tokenize="none", smooth_method="none",
                                        lowercase=variant.lowercase)
        prepared = metric.corpus_score([variant.prepare(h) for h in hyps],
                                       [[variant.prepare(r) for r in stream] for stream in refs])
        result[f"bleu_{name}"] = round(prepared.score, 2)
        result[f"bleu_{name}_signature"] = str(metric.get_signature())
    return result
