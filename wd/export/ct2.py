"""Export a trained checkpoint to a CTranslate2 model directory (deployment path for students).

The spec is built from our weights with CTranslate2's Python spec API, so no other toolkit's
checkpoint format is involved: q/k/v of self-attention and k/v of cross-attention are fused as
CTranslate2 expects, the sinusoidal table is ours (fairseq layout), embeddings are scaled by
sqrt(dim), pre-norm models get their final LayerNorms, post-norm models none; a decoder narrower
than the encoder works (the fused cross-attention k/v matrix maps encoder width to decoder
width), and so do different head counts on the two sides. ``ctranslate2`` is
an optional dependency (``pip install 'wd[bench]'``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from wd.data.bpe import load_bpe
from wd.data.shortlist import read_vmap
from wd.export.cli import add_force, add_no_verify, one_line_errors
from wd.export.package import load_any
from wd.io import atomic_dir, check_output_dir
from wd.model.transformer import Transformer, sinusoidal_positions
from wd.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

MAX_POSITIONS = 1024  # longest source or target the exported model accepts
SPECIAL = {PAD_ID: "<blank>", UNK_ID: "<unk>", BOS_ID: "<s>", EOS_ID: "</s>"}


def ct2_module():
    try:
        import ctranslate2
    except ImportError:
        raise ImportError("CTranslate2 export needs the optional dependency ctranslate2: "
                          "pip install 'wd[bench]'") from None
    return ctranslate2


def _np(t: Tensor) -> np.ndarray:
    """A copy: CTranslate2's int8 quantisation rewrites some arrays in place (the embeddings),
    which would otherwise be the model's own parameters."""
    return t.detach().float().cpu().numpy().copy()


def _linear(spec, *layers: nn.Linear) -> None:
    """Fill ``spec`` with ``layers`` fused along the output dimension."""
    spec.weight = _np(torch.cat([layer.weight for layer in layers]))
    if layers[0].bias is not None:
        spec.bias = _np(torch.cat([layer.bias for layer in layers]))


def _norm(spec, norm: nn.LayerNorm) -> None:
    spec.gamma, spec.beta = _np(norm.weight), _np(norm.bias)


def _inputs(spec, embedding: nn.Embedding, positions: str) -> None:
    table = spec.embeddings[0] if isinstance(spec.embeddings, list) else spec.embeddings
    table.weight = _np(embedding.weight)
    spec.scale_embeddings = True
    spec.position_encodings.encodings = _np(
        sinusoidal_positions(MAX_POSITIONS, embedding.embedding_dim, layout=positions))


def _layer(spec, layer: nn.Module, cross: bool) -> None:
    attn = layer.self_attn
    _linear(spec.self_attention.linear[0], attn.q, attn.k, attn.v)
    _linear(spec.self_attention.linear[1], attn.out)
    _norm(spec.self_attention.layer_norm, layer.self_attn_sub.norm)
    if cross:
        attn = layer.cross_attn
        _linear(spec.attention.linear[0], attn.q)
        _linear(spec.attention.linear[1], attn.k, attn.v)
        _linear(spec.attention.linear[2], attn.out)
        _norm(spec.attention.layer_norm, layer.cross_attn_sub.norm)
    _linear(spec.ffn.linear_0, layer.ffn.fc1)
    _linear(spec.ffn.linear_1, layer.ffn.fc2)
    _norm(spec.ffn.layer_norm, layer.ffn_sub.norm)


def build_spec(model: Transformer, vocabulary: list[str]):
    """A ``ctranslate2.specs.TransformerSpec`` holding ``model``'s weights."""
    specs = ct2_module().specs
    cfg = model.cfg
    if len(vocabulary) != cfg.vocab_size:
        raise ValueError(f"vocabulary has {len(vocabulary)} entries, the model {cfg.vocab_size}")
    activation = specs.Activation.SWISH if cfg.activation == "swish" else specs.Activation.RELU
    encoder = specs.TransformerEncoderSpec(cfg.enc_layers, cfg.enc_heads, pre_norm=cfg.pre_norm,
                                           activation=activation)
    decoder = specs.TransformerDecoderSpec(cfg.dec_layers, cfg.dec_heads, pre_norm=cfg.pre_norm,
                                           activation=activation)
    _inputs(encoder, model.src_embed, cfg.positions)
    _inputs(decoder, model.tgt_embed, cfg.positions)
    for layer_spec, layer in zip(encoder.layer, model.encoder):
        _layer(layer_spec, layer, cross=False)
    for layer_spec, layer in zip(decoder.layer, model.decoder):
        _layer(layer_spec, layer, cross=True)
    if cfg.pre_norm:
        _norm(encoder.layer_norm, model.enc_norm)
        _norm(decoder.layer_norm, model.dec_norm)
    output = model.tgt_embed.weight if model.output is None else model.output.weight
    decoder.projection.weight = _np(output)
    if model.output_bias is not None:
        decoder.projection.bias = _np(model.output_bias.bias)

    spec = specs.TransformerSpec(encoder, decoder)
    spec.config.layer_norm_epsilon = model.decoder[0].ffn_sub.norm.eps
    spec.config.decoder_start_token = SPECIAL[BOS_ID]
    spec.config.add_source_eos = True  # our sources end with EOS (wd.data.batching.source_tensor)
    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    return spec


def vocabulary(model: Transformer, bpe_model: Path | None) -> list[str]:
    """Token strings by id: the BPE model's pieces, or placeholders ``<id>`` for a model used
    with token ids only; special ids get CTranslate2's special names."""
    if bpe_model is None:
        pieces = [f"<{i}>" for i in range(model.cfg.vocab_size)]
    else:
        sp = load_bpe(bpe_model)
        pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    return [SPECIAL.get(i, piece) for i, piece in enumerate(pieces)]


def export_model(model: Transformer, out_dir: Path, vocab: list[str],
                 quantization: str | None = None, force: bool = False,
                 source: Path | None = None, vmap: Path | None = None) -> Path:
    """Write the CTranslate2 model directory ``out_dir`` (built beside it, then renamed; an
    existing non-empty one only with ``force``, never ``source``: :func:`wd.io.atomic_dir`),
    with the vocabulary map ``vmap`` (``vmap.txt``, wd.data.shortlist) when given."""
    spec = build_spec(model, vocab)
    if vmap is not None:
        spec.register_vocabulary_mapping(str(vmap))
    spec.validate()
    spec.optimize(quantization=quantization)
    with atomic_dir(out_dir, force, source) as tmp:
        spec.save(str(tmp))
    return Path(out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="wd-export-ct2",
                                     description="Export a wd model to CTranslate2.")
    parser.add_argument("checkpoint", type=Path,
                        help="model package directory, or a model checkpoint (e.g. final.pt)")
    parser.add_argument("out_dir", type=Path, help="CTranslate2 model directory to write")
    parser.add_argument("--bpe", type=Path,
                        help="sentencepiece model giving the vocabulary (default: the package's)")
    parser.add_argument("--quantization", choices=["int8", "int8_float32", "float16"],
                        help="store weights quantised (default: float32)")
    parser.add_argument("--vmap", type=Path,
                        help="vocabulary map to ship (default: the package's vmap.txt, if any); "
                             "translate with use_vmap=True to restrict the output to it")
    add_force(parser)
    add_no_verify(parser)
    args = parser.parse_args(argv)
    with one_line_errors(parser.prog):
        check_output_dir(args.out_dir, args.force, args.checkpoint)  # before the slow part
        model, package = load_any(args.checkpoint, verify_files=not args.no_verify)
        bpe = args.bpe or (package.bpe if package else None)
        vmap = args.vmap or (package.vmap if package else None)
        vocab = vocabulary(model, bpe)
        if vmap is not None:
            read_vmap(vmap, vocab)  # CTranslate2 would read a damaged map without a word
        export_model(model, args.out_dir, vocab, args.quantization, args.force,
                     args.checkpoint, vmap)
    print(f"wrote {args.out_dir}")


if __name__ == "__main__":
    main()
