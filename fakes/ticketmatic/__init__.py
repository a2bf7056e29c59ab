"""A fake of the Ticketmatic 3 REST API, with seeded, fictional, deterministic data.

It follows the public shape of the real API (the generated clients, the public API docs and the Singer
tap ``tap-ticketmatic``) closely enough for a connector to be written and tested against it:

* Base path ``/api/1/{accountname}/...``. One fake serves several accounts; in the hub each account is
  one house. An unknown account answers 404 ``{"message": ...}``.
* Authentication: ``Authorization: TM-HMAC-SHA256 key=<accesskey> ts=<yyyy-mm-ddTHH:MM:SS> sign=<hex>``
  with ``sign = hex(HMAC-SHA256(secret, accesskey + accountname + ts))``, ``ts`` in UTC and at most five
  minutes away from the server clock (see :func:`sign_headers`). HTTP Basic ``accesskey:secret`` is
  accepted too. Refusals answer 401 ``{"message": ...}``.
* Lists ``GET .../contacts``, ``.../orders``, ``.../events`` take ``lastupdatesince``
  (``"2014-09-26 15:24:36"``, records with ``lastupdatets >= lastupdatesince``), ``orderby``
  (``lastupdatets`` | ``createdts``; default: id order), ``orderby_asc`` (``true`` | ``false``),
  ``limit`` (default 100, capped at 1000), ``offset``, ``output`` (``default`` | ``ids`` | ``minimal`` |
  ``withlookup``) and ``includearchived``. The answer is ``{"data": [...], "nbrofresults": n}`` plus
  ``"lookup"`` for ``output=withlookup``. Paging is limit/offset; a client stops on an empty ``data``.
  ``GET .../contacts/{id}``, ``.../orders/{id}``, ``.../events/{id}`` return one record, and
  ``GET .../settings/system/optins`` the opt-in definitions. Bad query values answer 400 JSON.

Quirks kept on purpose, because a connector has to live with them:

* Timestamps are ``"YYYY-MM-DD HH:MM:SS"``: one-second resolution, no zone, UTC. Several records share a
  ``lastupdatets``, so an incremental sync must ask ``>=`` its high-water mark and expect repeats; a
  "nightly bulk job" touched about 2 % of the orders in one and the same second, so a page boundary can fall
  inside one timestamp (page with ``offset``, not by moving ``lastupdatesince`` alone).
* Deleted contacts stay in the data with ``isdeleted: true`` and ``status: "deleted"``. A plain list leaves
  them out unless ``includearchived=true``; any list with ``lastupdatesince`` includes them, so a sync sees
  the deletion.
* Orders are mutable: a refund removes a ticket from the order, adds a negative payment, marks a delivered
  order "changed after delivery" (2603) and bumps ``lastupdatets``. A sync must replace an order's lines.
* Opt-in statuses: 7601 unknown, 7602 opted in, 7603 opted out. Order statuses: 21001 unconfirmed, 21002
  confirmed, 21003 archived. ``paymentstatus``: 0 incomplete, 1 fully paid, 2 overpaid. ``deliverystatus``:
  2601 not delivered, 2602 delivered, 2603 changed after delivery. Event ``currentstatus``: 19001 draft,
  19002 active, 19003 closed (the payment, delivery and event codes are the fake's best reading of the real
  ones). Amounts are decimal numbers (euro). ``output=ids`` gives ``[{"id": n}]`` (orders ``[{"orderid": n}]``).
* The same buyer is often known to two houses: about a fifth of an account's contacts share an e-mail
  (sometimes in a different letter case) with a contact of another account, under another contact id.
  A few contacts have no e-mail. All e-mails are at ``example.org``; every name, address and phone number
  is invented.

Control endpoints (not part of the real API; same authentication, signed for any account or for ``""``):
``POST /_fake/advance``, ``POST /_fake/faults``, ``GET /_fake/faults``, ``GET /_fake/stats``,
``GET /_fake/truth``. See :meth:`TicketmaticWorld.advance`, :class:`Faults` and
:meth:`TicketmaticWorld.truth`. Faults apply to ``/api/...`` requests only, before the account and the
signature are checked.
"""

from fakes.ticketmatic.app import Faults, create_app
from fakes.ticketmatic.runner import main
from fakes.ticketmatic.world import (
    OPTIN_NEWSLETTER,
    OPTIN_NO,
    OPTIN_UNKNOWN,
    OPTIN_YES,
    Contact,
    Order,
    TicketmaticWorld,
    build_world,
    sign_headers,
)

__all__ = [
    "OPTIN_NEWSLETTER",
    "OPTIN_NO",
    "OPTIN_UNKNOWN",
    "OPTIN_YES",
    "Contact",
    "Faults",
    "Order",
    "TicketmaticWorld",
    "build_world",
    "create_app",
    "main",
    "sign_headers",
]
