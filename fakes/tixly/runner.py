"""Serving the fake Tixly on its own (blocking), from Python or the command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from fakes.tixly.app import create_app
from fakes.tixly.world import DEFAULT_TOKEN, build_world

# --------------------------------------------------------------------------------------------------
# running it


def main(
    host: str = "127.0.0.1",
    port: int = 8010,
    seed: int = 7,
    size: str = "demo",
    token: str = DEFAULT_TOKEN,
    evolve_every: float = 0.0,
) -> None:
    """Build a world and serve it (blocking). ``size`` may be ``"test"``, ``"demo"`` or digits."""
    world = build_world(seed=seed, size=int(size) if size.strip().isdigit() else size)
    app = create_app(world, token=token, evolve_every=evolve_every)
    uvicorn.run(app, host=host, port=port, log_level="info")


def _cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Tixly CRM API v3 with fictional data.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", default="demo", help="'test', 'demo' or a number of customers")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--evolve-every", type=float, default=0.0, help="seconds between automatic advances")
    args = parser.parse_args(argv)
    main(args.host, args.port, args.seed, args.size, args.token, args.evolve_every)


if __name__ == "__main__":
    _cli()
