"""Ticketing engine data coming in: customers, events, sales, memberships and opt-ins, the stream
bookmarks that make a sync resumable, and the record of every sync run. Engine-specific code (HTTP,
field names, quirks) lives in ``connectors/``; this package only sees engine-neutral records."""
