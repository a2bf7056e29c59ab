"""Consented audiences: segment definitions over purchase history, protected counts, audited
exports (files or a destination)."""
