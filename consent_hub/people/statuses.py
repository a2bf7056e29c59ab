"""A person's statuses as the other domains need them (no query: a constant they may import)."""

from __future__ import annotations

from consent_hub.vocabulary import PersonStatus

# people whose data is kept current: a restriction (GDPR Art. 18) stops processing, not recording,
# so imports, rectifications and consent decisions still reach a restricted person; only an active
# person is visible to houses or sent to destinations
RECORDED_STATUSES = (PersonStatus.ACTIVE, PersonStatus.RESTRICTED)
