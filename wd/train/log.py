"""A training run's CSV log (``train_log.csv``): one row per validation, written by rank 0,
cut back to a checkpoint's step when a run resumes so that the resumed run writes the same rows
as an uninterrupted one. Optionally the same rows as TensorBoard event files, for watching runs
live (``logging.tensorboard``)."""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
from pathlib import Path

from wd.io import read_lines, write_lines

FIELDS = ["step", "epoch", "lr", "train_loss", "valid_loss", "valid_nll", "tokens_per_sec",
          "elapsed_sec", "skipped_updates", "valid_bleu", "valid_chrf", "translate_sec"]


# Set to 1 by wd.workflow.step for logging.tensorboard: the environment, not a rule parameter or
# the training script, so that switching event files on or off reruns no job (Snakemake reruns a
# job whose parameters or script change), and torchrun workers inherit it.
BOARD_ENV = "WD_TENSORBOARD"


def board_requested() -> bool:
    """Whether training runs write TensorBoard event files (``logging.tensorboard``)."""
    return os.environ.get(BOARD_ENV) == "1"


# TensorBoard tag of each logged column (the x axis is the row's step).
BOARD_TAGS = {"train_loss": "loss/train", "valid_loss": "loss/valid", "valid_nll": "nll/valid",
              "lr": "lr", "tokens_per_sec": "tokens_per_sec", "epoch": "epoch",
              "skipped_updates": "skipped_updates", "valid_bleu": "bleu/valid",
              "valid_chrf": "chrf/valid"}


class TrainLog:
    """``train_log.csv`` at ``path`` (only where ``writes``: rank 0), and with ``board`` a
    directory of TensorBoard event files holding the same rows."""

    def __init__(self, path: Path, writes: bool, board: Path | None = None):
        self.path, self.writes, self.board = Path(path), writes, board
        self._writer = None
        self._purge_step: int | None = None

    def append(self, row: dict) -> None:
        if not self.writes:
            return
        new = not self.path.exists()
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self.board is not None:
            board = self._board()
            for column, tag in BOARD_TAGS.items():
                if row[column] != "":  # BLEU and chrF only where the run translates
                    board.add_scalar(tag, float(row[column]), int(row["step"]))
            board.flush()  # a run watched live, or killed, shows every row written

    def _board(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
            self._writer = SummaryWriter(str(self.board), purge_step=self._purge_step)
        return self._writer

    def truncate(self, step: int) -> None:
        """Drop the rows written after ``step`` (the resumed run writes them again; TensorBoard
        hides the old events after ``step`` once the resumed run writes its first)."""
        self._purge_step = step + 1
        if not self.writes or not self.path.exists():
            return
        rows = list(csv.DictReader(io.StringIO("\n".join(read_lines(self.path)))))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(r for r in rows if int(r["step"]) <= step)
        write_lines(self.path, out.getvalue().splitlines())

    def remove(self) -> None:
        """Delete the log (and event files) of a run that starts over."""
        if self.writes:
            self.close()
            self.path.unlink(missing_ok=True)
            if self.board is not None:
                shutil.rmtree(self.board, ignore_errors=True)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def last_drop(path: Path, fraction: float = 0.2) -> float:
    """Relative fall of the validation loss (the training objective, label-smoothed, as plotted
    in the training curves) over the last ``fraction`` of a run's updates. A line
    fitted by least squares to the validations from the last one at or before
    ``(1 - fraction) * final step`` to the final one gives the fall over that span, relative to
    the line's value at its start: one noisy validation does not decide it. Under 2% reads as a
    run at its plateau; NaN when no validation is that early (too few validations) or there is
    none (an imported teacher's log: no updates here)."""
    rows = [(int(row["step"]), float(row["valid_loss"]))
            for row in csv.DictReader(io.StringIO("\n".join(read_lines(path))))
            if row["valid_loss"] not in ("", "nan")]
    if not rows:
        return math.nan
    final_step = rows[-1][0]
    early = [i for i, (step, _) in enumerate(rows) if step <= (1 - fraction) * final_step]
    if not early:
        return math.nan
    span = rows[early[-1]:]
    steps, losses = [float(s) for s, _ in span], [v for _, v in span]
    mean_step, mean_loss = sum(steps) / len(steps), sum(losses) / len(losses)
    slope = (sum((s - mean_step) * (v - mean_loss) for s, v in zip(steps, losses))
             / sum((s - mean_step) ** 2 for s in steps))
    start = mean_loss + slope * (steps[0] - mean_step)
    return -slope * (steps[-1] - steps[0]) / start
