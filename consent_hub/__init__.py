"""consent-hub: privacy-first customer data and consent hub for clusters of performing-arts houses."""

__version__ = "0.1.0"
