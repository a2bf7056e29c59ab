"""Fake ticketing engines, CRM tools and UiT services: small HTTP apps that follow the real APIs'
documented shapes and quirks, with seeded fictional data. Used by the demo, the tests and the
benchmarks; never by ``consent_hub`` itself."""
