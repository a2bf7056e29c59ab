"""A fake of the Tixly CRM API v3 (``https://crmapi.tixnl.nl/v3``) with seeded, fictional, deterministic data.

It serves the read endpoints a consent-hub connector uses (customers with their opt-ins, permission
definitions, events, ticket sales, memberships and membership sales) for a cluster of eight invented
Flemish performing-arts houses that share one Tixly instance, plus control endpoints under ``/_fake/``
that make the data change over time and inject faults. Every person, address, e-mail address
(``@example.org`` only) and phone number is invented.

Quirks of the real API that the fake keeps on purpose:

* Bearer token auth; a refusal is HTTP 401 with ``{"Message": "Authorization has been denied for this request."}``.
* Page-number paging: ``pageSize`` (default 100, capped at 1000) and 1-based ``page``; the envelope is
  ``{"Data": [...], "Next": <absolute URL of the next page or null>}``.
* Timestamps are UTC without a zone designator, millisecond precision (``2025-03-02T19:04:11.123``).
* A customer that was never edited has ``Edited: null``; incremental reads filter on
  ``coalesce(Edited, Created) >= DateFrom``. A change of an opt-in also sets the customer's ``Edited``.
* A ticket return is a separate, later sales row with a negative ``TicketCount`` (same ``OrderId``,
  ``EventId``, ``CustomerId`` and ``TicketId``; a new ``SaleTicketId``; ``Price`` and ``Fee`` repeat the
  returned line's values, so the line's amount is ``Price * TicketCount``). Anonymous box-office sales
  have ``CustomerId: null``. The engine has duplicate customer records: the same e-mail address in
  another letter case under another ``Id``.
* ``Gender`` is numeric (0 unknown, 1 male, 2 female); ``LanguageId`` 1 Dutch, 2 English, 3 French.
* A joint subscription (membership 9001, ``DUO``) is sold by one house and gives zero-priced tickets
  (``TicketType "DUO"``, ``SubscriptionTypeId 9001``) at two houses.

Known real-world hazard, reproduced here: page-number paging over a result set that changes between
pages can skip a row. The fake pages by offset over the live, sorted data, so when a record earlier in
the order is edited between two page requests it moves to the end and every later record shifts one
place forward: the record that was first on the next page is never served in that pass, and a later
incremental read that starts from the highest ``coalesce(Edited, Created)`` seen will not return it
either (its timestamp is older). A connector has to guard against that (re-read with an overlap, or
restart the pass when a record shows up with a timestamp newer than the pass started).

Control endpoints (not part of the real API; same bearer token): ``POST /_fake/advance`` applies
deterministic changes stamped with the current UTC time, ``POST /_fake/faults`` injects 429s, 5xxs,
delays and malformed records, ``GET /_fake/stats`` counts requests and ``GET /_fake/truth`` gives
ground-truth counts for tests.

Run it: ``python -m fakes.tixly --size demo --port 8010 --evolve-every 5``.
"""

from fakes.tixly.app import create_app
from fakes.tixly.runner import main
from fakes.tixly.world import (
    DUO_MEMBERSHIP_ID,
    FRIENDS_MEMBERSHIP_ID,
    ORGANISATIONS,
    BadRequest,
    Event,
    TixlyWorld,
    build_world,
    format_ts,
    parse_ts,
)

__all__ = [
    "DUO_MEMBERSHIP_ID",
    "FRIENDS_MEMBERSHIP_ID",
    "ORGANISATIONS",
    "BadRequest",
    "Event",
    "TixlyWorld",
    "build_world",
    "create_app",
    "format_ts",
    "main",
    "parse_ts",
]
