"""Source connectors: ticketing engines (and box-office files) into the hub."""
