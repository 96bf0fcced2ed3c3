"""The `import` stage: data files (API-shaped JSON or CSV) → raw_pages + interactions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from qa_scoring import store
from qa_scoring.parse import read_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportSummary:
    files: int
    rows: int
    new: int
    updated: int
    unchanged: int
    quarantined: int
    duplicates_merged: int
    skipped_files: int
    per_file: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def text(self) -> str:
        return (f"files {self.files} (already imported {self.skipped_files}), rows {self.rows:,} "
                f"(new {self.new:,}, updated {self.updated:,}, unchanged {self.unchanged:,}), "
                f"quarantined {self.quarantined:,}, duplicates merged {self.duplicates_merged:,}")


def import_files(con: duckdb.DuckDBPyConnection, paths: list[Path], *, operation: str, tz: str,
                 run_id: int | None = None, dates: store.DateRange = store.DateRange()) -> ImportSummary:
    """Land every file in ONE transaction: a bad file anywhere leaves the database as it was."""
    results: list[store.LandSummary] = []
    with store.atomic(con):
        for path in paths:
            parsed = read_file(path)
            summary = store.land_page(con, parsed, source=str(path), kind="import", operation=operation,
                                      tz=tz, run_id=run_id, transaction=False, dates=dates)
            log.info("%s: %s", path, "already imported, skipped" if summary.skipped else
                     f"{summary.rows} rows, {summary.new} new, {summary.updated} updated, "
                     f"{summary.quarantined} quarantined")
            results.append(summary)
    landed = [r for r in results if not r.skipped]
    return ImportSummary(
        files=len(results),
        rows=sum(r.rows for r in landed),
        new=sum(r.new for r in landed),
        updated=sum(r.updated for r in landed),
        unchanged=sum(r.unchanged for r in landed),
        quarantined=sum(r.quarantined for r in landed),
        duplicates_merged=sum(r.duplicates_merged for r in landed),
        skipped_files=len(results) - len(landed),
        per_file=[r.to_dict() for r in results],
    )
