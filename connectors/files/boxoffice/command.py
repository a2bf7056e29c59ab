"""`consent-hub import-file`: the command line of the box-office import."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from connectors.files.boxoffice.apply import import_file
from connectors.files.boxoffice.mapping import load_mapping
from connectors.files.boxoffice.report import print_report
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import config_path, load_settings
from consent_hub.errors import ConfigurationError, InvalidInput


def _parse_time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput([{"field": "exported-at", "problem": "must be an ISO 8601 date and time"}]) from None
    return moment.replace(tzinfo=zoneinfo.ZoneInfo("Europe/Brussels")) if moment.tzinfo is None else moment


def import_file_command(
    file: Annotated[Path, typer.Argument(help="the box-office export: .xlsx or .csv")],
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="cluster name")],
    house: Annotated[str, typer.Option("--house", help="slug of the house that exported the file")],
    mapping: Annotated[Path, typer.Option("--mapping", "-m", help="column mapping (TOML)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and report; write nothing")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="any bad row: import nothing, exit code 1")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="write the bad rows to this CSV file")] = None,
    exported_at: Annotated[
        str | None,
        typer.Option("--exported-at", help="when the file was exported (ISO 8601); opt-ins without a time get it"),
    ] = None,
) -> None:
    """Import a box-office buyer list (.xlsx / .csv) for one house, all good rows or nothing."""
    path = config_path()
    if not path.exists():
        raise ConfigurationError(f"no hub configuration at {path}; run `consent-hub init`")
    settings = load_settings(path)
    settings.cluster(cluster)
    spec = load_mapping(mapping)
    registry = ClusterRegistry(settings)
    try:
        result = import_file(
            registry, cluster, house, file, spec, dry_run=dry_run, strict=strict, exported_at=_parse_time(exported_at)
        )
    finally:
        registry.dispose()
    print_report(result, Console())
    if report is not None:
        result.write_csv(report)
        Console(stderr=True).print(f"bad rows written to {report.name}", highlight=False)
    if strict and result.bad_rows:
        raise typer.Exit(1)
