"""Consent: the purposes catalogue, versioned notices, append-only consent events and their
current-state projection (invariant 7)."""
