"""``python -m fakes.ticketmatic``: serve the fake (see runner.py)."""

from fakes.ticketmatic.runner import _cli

_cli()
