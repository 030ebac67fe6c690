"""Decoding speed of our beam search against the engines a user would pick instead.

Same shapes, same random weights, same inputs for every engine. ``--preset paper`` (the
default): Transformer-base shapes, 32k vocabulary, 256 sentences of 25 source tokens (24 random +
EOS), exactly 25 output tokens forced (EOS suppressed before 25, nothing allowed after);
``--preset toy``: the default config's teacher and student shapes and BPE size, 16 source
tokens and 18 output tokens (the toy test set's mean lengths). Batch 32, beam 1 and 4, 2 CPU
threads. Engines: ours-fp32, ours-int8 (int8
decoder, wd.decode.quantize), hf (transformers ``generate`` on the model ``wd-export-hf`` makes),
ct2-float32 and ct2-int8 (CTranslate2 on our exported weights, wd.decode.ct2, as the
evaluation times it); ``--device cuda`` runs every engine but ours-int8 on the GPU. Engines and
models are interleaved within each repeat and the best repeat is kept, so a busy machine hurts
all engines alike. Ours counts a hypothesis's EOS in its score (fairseq), so it runs 26 decoder
steps where CTranslate2 and transformers stop after 25.

    python benchmarks/decode_speed.py --out decode_speed.csv

Needs the ``bench`` extra (``pip install -e '.[bench]'``); engines whose package is missing are
skipped with a note.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from wd.data.batching import source_tensor
from wd.decode.ct2 import Ct2Translator
from wd.decode.incremental import IncrementalDecoder
from wd.decode.search import beam_search
from wd.export.hf import hf_model, refusal
from wd.io import write_csv
from wd.model.transformer import Transformer
from wd.settings import ModelConfig, SearchSettings
from wd.vocab import PAD_ID

VOCAB = 32000
TEACHER = dict(enc_layers=6, dec_layers=6, enc_dim=512, dec_dim=512, enc_ffn=2048, dec_ffn=2048,
               enc_heads=8, dec_heads=8)
SHAPES = {"teacher": TEACHER,
          "stu1": {**TEACHER, "dec_layers": 1, "dec_dim": 256, "dec_ffn": 1024, "dec_heads": 4},
          "stu2": {**TEACHER, "dec_layers": 2}}
ENGINES = ["ours-fp32", "ours-int8", "hf", "ct2-float32", "ct2-int8"]


@dataclass(frozen=True)
class Preset:
    vocab: int
    shapes: dict[str, dict]
    src_len: int  # source tokens, EOS included
    out_len: int  # output tokens forced, EOS excluded


def toy_preset() -> Preset:
    """The default config's (config.yaml) teacher and students, at the toy's lengths."""
    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    teacher = {k: v for k, v in config["teacher"]["model"].items() if k != "dropout"}
    students = {s["name"]: {**teacher, **{k: v for k, v in s.items() if k != "name"}}
                for s in config["students"]}
    return Preset(config["bpe"]["vocab_size"], {"teacher": teacher, **students}, 16, 18)


PRESETS = {"paper": lambda: Preset(VOCAB, SHAPES, 25, 25), "toy": toy_preset}

Runner = Callable[[list[list[int]], int, int], list[list[int]]]  # (sources, beam, batch) -> hyps


def build_model(shape: dict, vocab: int, seed: int) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=vocab, dropout=0.0, **shape)).eval()


def forced_length(beam: int, batch: int, out_len: int) -> SearchSettings:
    """Exactly ``out_len`` output tokens: EOS forbidden before, the limit right after (our limit
    counts the EOS step, wd.decode.ct2 maps it to CTranslate2's)."""
    return SearchSettings(beam=beam, lenpen=1.0, max_len_a=0.0, max_len_b=out_len + 1,
                          min_len=out_len, batch_size=batch)


def ours(model: Transformer, int8: bool, device: torch.device, out_len: int) -> Runner:
    decoder = IncrementalDecoder(model, int8=int8)  # packing is load time, not decode time

    def run(sources: list[list[int]], beam: int, batch: int) -> list[list[int]]:
        s = forced_length(beam, batch, out_len)
        out = []
        for i in range(0, len(sources), batch):
            src = source_tensor(sources[i:i + batch]).to(device)
            out += beam_search(decoder, src, s, encoder=model)
        return out
    return run


def ct2(model: Transformer, compute_type: str, workdir: Path, threads: int,
        device: torch.device, out_len: int) -> Runner:
    """CTranslate2 on our exported weights (exported once per model, quantised at load)."""
    translator = Ct2Translator(model, workdir / f"ct2-{id(model)}", compute_type, device, threads)

    def run(sources: list[list[int]], beam: int, batch: int) -> list[list[int]]:
        return translator.translate(sources, forced_length(beam, batch, out_len))
    return run


def hf(model: Transformer, device: torch.device, out_len: int) -> Runner | None:
    """The transformers model holding our weights, as ``wd-export-hf`` makes it (MarianMT for
    post-norm, Pegasus for pre-norm); None where transformers cannot express the shape."""
    if refusal(model):
        return None
    marian = hf_model(model, max_positions=256).to(device)

    @torch.inference_mode()
    def run(sources: list[list[int]], beam: int, batch: int) -> list[list[int]]:
        out = []
        for i in range(0, len(sources), batch):
            src = source_tensor(sources[i:i + batch]).to(device)
            ids = marian.generate(input_ids=src, attention_mask=src != PAD_ID, num_beams=beam,
                                  do_sample=False, min_new_tokens=out_len,
                                  max_new_tokens=out_len, length_penalty=1.0)
            out += [row[1:].tolist() for row in ids]
        return out
    return run


def measure(run: Runner, sources: list[list[int]], beam: int, batch: int, out_len: int
            ) -> float:
    start = time.perf_counter()
    hyps = run(sources, beam, batch)
    seconds = time.perf_counter() - start
    lengths = {len(h) for h in hyps}
    if lengths != {out_len}:
        raise RuntimeError(f"output lengths {sorted(lengths)}, expected exactly {out_len}")
    return seconds


def table(rows: list[dict], beams: list[int], shapes: list[str]) -> str:
    by = {(r["engine"], r["model"], r["beam"]): r["tokens_per_sec"] for r in rows}
    models = [m for m in shapes if any(r["model"] == m for r in rows)]
    engines = [e for e in ENGINES if any(r["engine"] == e for r in rows)]
    lines = [f"{'model':8} {'beam':>4} " + " ".join(f"{e:>12}" for e in engines)
             + "   (target tokens/s; x = ratio to ct2-float32; s/t = speed-up over teacher)"]
    for model in models:
        for beam in beams:
            cells = []
            for engine in engines:
                tps = by.get((engine, model, beam))
                if tps is None:
                    cells.append(f"{'n/a':>12}")
                    continue
                ref = by.get(("ct2-float32", model, beam))
                teacher = by.get((engine, "teacher", beam))
                cell = f"{tps:.0f}"
                if ref:
                    cell += f" {tps / ref:.2f}x"
                if model != "teacher" and teacher:
                    cell += f" s/t{tps / teacher:.1f}"
                cells.append(f"{cell:>12}")
            lines.append(f"{model:8} {beam:>4} " + " ".join(cells))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="CSV to write")
    p.add_argument("--sentences", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1, help="interleaved repeats; best is kept")
    p.add_argument("--preset", choices=list(PRESETS), default="paper")
    p.add_argument("--models", nargs="+", help="default: every shape of the preset")
    p.add_argument("--engines", nargs="+", default=ENGINES, choices=ENGINES)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", type=torch.device, default=torch.device("cpu"),
                   help="cuda: every engine on the GPU (ours-int8 is CPU only)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(args.seed)
    preset = PRESETS[args.preset]()
    models = args.models or list(preset.shapes)
    out_len = preset.out_len
    sources = torch.randint(4, preset.vocab, (args.sentences, preset.src_len - 1),
                            generator=g).tolist()

    runners: dict[tuple[str, str], Runner] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            model = build_model(preset.shapes[name], preset.vocab, args.seed).to(args.device)
            makers = {"ours-fp32": lambda: ours(model, False, args.device, out_len),
                      "ours-int8": lambda: ours(model, True, args.device, out_len),
                      "hf": lambda: hf(model, args.device, out_len),
                      "ct2-float32": lambda: ct2(model, "float32", Path(tmp), args.threads,
                                                 args.device, out_len),
                      "ct2-int8": lambda: ct2(model, "int8", Path(tmp), args.threads,
                                              args.device, out_len)}
            for engine in args.engines:
                if engine == "ours-int8" and args.device.type != "cpu":
                    print("skipping ours-int8: CPU only (wd.decode.quantize)")
                    continue
                try:
                    runner = makers[engine]()
                except ImportError as err:
                    print(f"skipping {engine}: {err}")
                    continue
                if runner is None:
                    print(f"skipping {engine} for {name}: shape not expressible")
                    continue
                runner(sources[:4], 1, 4)  # warm-up (lazy initialisation), not timed
                runners[engine, name] = runner

        best: dict[tuple[str, str, int], float] = {}
        for _ in range(args.repeats):
            for name in models:
                for beam in args.beams:
                    for engine in args.engines:
                        if (engine, name) not in runners:
                            continue
                        seconds = measure(runners[engine, name], sources, beam, args.batch,
                                          out_len)
                        key = (engine, name, beam)
                        best[key] = min(seconds, best.get(key, float("inf")))
                        print(f"{engine:12} {name:8} beam {beam}: {seconds:.2f}s", flush=True)

    rows = [{"engine": e, "model": m, "beam": b,
             "tokens_per_sec": round(args.sentences * out_len / s, 1),
             "sents_per_sec": round(args.sentences / s, 2)} for (e, m, b), s in best.items()]
    write_csv(args.out, rows)
    print(table(rows, args.beams, models))


if __name__ == "__main__":
    main()
