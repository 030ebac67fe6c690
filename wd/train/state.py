"""A run's state and its checkpoint store: where it is and what it has counted, which checkpoints
the final model may still come from, and whether a checkpoint belongs to this run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from wd.model.checkpoint import average_state_dicts, load, save_atomic
from wd.settings import TrainSettings

# Settings that only say how long to train and how often to save, log or average: changing them
# between a run and its resumption keeps the resumed updates identical.
NOT_AFFECTING_UPDATES = {"steps", "save_every", "valid_every", "average_last", "max_bad_steps",
                         "log_interval", "patience", "min_delta", "keep_models"}


def checkpoints(work_dir: Path) -> list[Path]:
    return sorted(Path(work_dir).glob("checkpoint_*.pt"))


def checkpoint_step(path: Path) -> int:
    return int(Path(path).stem.removeprefix("checkpoint_"))


@dataclasses.dataclass
class TrainState:
    """Where a run is and what it has counted. Saved in every checkpoint beside the model, the
    optimizer and the RNG states (same keys as the fields), restored as one unit."""

    step: int = 0
    epoch: int = 0
    position: int = 0            # the next batch of the epoch
    elapsed: float = 0.0         # seconds spent in updates (validation excluded)
    skipped: int = 0             # updates skipped for a non-finite loss or gradient
    bad_in_a_row: int = 0
    # Training loss summed since the last log row, and its tokens: a resumed run logs the same
    # averages as an uninterrupted one.
    window: tuple[float, int] = (0.0, 0)
    best_step: int = 0           # the validation with the best value of best_metric so far
    best_score: float | None = None  # that value, higher is better (a loss is negated)
    best_bleu: float | None = None   # validation BLEU at best_step, when it was translated
    bad_validations: int = 0     # validations since the last real gain (the patience counter)
    translate_seconds: float = 0.0  # spent translating the validation set
    # The score of the last validation that beat the best before it by more than min_delta:
    # patience counts from it (with min_delta 0 it is the best score).
    gain_score: float | None = None

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> TrainState:
        state = cls(**{f.name: ckpt[f.name] for f in dataclasses.fields(cls) if f.name in ckpt})
        if "gain_score" not in ckpt:  # written before min_delta: patience counted from the best
            state.gain_score = state.best_score
        return state

    def record_validation(self, score: float, bleu: float | None, min_delta: float = 0.0
                          ) -> None:
        """Account a validation at ``step`` whose ``score`` is higher for a better model: a new
        best (strictly higher) becomes the model kept; one higher than the last real gain by
        more than ``min_delta`` resets the patience counter, anything else counts one more."""
        if self.best_score is None or score > self.best_score:
            self.best_step, self.best_score, self.best_bleu = self.step, score, bleu
        if self.gain_score is None or score > self.gain_score + min_delta:
            self.gain_score, self.bad_validations = score, 0
        else:
            self.bad_validations += 1

    def out_of_patience(self, patience: int) -> bool:
        """Whether ``patience`` validations in a row brought no new best (0: never)."""
        return bool(patience) and self.bad_validations >= patience


def run_changes(ckpt: dict, settings: TrainSettings, job: dict) -> list[str]:
    """Settings (other than length and logging ones) and job keys that differ from the
    checkpoint's, and a step cap below the checkpoint's step: a rerun after a config or input
    change must not continue the old run."""
    now, saved = dataclasses.asdict(settings), ckpt["settings"]
    changed = [k for k in now if k not in NOT_AFFECTING_UPDATES and saved.get(k) != now[k]]
    if ckpt["step"] > settings.steps:  # a final model from beyond the cap would break it
        changed.append(f"steps (now {settings.steps}, below the checkpoint's {ckpt['step']})")
    saved_job = ckpt.get("job", {})
    return changed + sorted(k for k in {*job, *saved_job} if job.get(k) != saved_job.get(k))


class CheckpointStore:
    """The checkpoints of one run in its work directory. It keeps the last ``average_last``
    checkpoints of the schedule (every ``save_every`` updates and the last update), the same
    number ending at the best step, and the newest: a stop's extra checkpoint is a resume point
    only, never averaged, so that a stopped and resumed run ends with an uninterrupted run's
    model."""

    def __init__(self, work_dir: Path, s: TrainSettings):
        self.work_dir, self.s = Path(work_dir), s

    def paths(self) -> list[Path]:
        return checkpoints(self.work_dir)

    def scheduled(self, step: int) -> bool:
        return step % self.s.save_every == 0 or step == self.s.steps

    def window(self, end: int) -> list[Path]:
        """The last ``average_last`` scheduled checkpoints at or before step ``end``."""
        kept = [p for p in self.paths()
                if self.scheduled(checkpoint_step(p)) and checkpoint_step(p) <= end]
        return kept[-max(self.s.average_last, 1):]

    def save(self, payload: dict, step: int, final_step: int) -> None:
        """Write the checkpoint of ``step``; keep those the final model may still come from
        (the window ending at ``final_step`` and at ``step``) and the newest."""
        save_atomic(payload, self.work_dir / f"checkpoint_{step:08d}.pt")
        found = self.paths()
        keep = {*self.window(step), *self.window(final_step), found[-1]}
        for old in found:
            if old not in keep:
                self._retire(old)

    def _retire(self, path: Path) -> int:
        """A checkpoint no average needs any more: removed, or with ``keep_models`` (when it is
        a scheduled one) kept as its model alone. Returns the bytes freed."""
        if self.s.keep_models and self.scheduled(checkpoint_step(path)):
            return self.slim(path)
        size = path.stat().st_size
        path.unlink()
        return size

    @staticmethod
    def slim(path: Path) -> int:
        """Drop a checkpoint's optimizer state (two thirds of its size): its model still averages,
        it is no longer a point to resume training from. Returns the bytes freed."""
        ckpt = load(path)
        if "optimizer" not in ckpt:
            return 0
        before = path.stat().st_size
        del ckpt["optimizer"]
        save_atomic(ckpt, path)
        return before - path.stat().st_size

    def clear(self) -> None:
        for path in self.paths():
            path.unlink()

    @staticmethod
    def aside(path: Path) -> Path:
        """Where an unreadable checkpoint is kept, out of the run's way, for inspection."""
        return path.with_name(path.name + ".unreadable")

    def set_aside(self, path: Path) -> None:
        path.rename(self.aside(path))

    def remove_drafts(self) -> None:
        """Partial files of a job killed while writing."""
        for stale in self.work_dir.glob("*.tmp"):
            stale.unlink()

    def average(self, end: int) -> dict:
        """Average of the ``average_last`` checkpoints ending at step ``end``."""
        return average_state_dicts(self.window(end))

    def capped(self, cap: int) -> tuple[dict, dict]:
        """The final model a run capped at ``cap`` updates would have written (the average of
        the window ending at the best step as of ``cap`` with patience, else at ``cap``) and the
        state of that run at its end, from checkpoints kept by ``keep_models``."""
        path = self.work_dir / f"checkpoint_{cap:08d}.pt"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no checkpoint at update {cap} (caps are steps "
                                    f"the run saved, multiples of save_every {self.s.save_every})")
        state = TrainState.from_checkpoint(load(path))
        end = state.best_step if self.s.patience else cap
        window = self.window(end)
        wanted = list(range(end, 0, -self.s.save_every))[:self.s.average_last]
        if [checkpoint_step(p) for p in window] != wanted[::-1]:
            raise FileNotFoundError(f"{self.work_dir}: the average at update {end} needs the "
                                    f"checkpoints of updates {', '.join(map(str, wanted[::-1]))}; "
                                    "the run was not trained with keep_models")
        return average_state_dicts(window), dataclasses.asdict(state)

    def shrink(self, final_step: int) -> int:
        """Once the run's final model is written: the checkpoints it was averaged from (the
        window ending at ``final_step``) keep their model (what a new averaging or a
        student-average conversion reads) and drop the optimizer state, two thirds of their
        size; the newest stays whole, so that raising ``steps`` or ``patience`` continues the
        run exactly; the others (the last window, when the best came before it) are removed, or
        slimmed as well with ``keep_models``. A checkpoint without optimizer state is never a
        resume point. Returns the bytes freed."""
        window = set(self.window(final_step))
        return sum(self.slim(path) if path in window else self._retire(path)
                   for path in self.paths()[:-1])
