"""``wd-translate``: translate raw text with a model package (or a checkpoint), for users of a
student.

Same preprocessing as the pipeline (Moses normalisation and tokenisation and the joint BPE model,
or a pretrained teacher's own tokenizer: :mod:`wd.data.bpe`), beam search from
:mod:`wd.decode.search`, then the pieces joined (and Moses detokenisation for ours). Input is
read and translated one batch of lines at a time, so a stream is translated as it comes; on a
terminal, a progress bar on standard error counts the sentences. An empty or blank line gets an
empty line back (as Marian and CTranslate2 give); a line longer than ``--max-chars`` is cropped
at a space before the limit, with a warning naming it (as Marian's ``--max-length-crop``).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import logging
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from wd.data.bpe import Tokenizer, ids_to_text, load_bpe, source_ids
from wd.data.checks import MAX_EVAL_CHARS
from wd.data.shortlist import Shortlist, read_vmap
from wd.decode.search import translate
from wd.export.cli import add_no_verify, one_line_errors
from wd.export.ct2 import vocabulary
from wd.export.package import load_any
from wd.io import decode_lines, missing_file, open_bytes, write_lines
from wd.model.transformer import Transformer
from wd.progress import Progress, terminal
from wd.runtime import resolve_device
from wd.settings import SearchSettings

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _bpe(path: Path) -> Tokenizer:
    return load_bpe(path)


def translate_lines(model: Transformer, bpe_model: Path, lines: list[str], src_lang: str,
                    tgt_lang: str, search: SearchSettings, device: torch.device,
                    shortlist: Shortlist | None = None) -> list[str]:
    """Raw source sentences in, detokenised translations out (same order; a blank line gives
    an empty one)."""
    sp = _bpe(Path(bpe_model))
    text = [""] * len(lines)
    filled = [i for i, line in enumerate(lines) if line.strip()]
    hyps = translate(model, source_ids(sp, [lines[i] for i in filled], src_lang), search, device,
                     shortlist=shortlist)
    for i, line in zip(filled, ids_to_text(sp, hyps, tgt_lang)):
        text[i] = line
    return text


def nbest_lines(model: Transformer, bpe_model: Path, lines: list[str], src_lang: str,
                tgt_lang: str, search: SearchSettings, device: torch.device, n: int,
                first: int = 0, shortlist: Shortlist | None = None) -> list[str]:
    """Moses n-best lines ``index ||| translation ||| score`` (index from ``first``, the best
    first; the score is the length-normalised log-probability that beam search ranks by); a
    blank line gets one empty translation scored 0."""
    sp = _bpe(Path(bpe_model))
    filled = [i for i, line in enumerate(lines) if line.strip()]
    found = dict(zip(filled, translate(model, source_ids(sp, [lines[i] for i in filled],
                                                         src_lang),
                                       search, device, nbest=n, shortlist=shortlist)))
    out = []
    for index in range(len(lines)):
        hyps = found.get(index, [([], 0.0)])
        texts = ids_to_text(sp, [tokens for tokens, _ in hyps], tgt_lang)
        out += [f"{index + first} ||| {text} ||| {score:.4f}"
                for text, (_, score) in zip(texts, hyps)]
    return out


def cropped(lines: Iterable[str], limit: int) -> Iterator[str]:
    """``lines`` with each longer than ``limit`` characters (0: no limit) cut at the last space
    before it (or at it), with a warning naming the line."""
    for number, line in enumerate(lines, 1):
        if limit and len(line) > limit:
            cut = line.rfind(" ", 0, limit + 1)
            kept = line[:cut if cut > 0 else limit]
            log.warning("line %d: %s characters, more than --max-chars %d: translating its "
                        "first %d (--max-chars 0 translates it whole)", number,
                        f"{len(line):,}", limit, len(kept))
            line = kept
        yield line


def batches(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    """``lines`` in lists of ``size`` (the last may be shorter), read only as far as needed."""
    lines = iter(lines)
    while batch := list(itertools.islice(lines, size)):
        yield batch


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wd-translate", description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True,
                   help="model package directory (results/<exp>/models/<student>/<method>/"
                        "package), or a checkpoint file (then give --bpe, --src-lang, --tgt-lang)")
    p.add_argument("--bpe", type=Path,
                   help="tokenizer: a sentencepiece model, or a pretrained teacher's vocab.json "
                        "beside its .spm files (default: the package's)")
    p.add_argument("--src-lang", help="source language code for Moses (default: the package's)")
    p.add_argument("--tgt-lang", help="target language code for Moses (default: the package's)")
    p.add_argument("--input", type=Path, help="file to translate (default: stdin)")
    p.add_argument("--output", type=Path, help="file to write (default: stdout)")
    p.add_argument("--beam", type=int, help="beam size (default: the package's evaluation, or 4)")
    p.add_argument("--lenpen", type=float, help="length penalty (default: package's, or 1)")
    p.add_argument("--batch-size", type=int, help="sentences per batch (default: package's, 64)")
    p.add_argument("--max-len-a", type=float,
                   help="outputs end at max_len_a * source length + max_len_b tokens "
                        "(default: the package's, or 0 and 200)")
    p.add_argument("--max-len-b", type=int, help="see --max-len-a")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    p.add_argument("--int8", action="store_true", help="int8 linear layers (CPU only)")
    p.add_argument("--no-vmap", action="store_true",
                   help="ignore the package's vocabulary map (vmap.txt): score every target piece")
    p.add_argument("--max-chars", type=int, default=MAX_EVAL_CHARS,
                   help="crop longer input lines at a space before this many characters, with a "
                        f"warning (default {MAX_EVAL_CHARS}, the pipeline's data.max_eval_chars; "
                        "0: no limit)")
    add_no_verify(p)
    p.add_argument("--nbest", type=int,
                   help="write the N best translations of each line with their scores, as "
                        "Moses n-best lines 'index ||| translation ||| score' (N <= beam)")
    return p


def _search(args: argparse.Namespace, defaults: SearchSettings) -> SearchSettings:
    """The package's (or the built-in) search settings, with the options given."""
    given = {name: getattr(args, name) for name in ("beam", "lenpen", "batch_size", "max_len_a",
                                                     "max_len_b")
             if getattr(args, name) is not None}
    return SearchSettings(**{**vars(defaults), **given, "int8": args.int8})


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    for name in ("beam", "batch_size", "threads", "max_len_b", "nbest"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser().error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    for name in ("lenpen", "max_len_a"):
        value = getattr(args, name)
        if value is not None and not math.isfinite(value):
            parser().error(f"--{name.replace('_', '-')} must be a finite number, got {value}")
    if args.max_len_a is not None and args.max_len_a < 0:
        parser().error(f"--max-len-a must not be negative, got {args.max_len_a}")
    if args.max_chars < 0:
        parser().error(f"--max-chars must not be negative, got {args.max_chars}")
    if args.input and not args.input.is_file():
        parser().error(f"--input: {missing_file(args.input)}")
    if args.output and args.output.is_dir():
        parser().error(f"--output {args.output} is a directory: name the file to write")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    with one_line_errors(parser().prog):
        model, package = load_any(args.model, device, verify_files=not args.no_verify)
        shortlist = None
        if package is not None:
            defaults, bpe = package.search, args.bpe or package.bpe
            src_lang = args.src_lang or package.languages[0]
            tgt_lang = args.tgt_lang or package.languages[1]
            if package.vmap is not None and not args.no_vmap:
                shortlist = read_vmap(package.vmap, vocabulary(model, bpe))
        else:
            missing = [f"--{n.replace('_', '-')}" for n in ("bpe", "src_lang", "tgt_lang")
                       if getattr(args, n) is None]
            if missing:
                parser().error(f"{args.model} is a checkpoint, not a package: give "
                               f"{', '.join(missing)}")
            defaults, bpe = SearchSettings(), args.bpe
            src_lang, tgt_lang = args.src_lang, args.tgt_lang
        translate_stream(model, bpe, src_lang, tgt_lang, _search(args, defaults), device, args,
                         shortlist)


def translate_stream(model: Transformer, bpe: Path, src_lang: str, tgt_lang: str,
                     search: SearchSettings, device: torch.device,
                     args: argparse.Namespace, shortlist: Shortlist | None = None) -> None:
    """Translate ``--input`` (or standard input) to ``--output`` (or standard output), a batch
    at a time; lines that are not UTF-8 are an error naming the line."""
    if args.nbest and args.nbest > search.beam:
        parser().error(f"--nbest {args.nbest} is more than the beam ({search.beam})")
    progress = Progress(log, "translating", None, "sentences", bar=terminal())
    with open_bytes(args.input) if args.input else sys.stdin.buffer as source:
        lines = cropped(decode_lines(source, str(args.input or "<stdin>")), args.max_chars)

        def translated() -> Iterator[str]:
            done = 0
            for batch in batches(lines, search.batch_size):
                if args.nbest:
                    yield from nbest_lines(model, bpe, batch, src_lang, tgt_lang, search, device,
                                           args.nbest, first=done, shortlist=shortlist)
                else:
                    yield from translate_lines(model, bpe, batch, src_lang, tgt_lang, search,
                                               device, shortlist)
                done += len(batch)
                progress.update(done)

        if args.output:
            write_lines(args.output, translated())
        else:
            for translation in translated():
                sys.stdout.write(translation + "\n")
                sys.stdout.flush()
    progress.close()


if __name__ == "__main__":
    main()
