"""Parallel data as token ids, and token-bucket batches (similar lengths together)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from wd.data.bpe import Tokenizer
from wd.vocab import BOS_ID, EOS_ID, PAD_ID

Pair = tuple[list[int], list[int]]


def pieces_to_ids(sp: Tokenizer, lines: list[str]) -> list[list[int]]:
    return [[sp.piece_to_id(p) for p in line.split()] for line in lines]


def token_buckets(lengths: Sequence[int] | np.ndarray, max_tokens: int,
                  rng: random.Random) -> list[np.ndarray]:
    """Index batches whose padded size (rows x longest) stays within ``max_tokens``.

    Sorting by length with random tie-breaking keeps padding low; the batch order is shuffled.
    The tie-breakers are drawn one per sentence in index order and sorted with the lengths by
    numpy (the order of a Python sort on (length, tie-breaker)). Along ascending lengths a
    batch from position ``a`` takes the ``k`` sentences for which ``length[a + k - 1] * k``
    stays within the budget (at least one): that product grows with ``k``, so each batch's end
    is a binary search, and the batches are slices of one index array, never a Python object
    per sentence.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    ties = np.fromiter((rng.random() for _ in range(len(lengths))), np.float64, len(lengths))
    order = np.lexsort((ties, lengths))
    ascending = lengths[order]
    batches, start = [], 0
    while start < len(order):
        low, high = start + 1, len(order)  # the batch ends after ``low``, at most ``high``
        while low < high:
            middle = (low + high + 1) // 2
            if ascending[middle - 1] * (middle - start) <= max_tokens:
                low = middle
            else:
                high = middle - 1
        batches.append(order[start:low])
        start = low
    rng.shuffle(batches)
    return batches


def pad(rows: list[list[int]]) -> Tensor:
    """Right-padded ``(rows, longest)`` tensor, built by one ``torch.tensor`` call: several
    times faster than filling rows one by one, so collating never stalls a fast step."""
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD_ID] * (width - len(r)) for r in rows], dtype=torch.long)


def source_tensor(sources: list[list[int]]) -> Tensor:
    """Sources end with EOS, as in fairseq."""
    return pad([s + [EOS_ID] for s in sources])


@dataclass
class Batch:
    src: Tensor
    tgt_in: Tensor
    tgt_out: Tensor

    @property
    def target_tokens(self) -> int:
        return int((self.tgt_out != PAD_ID).sum())

    def to(self, device: torch.device) -> "Batch":
        """On a GPU, copied from page-locked memory without waiting (the copy queues behind the
        step before it instead of stalling the host)."""
        if device.type != "cuda":
            return Batch(self.src.to(device), self.tgt_in.to(device), self.tgt_out.to(device))
        move = lambda t: t.pin_memory().to(device, non_blocking=True)  # noqa: E731
        return Batch(move(self.src), move(self.tgt_in), move(self.tgt_out))


def collate(pairs: list[Pair]) -> Batch:
    """Decoder input is BOS + target; decoder output is target + EOS."""
    return Batch(source_tensor([s for s, _ in pairs]),
                 pad([[BOS_ID] + t for _, t in pairs]),
                 pad([t + [EOS_ID] for _, t in pairs]))


def pair_lengths(pairs: Sequence[Pair]) -> np.ndarray:
    """What each pair costs a batch: its longer side plus EOS (a binarised corpus has them
    without reading a pair)."""
    lengths = getattr(pairs, "lengths", None)
    if lengths is None:
        lengths = np.array([max(len(s), len(t)) + 1 for s, t in pairs], dtype=np.int64)
    return lengths


def epoch_batches(pairs: Sequence[Pair], max_tokens: int, seed: int,
                  epoch: int) -> list[np.ndarray]:
    """The batches of one epoch; a pure function of (seed, epoch) so training can resume."""
    return token_buckets(pair_lengths(pairs), max_tokens, random.Random(seed * 100_003 + epoch))
