"""Hash-chained, append-only audit log with Ed25519-signed checkpoints (invariant 6)."""
