"""Destination adapters: where the outbox delivers consent changes, erasures and exports."""
