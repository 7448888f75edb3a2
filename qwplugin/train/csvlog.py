"""Append-only CSV logs of a run that stay consistent with the checkpoint across kills and resumes."""

from __future__ import annotations

import csv
import os
from pathlib import Path


class CsvLog:
    """A CSV file with a fixed header and a ``step`` column.

    Floats are written with ``repr`` (the shortest text that reads back to the same double), so logged
    losses compare bit for bit between runs.

    Args:
        path: the file (created with its header when missing). A file with another header (from an older
            version of the loop) is rewritten under ``columns`` plus its own extra columns, old values kept
            by name, at the first write (:meth:`append`, :meth:`truncate_after`); reading never rewrites.
        columns: column names; the first must be ``step``.
    """

    def __init__(self, path: str | os.PathLike, columns: list[str]):
        assert columns[0] == "step"
        self.path = Path(path)
        self.columns = list(columns)
        self._checked = False
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(columns)
            self._checked = True

    def _migrate(self) -> None:
        if self._checked:
            return
        self._checked = True
        with self.path.open(newline="") as f:
            header = next(csv.reader(f), [])
        if header == self.columns:
            return
        rows = self.read()
        self.columns += [c for c in header if c not in self.columns]
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(self.columns)
            writer.writerows([[r.get(c) or "" for c in self.columns] for r in rows])
        os.replace(tmp, self.path)

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (work lost by a kill is redone, and logged again, on resume)."""
        self._migrate()
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
        self._migrate()
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([_fmt(row.get(c, "")) for c in self.columns])
            f.flush()

    def read(self) -> list[dict[str, str]]:
        """All rows as dicts of strings."""
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))


def _fmt(v) -> str:
    return repr(v) if isinstance(v, float) else str(v)
