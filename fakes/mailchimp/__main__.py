"""``python -m fakes.mailchimp``: serve the fake (see runner.py)."""

from fakes.mailchimp.runner import _cli

_cli()
