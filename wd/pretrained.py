"""A pretrained teacher (``teacher.pretrained``): a transformers MarianMT directory or model id,
found and read without torch, so that the config is checked and the run planned at start-up.

The teacher's shape comes from its ``config.json`` (``teacher.model`` is not used); whatever our
Transformer cannot express is refused here, in one line naming the key. Its tokenizer is the
MarianTokenizer's files: ``source.spm`` and ``target.spm`` (sentencepiece) and one ``vocab.json``.

Its special ids are not ours: MarianMT has EOS 0, UNK 1 and PAD last, and starts decoding from
PAD; we have PAD 0, UNK 1, BOS 2, EOS 3 (:mod:`wd.vocab`). The vocabulary rows are therefore
reordered: ours are MarianMT's PAD (our PAD, unused: masked), UNK, PAD again (our BOS, so that
decoding starts from the same embedding), EOS, then MarianMT's other ids in order, one row more
than MarianMT has. Our search never emits PAD or BOS, as MarianMT's never emits PAD.

A model id is fetched through huggingface_hub's cache (network once); tests use directories.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from wd.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

KEY = "teacher.pretrained"
TOKENIZER_FILES = ("source.spm", "target.spm", "vocab.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
ACTIVATIONS = {"relu": "relu", "swish": "swish", "silu": "swish"}  # transformers' -> ours
# transformers.MarianConfig's defaults of the keys read here (a test keeps them in step).
MARIAN_DEFAULTS = {"vocab_size": 58101, "decoder_vocab_size": None, "d_model": 1024,
                   "encoder_layers": 12, "decoder_layers": 12, "encoder_ffn_dim": 4096,
                   "decoder_ffn_dim": 4096, "encoder_attention_heads": 16,
                   "decoder_attention_heads": 16, "dropout": 0.1, "activation_function": "gelu",
                   "scale_embedding": False, "share_encoder_decoder_embeddings": True,
                   "tie_word_embeddings": True, "pad_token_id": 58100, "eos_token_id": 0,
                   "decoder_start_token_id": 58100}


class PretrainedError(ValueError):
    """A teacher that is not a MarianMT model, or one our Transformer cannot express."""


def is_local(source: str) -> bool:
    return Path(source).is_dir()


def fetch(source: str, name: str) -> Path:
    """The file ``name`` of the model at ``source``: in the directory, or through the hub's
    cache for a model id."""
    if is_local(source):
        path = Path(source) / name
        if not path.is_file():
            raise PretrainedError(f"config error at {KEY}: {source} has no {name} (a MarianMT "
                                  f"directory has config.json, its weights and "
                                  f"{', '.join(TOKENIZER_FILES)})")
        return path
    try:
        from huggingface_hub import hf_hub_download
        return Path(hf_hub_download(source, name))
    except Exception as err:  # noqa: BLE001 -- the hub's errors have no common base to name
        raise PretrainedError(f"config error at {KEY}: {source} is neither a directory nor a "
                              f"model id whose {name} can be fetched "
                              f"({str(err).splitlines()[0]})") from None


def local_files(source: str) -> list[str]:
    """The files of a local teacher directory that the import reads (a change reruns it); none
    for a model id."""
    if not is_local(source):
        return []
    names = ("config.json", *WEIGHT_FILES, *TOKENIZER_FILES)
    return [str(Path(source) / n) for n in names if (Path(source) / n).is_file()]


def hf_config(source: str) -> dict:
    """The model's ``config.json`` (with MarianConfig's defaults for the keys it leaves out),
    refused unless it is a MarianMT model's."""
    path = fetch(source, "config.json")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PretrainedError(f"config error at {KEY}: {path} is not JSON ({err})") from None
    if config.get("model_type") != "marian":
        raise PretrainedError(f"config error at {KEY}: {source} is a "
                              f"{config.get('model_type', 'unknown')} model, not MarianMT")
    return {**MARIAN_DEFAULTS, **config}


def teacher_shape(config: dict) -> dict:
    """Our ModelConfig keys (but vocab_size) for a MarianMT config (:func:`hf_config`)."""
    def refuse(reason: str) -> PretrainedError:
        return PretrainedError(f"config error at {KEY}: cannot import this MarianMT model: "
                               f"{reason}")
    if config["activation_function"] not in ACTIVATIONS:
        raise refuse(f"activation_function {config['activation_function']!r} (ours: relu, swish)")
    if not config["scale_embedding"]:
        raise refuse("scale_embedding is false (ours always scales embeddings by sqrt(width))")
    if config["decoder_vocab_size"] not in (None, config["vocab_size"]):
        raise refuse(f"source and target vocabularies differ in size ({config['vocab_size']}, "
                     f"{config['decoder_vocab_size']})")
    return {"enc_layers": config["encoder_layers"], "dec_layers": config["decoder_layers"],
            "enc_dim": config["d_model"], "dec_dim": config["d_model"],
            "enc_ffn": config["encoder_ffn_dim"], "dec_ffn": config["decoder_ffn_dim"],
            "enc_heads": config["encoder_attention_heads"],
            "dec_heads": config["decoder_attention_heads"], "dropout": config["dropout"],
            "pre_norm": False, "share_embeddings": config["share_encoder_decoder_embeddings"],
            "tie_output": config["tie_word_embeddings"],
            "activation": ACTIVATIONS[config["activation_function"]], "positions": "marian",
            "output_bias": True}


def vocabulary(source: str, config: dict) -> dict[str, int]:
    """The tokenizer's one vocabulary (piece -> MarianMT id), checked against the model's
    ``config`` (:func:`hf_config`): a tokenizer with a target vocabulary of its own, with
    target-language tokens (a multilingual model) or with other ids than the model's is refused."""
    def refuse(reason: str) -> PretrainedError:
        return PretrainedError(f"config error at {KEY}: {reason}")
    try:
        settings = json.loads(fetch(source, "tokenizer_config.json").read_text("utf-8"))
    except PretrainedError:  # optional
        settings = {}
    if settings.get("separate_vocabs"):
        raise refuse("a tokenizer with separate source and target vocabularies is not supported")
    vocab = json.loads(fetch(source, "vocab.json").read_text(encoding="utf-8"))
    codes = [piece for piece in vocab if piece.startswith(">>") and piece.endswith("<<")]
    if codes:
        raise refuse(f"a multilingual model (target-language tokens such as {codes[0]}) is not "
                     f"supported: choose a bilingual one")
    if sorted(vocab.values()) != list(range(config["vocab_size"])):
        raise refuse(f"vocab.json's ids are not 0..{config['vocab_size'] - 1}, the model's")
    for piece, key in (("<pad>", "pad_token_id"), ("</s>", "eos_token_id"), ("<unk>", None)):
        if piece not in vocab or (key and vocab[piece] != config[key]):
            raise refuse(f"vocab.json's {piece} is not the model's {key or 'unknown token'}")
    if config["decoder_start_token_id"] != config["pad_token_id"]:
        raise refuse(f"decoding starts from id {config['decoder_start_token_id']}, not from PAD "
                     f"({config['pad_token_id']}) as in OPUS-MT models (a wd-export-hf model: "
                     f"use its wd package instead)")
    return vocab


def check(source: str) -> dict:
    """Everything start-up checks of a pretrained teacher; its shape (:func:`teacher_shape`)."""
    config = hf_config(source)
    shape = teacher_shape(config)
    vocabulary(source, config)
    return shape


@dataclass(frozen=True)
class VocabularyMap:
    """Our id of each row -> MarianMT's id (``rows``), and MarianMT's id -> ours (``ours``)."""

    rows: list[int]
    ours: dict[int, int]


def vocabulary_map(vocab: dict[str, int]) -> VocabularyMap:
    """The reordering of a MarianMT vocabulary's ids described in the module docstring."""
    size, pad, eos, unk = len(vocab), vocab["<pad>"], vocab["</s>"], vocab["<unk>"]
    special = {PAD_ID: pad, UNK_ID: unk, BOS_ID: pad, EOS_ID: eos}  # ours -> MarianMT's
    others = [i for i in range(size) if i not in (pad, eos, unk)]
    rows = [special[i] for i in range(len(special))] + others
    ours = {marian: our for our, marian in enumerate(rows) if our != BOS_ID}  # PAD stays PAD
    return VocabularyMap(rows, ours)


def copy_tokenizer(source: str, files: list[Path]) -> None:
    """The teacher's tokenizer files into ``files`` (paths named as :data:`TOKENIZER_FILES`),
    each written beside its place and renamed."""
    from wd.io import atomic_path
    for out in files:
        with atomic_path(out) as tmp:
            shutil.copyfile(fetch(source, Path(out).name), tmp)
