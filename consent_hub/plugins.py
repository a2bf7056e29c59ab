"""Finding plug-ins without importing them: ``consent_hub`` never imports ``connectors/`` or the
fakes; an installed package announces what it offers through entry points (see pyproject.toml),
and this module is the one place that loads them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from consent_hub.errors import ConfigurationError

CONNECTORS = "consent_hub.connectors"  # kind -> sync(registry, cluster, name, config, *, trigger, progress)
DESTINATIONS = "consent_hub.destinations"  # kind -> build(name, config) -> Destination
FAKE_ENGINES = "consent_hub.fake_engines"  # kind -> start(host, port, seed, size, evolve_every) -> server
COMMANDS = "consent_hub.commands"  # extra CLI commands (name -> function)
REPORTS = "consent_hub.reports"  # name -> write(uow, actor, filters, out) -> rows written (reports/)
DEMO = "consent_hub.demo"  # seed(registry, cluster) -> API keys; sync_config(cluster) -> hub.toml text


def load(group: str, name: str) -> Callable[..., Any]:
    """The entry point ``name`` of ``group``; a configuration error naming those installed when absent."""
    for ep in entry_points(group=group):
        if ep.name == name:
            loaded: Callable[..., Any] = ep.load()
            return loaded
    known = sorted(ep.name for ep in entry_points(group=group))
    raise ConfigurationError(f"no {group} entry point named {name!r} (installed: {known})")


def sync_function(kind: str) -> Callable[..., Any]:
    return load(CONNECTORS, kind)


def destination_builder(kind: str) -> Callable[..., Any]:
    return load(DESTINATIONS, kind)


def fake_engine_starter(kind: str) -> Callable[..., Any]:
    return load(FAKE_ENGINES, kind)


def report_writer(name: str) -> Callable[..., Any]:
    """The Excel report ``name`` (``reports/``): ``write(uow, actor, filters, out) -> int``."""
    return load(REPORTS, name)


def report_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=REPORTS))


def _demo(name: str) -> Callable[..., Any]:
    if not any(ep.name == name for ep in entry_points(group=DEMO)):
        raise ConfigurationError(
            "the demo needs the fakes package (consent-hub-fakes), which is not installed: "
            "`pip install -e ./fakes` from the repository, or `make run`"
        )
    return load(DEMO, name)


def demo_seeder() -> Callable[..., Any]:
    """The demo cluster's seeding: ``seed(registry, cluster) -> {role: api_key}``."""
    return _demo("seed")


def demo_sync_config() -> Callable[..., Any]:
    """The demo's hub.toml sections (fake engines and their connector): ``sync_config(cluster) -> str``."""
    return _demo("sync_config")


def extra_commands() -> dict[str, Callable[..., Any]]:
    """Commands of installed plug-in packages; one that fails to import is left out (and named on
    stderr) rather than taking every other command down with it."""
    out: dict[str, Callable[..., Any]] = {}
    for ep in entry_points(group=COMMANDS):
        try:
            out[ep.name] = ep.load()
        except ImportError as exc:
            print(f"consent-hub: command {ep.name!r} is unavailable ({exc})", file=sys.stderr)
    return out
