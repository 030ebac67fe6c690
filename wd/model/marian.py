"""A transformers MarianMT model (an OPUS-MT teacher) imported into our Transformer exactly.

MarianMT is post-norm with sqrt(width)-scaled embeddings, MarianMT's sinusoidal position table
(``positions: marian``), swish or ReLU, a bias on the logits (``output_bias``), and shared or
separate embeddings: each has a :class:`wd.settings.ModelConfig` field. The parameters are
renamed through the one names table (:meth:`wd.model.names.Name.hf`, the export's direction).

Its special ids are not ours: MarianMT has EOS 0, UNK 1 and PAD last, and starts decoding from
PAD; we have PAD 0, UNK 1, BOS 2, EOS 3 (:mod:`wd.vocab`). The vocabulary rows are therefore
reordered: ours are MarianMT's PAD (our PAD, unused: masked), UNK, PAD again (our BOS, so that
decoding starts from the same embedding), EOS, then MarianMT's other ids in order, one row more
than MarianMT has. Our search never emits PAD or BOS, as MarianMT's never emits PAD.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from wd.model.names import parse
from wd.model.transformer import Transformer
from wd.settings import ModelConfig
from wd.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

ACTIVATIONS = {"relu": "relu", "swish": "swish", "silu": "swish"}  # transformers' -> ours


class MarianImportError(ValueError):
    """A directory that is not a MarianMT model, or one our Transformer cannot express."""


@dataclass(frozen=True)
class VocabularyMap:
    """Our id of each row -> MarianMT's id (``rows``), and MarianMT's id -> ours (``ours``)."""

    rows: list[int]
    ours: dict[int, int]


def vocabulary_map(size: int, pad: int, eos: int, unk: int) -> VocabularyMap:
    """The reordering of MarianMT's ``size`` ids described in the module docstring."""
    special = {PAD_ID: pad, UNK_ID: unk, BOS_ID: pad, EOS_ID: eos}  # ours -> MarianMT's
    others = [i for i in range(size) if i not in (pad, eos, unk)]
    rows = [special[i] for i in range(len(special))] + others
    ours = {marian: our for our, marian in enumerate(rows) if our != BOS_ID}  # PAD stays PAD
    return VocabularyMap(rows, ours)


def load_config(source: str | Path, key: str = "teacher.pretrained"):
    """transformers' config of ``source``; MarianImportError (naming ``key``) for anything that
    is not a MarianMT model."""
    from transformers import AutoConfig
    try:
        config = AutoConfig.from_pretrained(str(source))
    except (OSError, ValueError) as err:
        raise MarianImportError(f"config error at {key}: {source} is not a transformers model "
                                f"directory or id ({str(err).splitlines()[0]})") from None
    if config.model_type != "marian":
        raise MarianImportError(f"config error at {key}: {source} is a {config.model_type} "
                                "model, not MarianMT")
    return config


def model_config(config, key: str = "teacher.pretrained") -> ModelConfig:
    """Our ModelConfig for a MarianMT config; MarianImportError naming what ours cannot express."""
    def refuse(reason: str) -> MarianImportError:
        return MarianImportError(f"config error at {key}: cannot import this MarianMT model: "
                                 f"{reason}")
    if config.activation_function not in ACTIVATIONS:
        raise refuse(f"activation_function {config.activation_function!r} (ours: relu, swish)")
    if not config.scale_embedding:
        raise refuse("scale_embedding is false (ours always scales embeddings by sqrt(width))")
    if config.decoder_vocab_size not in (None, config.vocab_size):
        raise refuse(f"source and target vocabularies differ in size ({config.vocab_size}, "
                     f"{config.decoder_vocab_size})")
    return ModelConfig(
        vocab_size=config.vocab_size + 1, enc_layers=config.encoder_layers,
        dec_layers=config.decoder_layers, enc_dim=config.d_model, dec_dim=config.d_model,
        enc_ffn=config.encoder_ffn_dim, dec_ffn=config.decoder_ffn_dim,
        enc_heads=config.encoder_attention_heads, dec_heads=config.decoder_attention_heads,
        dropout=config.dropout, pre_norm=False,
        share_embeddings=config.share_encoder_decoder_embeddings,
        tie_output=config.tie_word_embeddings,
        activation=ACTIVATIONS[config.activation_function], positions="marian",
        output_bias=True)


def unk_id(source: str | Path) -> int:
    """MarianMT's UNK id, which its tokenizer (not its config) defines."""
    vocab = Path(source) / "vocab.json"
    if vocab.is_file():
        return json.loads(vocab.read_text(encoding="utf-8"))["<unk>"]
    from transformers import MarianTokenizer
    return MarianTokenizer.from_pretrained(str(source)).unk_token_id


def import_marian(source: str | Path, key: str = "teacher.pretrained"
                  ) -> tuple[Transformer, VocabularyMap]:
    """Our Transformer holding the MarianMT model at ``source`` (a directory, or a model id that
    transformers fetches into its own cache), and the vocabulary reordering."""
    from transformers import MarianMTModel
    config = load_config(source, key)
    cfg = model_config(config, key)
    theirs = MarianMTModel.from_pretrained(str(source)).state_dict()
    vocab = vocabulary_map(config.vocab_size, config.pad_token_id, config.eos_token_id,
                           unk_id(source))
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
