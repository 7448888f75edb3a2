"""Append-only CSV logs of a run that stay consistent with the checkpoint across kills and resumes."""

from __future__ import annotations

import csv
import os
from pathlib import Path


class CsvLog:
    """A CSV file with a fixed header and a ``step`` column.

    Args:
        path: the file (created with its header when missing).
        columns: column names; the first must be ``step``.
    """

    def __init__(self, path: str | os.PathLike, columns: list[str]):
        assert columns[0] == "step"
        self.path = Path(path)
        self.columns = columns
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(columns)

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (work lost by a kill is redone, and logged again, on resume)."""
        with self.path.open(newline="") as f:
            rows = list(csv.reader(f))
        kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step]
        if len(kept) != len(rows):
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w", newline="") as f:
                csv.writer(f).writerows(kept)
            os.replace(tmp, self.path)

    def append(self, row: dict) -> None:
        """Append one row (missing columns are left empty) and flush it to disk."""
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([_fmt(row.get(c, "")) for c in self.columns])
            f.flush()

    def read(self) -> list[dict[str, str]]:
        """All rows as dicts of strings."""
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)
