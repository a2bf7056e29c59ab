"""``python -m fakes.tixly``: serve the fake (see runner.py)."""

from fakes.tixly.runner import _cli

_cli()
