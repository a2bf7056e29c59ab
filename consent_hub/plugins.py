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
