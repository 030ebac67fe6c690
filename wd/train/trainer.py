"""One trainer for the teacher, the students and both weight-distillation phases.

Adam with an inverse-square-root schedule after a linear warm-up, label-smoothed cross-entropy,
token-bucket batches, gradient accumulation, data parallelism over several processes
(``wd.train.distributed``), optional bf16 autocast, updates with a non-finite loss or gradient
skipped and counted, periodic atomic checkpoints holding everything needed to resume exactly (model,
optimiser, step, RNG states of every process, data position, elapsed time, skipped-update counts;
the learning-rate schedule is a pure function of the step and the settings, which the checkpoint
records with the job's identity, so that a rerun whose settings, model, initialisation or data
changed starts over instead of continuing another run's checkpoints), a CSV log of training and
validation loss (and, with ``valid_bleu``, the validation set's BLEU and chrF: passed in),
early stopping after ``patience`` validations without a new best, and a final model averaged over
the checkpoints ending at the best one (patience off: the last).

One update consumes ``update_freq x world_size`` consecutive token-bucket batches (fairseq's
effective batch): process ``r`` takes batches ``r*update_freq .. (r+1)*update_freq - 1`` of it,
and the summed loss is divided by the target tokens of the whole update, so N processes and one
process with N times the ``update_freq`` compute the same update.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from wd import faults, stopping
from wd.data.batching import Pair, collate, epoch_batches
from wd.memory import keep_freed_memory
from wd.model.checkpoint import CheckpointError, load
from wd.progress import Progress
from wd.settings import TrainSettings
from wd.train import distributed, losses
from wd.train.device import autocast, fused_adam
from wd.train.log import TrainLog, board_requested
from wd.train.loss import smoothed_cross_entropy
from wd.train.rng import rng_state, seed_everything, set_rng_state
from wd.train.state import CheckpointStore, TrainState, checkpoint_step, run_changes
from wd.vocab import PAD_ID

if TYPE_CHECKING:  # the pipeline passes the set in: evaluation sits above training
    from wd.evaluate.validation import ValidationSet

log = logging.getLogger(__name__)


def loss_terms(model: nn.Module, pairs: list[Pair], device: torch.device, amp: str,
               smoothing: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Summed label-smoothed loss, summed NLL and target token count of one batch."""
    batch = collate(pairs).to(device)
    with autocast(device, amp):
        logits = model(batch.src, batch.tgt_in)
    loss, nll = smoothed_cross_entropy(logits.float().view(-1, logits.size(-1)),
                                       batch.tgt_out.view(-1), smoothing, PAD_ID)
    return loss, nll, batch.target_tokens


def training_loss(model: nn.Module, teacher: nn.Module | None, pairs: list[Pair],
                  device: torch.device, s: TrainSettings) -> torch.Tensor:
    """Summed training loss of one batch, the loss ``s.loss`` names (wd.train.losses), with the
    frozen ``teacher``'s logits on the same batch where that loss needs them."""
    criterion = losses.loss(s.loss)
    batch = collate(pairs).to(device)
    with autocast(device, s.amp):
        logits = model(batch.src, batch.tgt_in)
        if criterion.needs_teacher:
            with torch.no_grad():
                teacher_logits = teacher(batch.src, batch.tgt_in)
    vocab = logits.size(-1)
    flat = logits.float().view(-1, vocab)
    return criterion(flat, teacher_logits.view(-1, vocab) if criterion.needs_teacher else None,
                     batch.tgt_out.view(-1), s)


class NonFiniteLossError(RuntimeError):
    """Too many updates in a row had a non-finite loss or gradient."""


def learning_rate(step: int, s: TrainSettings) -> float:
    """Linear warm-up from ``warmup_init_lr`` to ``lr``, then ``lr * sqrt(warmup / step)``
    (no warm-up: ``lr`` at step 1, then the same decay)."""
    if step <= s.warmup:
        return s.warmup_init_lr + (s.lr - s.warmup_init_lr) * step / s.warmup
    return s.lr * math.sqrt(max(s.warmup, 1) / step)


def target_tokens(batches: list[list[Pair]]) -> int:
    """Target tokens (EOS included) of several batches, known to every process without talking."""
    return sum(len(t) + 1 for pairs in batches for _, t in pairs)


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


class Trainer:
    """Runs up to ``settings.steps`` updates of ``model`` in ``work_dir`` (fewer when patience
    stops it), resuming if checkpoints exist. ``validation`` is the set translated at each
    validation when the settings ask for BLEU.

    Under torchrun every process builds the same Trainer (and takes the same stopping
    decisions, each validating on its own); only rank 0 writes files.
    """

    def __init__(self, model: nn.Module, train_pairs: list[Pair], valid_pairs: list[Pair],
                 settings: TrainSettings, work_dir: Path, device: torch.device,
                 job: dict | None = None, teacher: nn.Module | None = None,
                 validation: ValidationSet | None = None):
        if not train_pairs:
            raise ValueError("no training pairs left after length filtering")
        if losses.loss(settings.loss).needs_teacher and teacher is None:
            raise ValueError(f"loss {settings.loss} needs the teacher's model")
        if settings.translates and validation is None:
            raise ValueError(f"best_metric {settings.best_metric} / valid_bleu needs the "
                             "validation references")
        self.validation = validation
        # Word-level distillation's teacher: frozen, in evaluation mode (no dropout).
        self.teacher = teacher.to(device).eval().requires_grad_(False) if teacher else None
        self.ctx = distributed.context()
        self.model, self.s, self.device = model.to(device), settings, device
        if settings.compile:  # in place: parameter names and DDP's wrapping stay as they are
            self.model.compile(dynamic=True)
        self.net = distributed.wrap(self.model, device)
        self.train_pairs, self.valid_pairs = train_pairs, valid_pairs
        self.work_dir = Path(work_dir)
        # What else defines this run (architecture, initialisation, data): checkpoints written
        # for another value are another run's, and are not resumed.
        self.job = job or {}
        self.params = [p for p in model.parameters() if p.requires_grad]
        keep_freed_memory()  # every step allocates the same big tensors again
        self.optimizer = torch.optim.Adam(self.params, lr=settings.lr, betas=settings.betas,
                                          eps=1e-8, fused=fused_adam(device) or None)
        self.state = TrainState()
        self.store = CheckpointStore(self.work_dir, settings)
        self.log_path = self.work_dir / "train_log.csv"
        # Event files beside the work directory: ``tensorboard --logdir results/<exp>/models``
        # names each run by its path (teacher/tensorboard, stu1/wd/seed1/tensorboard, ...).
        board = self.work_dir.parent / "tensorboard" if board_requested() else None
        self.train_log = TrainLog(self.log_path, writes=self.is_main, board=board)
        if self.is_main:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self.store.remove_drafts()

    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    def _newest_readable(self, found: list[Path]) -> dict | None:
        """The newest of ``found`` that can be read and resumed from (they are dropped from
        ``found`` until it is at the end); a damaged one (a truncated write, a full disk) is set
        aside with a warning, so that the run goes on from the one before it instead of failing
        at every rerun. A checkpoint without optimizer state (shrunk after the run ended, or a
        model kept for averaging: :meth:`CheckpointStore.slim`) is a resume point only at the
        cap, where nothing is left to train; when nothing else is left, that is an error
        rather than a silent start over beside the old run's files."""
        slim = []
        while found:
            try:
                ckpt = load(found[-1])
                if "optimizer" in ckpt or "settings" not in ckpt or ckpt["step"] >= self.s.steps:
                    return ckpt
                slim.append(checkpoint_step(found.pop()))
                continue
            except CheckpointError as err:
                if self.is_main:
                    log.warning("%s: set aside as %s; resuming from the checkpoint before it",
                                err, self.store.aside(found[-1]).name)
                distributed.barrier()  # every process has tried it before rank 0 moves it
                if self.is_main:
                    self.store.set_aside(found[-1])
                found.pop()
        if slim:
            raise RuntimeError(
                f"{self.work_dir}: the checkpoints up to the cap of {self.s.steps} updates hold "
                f"models without optimizer state (the newest: step {slim[0]}), nothing to "
                "resume training from: set steps to a step they hold to end the run there, "
                "raise it past the newest whole checkpoint to go on, or move the directory "
                "away to start over")
        return None

    def resume(self) -> bool:
        """Load the newest checkpoint in ``work_dir`` within the step cap; False if there is
        none, or if the checkpoints belong to another run (then they are deleted and training
        starts over). A cap lowered below the newest checkpoint (to end a run that is still
        improving) resumes from the newest one at or below it and drops those beyond (its
        final average then uses the checkpoints still kept)."""
        found = self.store.paths()
        within = [p for p in found if checkpoint_step(p) <= self.s.steps]
        beyond = found[len(within):] if within else []
        found = within or found
        ckpt = self._newest_readable(found)  # raises before anything beyond the cap is dropped
        if beyond:
            if self.is_main:
                log.warning("%s: the cap is now %d updates: %s and dropping the checkpoints "
                            "beyond the cap", self.work_dir, self.s.steps,
                            f"resuming from step {ckpt['step']}" if ckpt else "starting over")
            distributed.barrier()  # every process has listed them before rank 0 deletes them
            if self.is_main:
                for path in beyond:
                    path.unlink()
        if ckpt is None:
            return False
        if "settings" not in ckpt:
            raise RuntimeError(f"{found[-1]} is not a training checkpoint (no settings); move it "
                               "away to start over")
        changed = run_changes(ckpt, self.s, self.job)
        if changed:
            if self.is_main:
                log.warning("%s holds checkpoints of another run (%s changed since): starting "
                            "over", self.work_dir, ", ".join(changed))
            distributed.barrier()  # every process has read them before rank 0 deletes them
            if self.is_main:
                self.store.clear()
                self.train_log.remove()
            return False
        try:
            self.model.load_state_dict(ckpt["model"])
            if "optimizer" in ckpt:  # else a model at the cap: nothing is left to train
                self.optimizer.load_state_dict(ckpt["optimizer"])
            self.state, rng = TrainState.from_checkpoint(ckpt), ckpt["rng"]
        except (KeyError, RuntimeError, ValueError) as err:
            raise RuntimeError(f"{found[-1]} is not a training checkpoint of this model "
                               f"({err}); move it away to start over") from err
        if len(rng) == self.ctx.world_size:
            set_rng_state(rng[self.ctx.rank])
        else:
            log.warning("checkpoint written by %d processes, resumed with %d: data split and "
                        "dropout masks differ from an uninterrupted run", len(rng),
                        self.ctx.world_size)
            seed_everything(self.s.seed + self.ctx.rank + self.state.step)
        self.train_log.truncate(self.state.step)
        log.info("resumed from %s at step %d", found[-1], self.state.step)
        return True

    def save(self) -> None:
        """Checkpoint the current step (every process takes part: RNG states are gathered)."""
        rng = distributed.gather(rng_state())
        if not self.is_main:
            return
        model = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        self.store.save({"model": model, "optimizer": self.optimizer.state_dict(), "rng": rng,
                         **dataclasses.asdict(self.state),
                         "settings": dataclasses.asdict(self.s), "job": self.job},
                        self.state.step, self.final_step)

    def update(self, batches: list[list[Pair]]) -> tuple[float, int] | None:
        """One optimizer update on the global batch ``batches`` (this process takes its share).

        Returns the per-token loss and the target tokens of the update, or None when the update
        was skipped because its loss or gradient was not finite.
        """
        lr = learning_rate(self.state.step + 1, self.s)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        first = self.ctx.rank * self.s.update_freq
        share = batches[first: first + self.s.update_freq]
        tokens = target_tokens(batches)
        # DDP averages gradients over processes: scale by world / tokens so that they sum.
        scale = self.ctx.world_size / tokens
        # A process without a batch (end of an epoch) still joins the gradient all-reduce, with a
        # zero-weighted batch, as fairseq does.
        weight = 1.0 if share else 0.0
        micro = share or batches[:1]
        total = torch.zeros((), device=self.device)
        with self._one_generation(len(micro)):
            for i, pairs in enumerate(micro):
                with distributed.no_sync(self.net, skip=i < len(micro) - 1):
                    loss = training_loss(self.net, self.teacher, pairs, self.device, self.s)
                    (loss * (scale * weight)).backward()
                total += loss.detach() * weight
        total = distributed.all_sum(total)
        grads = [p.grad for p in self.params if p.grad is not None]
        if self.s.clip_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.s.clip_norm)
        else:
            norm = torch.nn.utils.get_total_norm(grads)
        # The update's one read of the device: the loss sum and the gradient norm together.
        total, norm = torch.stack([total.float(), norm.float()]).tolist()
        if not (math.isfinite(total) and math.isfinite(norm)):
            self.optimizer.zero_grad(set_to_none=True)
            self._count_bad_update(total, norm)
            return None
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.state.bad_in_a_row = 0
        return total / tokens, tokens

    def _one_generation(self, micro_batches: int):
        """WD Phase 1 over several micro-batches in one process: the student's weights
        generated once for the update, not once a micro-batch
        (:meth:`wd.model.generator.Phase1Model.one_generation`); anything else as it is."""
        if (micro_batches > 1 and self.ctx.world_size == 1
                and hasattr(self.model, "one_generation")):
            return self.model.one_generation(lambda: autocast(self.device, self.s.amp))
        return contextlib.nullcontext()

    def _count_bad_update(self, loss: float, norm: float) -> None:
        st = self.state
        st.skipped += 1
        st.bad_in_a_row += 1
        log.warning("update %d skipped: loss %s, gradient norm %s (%d skipped in a row, %d in "
                    "all)", st.step + 1, loss, norm, st.bad_in_a_row, st.skipped)
        if st.bad_in_a_row > self.s.max_bad_steps:
            found = self.store.paths()
            last = found[-1] if found else "none yet"
            raise NonFiniteLossError(
                f"{st.bad_in_a_row} updates in a row with a non-finite loss or gradient "
                f"(more than max_bad_steps={self.s.max_bad_steps}) after step {st.step} "
                f"(epoch {st.epoch}, batch {st.position}); stopped. Last good checkpoint: "
                f"{last}. Lower the learning rate, set clip_norm or check the data.")

    def run(self) -> dict:
        """Train until ``settings.steps`` or patience stops it; return ``{"steps", "seconds",
        "best_step", "stopped_by", "valid_bleu"}``.

        SIGTERM or SIGUSR1 (a cluster's time limit) stops training after the current update with
        a checkpoint written: :class:`wd.stopping.Stopped` (exit status 75) is raised, and a
        rerun resumes exactly there.
        """
        with stopping.stop_signals():
            try:
                return self._train()
            finally:
                self.train_log.close()

    def _train(self) -> dict:
        if not self.resume():
            seed_everything(self.s.seed + self.ctx.rank)
        self.model.train()
        st, per_update = self.state, self.s.update_freq * self.ctx.world_size
        self.throughput = ThroughputWindow()
        self.progress = Progress(log, "update", self.s.steps, "updates", done=st.step)
        while self.running:
            batches = epoch_batches(self.train_pairs, self.s.max_tokens, self.s.seed, st.epoch)
            while st.position < len(batches) and self.running:
                t0 = time.perf_counter()
                chunk = batches[st.position: st.position + per_update]
                result = self.update([[self.train_pairs[i] for i in b] for b in chunk])
                st.position += len(chunk)
                st.elapsed += time.perf_counter() - t0
                if result is not None:
                    self._after_update(*result)
            if st.position >= len(batches):
                st.epoch, st.position = st.epoch + 1, 0
        return {"steps": st.step, "seconds": round(st.elapsed, 2),
                "best_step": self.final_step,
                "stopped_by": "patience" if st.out_of_patience(self.s.patience) else "steps",
                "valid_bleu": st.best_bleu}

    @property
    def running(self) -> bool:
        """Whether updates remain: under ``steps``, and patience not spent."""
        return self.state.step < self.s.steps and not self.state.out_of_patience(self.s.patience)

    @property
    def final_step(self) -> int:
        """The step whose checkpoints make the final model: the best with patience, else the
        last."""
        return self.state.best_step if self.s.patience else self.state.step

    def _after_update(self, loss: float, tokens: int) -> None:
        """Account the update; validate and log, checkpoint, and stop when they are due."""
        st = self.state
        st.window = (st.window[0] + loss * tokens, st.window[1] + tokens)
        self.throughput.tokens += tokens
        if st.step % self.s.log_interval == 0 and self.is_main:
            self._log_progress()
        if st.step % self.s.valid_every == 0 or st.step == self.s.steps:
            self._validate_and_log()
        # Patience runs out at a validation, which is a scheduled checkpoint (TrainSettings):
        # a resumed run finds it spent.
        saved = self.store.scheduled(st.step)
        if saved:
            self.save()
        faults.pause_point("train.update", step=st.step, work=self.work_dir)
        if self.running:
            self._stop_if_requested(saved)

    def _log_progress(self) -> None:
        """Updates/s and the ETA over this process's share of the run; target tokens/s and the
        mean training loss since the last validation."""
        st = self.state
        self.progress.update(st.step, force=True, extra=(
            f"{self.throughput.tokens_per_sec():.0f} tok/s, lr "
            f"{learning_rate(st.step, self.s):.3g}, train loss {st.window[0] / st.window[1]:.3f}"))

    def _translation_scores(self) -> dict[str, float]:
        """BLEU and chrF of the validation translations, when the settings ask for them."""
        if not self.s.translates:
            return {}
        start = time.perf_counter()
        scores = self.validation.scores(self.model, self.device)
        self.state.translate_seconds += time.perf_counter() - start
        return scores

    def _validate_and_log(self) -> None:
        st = self.state
        valid_loss, valid_nll = validate(self.model, self.valid_pairs, self.s, self.device)
        scores = {"loss": -valid_loss, **self._translation_scores()}
        st.record_validation(scores[self.s.best_metric], scores.get("bleu"), self.s.min_delta)
        speed = self.throughput.tokens_per_sec()
        train_loss = st.window[0] / st.window[1]
        self.train_log.append({"step": st.step, "epoch": st.epoch,
                               "lr": f"{learning_rate(st.step, self.s):.3g}",
                               "train_loss": f"{train_loss:.4f}",
                               "valid_loss": f"{valid_loss:.4f}",
                               "valid_nll": f"{valid_nll:.4f}", "tokens_per_sec": f"{speed:.0f}",
                               "elapsed_sec": f"{st.elapsed:.1f}", "skipped_updates": st.skipped,
                               "valid_bleu": scores.get("bleu", ""),
                               "valid_chrf": scores.get("chrf", ""),
                               "translate_sec": f"{st.translate_seconds:.1f}"})
        bleu = f" BLEU {scores['bleu']:.2f} chrF {scores['chrf']:.2f}" if "bleu" in scores else ""
        log.info("step %d train %.3f valid %.3f (nll %.3f)%s %.0f tok/s, %d skipped; best %s at "
                 "step %d%s", st.step, train_loss, valid_loss, valid_nll, bleu, speed,
                 st.skipped, self.s.best_metric, st.best_step,
                 f", stopped by patience ({self.s.patience} validations without a "
                 + (f"gain of more than {self.s.min_delta:g})" if self.s.min_delta else
                    "new best)") if st.out_of_patience(self.s.patience) else "")
        st.window = (0.0, 0)
        self.throughput = ThroughputWindow()

    def _stop_if_requested(self, saved: bool) -> None:
        """Every process stops after the same update if any of them was asked to; the
        checkpoint of that update is written first. (One process reads its own flag: no
        device round trip.)"""
        asked = stopping.requested() is not None
        if self.ctx.world_size > 1:
            flag = torch.tensor(float(asked), device=self.device)
            asked = bool(float(distributed.all_sum(flag)))
        if not asked:
            return
        if not saved:
            self.save()
        raise stopping.stopped(f"training in {self.work_dir} after update {self.state.step} of "
                               f"{self.s.steps}, checkpoint_{self.state.step:08d}.pt written")

    def final_state(self) -> dict:
        """Average of the ``average_last`` checkpoints ending at :attr:`final_step`."""
        return self.store.average(self.final_step)


@dataclasses.dataclass
class ThroughputWindow:
    """Target tokens trained since the last log row, and when that window started."""

    tokens: int = 0
    start: float = dataclasses.field(default_factory=time.perf_counter)

    def tokens_per_sec(self) -> float:
        return self.tokens / (time.perf_counter() - self.start)
