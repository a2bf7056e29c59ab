"""Data-subject rights (erasure, restriction of processing and its lift): the requests that reach
every domain holding the person, above people, consent, ingest and outbox."""
