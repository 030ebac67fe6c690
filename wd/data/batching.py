"""Parallel data as token ids, and token-bucket batches (similar lengths together)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from wd.data.bpe import Tokenizer
from wd.io import check_aligned, read_lines
from wd.vocab import BOS_ID, EOS_ID, PAD_ID

Pair = tuple[list[int], list[int]]


def pieces_to_ids(sp: Tokenizer, lines: list[str]) -> list[list[int]]:
    return [[sp.piece_to_id(p) for p in line.split()] for line in lines]


def load_parallel(sp: Tokenizer, src: Path, tgt: Path,
                  max_len: int | None = None) -> list[Pair]:
    """Id pairs from two BPE piece files; pairs longer than ``max_len`` pieces are dropped."""
    src_lines, tgt_lines = read_lines(src), read_lines(tgt)
    check_aligned((src, src_lines), (tgt, tgt_lines))
    pairs = list(zip(pieces_to_ids(sp, src_lines), pieces_to_ids(sp, tgt_lines)))
    if max_len:
        pairs = [(s, t) for s, t in pairs if 0 < len(s) <= max_len and 0 < len(t) <= max_len]
    return pairs


def token_buckets(lengths: list[int], max_tokens: int, rng: random.Random) -> list[list[int]]:
    """Index batches whose padded size (rows x longest) stays within ``max_tokens``.

    Sorting by length with random tie-breaking keeps padding low; the batch order is shuffled.
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches, batch, longest = [], [], 0
    for i in order:
        longest_if_added = max(longest, lengths[i])
        if batch and longest_if_added * (len(batch) + 1) > max_tokens:
            batches.append(batch)
            batch, longest_if_added = [], lengths[i]
        batch.append(i)
        longest = longest_if_added
    if batch:
        batches.append(batch)
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
        return Batch(self.src.to(device), self.tgt_in.to(device), self.tgt_out.to(device))


def collate(pairs: list[Pair]) -> Batch:
    """Decoder input is BOS + target; decoder output is target + EOS."""
    return Batch(source_tensor([s for s, _ in pairs]),
                 pad([[BOS_ID] + t for _, t in pairs]),
                 pad([t + [EOS_ID] for _, t in pairs]))


def epoch_batches(pairs: list[Pair], max_tokens: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches of one epoch; a pure function of (seed, epoch) so training can resume."""
    lengths = [max(len(s), len(t)) + 1 for s, t in pairs]
    return token_buckets(lengths, max_tokens, random.Random(seed * 100_003 + epoch))
