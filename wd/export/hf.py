"""``wd-export-hf``: a model as a ``transformers`` directory that ``AutoModelForSeq2SeqLM`` and
``AutoTokenizer`` load offline.

Our post-norm models are MarianMT models and our pre-norm ones Pegasus models (pre-norm, with a
final LayerNorm per stack): same layers, biases, activation (ReLU or swish), sqrt(width)
embedding scale, sinusoidal positions from 0. Their position tables use another frequency
spacing than our default (``10000^(-2i/d)`` against fairseq's ``10000^(-i/(d/2-1))``; a model
with ``positions: marian`` has theirs), so ours is written into the weights file, where
``from_pretrained`` loads it (``save_pretrained`` would leave it out and the model would
recompute its own). Embeddings are stored untied (encoder, decoder, output: copies
where ours share one matrix), which computes the same. A decoder narrower than the encoder has no
counterpart: both classes have one model width.

The tokenizer is a MarianTokenizer with our ids over our sentencepiece model (it turns
Moses-tokenised text, as in the pipeline's ``data/tok/``, into the ids our model reads, with the
source EOS; ``wd-translate`` does the Moses steps for raw text), or over a pretrained teacher's
``source.spm`` and ``target.spm`` (raw text, as the teacher's own tokenizer). Generation starts
from BOS and never emits PAD or BOS, as our beam search.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from wd.data.bpe import load_bpe
from wd.export.cli import add_force, add_no_verify, one_line_errors
from wd.export.ct2 import MAX_POSITIONS
from wd.export.package import load_package
from wd.io import atomic_dir, check_output_dir
from wd.model.names import parse
from wd.model.transformer import Transformer, sinusoidal_positions
from wd.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def refusal(model: Transformer) -> str | None:
    """Why no transformers architecture expresses ``model`` exactly, or None."""
    cfg = model.cfg
    if cfg.enc_dim != cfg.dec_dim:
        return (f"a decoder narrower than the encoder (enc_dim {cfg.enc_dim}, dec_dim "
                f"{cfg.dec_dim}) has no transformers counterpart: MarianMT and Pegasus have one "
                f"model width")
    return None


def hf_model(model: Transformer, max_positions: int = MAX_POSITIONS):
    """The transformers model (MarianMT or Pegasus) holding ``model``'s weights."""
    import transformers
    reason = refusal(model)
    if reason:
        raise ValueError(reason)
    cfg = model.cfg
    kind = "Pegasus" if cfg.pre_norm else "Marian"
    config = getattr(transformers, f"{kind}Config")(
        vocab_size=cfg.vocab_size, d_model=cfg.enc_dim, encoder_layers=cfg.enc_layers,
        decoder_layers=cfg.dec_layers, encoder_attention_heads=cfg.enc_heads,
        decoder_attention_heads=cfg.dec_heads, encoder_ffn_dim=cfg.enc_ffn,
        decoder_ffn_dim=cfg.dec_ffn, activation_function=cfg.activation, dropout=0.0,
        attention_dropout=0.0, activation_dropout=0.0, max_position_embeddings=max_positions,
        scale_embedding=True, pad_token_id=PAD_ID, eos_token_id=EOS_ID, bos_token_id=BOS_ID,
        decoder_start_token_id=BOS_ID, forced_eos_token_id=None, tie_word_embeddings=False,
        **({"decoder_vocab_size": cfg.vocab_size, "share_encoder_decoder_embeddings": False}
           if kind == "Marian" else {}))
    out = getattr(transformers, f"{kind}MTModel" if kind == "Marian"
                  else f"{kind}ForConditionalGeneration")(config).eval()
    state = hf_state_dict(model, max_positions)
    missing, unexpected = out.load_state_dict(state, strict=False)
    # Marian has no shared table when the sides are separate; Pegasus keeps an unused one.
    unexpected = [k for k in unexpected if k != "model.shared.weight"]
    missing = [k for k in missing if k != "model.shared.weight"]
    if missing or unexpected:
        raise RuntimeError(f"weight names do not match {kind}: missing {missing}, "
                           f"unexpected {unexpected}")
    return out


def hf_state_dict(model: Transformer, max_positions: int) -> dict[str, Tensor]:
    """Our parameters under BART-family names; position tables; the output bias (zero for a
    model without one)."""
    cfg, ours = model.cfg, model.state_dict()
    out = {"model.encoder.embed_tokens.weight": ours["src_embed.weight"],
           "model.decoder.embed_tokens.weight": ours["tgt_embed.weight"],
           "model.shared.weight": ours["src_embed.weight"],
           "lm_head.weight": ours["tgt_embed.weight" if cfg.tie_output else "output.weight"],
           "final_logits_bias": (torch.zeros(cfg.vocab_size) if model.output_bias is None
                                 else ours["output_bias.bias"]).reshape(1, -1)}
    for side, dim in (("encoder", cfg.enc_dim), ("decoder", cfg.dec_dim)):
        out[f"model.{side}.embed_positions.weight"] = sinusoidal_positions(
            max_positions, dim, layout=cfg.positions)
    for name, tensor in ours.items():
        place = parse(name)
        if place.kind not in ("embedding", "output", "output_bias"):  # those are set above
            out[place.hf()] = tensor
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


def write_tokenizer(bpe_model: Path, out: Path, languages: tuple[str, str]) -> None:
    """MarianTokenizer files over the model's sentencepiece models, with our ids."""
    sp = load_bpe(bpe_model)
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    models = sp.files * 2 if sp.moses else sp.files[:2]  # ours: one model for both sides
    for name, model in zip(("source.spm", "target.spm"), models):
        shutil.copyfile(model, out / name)
    pieces = {i: sp.id_to_piece(i) for i in (PAD_ID, UNK_ID, EOS_ID)}
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "MarianTokenizer", "source_lang": languages[0],
        "target_lang": languages[1], "pad_token": pieces[PAD_ID], "unk_token": pieces[UNK_ID],
        "eos_token": pieces[EOS_ID], "model_max_length": MAX_POSITIONS,
        "separate_vocabs": False}, indent=2))


def export_hf(model: Transformer, bpe_model: Path, out_dir: Path,
              languages: tuple[str, str], force: bool = False, source: Path | None = None
              ) -> Path:
    """Write the transformers directory ``out_dir`` (built beside it, then renamed; an
    existing non-empty one only with ``force``, never ``source``: :func:`wd.io.atomic_dir`)."""
    from transformers import GenerationConfig
    hf = hf_model(model)
    hf.generation_config = GenerationConfig(
        decoder_start_token_id=BOS_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
        pad_token_id=PAD_ID, suppress_tokens=[PAD_ID, BOS_ID], num_beams=1, do_sample=False,
        max_length=MAX_POSITIONS)
    with atomic_dir(out_dir, force, source) as tmp:
        hf.save_pretrained(tmp)
        weights = tmp / "model.safetensors"
        state = load_file(weights)  # save_pretrained leaves the position tables out
        state.update({k: v for k, v in hf_state_dict(model, MAX_POSITIONS).items()
                      if "embed_positions" in k})
        save_file(state, weights, metadata={"format": "pt"})
        write_tokenizer(bpe_model, tmp, languages)
    return Path(out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="wd-export-hf", description="Export a wd model package to a transformers model.")
    parser.add_argument("package", type=Path, help="model package directory")
    parser.add_argument("out_dir", type=Path, help="transformers model directory to write")
    add_force(parser)
    add_no_verify(parser)
    args = parser.parse_args(argv)
    with one_line_errors(parser.prog):
        check_output_dir(args.out_dir, args.force, args.package)  # before the slow part
        package = load_package(args.package, verify_files=not args.no_verify)
        reason = refusal(package.model)
        if reason:
            parser.error(f"cannot export {args.package}: {reason}")
        export_hf(package.model, package.bpe, args.out_dir, package.languages, args.force,
                  args.package)
    print(f"wrote {args.out_dir}")


if __name__ == "__main__":
    main()
