"""A training run's CSV log (``train_log.csv``): one row per validation, written by rank 0,
cut back to a checkpoint's step when a run resumes so that the resumed run writes the same rows
as an uninterrupted one."""

from __future__ import annotations

import csv
import io
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
