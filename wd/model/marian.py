"""A transformers MarianMT model (an OPUS-MT teacher) imported into our Transformer exactly.

MarianMT is post-norm with sqrt(width)-scaled embeddings, MarianMT's sinusoidal position table
(``positions: marian``), swish or ReLU, a bias on the logits (``output_bias``), and shared or
separate embeddings: each has a :class:`wd.settings.ModelConfig` field. The parameters are
renamed through the one names table (:meth:`wd.model.names.Name.hf`, the export's direction).

Its special ids are not ours: the vocabulary rows are reordered as
:func:`wd.pretrained.vocabulary_map` says, which the teacher's tokenizer applies to its ids too.
"""

from __future__ import annotations

from pathlib import Path

import torch

from wd.model.names import parse
from wd.model.transformer import Transformer
from wd.pretrained import (
    VocabularyMap,
    hf_config,
    teacher_shape,
    vocabulary,
    vocabulary_map,
)
from wd.settings import ModelConfig


def import_marian(source: str | Path) -> tuple[Transformer, VocabularyMap]:
    """Our Transformer holding the MarianMT model at ``source`` (a directory, or a model id that
    transformers fetches into its own cache), and the vocabulary reordering."""
    from transformers import MarianMTModel
    config = hf_config(str(source))
    cfg = ModelConfig(vocab_size=config["vocab_size"] + 1, **teacher_shape(config))
    vocab = vocabulary_map(vocabulary(str(source), config))
    theirs = MarianMTModel.from_pretrained(str(source)).state_dict()
    rows = torch.tensor(vocab.rows)
    model = Transformer(cfg)
    with torch.no_grad():
        for name, param in model.named_parameters():
            place = parse(name)
            tensor = theirs[place.hf()]
            if place.kind in ("embedding", "output", "output_bias"):
                tensor = tensor.reshape(-1, *param.shape[1:])[rows]
            param.copy_(tensor.reshape(param.shape))
    return model.eval(), vocab
