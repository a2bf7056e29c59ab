"""The `consent-hub` command line: the root app and its command groups, one module per group."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from consent_hub.cli import outbox, setup, sync
from consent_hub.cli.audit import audit_app
from consent_hub.cli.clients import clients_app
from consent_hub.cli.clusters import clusters_app
from consent_hub.cli.common import handled
from consent_hub.cli.houses import houses_app
from consent_hub.cli.keys import keys_app
from consent_hub.cli.people import people_app
from consent_hub.cli.purposes import purposes_app
from consent_hub.cli.requests import requests_app
from consent_hub.config import CONFIG_ENV

app = typer.Typer(
    help="consent-hub: privacy-first customer data and consent hub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# registration order is the order `consent-hub --help` lists them in
app.command()(setup.init)
app.command()(setup.migrate)
app.command()(setup.serve)
app.command()(setup.demo)
app.command()(sync.sync)
app.command("segments-refresh")(sync.segments_refresh)
app.command("sync-runs")(sync.sync_runs)
app.command()(outbox.deliver)
app.command()(outbox.reconcile)
app.command()(outbox.worker)
app.add_typer(houses_app, name="houses")
app.add_typer(clients_app, name="clients")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(clusters_app, name="clusters")
app.add_typer(people_app, name="people")
app.add_typer(requests_app, name="requests")
app.add_typer(purposes_app, name="purposes")


@app.callback()
def _global(
    config: Annotated[
        Path | None, typer.Option("--config", help=f"hub configuration (default ${CONFIG_ENV} or var/hub.toml)")
    ] = None,
) -> None:
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)


def _add_extra_commands() -> None:
    """Commands that connector packages announce (fake engines, file import)."""
    from consent_hub.plugins import extra_commands

    present = {c.name for c in app.registered_commands}
    for name, command in extra_commands().items():
        if name not in present:
            app.command(name)(handled(command))


def main() -> None:
    _add_extra_commands()
    app(prog_name="consent-hub")
