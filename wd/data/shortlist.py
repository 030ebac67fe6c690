"""A lexical shortlist (CTranslate2's vocabulary map, ``vmap``): for each source piece the target
pieces it may bring into a translation, plus the most frequent target pieces, so that a decoder
scores only the pieces a sentence can need instead of the whole vocabulary.

Built from co-occurrence counts over the binarised training data (the original bitext and the KD
data): a source piece's candidates are the ``top_k`` target pieces with the highest Dice
coefficient ``2 c(s, t) / (c(s) + c(t))``, where ``c`` counts the sentence pairs a piece (or both)
occurs in. Marian's and Bergamot's shortlists come from word alignments (fast_align, eflomal);
sentence-level counts need no aligner and no compiled dependency, and gave the same validation
BLEU as eflomal's alignments at the default sizes (benchmarks/vmap_coverage.py,
docs/deployment.md). :func:`coverage` measures what a map keeps of held-out references.

The file format is CTranslate2's ``vmap.txt``: one line per source token, ``token<TAB>candidate
candidate ...``, and a first line with an empty key holding the pieces that are always allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wd.data.binary import Side
from wd.io import InputError, missing_file, read_bytes, split_lines, write_lines

CHUNK = 20_000  # sentence pairs counted at a time: bounds the cross products in memory


@dataclass(frozen=True)
class Shortlist:
    common: list[int]              # target ids always allowed (the most frequent pieces)
    table: dict[int, list[int]]    # source id -> its candidate target ids, best first

    def allowed(self, source: Sequence[int]) -> set[int]:
        """The target ids a sentence with these source ids may use."""
        out = set(self.common)
        for piece in source:
            out.update(self.table.get(piece, ()))
        return out

    def lines(self, vocabulary: Sequence[str]) -> list[str]:
        """The ``vmap.txt`` lines, pieces written as ``vocabulary`` names them."""
        names = lambda ids: " ".join(vocabulary[i] for i in ids)  # noqa: E731
        return [f"\t{names(self.common)}"] + [f"{vocabulary[s]}\t{names(targets)}"
                                              for s, targets in sorted(self.table.items())]


def _unique_per_sentence(side: Side, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """(sentence, piece) of the distinct pieces of sentences ``first`` to ``last - 1``, sorted."""
    mark = np.iinfo(side.ids.dtype).max
    start, stop = side.starts[first], side.starts[last - 1] + side.lengths[last - 1] + 1
    ids = np.asarray(side.ids[start:stop], dtype=np.int64)
    ends = ids == mark
    sentence = np.cumsum(ends) - ends  # the end mark closes a sentence
    codes = np.unique(sentence[~ends] * (mark + 1) + ids[~ends])
    return codes // (mark + 1) + first, codes % (mark + 1)


def cooccurrences(files: Sequence[Path], vocab_size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Over the pairs of the binarised sides ``files`` (source, target, source, target, ...):
    the sentence counts of each source piece and of each target piece, and of each
    co-occurring (source, target) pair as codes ``s * vocab_size + t`` with their counts."""
    src_count, tgt_count = np.zeros(vocab_size, np.int64), np.zeros(vocab_size, np.int64)
    codes, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
    for src_file, tgt_file in zip(files[0::2], files[1::2]):
        src, tgt = Side(src_file), Side(tgt_file)
        for first in range(0, len(src), CHUNK):
            last = min(first + CHUNK, len(src))
            s_sent, s_piece = _unique_per_sentence(src, first, last)
            t_sent, t_piece = _unique_per_sentence(tgt, first, last)
            np.add.at(src_count, s_piece, 1)
            np.add.at(tgt_count, t_piece, 1)
            per_sentence = np.bincount(t_sent - first, minlength=last - first)
            offsets = np.concatenate([[0], np.cumsum(per_sentence)])
            repeats = per_sentence[s_sent - first]
            within = np.arange(repeats.sum()) - np.repeat(np.cumsum(repeats) - repeats, repeats)
            targets = t_piece[np.repeat(offsets[s_sent - first], repeats) + within]
            chunk_codes = np.repeat(s_piece, repeats) * vocab_size + targets
            codes, counts = _merge(codes, counts, *np.unique(chunk_codes, return_counts=True))
    return src_count, tgt_count, codes, counts


def _merge(codes: np.ndarray, counts: np.ndarray, more: np.ndarray, more_counts: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """The sum of two sparse count vectors (sorted unique codes)."""
    joined, inverse = np.unique(np.concatenate([codes, more]), return_inverse=True)
    total = np.zeros(len(joined), np.int64)
    np.add.at(total, inverse, np.concatenate([counts, more_counts]))
    return joined, total


def build_shortlist(files: Sequence[Path], vocab_size: int, top_k: int, frequent: int,
                    skip: Sequence[int] = ()) -> Shortlist:
    """The shortlist of the binarised pairs ``files``: each source piece's ``top_k`` target
    pieces by Dice coefficient (ties: the more frequent pair, then the lower id), and the
    ``frequent`` target pieces found in most sentence pairs. Ids in ``skip`` (padding, BOS) are
    never candidates."""
    src_count, tgt_count, codes, counts = cooccurrences(files, vocab_size)
    source, target = codes // vocab_size, codes % vocab_size
    dice = 2 * counts / (src_count[source] + tgt_count[target])
    return rank_candidates(source, target, dice, counts, tgt_count, top_k, frequent, skip)


def rank_candidates(source: np.ndarray, target: np.ndarray, score: np.ndarray,
                    counts: np.ndarray, tgt_count: np.ndarray, top_k: int, frequent: int,
                    skip: Sequence[int] = ()) -> Shortlist:
    """The shortlist of scored (source, target) pairs: each source piece's ``top_k`` targets by
    ``score`` (ties: the larger count, then the lower id) and the ``frequent`` targets with the
    largest ``tgt_count``; ids in ``skip`` are never allowed. Shared by every way of scoring
    pairs (co-occurrence here, word alignments in benchmarks/vmap_coverage.py)."""
    usable = ~np.isin(target, skip)
    source, target = source[usable], target[usable]
    score, counts = score[usable], counts[usable]
    order = np.lexsort((target, -counts, -score, source))
    source, target = source[order], target[order]
    group_start = np.searchsorted(source, source, side="left")
    best = (np.arange(len(source)) - group_start) < top_k
    table: dict[int, list[int]] = {}
    for s, t in zip(source[best].tolist(), target[best].tolist()):
        table.setdefault(s, []).append(t)
    ranked = [int(t) for t in np.argsort(-tgt_count, kind="stable") if t not in set(skip)]
    return Shortlist(sorted(ranked[:frequent]), table)


def coverage(shortlist: Shortlist, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]
             ) -> dict[str, float]:
    """What the shortlist keeps of held-out pairs: the share of reference target pieces it
    allows for their sentences, the share of sentences it allows wholly, and the mean number
    of allowed pieces a sentence."""
    pieces = kept = whole = allowed_total = 0
    for src, tgt in pairs:
        allowed = shortlist.allowed(src)
        hits = sum(t in allowed for t in tgt)
        pieces, kept = pieces + len(tgt), kept + hits
        whole += hits == len(tgt)
        allowed_total += len(allowed)
    n = max(len(pairs), 1)
    return {"piece_coverage": kept / max(pieces, 1), "sentence_coverage": whole / n,
            "mean_allowed": allowed_total / n}


def write_vmap(shortlist: Shortlist, vocabulary: Sequence[str], out: Path) -> int:
    """Write ``vmap.txt`` (atomically); return its number of lines."""
    return write_lines(out, shortlist.lines(vocabulary))


def read_vmap(path: Path, vocabulary: Sequence[str]) -> Shortlist:
    """The shortlist of a ``vmap.txt`` whose pieces ``vocabulary`` names, checked for what
    :func:`write_vmap` writes: a first line of always-allowed pieces (empty key; none with
    ``vmap_frequent`` 0), then one line a source piece, each ``piece<TAB>candidates`` with a
    known piece as its key, no key twice, and a line end after the last line (a map cut short
    would otherwise restrict every translation to a few pieces without a word). The first
    failure is an error naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"vocabulary map: {missing_file(path)}")
    raw = read_bytes(path)
    if not raw.strip():
        raise InputError(f"{path}: empty: a vocabulary map starts with a line of the pieces "
                         "always allowed, then has a line for each source piece")
    if not raw.endswith(b"\n"):
        raise InputError(f"{path}: its last line has no line end: the file was cut short")
    ids = {name: i for i, name in enumerate(vocabulary)}
    common: list[int] = []
    table: dict[int, list[int]] = {}
    for number, line in enumerate(split_lines(raw, str(path)), 1):
        where = f"{path}:{number}"
        key, tab, targets = line.partition("\t")
        if not tab or "\t" in targets:
            raise InputError(f"{where}: not 'piece<TAB>candidates' (one tab a line)")
        if (number == 1) != (key == ""):
            raise InputError(f"{where}: " + ("the first line must hold the pieces always "
                                             "allowed (an empty key)" if number == 1 else
                                             "a line with an empty key after the first"))
        if key and not targets.split():
            raise InputError(f"{where}: no candidates for {key!r}")
        try:
            candidates = [ids[piece] for piece in targets.split()]
            if not key:
                common = candidates
                continue
            if ids[key] in table:
                raise InputError(f"{where}: {key!r} has a line already")
            table[ids[key]] = candidates
        except KeyError as err:
            raise InputError(f"{where}: {err.args[0]!r} is not in the model's "
                             "vocabulary") from None
    if not table:
        raise InputError(f"{path}: no source piece's line after the first")
    return Shortlist(common, table)
