"""Finding connectors without importing them: ``consent_hub`` never imports ``connectors/``; a
connector package announces itself through entry points (see pyproject.toml)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from consent_hub.errors import ConfigurationError

CONNECTORS = "consent_hub.connectors"  # kind -> sync(registry, cluster, name, config, *, trigger, progress)
FAKE_ENGINES = "consent_hub.fake_engines"  # kind -> start(host, port, seed, size, evolve_every) -> server
COMMANDS = "consent_hub.commands"  # extra CLI commands (name -> function)


def _load(group: str, name: str) -> Callable[..., Any]:
    for ep in entry_points(group=group):
        if ep.name == name:
            loaded: Callable[..., Any] = ep.load()
            return loaded
    known = sorted(ep.name for ep in entry_points(group=group))
    raise ConfigurationError(f"no {group} entry point named {name!r} (installed: {known})")


def sync_function(kind: str) -> Callable[..., Any]:
    return _load(CONNECTORS, kind)


def fake_engine_starter(kind: str) -> Callable[..., Any]:
    return _load(FAKE_ENGINES, kind)


def extra_commands() -> dict[str, Callable[..., Any]]:
    """Commands of installed connector packages; one that fails to import is left out (and
    named on stderr) rather than taking every other command down with it."""
    out: dict[str, Callable[..., Any]] = {}
    for ep in entry_points(group=COMMANDS):
        try:
            out[ep.name] = ep.load()
        except ImportError as exc:
            print(f"consent-hub: command {ep.name!r} is unavailable ({exc})", file=sys.stderr)
    return out
