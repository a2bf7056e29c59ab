"""Per-house visibility: Casbin decides which bases grant which field groups; SQL applies them."""
