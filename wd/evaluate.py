"""Decode a test set with every system in one process, time it, and score it (wd.metrics).

Timing all systems in the same job on the same device and thread count is what makes the
student/teacher speed-ups comparable; each system gets one untimed warm-up batch first.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from wd.checkpoint import load_model
from wd.data.batching import pieces_to_ids
from wd.data.bpe import decode_pieces, load_bpe
from wd.data.text import detokenize, read_lines, write_lines
from wd.decode import SearchSettings, translate
from wd.metrics import read_references, score

log = logging.getLogger(__name__)


def timed_translate(model: torch.nn.Module, sources: list[list[int]], search: SearchSettings,
                    device: torch.device) -> tuple[list[list[int]], float]:
    translate(model, sources[: search.batch_size], search, device)  # warm-up, not timed
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    hyps = translate(model, sources, search, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return hyps, time.perf_counter() - start


def evaluate_system(model_path: Path, bpe_model: Path, src_pieces: Path,
                    references: Sequence[Path], tgt_lang: str, search: SearchSettings,
                    device: torch.device, hyp_out: Path, bleu_variants: Sequence[str] = ()) -> dict:
    """Translate, detokenise, time and score one system against all ``references`` (primary
    BLEU and chrF, and each of ``bleu_variants``); write its hypotheses to ``hyp_out``."""
    model, meta = load_model(model_path, device)
    sp = load_bpe(bpe_model)
    sources = pieces_to_ids(sp, read_lines(src_pieces))
    refs = read_references(references)
    hyps, seconds = timed_translate(model, sources, search, device)
    pieces = [" ".join(sp.id_to_piece(t) for t in h) for h in hyps]
    text = [detokenize(line, tgt_lang) for line in decode_pieces(sp, pieces)]
    write_lines(hyp_out, text)
    tokens = sum(len(h) for h in hyps)
    result = {**score(text, refs, bleu_variants), **meta, "sentences": len(sources),
              "target_tokens": tokens,
              "decode_seconds": round(seconds, 3),
              "sents_per_sec": round(len(sources) / seconds, 2),
              "tokens_per_sec": round(tokens / seconds, 1), "beam": search.beam,
              "int8": search.int8,
              "batch_size": search.batch_size, "device": _device_name(device),
              "threads": torch.get_num_threads()}
    log.info("%s: BLEU %.2f chrF %.2f, %.1f sent/s", model_path, result["bleu"], result["chrf"],
             result["sents_per_sec"])
    return result


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def evaluate_all(systems: dict[str, tuple[Path, Path]], **kwargs) -> dict[str, dict]:
    """Evaluate each system ``name -> (checkpoint, result json)`` in turn; the hypotheses go
    beside the json with the suffix ``.hyp``."""
    results = {}
    for name, (model_path, json_out) in systems.items():
        json_out = Path(json_out)
        results[name] = evaluate_system(model_path, hyp_out=json_out.with_suffix(".hyp"), **kwargs)
        write_lines(json_out, json.dumps(results[name], indent=1).splitlines())
    return results
