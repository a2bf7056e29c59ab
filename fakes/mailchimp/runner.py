"""Serving the fake Mailchimp on its own (blocking), from Python or the command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from fakes.mailchimp.app import create_app
from fakes.mailchimp.world import DEFAULT_API_KEY, MailchimpState

# --------------------------------------------------------------------------------------------------
# running it


def main(
    host: str = "127.0.0.1", port: int = 8030, lists: Sequence[str] = ("list-a",), api_key: str = DEFAULT_API_KEY
) -> None:
    """Serve a fresh fake (blocking)."""
    uvicorn.run(create_app(MailchimpState(lists), api_key=api_key), host=host, port=port, log_level="info")


def _cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Mailchimp Marketing API v3.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8030)
    parser.add_argument("--lists", default="list-a", help="comma-separated audience ids")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args(argv)
    main(args.host, args.port, [x.strip() for x in args.lists.split(",") if x.strip()], args.api_key)


if __name__ == "__main__":
    _cli()
