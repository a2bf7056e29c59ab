"""Connectors: ticketing engines in, CRM / mailing tools and the UiT platform out.

Uses `consent_hub` services; `consent_hub` never imports this package.
"""
