"""Validation by translation during training: BLEU and chrF of a model's greedy or small-beam
output on the validation set (or a fixed subset of it), scored by sacreBLEU against the raw
references, as fairseq's ``--eval-bleu`` and Marian's ``--valid-metrics bleu chrf`` do.

The subset is drawn with a fixed seed, not the run's, so that every run of an experiment is
scored on the same sentences and their numbers compare.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from wd.data.bpe import Tokenizer, ids_to_text, load_bpe
from wd.decode.search import translate
from wd.evaluate.metrics import score
from wd.io import read_lines
from wd.settings import SearchSettings

SUBSET_SEED = 0


def subset(count: int, size: int) -> list[int]:
    """Indices of ``size`` of ``count`` sentences (all of them for 0 or ``size >= count``), in
    order, the same for every run."""
    if not size or size >= count:
        return list(range(count))
    return sorted(random.Random(SUBSET_SEED).sample(range(count), size))


@dataclass
class ValidationSet:
    """Validation sources (token ids), their raw references, and how to translate them."""

    sources: list[list[int]]
    references: list[str]
    sp: Tokenizer
    tgt_lang: str
    search: SearchSettings

    @classmethod
    def load(cls, sources: list[list[int]], reference: Path, bpe_model: Path, tgt_lang: str,
             search: SearchSettings, sentences: int = 0) -> ValidationSet:
        """The subset of ``sentences`` (0: all) of ``sources`` with ``reference``'s lines."""
        refs = read_lines(reference)
        if len(refs) != len(sources):
            raise ValueError(f"{reference} has {len(refs)} lines for {len(sources)} validation "
                             "sources")
        keep = subset(len(sources), sentences)
        return cls([sources[i] for i in keep], [refs[i] for i in keep], load_bpe(bpe_model),
                   tgt_lang, search)

    def scores(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """``bleu`` and ``chrf`` of ``model``'s translations (a WD Phase-1 model translates
        with the student it generates now). The torch RNG is left as it was: validating does
        not change the dropout masks of the updates that follow."""
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            student = model.export_student() if hasattr(model, "export_student") else model
            was_training = model.training
            hyps = translate(student.to(device), self.sources, self.search, device)
            model.train(was_training)
        text = ids_to_text(self.sp, hyps, self.tgt_lang)
        result = score(text, [self.references])
        return {"bleu": result["bleu"], "chrf": result["chrf"]}
