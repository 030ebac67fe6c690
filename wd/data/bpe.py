"""Joint sentencepiece BPE over source and target; pieces are stored as space-separated text."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import sentencepiece as spm

from wd.data.text import detokenize
from wd.io import read_lines, write_lines
from wd.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def train_bpe(inputs: list[Path], model_path: Path, vocab_size: int, seed: int) -> None:
    """Train one BPE model on all ``inputs``; writes ``model_path`` (and ``.vocab``) atomically."""
    model_path = Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    spm.set_random_generator_seed(seed)
    with tempfile.TemporaryDirectory(dir=model_path.parent) as tmp:
        prefix = os.path.join(tmp, "spm")
        spm.SentencePieceTrainer.train(
            input=[str(p) for p in inputs], model_prefix=prefix, model_type="bpe",
            vocab_size=vocab_size, character_coverage=1.0, pad_id=PAD_ID, unk_id=UNK_ID,
            bos_id=BOS_ID, eos_id=EOS_ID, num_threads=1,
            input_sentence_size=2_000_000, shuffle_input_sentence=True,
            minloglevel=2, hard_vocab_limit=False)
        shutil.move(prefix + ".vocab", model_path.with_suffix(".vocab"))
        shutil.move(prefix + ".model", model_path)


def load_bpe(model_path: Path) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=str(model_path))


def encode_file(sp: spm.SentencePieceProcessor, src: Path, out: Path) -> int:
    pieces = sp.encode(read_lines(src), out_type=str)
    return write_lines(out, (" ".join(p) for p in pieces))


def decode_pieces(sp: spm.SentencePieceProcessor, lines: list[str]) -> list[str]:
    return [sp.decode(line.split()) for line in lines]


def ids_to_pieces(sp: spm.SentencePieceProcessor, hyps: list[list[int]]) -> list[str]:
    """Token ids (a decoder's output) as lines of space-separated BPE pieces."""
    return [" ".join(sp.id_to_piece(t) for t in h) for h in hyps]


def ids_to_text(sp: spm.SentencePieceProcessor, hyps: list[list[int]], lang: str) -> list[str]:
    """Token ids as detokenised text: BPE pieces joined, then Moses detokenisation."""
    return [detokenize(line, lang) for line in decode_pieces(sp, ids_to_pieces(sp, hyps))]
