"""The pipeline's tokenizers, read through one interface: pieces are stored as space-separated
text, and every step maps them to ids through :func:`load_bpe`'s object.

* :class:`JointBPE` (the default, ``bpe/spm.model``): Moses-tokenised text, one sentencepiece
  BPE model trained on both sides, whose ids are ours (:mod:`wd.vocab`);
* :class:`TeacherTokenizer` (``teacher.pretrained``, ``bpe/marian/vocab.json``): a MarianMT
  teacher's own files on raw text, as its MarianTokenizer does: ``source.spm`` for sources,
  ``target.spm`` for targets, one ``vocab.json``, whose ids are reordered to ours
  (:func:`wd.pretrained.vocabulary_map`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import sentencepiece as spm

from wd.data.stream import CHUNK_LINES, read_chunks
from wd.data.text import detokenize, tokenize
from wd.io import write_lines
from wd.pretrained import TOKENIZER_FILES, vocabulary_map
from wd.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

log = logging.getLogger(__name__)

TEACHER_VOCAB = "vocab.json"  # the file that names a TeacherTokenizer; its siblings hold the rest


def train_bpe(inputs: list[Path], model_path: Path, vocab_size: int, seed: int) -> int:
    """Train one BPE model on all ``inputs``; writes ``model_path`` (and ``.vocab``) atomically
    and returns its number of pieces. Data too small for ``vocab_size`` pieces gives as many as
    it supports (sentencepiece's soft limit), with a warning naming bpe.vocab_size."""
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
        pieces = spm.SentencePieceProcessor(model_file=prefix + ".model").get_piece_size()
        shutil.move(prefix + ".vocab", model_path.with_suffix(".vocab"))
        shutil.move(prefix + ".model", model_path)
    if pieces < vocab_size:
        log.warning("bpe.vocab_size is %d, but the training data supports only %d pieces: the "
                    "BPE model has %d", vocab_size, pieces, pieces)
    return pieces


class JointBPE:
    """Ours: Moses tokenisation before, detokenisation after, one BPE model for both sides."""

    moses = True

    def __init__(self, model_path: Path):
        self.path = Path(model_path)
        self.files = [self.path]
        self.sp = spm.SentencePieceProcessor(model_file=str(model_path))

    def encode(self, lines: list[str], side: str = "src") -> list[list[str]]:
        return self.sp.encode(lines, out_type=str)

    def piece_to_id(self, piece: str) -> int:
        return self.sp.piece_to_id(piece)

    def id_to_piece(self, index: int) -> str:
        return self.sp.id_to_piece(index)

    def get_piece_size(self) -> int:
        return self.sp.get_piece_size()

    def decode(self, pieces: list[str]) -> str:
        return self.sp.decode(pieces)


class TeacherTokenizer:
    """A pretrained teacher's tokenizer (see the module docstring); our BOS, which MarianMT does
    not have (it starts decoding from its PAD), is the piece ``<s>``."""

    moses = False

    def __init__(self, vocab_path: Path):
        self.path = Path(vocab_path)
        folder = self.path.parent
        self.files = [folder / name for name in TOKENIZER_FILES]
        self.spm = {side: spm.SentencePieceProcessor(model_file=str(folder / name))
                    for side, name in (("src", "source.spm"), ("tgt", "target.spm"))}
        marian = json.loads(Path(vocab_path).read_text(encoding="utf-8"))
        by_id = {i: piece for piece, i in marian.items()}
        rows = vocabulary_map(marian).rows
        self.pieces = [by_id[i] for i in rows]
        self.pieces[BOS_ID] = "<s>"
        self.ids = {piece: i for i, piece in enumerate(self.pieces) if i != BOS_ID}
        self.ids[self.pieces[PAD_ID]] = PAD_ID

    def encode(self, lines: list[str], side: str = "src") -> list[list[str]]:
        return self.spm[side].encode(lines, out_type=str)

    def piece_to_id(self, piece: str) -> int:
        return self.ids.get(piece, UNK_ID)

    def id_to_piece(self, index: int) -> str:
        return self.pieces[index]

    def get_piece_size(self) -> int:
        return len(self.pieces)

    def decode(self, pieces: list[str]) -> str:
        """The target text, unknown tokens left out (as transformers' ``batch_decode(...,
        skip_special_tokens=True)``; sentencepiece would write them as " ⁇ ")."""
        return self.spm["tgt"].decode_pieces([p for p in pieces if p != self.pieces[UNK_ID]])


Tokenizer = JointBPE | TeacherTokenizer


def load_bpe(path: Path) -> Tokenizer:
    """The tokenizer at ``path``: a teacher's ``vocab.json`` (beside its .spm files), else ours."""
    return TeacherTokenizer(path) if Path(path).name == TEACHER_VOCAB else JointBPE(path)


def encode_file(sp: Tokenizer, src: Path, out: Path, side: str = "src",
                chunk: int = CHUNK_LINES) -> int:
    """Write ``src`` as lines of space-separated pieces, ``chunk`` lines encoded at a time: the
    pieces of a whole side as Python strings would take gigabytes at WMT size."""
    pieces = (p for lines in read_chunks(src, chunk) for p in sp.encode(lines, side))
    return write_lines(out, (" ".join(p) for p in pieces))


def source_ids(sp: Tokenizer, lines: list[str], lang: str) -> list[list[int]]:
    """Raw source sentences as the ids a model reads (Moses-tokenised first for ours)."""
    text = [tokenize(line, lang) for line in lines] if sp.moses else lines
    return [[sp.piece_to_id(p) for p in pieces] for pieces in sp.encode(text, "src")]


def ids_to_pieces(sp: Tokenizer, hyps: list[list[int]]) -> list[str]:
    """Token ids (a decoder's output) as lines of space-separated pieces."""
    return [" ".join(sp.id_to_piece(t) for t in h) for h in hyps]


def ids_to_text(sp: Tokenizer, hyps: list[list[int]], lang: str) -> list[str]:
    """Token ids as text: pieces joined, then Moses detokenisation for ours."""
    text = [sp.decode([sp.id_to_piece(t) for t in h]) for h in hyps]
    return [detokenize(line, lang) for line in text] if sp.moses else text
