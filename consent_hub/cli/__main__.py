"""`python -m consent_hub.cli`."""

from consent_hub.cli import main

main()
