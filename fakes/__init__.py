"""Test doubles of the consent hub, in their own distribution (``consent-hub-fakes``, never in the
``consent-hub`` wheel): fake ticketing engines, CRM tools, UiT services and a webhook receiver (small
HTTP apps that follow the real APIs' documented shapes and quirks, with seeded fictional data), the
shared fault injection and the demo cluster's seeding. Used by the demo, the tests and the benchmarks;
``consent_hub`` reaches them only through the entry points declared in this package's pyproject.toml."""
