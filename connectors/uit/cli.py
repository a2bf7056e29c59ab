"""`consent-hub uit-classify` and `consent-hub uit-export` (announced as entry points)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from consent_hub.clusters import ClusterRegistry
from consent_hub.config import config_path, load_settings
from consent_hub.errors import ConfigurationError

out = Console()


def _registry() -> ClusterRegistry:
    path = config_path()
    if not path.exists():
        raise ConfigurationError(f"no hub configuration at {path}; run `consent-hub init`")
    return ClusterRegistry(load_settings(path))


def uit_classify(
    cluster: Annotated[str, typer.Option("--cluster", "-c")],
    base_url: Annotated[str, typer.Option(help="UiTdatabank Search API, e.g. https://search.uitdatabank.be")],
    api_key_env: Annotated[str, typer.Option(help="environment variable holding the API key")] = "UITDATABANK_API_KEY",
    all_events: Annotated[bool, typer.Option("--all", help="re-check events that already have a type")] = False,
) -> None:
    """Give the cluster's events their UiT event type (UiTdatabank match, else the engine's category)."""
    from connectors.uit.classify import classify_events

    api_key = os.environ.get(api_key_env)
    if not api_key:
        raise ConfigurationError(f"environment variable {api_key_env} is not set")
    registry = _registry()
    try:
        summary = classify_events(
            registry, cluster, base_url=base_url, api_key=api_key, only_unclassified=not all_events
        )
    finally:
        registry.dispose()
    out.print(
        f"events: {summary.total}; matched in UiTdatabank {summary.matched}, from categories {summary.fallback}, "
        f"unclassified {summary.unclassified} ({summary.ambiguous} ambiguous listings)",
        highlight=False,
    )


def uit_export(
    cluster: Annotated[str, typer.Option("--cluster", "-c")],
    base_iri: Annotated[str, typer.Option(help="namespace of the exported resources")],
    output: Annotated[Path, typer.Option("--out", help="Turtle file to write")],
    since: Annotated[str | None, typer.Option(help="only purchases from this date (YYYY-MM-DD)")] = None,
) -> None:
    """Pseudonymised participation (OSLO Cultuurparticipatie, Turtle) of the buyers whose consent
    covers the UiT exchange platform: birth year and statistical sector only, per-export pseudonyms."""
    from connectors.uit.participation import export_participation

    start = dt.datetime.combine(dt.date.fromisoformat(since), dt.time(), dt.UTC) if since else None
    registry = _registry()
    try:
        turtle, summary = export_participation(registry, cluster, base_iri=base_iri, since=start)
    finally:
        registry.dispose()
    output.write_text(turtle, encoding="utf-8")
    out.print(
        f"export {summary.export_id}: {summary.participants} participants, {summary.participations} participations, "
        f"{summary.activities} activities -> {output}",
        highlight=False,
    )
