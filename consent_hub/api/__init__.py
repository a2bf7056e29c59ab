"""HTTP API: app factory, request context, the one error shape."""
