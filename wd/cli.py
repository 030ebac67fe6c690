"""``wd-translate``: translate raw text with a trained checkpoint, for users of a student.

Same preprocessing as the pipeline (Moses normalisation and tokenisation, the joint BPE model),
beam search from :mod:`wd.decode`, then BPE removal and Moses detokenisation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from wd.checkpoint import load_model
from wd.data.bpe import ids_to_text, load_bpe
from wd.data.text import tokenize
from wd.decode import translate
from wd.io import read_lines, write_lines
from wd.model.transformer import Transformer
from wd.runtime import resolve_device
from wd.settings import SearchSettings


def translate_lines(model: Transformer, bpe_model: Path, lines: list[str], src_lang: str,
                    tgt_lang: str, search: SearchSettings, device: torch.device) -> list[str]:
    """Raw source sentences in, detokenised translations out (same order)."""
    sp = load_bpe(bpe_model)
    sources = sp.encode([tokenize(line, src_lang) for line in lines], out_type=int)
    hyps = translate(model, sources, search, device)
    return ids_to_text(sp, hyps, tgt_lang)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wd-translate", description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="checkpoint, e.g. .../final.pt")
    p.add_argument("--bpe", type=Path, required=True, help="sentencepiece model (bpe/spm.model)")
    p.add_argument("--src-lang", required=True, help="source language code for Moses, e.g. en")
    p.add_argument("--tgt-lang", required=True, help="target language code for Moses, e.g. ro")
    p.add_argument("--input", type=Path, help="file to translate (default: stdin)")
    p.add_argument("--output", type=Path, help="file to write (default: stdout)")
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--lenpen", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    p.add_argument("--max-len-a", type=float, default=0.0,
                   help="outputs end at max_len_a * source length + max_len_b tokens")
    p.add_argument("--max-len-b", type=int, default=200, help="see --max-len-a")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    p.add_argument("--int8", action="store_true", help="int8 linear layers (CPU only)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    for name in ("beam", "batch_size", "threads", "max_len_b"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser().error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model, _ = load_model(args.model, device)
    lines = read_lines(args.input) if args.input else sys.stdin.read().splitlines()
    if args.max_len_a < 0:
        parser().error(f"--max-len-a must not be negative, got {args.max_len_a}")
    search = SearchSettings(beam=args.beam, lenpen=args.lenpen, batch_size=args.batch_size,
                            max_len_a=args.max_len_a, max_len_b=args.max_len_b, int8=args.int8)
    out = translate_lines(model, args.bpe, lines, args.src_lang, args.tgt_lang, search, device)
    if args.output:
        write_lines(args.output, out)
    else:
        sys.stdout.write("".join(line + "\n" for line in out))


if __name__ == "__main__":
    main()
