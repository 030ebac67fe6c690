"""KD decoding with each engine (kd.engine): a trained teacher translates the first N training
sentences with our decoder and with CTranslate2, as kd_translate does it (the same length-sorted
batches, search settings and threads), interleaved within each repeat, the best repeat kept.

Reports sentences/s, the ratio to ours, and the share of sentences whose CTranslate2 hypothesis
equals ours. The default search is the KD section of config.yaml (--beams overrides the beam):

    snakemake --cores 2 results/toy/models/teacher/final.pt results/toy/bpe/train.src
    python benchmarks/kd_speed.py --experiment results/toy --out kd_speed.csv

Needs the ``bench`` extra (CTranslate2).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import yaml

from wd.config import search_settings
from wd.data.batching import pieces_to_ids
from wd.data.bpe import load_bpe
from wd.decode.ct2 import Ct2Translator
from wd.decode.search import translate
from wd.io import read_lines, write_csv
from wd.model.checkpoint import load_model
from wd.settings import SearchSettings

Decode = Callable[[list[list[int]], SearchSettings], list[list[int]]]


def engines(model, workdir: Path, threads: int, device: torch.device) -> dict[str, Decode]:
    """Each engine's decoding function (CTranslate2: the model converted once, before timing)."""
    ct2 = Ct2Translator(model, workdir / "ct2", "float32", device, threads)
    return {"ours": lambda sources, s: translate(model, sources, s, device),
            "ctranslate2": ct2.translate}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", type=Path, required=True,
                   help="a finished experiment's folder (models/teacher/final.pt, bpe/)")
    p.add_argument("--out", type=Path, required=True, help="CSV to write")
    p.add_argument("--sentences", type=int, default=20000)
    p.add_argument("--beams", type=int, nargs="+", help="default: config.yaml's kd.beam")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="interleaved repeats; best is kept")
    p.add_argument("--device", type=torch.device, default=torch.device("cpu"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    kd = search_settings(yaml.safe_load(Path("config.yaml").read_text())["kd"])
    model, _ = load_model(args.experiment / "models/teacher/final.pt", args.device)
    model.eval()
    sp = load_bpe(args.experiment / "bpe/spm.model")
    sources = pieces_to_ids(sp, read_lines(args.experiment / "bpe/train.src")[:args.sentences])

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        decoders = engines(model, Path(tmp), args.threads, args.device)
        for beam in args.beams or [kd.beam]:
            s = dataclasses.replace(kd, beam=beam)
            for decode in decoders.values():
                decode(sources[:8], s)  # warm-up (lazy initialisation), not timed
            best, hyps = {}, {}
            for _ in range(args.repeats):
                for name, decode in decoders.items():
                    start = time.perf_counter()
                    hyps[name] = decode(sources, s)
                    seconds = time.perf_counter() - start
                    best[name] = min(seconds, best.get(name, float("inf")))
                    print(f"{name:12} beam {beam}: {seconds:.1f}s", flush=True)
            same = sum(a == b for a, b in zip(hyps["ours"], hyps["ctranslate2"], strict=True))
            for name, seconds in best.items():
                rows.append({"engine": name, "beam": beam, "sentences": len(sources),
                             "seconds": round(seconds, 2),
                             "sents_per_sec": round(len(sources) / seconds, 1),
                             "ratio_to_ours": round(best["ours"] / seconds, 2),
                             "identical_to_ours": round(same / len(sources), 4)})

    print(f"\n{'engine':12} {'beam':>4} {'sents/s':>9} {'x ours':>7} {'identical':>9}")
    for r in rows:
        print(f"{r['engine']:12} {r['beam']:>4} {r['sents_per_sec']:>9} {r['ratio_to_ours']:>7}"
              f" {r['identical_to_ours']:>9.2%}")
    write_csv(args.out, rows)


if __name__ == "__main__":
    main()
