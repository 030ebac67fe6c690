"""One trainer for the teacher, the students and both weight-distillation phases.

Adam with an inverse-square-root schedule after a linear warm-up, label-smoothed cross-entropy,
token-bucket batches, optional bf16 autocast, periodic atomic checkpoints holding everything needed
to resume exactly (model, optimiser, step, RNG states, data position, elapsed time), a CSV log of
training and validation loss, and averaging of the last checkpoints.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from wd.checkpoint import average_state_dicts, load, save_atomic
from wd.data.batching import Pair, collate, epoch_batches
from wd.model.transformer import PAD_ID

log = logging.getLogger(__name__)

LOG_FIELDS = ["step", "epoch", "lr", "train_loss", "valid_loss", "valid_nll", "tokens_per_sec",
              "elapsed_sec"]


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    max_tokens: int
    lr: float
    warmup: int
    warmup_init_lr: float = 1e-7
    betas: tuple[float, float] = (0.9, 0.98)
    label_smoothing: float = 0.1
    clip_norm: float = 0.0
    save_every: int = 100
    average_last: int = 1
    valid_every: int = 100
    amp: str = "none"
    seed: int = 1


def learning_rate(step: int, s: TrainSettings) -> float:
    """Linear warm-up from ``warmup_init_lr`` to ``lr``, then ``lr * sqrt(warmup / step)``
    (no warm-up: ``lr`` at step 1, then the same decay)."""
    if step <= s.warmup:
        return s.warmup_init_lr + (s.lr - s.warmup_init_lr) * step / s.warmup
    return s.lr * math.sqrt(max(s.warmup, 1) / step)


def autocast(device: torch.device, amp: str):
    if amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def loss_terms(model: nn.Module, pairs: list[Pair], device: torch.device, amp: str,
               smoothing: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Summed label-smoothed loss, summed NLL and target token count of one batch."""
    batch = collate(pairs).to(device)
    with autocast(device, amp):
        logits = model(batch.src, batch.tgt_in)
    logits = logits.float().view(-1, logits.size(-1))
    target = batch.tgt_out.view(-1)
    loss = F.cross_entropy(logits, target, ignore_index=PAD_ID, label_smoothing=smoothing,
                           reduction="sum")
    nll = F.cross_entropy(logits.detach(), target, ignore_index=PAD_ID, reduction="sum")
    return loss, nll, batch.target_tokens


@torch.no_grad()
def validate(model: nn.Module, pairs: list[Pair], s: TrainSettings,
             device: torch.device) -> tuple[float, float]:
    """Per-token label-smoothed loss and NLL on the validation set."""
    model.eval()
    total = nll_total = tokens = 0.0
    for idx in epoch_batches(pairs, s.max_tokens, seed=0, epoch=0):
        loss, nll, n = loss_terms(model, [pairs[i] for i in idx], device, s.amp, s.label_smoothing)
        total, nll_total, tokens = total + float(loss), nll_total + float(nll), tokens + n
    model.train()
    return total / tokens, nll_total / tokens


def checkpoints(work_dir: Path) -> list[Path]:
    return sorted(Path(work_dir).glob("checkpoint_*.pt"))


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Runs ``settings.steps`` updates of ``model`` in ``work_dir``, resuming if checkpoints exist."""

    def __init__(self, model: nn.Module, train_pairs: list[Pair], valid_pairs: list[Pair],
                 settings: TrainSettings, work_dir: Path, device: torch.device):
        if not train_pairs:
            raise ValueError("no training pairs left after length filtering")
        self.model, self.s, self.device = model.to(device), settings, device
        self.train_pairs, self.valid_pairs = train_pairs, valid_pairs
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.params = [p for p in model.parameters() if p.requires_grad]
        fused = device.type == "cuda"
        self.optimizer = torch.optim.Adam(self.params, lr=settings.lr, betas=settings.betas,
                                          eps=1e-8, fused=fused or None)
        self.step = self.epoch = self.position = 0
        self.elapsed = 0.0
        self.log_path = self.work_dir / "train_log.csv"

    def resume(self) -> bool:
        """Load the newest checkpoint in ``work_dir``; False if there is none."""
        found = checkpoints(self.work_dir)
        if not found:
            return False
        ckpt = load(found[-1])
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.step, self.epoch, self.position = ckpt["step"], ckpt["epoch"], ckpt["position"]
        self.elapsed = ckpt["elapsed"]
        set_rng_state(ckpt["rng"])
        log.info("resumed from %s at step %d", found[-1], self.step)
        return True

    def save(self) -> None:
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        save_atomic({"model": state, "optimizer": self.optimizer.state_dict(), "step": self.step,
                     "epoch": self.epoch, "position": self.position, "elapsed": self.elapsed,
                     "rng": rng_state()}, self.work_dir / f"checkpoint_{self.step:08d}.pt")
        for old in checkpoints(self.work_dir)[: -max(self.s.average_last, 1)]:
            old.unlink()

    def write_log(self, row: dict) -> None:
        new = not self.log_path.exists()
        with open(self.log_path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)

    def train_step(self, pairs: list[Pair]) -> tuple[float, int]:
        lr = learning_rate(self.step + 1, self.s)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss, _, tokens = loss_terms(self.model, pairs, self.device, self.s.amp,
                                     self.s.label_smoothing)
        (loss / tokens).backward()
        if self.s.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.s.clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return float(loss.detach()) / tokens, tokens

    def run(self) -> dict:
        """Train to ``settings.steps``; return ``{"steps", "seconds", "valid_loss"}``."""
        if not self.resume():
            torch.manual_seed(self.s.seed)
            random.seed(self.s.seed)
        self.model.train()
        window_loss, window_tokens, window_start = 0.0, 0, time.perf_counter()
        valid_loss = float("nan")
        while self.step < self.s.steps:
            batches = epoch_batches(self.train_pairs, self.s.max_tokens, self.s.seed, self.epoch)
            while self.position < len(batches) and self.step < self.s.steps:
                t0 = time.perf_counter()
                loss, tokens = self.train_step([self.train_pairs[i] for i in batches[self.position]])
                self.position += 1
                self.elapsed += time.perf_counter() - t0
                window_loss, window_tokens = window_loss + loss * tokens, window_tokens + tokens
                last = self.step == self.s.steps
                if self.step % self.s.valid_every == 0 or last:
                    valid_loss, valid_nll = validate(self.model, self.valid_pairs, self.s,
                                                     self.device)
                    seconds = time.perf_counter() - window_start
                    self.write_log({"step": self.step, "epoch": self.epoch,
                                    "lr": f"{learning_rate(self.step, self.s):.3g}",
                                    "train_loss": f"{window_loss / window_tokens:.4f}",
                                    "valid_loss": f"{valid_loss:.4f}",
                                    "valid_nll": f"{valid_nll:.4f}",
                                    "tokens_per_sec": f"{window_tokens / seconds:.0f}",
                                    "elapsed_sec": f"{self.elapsed:.1f}"})
                    log.info("step %d train %.3f valid %.3f (nll %.3f) %.0f tok/s", self.step,
                             window_loss / window_tokens, valid_loss, valid_nll,
                             window_tokens / seconds)
                    window_loss, window_tokens, window_start = 0.0, 0, time.perf_counter()
                if self.step % self.s.save_every == 0 or last:
                    self.save()
            if self.position >= len(batches):
                self.epoch, self.position = self.epoch + 1, 0
        return {"steps": self.step, "seconds": round(self.elapsed, 2), "valid_loss": valid_loss}

    def final_state(self) -> dict:
        """Average of the last ``average_last`` checkpoints (the last one alone if 1)."""
        return average_state_dicts(checkpoints(self.work_dir)[-max(self.s.average_last, 1):])
