"""API clients: bearer keys scoped to one cluster, at most one house, one role, an agreement."""
