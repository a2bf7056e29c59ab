"""Serving the fake UiTdatabank on its own (blocking), from Python or the command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from fakes.uitdatabank.app import create_app
from fakes.uitdatabank.world import DEFAULT_API_KEY, build_catalogue

# --------------------------------------------------------------------------------------------------
# running it


def main(
    host: str = "127.0.0.1", port: int = 8020, seed: int = 11, unrelated: int = 200, api_key: str = DEFAULT_API_KEY
) -> None:
    """Serve a catalogue of unrelated events only (blocking); tests and the demo seed their own."""
    uvicorn.run(create_app(build_catalogue(seed=seed, unrelated=unrelated), api_key=api_key), host=host, port=port)


def _cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake UiTdatabank Search API with fictional events.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8020)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--unrelated", type=int, default=200)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args(argv)
    main(args.host, args.port, args.seed, args.unrelated, args.api_key)


if __name__ == "__main__":
    _cli()
