"""People: encrypted buyer profiles, one per buyer per cluster."""
