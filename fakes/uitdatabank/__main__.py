"""``python -m fakes.uitdatabank``: serve the fake (see runner.py)."""

from fakes.uitdatabank.runner import _cli

_cli()
