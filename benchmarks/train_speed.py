"""Training throughput: our training step against a `transformers` MarianMT step of the same shape.

One step is what the pipeline's trainer does per batch: collate the pairs, forward, label-smoothed
cross-entropy (0.1), backward, Adam update. Ours runs ``wd.train.trainer.Trainer.update`` itself;
the MarianMT step (post-norm, ReLU, sinusoidal positions, separate source/target embeddings with the
output tied to the target ones, the same dropouts, sdpa attention) gets the same collated tensors,
the same loss and the same optimiser. Both engines see the same token-bucket batches of a synthetic
corpus with realistic sentence lengths and alternate step by step, so that load from other processes
hits both alike. Reports target (non-pad) tokens per second over the timed steps; prints a table and
writes CSV. ``collate_ms`` is the data preparation inside a step (ids to padded tensors), to compare
with ``seconds_per_step``.

    python benchmarks/train_speed.py --out train_speed.csv              # fp32 and bf16, 2 threads
    python benchmarks/train_speed.py --models teacher --precisions bf16 --out t.csv

MarianMT has one width for encoder and decoder; for a student whose decoder is narrower (stu1)
the MarianMT model gets an encoder of the encoder's width and cross-attention key/value
projections from that width, i.e. the same shape as ours.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from phase1_cost import PAPER_STUDENTS, PAPER_TEACHER  # same sibling shapes as phase1_cost.py
from wd.data.batching import Pair, collate, epoch_batches
from wd.io import write_csv
from wd.model.transformer import Transformer
from wd.settings import ModelConfig, TrainSettings
from wd.train.device import autocast, fused_adam
from wd.train.trainer import Trainer
from wd.vocab import BOS_ID, EOS_ID, PAD_ID

SMOOTHING = 0.1
HF_INSTALLED = importlib.util.find_spec("transformers") is not None
FIELDS = ["engine", "model", "precision", "tokens_per_sec", "seconds_per_step", "ratio_vs_hf",
          "collate_ms", "steps", "target_tokens_per_step", "target_padding", "params", "vocab",
          "max_tokens", "threads", "device", "tflops_per_sec", "peak_tflops", "peak_fraction"]


def model_configs(vocab: int) -> dict[str, ModelConfig]:
    shapes = {"teacher": PAPER_TEACHER,
              **{name: {**PAPER_TEACHER, **over} for name, over in PAPER_STUDENTS.items()}}
    return {name: ModelConfig(vocab_size=vocab, **keys) for name, keys in shapes.items()}


def synthetic_corpus(n: int, vocab: int, seed: int) -> list[Pair]:
    """Sentence pairs with WMT-like BPE lengths (gamma, mean about 27, up to 128) and random ids."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        tgt_len = min(128, max(1, round(rng.gammavariate(2.5, 11.0))))
        src_len = min(128, max(1, round(tgt_len * rng.gauss(1.0, 0.15))))
        pairs.append(([rng.randrange(4, vocab) for _ in range(src_len)],
                      [rng.randrange(4, vocab) for _ in range(tgt_len)]))
    return pairs


def marian_model(cfg: ModelConfig) -> nn.Module:
    """A MarianMT model computing the same function class as ``Transformer(cfg)`` (post-norm)."""
    from transformers import MarianConfig, MarianMTModel
    from transformers.models.marian.modeling_marian import MarianEncoder

    if cfg.pre_norm or cfg.share_embeddings or not cfg.tie_output:
        raise ValueError("MarianMT is post-norm with the output tied to separate target embeddings")

    def config(dim: int) -> MarianConfig:
        return MarianConfig(
            vocab_size=cfg.vocab_size, decoder_vocab_size=cfg.vocab_size, d_model=dim,
            encoder_layers=cfg.enc_layers, decoder_layers=cfg.dec_layers,
            encoder_ffn_dim=cfg.enc_ffn, decoder_ffn_dim=cfg.dec_ffn,
            encoder_attention_heads=cfg.enc_heads, decoder_attention_heads=cfg.dec_heads,
            dropout=cfg.dropout, attention_dropout=cfg.dropout, activation_dropout=cfg.dropout,
            activation_function="relu", scale_embedding=True, max_position_embeddings=256,
            pad_token_id=PAD_ID, eos_token_id=EOS_ID, decoder_start_token_id=BOS_ID,
            share_encoder_decoder_embeddings=False, tie_word_embeddings=True, use_cache=False,
            attn_implementation="sdpa")

    model = MarianMTModel(config(cfg.dec_dim))
    if cfg.enc_dim != cfg.dec_dim:
        model.model.encoder = MarianEncoder(config(cfg.enc_dim))
        for layer in model.model.decoder.layers:
            layer.encoder_attn.k_proj = nn.Linear(cfg.enc_dim, cfg.dec_dim)
            layer.encoder_attn.v_proj = nn.Linear(cfg.enc_dim, cfg.dec_dim)
    return model


class MarianStep:
    """The MarianMT training step: same collation, loss, optimiser and autocast as ours."""

    def __init__(self, model: nn.Module, device: torch.device, amp: str):
        self.model, self.device, self.amp = model.to(device).train(), device, amp
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98),
                                          eps=1e-8, fused=fused_adam(device) or None)

    def __call__(self, pairs: list[Pair]) -> None:
        batch = collate(pairs).to(self.device)
        with autocast(self.device, self.amp):
            logits = self.model(input_ids=batch.src, attention_mask=batch.src != PAD_ID,
                                decoder_input_ids=batch.tgt_in).logits
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), batch.tgt_out.view(-1),
                               ignore_index=PAD_ID, label_smoothing=SMOOTHING, reduction="sum")
        (loss / batch.target_tokens).backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def ours_step(cfg: ModelConfig, pairs: list[Pair], args, amp: str, work_dir: Path):
    """The pipeline's own step: ``Trainer.update`` on a fresh model."""
    settings = TrainSettings(steps=10**9, max_tokens=args.max_tokens, lr=1e-4, warmup=4000,
                             label_smoothing=SMOOTHING, amp=amp, compile=args.compile)
    trainer = Trainer(Transformer(cfg), pairs, pairs[:1], settings, work_dir, args.device)
    trainer.model.train()
    return trainer.model, lambda batch: trainer.update([batch])


def trainable_parameters(model: nn.Module) -> int:
    """Marian's sinusoidal tables are frozen parameters: left out, so both engines count alike."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def timed(step, pairs: list[Pair], device: torch.device) -> float:
    start = time.perf_counter()
    step(pairs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def counted_flops(step, batches: list[list[Pair]]) -> int:
    """FLOPs of the steps on ``batches`` (matrix products and attention, forward and backward,
    as torch's FlopCounterMode counts them), in an extra untimed pass."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        for pairs in batches:
            step(pairs)
    return counter.get_total_flops()


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of the fastest of ten square matrix products, the achievable peak a training step
    is compared with (8192 wide on a GPU, 2048 on a CPU)."""
    n = 8192 if device.type == "cuda" else 2048
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    best = float("inf")
    for i in range(13):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:  # after the warm-up
            best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def measure(name: str, cfg: ModelConfig, amp: str, batches: list[list[Pair]], args) -> list[dict]:
    """Alternate ours/MarianMT step by step (order flipped every step); time the steps after
    the warm-up. Without transformers (a node installed from the offline kit), ours alone."""
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        ours_model, ours = ours_step(cfg, [p for b in batches for p in b], args, amp, Path(tmp))
        engines = {"ours": (ours_model, ours)}
        if HF_INSTALLED:
            torch.manual_seed(0)
            hf_model = marian_model(cfg)
            engines["hf"] = (hf_model, MarianStep(hf_model, args.device, amp))
        seconds: dict[str, list[float]] = {engine: [] for engine in engines}
        for i, pairs in enumerate(batches):
            order = list(engines) if i % 2 == 0 else list(reversed(engines))
            for engine in order:
                t = timed(engines[engine][1], pairs, args.device)
                if i >= args.warmup:
                    seconds[engine].append(t)
        timed_batches = batches[args.warmup:]
        flops = {e: counted_flops(engines[e][1], timed_batches) if args.peak else None
                 for e in engines}
    collate_ms = 1000 * statistics.mean(timed(collate, pairs, torch.device("cpu"))
                                        for pairs in timed_batches)
    tokens = sum(len(t) + 1 for b in timed_batches for _, t in b)
    padded = sum(len(b) * (max(len(t) for _, t in b) + 1) for b in timed_batches)
    speed = {e: tokens / sum(s) for e, s in seconds.items()}
    achieved = {e: flops[e] / sum(s) / 1e12 if flops[e] else None for e, s in seconds.items()}
    return [{"engine": engine, "model": name, "precision": "bf16" if amp == "bf16" else "fp32",
             "tokens_per_sec": round(speed[engine], 1),
             "seconds_per_step": round(statistics.mean(seconds[engine]), 3),
             "ratio_vs_hf": round(speed[engine] / speed["hf"], 3) if "hf" in speed else None,
             "collate_ms": round(collate_ms, 2),
             "steps": len(timed_batches),
             "target_tokens_per_step": round(tokens / len(timed_batches)),
             "target_padding": round(1 - tokens / padded, 3),
             "params": trainable_parameters(engines[engine][0]), "vocab": cfg.vocab_size,
             "max_tokens": args.max_tokens, "threads": torch.get_num_threads(),
             "device": args.device.type,
             **(peak_columns(achieved[engine], args.peak[amp]) if args.peak else {})}
            for engine in engines]


def peak_columns(tflops: float, peak: float) -> dict:
    return {"tflops_per_sec": round(tflops, 4), "peak_tflops": round(peak / 1e12, 4),
            "peak_fraction": round(tflops * 1e12 / peak, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=["teacher", *PAPER_STUDENTS],
                        default=["teacher", *PAPER_STUDENTS])
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"],
                        default=["fp32", "bf16"], help="bf16 = bf16 autocast, as amp: bf16 trains")
    parser.add_argument("--vocab", type=int, default=16000, help="joint BPE vocabulary size")
    parser.add_argument("--max-tokens", type=int, default=4096,
                        help="token-bucket budget (rows x longest sentence), as train max_tokens")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per engine")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per engine first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", type=torch.device, default=torch.device("cpu"))
    parser.add_argument("--compile", action="store_true", help="ours with torch.compile")
    parser.add_argument("--peak", action="store_true",
                        help="also count each step's FLOPs and report FLOP/s as a fraction of "
                             "a measured matmul peak in the same precision")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.peak:  # amp setting -> the precision its matrix products run in
        args.peak = {amp: matmul_peak(args.device, dtype) for amp, dtype, precision in
                     (("none", torch.float32, "fp32"), ("bf16", torch.bfloat16, "bf16"))
                     if precision in args.precisions}

    corpus = synthetic_corpus(20_000, args.vocab, seed=1)
    index_batches = epoch_batches(corpus, args.max_tokens, seed=1, epoch=0)
    batches = [[corpus[i] for i in idx] for idx in index_batches[: args.warmup + args.steps]]
    rows = []
    if not HF_INSTALLED:
        print("transformers is not installed: timing ours alone (no ratio_vs_hf)", flush=True)
    for name, cfg in model_configs(args.vocab).items():
        if name not in args.models:
            continue
        for precision in args.precisions:
            measured = measure(name, cfg, "bf16" if precision == "bf16" else "none", batches,
                               args)
            rows += measured
            print(f"{name} {precision}: " + ", ".join(
                f"{r['engine']} {r['tokens_per_sec']:.0f} tok/s" for r in measured), flush=True)
    write_csv(args.out, rows, FIELDS)
    print(f"\n{'model':8} {'precision':9} {'engine':6} {'tok/s':>8} {'s/step':>7} {'x hf':>6} "
          f"{'params':>12}" + (f" {'TFLOP/s':>8} {'of peak':>7}" if args.peak else ""))
    for r in rows:
        print(f"{r['model']:8} {r['precision']:9} {r['engine']:6} {r['tokens_per_sec']:8.0f} "
              f"{r['seconds_per_step']:7.2f} {r['ratio_vs_hf'] or float('nan'):6.2f} "
              f"{r['params']:12,}"
              + (f" {r['tflops_per_sec']:8.2f} {r['peak_fraction']:7.1%}" if args.peak else ""))


if __name__ == "__main__":
    sys.exit(main())
