"""A side of a corpus as token ids in one memory-mapped numpy file, written once by the
``binarize`` rule and read by every training job, torchrun worker and validation.

Holding a corpus as Python lists took one Python int per token (13.5 GiB at WMT14 size, in every
training job and every worker) and minutes of parsing at each start. A ``.npy`` file is mapped
instead: the pages come from the operating system's cache, shared by every process that maps
the same file, and a job's own memory holds only the sentence offsets (8 bytes a sentence) and
the ids of the batch at hand. numpy's ``.npy`` (rather than Arrow or fairseq's indexed dataset)
because numpy is already a dependency, the format is documented and versioned, and
``np.load(mmap_mode="r")`` maps it with no code of ours.

The file holds each sentence's ids followed by an end mark (the dtype's largest value, never an
id): the offsets are found again by one vectorised pass at load, so a side is one file, and a
truncated or foreign file cannot pass for a corpus (it must end with an end mark).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wd.data.bpe import Tokenizer
from wd.data.stream import iter_lines, read_chunks
from wd.io import InputError, atomic_path

Pair = tuple[list[int], list[int]]


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned type that holds every id and, above them, the end mark."""
    return np.dtype(np.uint16 if vocab_size < np.iinfo(np.uint16).max else np.uint32)


def binarize(sp: Tokenizer, text: Path, out: Path) -> int:
    """Write the ids of the BPE piece file ``text`` to the ``.npy`` file ``out`` (streamed:
    memory bounded by a chunk of lines); return the number of sentences. Ids are those of
    :func:`wd.data.batching.pieces_to_ids`."""
    dtype = id_dtype(sp.get_piece_size())
    end = np.iinfo(dtype).max
    pieces = (sp.id_to_piece(i) for i in range(sp.get_piece_size()))
    vocab = {piece: sp.piece_to_id(piece) for piece in pieces}
    sentences = tokens = 0
    for line in iter_lines(text):  # the size first, so that the file is written in place
        sentences, tokens = sentences + 1, tokens + len(line.split())
    with atomic_path(out, suffix=".npy") as tmp:
        ids = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(tokens + sentences,))
        at = 0
        for chunk in read_chunks(text):
            row = []
            for line in chunk:
                row += [vocab[p] if p in vocab else sp.piece_to_id(p) for p in line.split()]
                row.append(end)
            ids[at:at + len(row)] = row
            at += len(row)
        ids.flush()
        del ids
    return sentences


class Side:
    """One binarised side, mapped: sentence ``i`` is ``ids[starts[i]:starts[i] + lengths[i]]``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.ids = np.load(self.path, mmap_mode="r")
        except (OSError, ValueError) as err:
            raise InputError(f"{path}: not a binarised corpus ({err})") from None
        end = np.iinfo(self.ids.dtype).max if self.ids.dtype.kind == "u" else None
        if self.ids.ndim != 1 or end is None or (len(self.ids) and self.ids[-1] != end):
            raise InputError(f"{path}: not a binarised corpus (it must end with an end mark)")
        marks = np.flatnonzero(self.ids == end)
        self.starts = np.concatenate([[0], marks[:-1] + 1]).astype(np.int64)
        self.lengths = marks - self.starts

    def __len__(self) -> int:
        return len(self.starts)

    def sentence(self, index: int) -> list[int]:
        start = int(self.starts[index])
        return self.ids[start:start + int(self.lengths[index])].tolist()


class MisalignedSides(InputError):
    """Two binarised sides of different lengths; ``shorter`` is the one with fewer sentences."""

    def __init__(self, message: str, shorter: Path):
        super().__init__(message)
        self.shorter = shorter


class PairCorpus(Sequence):
    """Parallel binarised sides as a sequence of id pairs (the original and the KD data
    concatenated, say), pairs longer than ``max_len`` pieces on either side left out; a pair is
    read from the map only when it is asked for."""

    def __init__(self, files: list[Path], max_len: int | None = None):
        if len(files) % 2:
            raise ValueError(f"expected source/target file pairs, got {files}")
        self.parts, kept = [], []
        for src, tgt in zip(files[0::2], files[1::2]):
            src, tgt = Side(src), Side(tgt)
            if len(src) != len(tgt):
                raise MisalignedSides(f"misaligned: {src.path} has {len(src)} sentences, "
                                      f"{tgt.path} has {len(tgt)}",
                                      src.path if len(src) < len(tgt) else tgt.path)
            keep = np.arange(len(src))
            if max_len:
                keep = np.flatnonzero((src.lengths > 0) & (src.lengths <= max_len)
                                      & (tgt.lengths > 0) & (tgt.lengths <= max_len))
            self.parts.append((src, tgt, keep))
            kept.append(np.maximum(src.lengths[keep], tgt.lengths[keep]) + 1)
        self.ends = np.cumsum([len(keep) for *_, keep in self.parts]).tolist()
        # What a batch costs a pair: its longer side plus EOS (wd.data.batching.token_buckets).
        self.lengths = np.concatenate(kept) if kept else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def __getitem__(self, index: int | slice) -> Pair | list[Pair]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        part = bisect.bisect_right(self.ends, index)
        src, tgt, keep = self.parts[part]
        row = int(keep[index - (self.ends[part - 1] if part else 0)])
        return src.sentence(row), tgt.sentence(row)
