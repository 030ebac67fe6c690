"""What a vocabulary map keeps of the validation references, and what it allows, against its two
sizes (deploy.vmap_top_k, deploy.vmap_frequent) and how its pairs are scored: the sweep behind the
defaults.

For an experiment whose data are binarised (results/<exp>/bin/), the map is built from the
training data (the bitext, and the KD data where it exists) for every pair of sizes and scored on
the validation set (wd.data.shortlist.coverage): the share of reference pieces it allows, the
share of sentences it allows whole, and the mean number of pieces a sentence may output. Each
source piece keeps its ``top_k`` best targets (wd.data.shortlist.rank_candidates) by the Dice
coefficient of the sentences the two occur in (the pipeline's map) or, with ``--eflomal``, also
by the lexical probability p(t | s) of eflomal's word links (both directions, their union;
eflomal's defaults), as Marian and Bergamot build their shortlists. With ``--model`` (a
checkpoint, e.g. the teacher's final.pt) the validation set is also translated by that model in
CTranslate2 int8 on one thread with each map and without one, and scored (BLEU, words per
second): what a map costs where it counts. eflomal is not a dependency of the project (PyPI's
sdist builds with Cython and a C compiler):

    python benchmarks/vmap_coverage.py results/toy --csv vmap_coverage.csv
    pip install Cython eflomal
    python benchmarks/vmap_coverage.py results/<exp> --eflomal --csv vmap.csv \
        --model results/<exp>/models/teacher/final.pt
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import sacrebleu
import torch

from wd.data.binary import PairCorpus
from wd.data.bpe import ids_to_text, load_bpe
from wd.data.shortlist import Shortlist, build_shortlist, coverage, rank_candidates
from wd.decode.ct2 import Ct2Translator
from wd.evaluate.timing import timed
from wd.io import read_lines, write_csv
from wd.model.checkpoint import load_model
from wd.settings import SearchSettings
from wd.vocab import BOS_ID, PAD_ID

TOP_K = (5, 10, 20, 50, 100, 200)
FREQUENT = (0, 50, 100, 500)
SKIP = (PAD_ID, BOS_ID)


def aligned_pairs(pairs: list[tuple[np.ndarray, np.ndarray]], vocab_size: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The (source, target) pairs linked by eflomal in either direction, as codes
    ``s * vocab_size + t`` with their link counts (a link found both ways counts once)."""
    from eflomal import Aligner
    lines = lambda side: [" ".join(map(str, pair[side])) for pair in pairs]  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        forward, reverse = Path(tmp) / "fwd", Path(tmp) / "rev"
        Aligner().align(lines(0), lines(1), links_filename_fwd=str(forward),
                        links_filename_rev=str(reverse))
        codes = []
        for (src, tgt), fwd, rev in zip(pairs, forward.read_text().splitlines(),
                                        reverse.read_text().splitlines()):
            links = {tuple(map(int, link.split("-"))) for link in (fwd + " " + rev).split()}
            codes.extend(int(src[i]) * vocab_size + int(tgt[j]) for i, j in links)
    return np.unique(np.asarray(codes, np.int64), return_counts=True)


def aligned_shortlist(codes: np.ndarray, counts: np.ndarray, tgt_count: np.ndarray,
                      vocab_size: int, top_k: int, frequent: int) -> Shortlist:
    """Each source piece's ``top_k`` targets by p(t | s) over the links."""
    source, target = codes // vocab_size, codes % vocab_size
    links_of_source = np.bincount(source, weights=counts, minlength=vocab_size)
    return rank_candidates(source, target, counts / links_of_source[source], counts, tgt_count,
                           top_k, frequent, SKIP)


def valid_bleu(model_path: Path, experiment: Path, valid: PairCorpus,
               maps: dict[tuple, Shortlist | None], search: SearchSettings, tgt_lang: str
               ) -> dict[tuple, tuple[float, float]]:
    """Map key -> (BLEU, words per second) of the validation set translated in CTranslate2 int8
    on one thread with that map (None: without one)."""
    model, _ = load_model(model_path)
    sp = load_bpe(experiment / "bpe" / "spm.model")
    refs = read_lines(experiment / "data" / "raw" / "valid.tgt")
    sources = [list(map(int, src)) for src, _ in valid]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, shortlist in maps.items():
            translator = Ct2Translator(model, Path(tmp) / "_".join(map(str, key)), "int8",
                                       torch.device("cpu"), 1, shortlist)
            hyps, seconds = timed(lambda batch: translator.translate(batch, search), sources,
                                  torch.device("cpu"))
            text = ids_to_text(sp, hyps, tgt_lang)
            words = sum(len(line.split()) for line in text)
            out[key] = (round(sacrebleu.corpus_bleu(text, [refs]).score, 2),
                         round(words / seconds, 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path, help="results/<experiment>")
    parser.add_argument("--csv", type=Path, help="write the table here too")
    parser.add_argument("--eflomal", action="store_true", help="also maps from eflomal's links")
    parser.add_argument("--model", type=Path, help="also score each map's validation BLEU")
    parser.add_argument("--tgt-lang", default="de")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--max-len-a", type=float, default=1.5)
    parser.add_argument("--max-len-b", type=int, default=10)
    args = parser.parse_args()
    bin_dir = args.experiment / "bin"
    train = [bin_dir / "train.src.npy", bin_dir / "train.tgt.npy"]
    if (bin_dir / "kd.tgt.npy").exists():
        train += [bin_dir / "train.src.npy", bin_dir / "kd.tgt.npy"]
    vocab = load_bpe(args.experiment / "bpe" / "spm.model").get_piece_size()
    valid = PairCorpus([bin_dir / "valid.src.npy", bin_dir / "valid.tgt.npy"])
    builders = {"cooccurrence": partial(build_shortlist, train, vocab, skip=SKIP)}
    if args.eflomal:
        pairs = [pair for files in zip(train[0::2], train[1::2])
                 for pair in PairCorpus(list(files))]
        start = time.perf_counter()
        codes, counts = aligned_pairs(pairs, vocab)
        print(f"eflomal aligned {len(pairs)} sentence pairs in "
              f"{time.perf_counter() - start:.1f} s")
        tgt_count = np.zeros(vocab, np.int64)
        for _, tgt in pairs:
            np.add.at(tgt_count, np.unique(tgt), 1)
        builders["eflomal"] = partial(aligned_shortlist, codes, counts, tgt_count, vocab)
    rows, maps = [], {}
    for top_k in TOP_K:
        for frequent in FREQUENT:
            for scoring, build in builders.items():
                start = time.perf_counter()
                maps[scoring, top_k, frequent] = shortlist = build(top_k=top_k,
                                                                   frequent=frequent)
                rows.append({"scoring": scoring, "top_k": top_k, "frequent": frequent,
                             **coverage(shortlist, valid), "vocab": vocab,
                             "build_seconds": round(time.perf_counter() - start, 2)})
    if args.model:
        search = SearchSettings(beam=args.beam, max_len_a=args.max_len_a,
                                max_len_b=args.max_len_b, batch_size=32)
        scores = valid_bleu(args.model, args.experiment, valid,
                            {("none", 0, 0): None, **maps}, search, args.tgt_lang)
        rows.insert(0, {"scoring": "none", "top_k": 0, "frequent": 0, "piece_coverage": 1.0,
                        "sentence_coverage": 1.0, "mean_allowed": vocab, "vocab": vocab,
                        "build_seconds": 0})
        for row in rows:
            row["valid_bleu"], row["words_per_sec_1t"] = scores[
                row["scoring"], row["top_k"], row["frequent"]]
    print(f"{'scoring':>12} {'top_k':>6} {'frequent':>8} {'pieces kept':>12} "
          f"{'sentences kept':>15} {'mean allowed':>13} {'of vocab':>9} {'valid BLEU':>11} "
          f"{'words/s 1t':>11}")
    for row in rows:
        print(f"{row['scoring']:>12} {row['top_k']:>6} {row['frequent']:>8} "
              f"{row['piece_coverage']:>12.4f} {row['sentence_coverage']:>15.4f} "
              f"{row['mean_allowed']:>13.1f} {row['mean_allowed'] / vocab:>9.1%} "
              f"{row.get('valid_bleu', ''):>11} {row.get('words_per_sec_1t', ''):>11}")
    if args.csv:
        write_csv(args.csv, rows)

if __name__ == "__main__":
    main()
