"""The ``fake-engine`` command the fakes add to ``consent-hub``, and the starters the hub uses to serve the
demo's fake engines beside itself (both announced as entry points in this package's pyproject.toml)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fakes.server import RunningServer, serve_in_thread

FAKE_KINDS = ("tixly", "ticketmatic")


def _size(size: str) -> str | int:
    return int(size) if size.isdigit() else size


def start_fake_tixly(host: str, port: int, seed: int, size: str, evolve_every: float = 0.0) -> RunningServer:
    from fakes import tixly

    world = tixly.build_world(seed=seed, size=_size(size))
    return serve_in_thread(tixly.create_app(world, evolve_every=evolve_every), host=host, port=port)


def start_fake_ticketmatic(host: str, port: int, seed: int, size: str, evolve_every: float = 0.0) -> RunningServer:
    from fakes import ticketmatic

    world = ticketmatic.build_world(seed=seed, size=_size(size))
    app: Any = ticketmatic.create_app(world)
    return serve_in_thread(app, host=host, port=port)


def start_fake_mailchimp(host: str, port: int, seed: int, size: str, evolve_every: float = 0.0) -> RunningServer:
    """The demo's CRM: one audience per house slug given as ``size`` (comma-separated)."""
    from fakes import mailchimp

    state = mailchimp.MailchimpState(lists=[name for name in size.split(",") if name] or ["demo"])
    return serve_in_thread(mailchimp.create_app(state), host=host, port=port)


def fake_engine(
    kind: Annotated[str, typer.Argument(help="tixly | ticketmatic")],
    port: Annotated[int, typer.Option(help="port on the loopback interface")] = 0,
    seed: Annotated[int, typer.Option(help="seed of the fictional data")] = 7,
    size: Annotated[str, typer.Option(help="test | demo | a number of customers")] = "demo",
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    evolve_every: Annotated[float, typer.Option(help="seconds between automatic changes (0 = none)")] = 0.0,
) -> None:
    """Serve a fake ticketing engine with seeded fictional data (for demos, tests and benchmarks)."""
    if kind == "tixly":
        from fakes import tixly

        tixly.main(host=host, port=port or 8010, seed=seed, size=size, evolve_every=evolve_every)
    elif kind == "ticketmatic":
        from fakes import ticketmatic

        ticketmatic.main(host=host, port=port or 8020, seed=seed, size=size, evolve_every=evolve_every)
    else:
        raise typer.BadParameter(f"unknown fake engine {kind!r}; choose from {list(FAKE_KINDS)}")
