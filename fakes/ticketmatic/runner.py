"""Serving the fake Ticketmatic on its own (blocking), from Python or the command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from fakes.ticketmatic.app import create_app
from fakes.ticketmatic.world import DEFAULT_ACCESS_KEY, DEFAULT_SECRET, build_world


def main(
    host: str = "127.0.0.1",
    port: int = 8020,
    seed: int = 11,
    size: str | int = "demo",
    access_key: str = DEFAULT_ACCESS_KEY,
    secret: str = DEFAULT_SECRET,
    evolve_every: float = 0.0,
) -> None:
    """Build a world and serve it (blocking)."""
    world = build_world(seed=seed, size=size)
    app = create_app(world, access_key=access_key, secret=secret, evolve_every=evolve_every)
    uvicorn.run(app, host=host, port=port, log_level="info")


def _cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Ticketmatic 3 API with fictional data.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8020)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--size", default="demo", help="test, demo or a number of contacts per account")
    parser.add_argument("--access-key", default=DEFAULT_ACCESS_KEY)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument("--evolve-every", type=float, default=0.0, help="seconds between small changes; 0 = never")
    args = parser.parse_args(argv)
    size: str | int = int(args.size) if args.size.isdigit() else args.size
    main(args.host, args.port, args.seed, size, args.access_key, args.secret, args.evolve_every)


if __name__ == "__main__":
    _cli()
