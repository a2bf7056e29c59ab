"""The outcome of an import: counts and bad rows, printed or written as CSV; never personal data."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from connectors.files.boxoffice.rows import BadRow

_FORMULA_START = ("=", "+", "-", "@")


@dataclass
class ImportReport:
    """What an import did (or, rolled back, would have done). No personal data."""

    file: str  # the file's name, without its folder
    cluster: str
    house: str
    source: str
    file_id: str
    rows_read: int = 0
    created: int = 0  # new people
    updated: int = 0  # records seen before whose fields changed
    matched: int = 0  # new records of people the hub already knew (same e-mail address)
    unchanged: int = 0  # records seen before, nothing changed
    suppressed: int = 0  # erased earlier: not re-created
    consents: int = 0  # consent events recorded (opt-ins and refusals)
    bad_rows: list[BadRow] = field(default_factory=list)
    dry_run: bool = False
    strict: bool = False
    committed: bool = False
    run_id: str | None = None

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.matched

    @property
    def already_known(self) -> int:
        return self.matched + self.unchanged

    def write_csv(self, path: Path) -> None:
        """The bad rows, one per line: row number and reason."""
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["row", "reason"])
            for bad in self.bad_rows:
                reason = f"'{bad.reason}" if bad.reason.startswith(_FORMULA_START) else bad.reason
                writer.writerow([bad.row, reason])


def print_report(report: ImportReport, console: Console, *, limit: int = 50) -> None:
    if report.committed:
        verdict = "[green]imported[/green]"
    elif report.dry_run:
        verdict = "[yellow]dry run: nothing written[/yellow]"
    else:
        verdict = f"[red]strict: nothing written ({len(report.bad_rows)} bad rows)[/red]"
    console.print(
        f"{report.file} into house [bold]{report.house}[/bold] of cluster {report.cluster}: {verdict}",
        highlight=False,
        soft_wrap=True,
    )
    summary = Table(show_header=False)
    summary.add_column("what")
    summary.add_column("rows", justify="right")
    for label, count in (
        ("rows read", report.rows_read),
        ("imported", report.imported),
        ("  new people", report.created),
        ("  updated", report.updated),
        ("  linked to a person already known (same e-mail)", report.matched),
        ("already known, unchanged", report.unchanged),
        ("suppressed (erased earlier, not re-created)", report.suppressed),
        ("bad rows", len(report.bad_rows)),
        ("consents recorded", report.consents),
    ):
        summary.add_row(label, str(count))
    console.print(summary)
    if report.bad_rows:
        bad = Table("row", "reason", title="bad rows")
        for row in report.bad_rows[:limit]:
            bad.add_row(str(row.row), row.reason)
        console.print(bad)
        if len(report.bad_rows) > limit:
            console.print(f"... and {len(report.bad_rows) - limit} more bad rows (use --report FILE for all)")
    if report.run_id:
        console.print(
            f"recorded as sync run {report.run_id} of connector {report.source}", highlight=False, soft_wrap=True
        )
