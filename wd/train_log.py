"""A training run's CSV log (``train_log.csv``): one row per validation, written by rank 0,
cut back to a checkpoint's step when a run resumes so that the resumed run writes the same rows
as an uninterrupted one."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from wd.io import read_lines, write_lines

FIELDS = ["step", "epoch", "lr", "train_loss", "valid_loss", "valid_nll", "tokens_per_sec",
          "elapsed_sec", "skipped_updates"]


class TrainLog:
    def __init__(self, path: Path, writes: bool):
        self.path, self.writes = Path(path), writes

    def append(self, row: dict) -> None:
        if not self.writes:
            return
        new = not self.path.exists()
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)

    def truncate(self, step: int) -> None:
        """Drop the rows written after ``step`` (the resumed run writes them again)."""
        if not self.writes or not self.path.exists():
            return
        rows = list(csv.DictReader(io.StringIO("\n".join(read_lines(self.path)))))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(r for r in rows if int(r["step"]) <= step)
        write_lines(self.path, out.getvalue().splitlines())

    def remove(self) -> None:
        if self.writes:
            self.path.unlink(missing_ok=True)


def last_drop(path: Path, fraction: float = 0.2) -> float:
    """Relative fall of the validation loss (the training objective, label-smoothed, as plotted
    in the training curves) over the last ``fraction`` of a run's updates. A line
    fitted by least squares to the validations from the last one at or before
    ``(1 - fraction) * final step`` to the final one gives the fall over that span, relative to
    the line's value at its start: one noisy validation does not decide it. Under 2% reads as a
    run at its plateau; NaN when no validation is that early (too few validations)."""
    rows = [(int(row["step"]), float(row["valid_loss"]))
            for row in csv.DictReader(io.StringIO("\n".join(read_lines(path))))
            if row["valid_loss"] not in ("", "nan")]
    if not rows:
        raise ValueError(f"{path}: no validation rows")
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
