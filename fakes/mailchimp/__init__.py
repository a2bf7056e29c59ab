"""A fake of the Mailchimp Marketing API v3 (``https://<dc>.api.mailchimp.com/3.0``): audiences, list members,
batch operations, the API's errors and its connection limit, with an event log for exactly-once accounting.

It follows the documented shape of the real API (mailchimp.com/developer/marketing/api) closely enough for a
consent-hub connector that pushes consent states to Mailchimp to be written and tested against it:

* Base path ``/3.0``. HTTP Basic auth with any user name and the API key as the password (keys look like
  ``<32 hex>-us21``; the fake does not check the data-centre suffix against the host). No key: 401
  "API Key Missing"; a wrong key: 401 "API Key Invalid".
* Every error is a problem-details document with ``Content-Type: application/problem+json``:
  ``{"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title", "status", "detail",
  "instance": <uuid>}``, plus ``"errors": [{"field", "message"}]`` for validation errors ("Invalid Resource").
* ``GET /3.0/lists``, ``GET /3.0/lists/{list_id}``: the audiences given to :class:`MailchimpState`.
* ``PUT /3.0/lists/{list_id}/members/{subscriber_hash}`` adds or updates ("upsert"). ``subscriber_hash`` is
  the MD5 hex digest of the lower-cased e-mail address (:func:`subscriber_hash`); like the real API the path
  also accepts the address itself. A hash that does not match the body's ``email_address``: 400 "Invalid
  Resource". For a new (or archived) member ``status_if_new`` gives the status (``status`` when that is
  missing); for an existing member ``status`` changes it and ``status_if_new`` is ignored. Statuses:
  ``subscribed``, ``unsubscribed``, ``cleaned``, ``pending``, ``transactional`` (``archived`` only through
  DELETE). ``merge_fields`` are merged key by key; ``tags`` (a list of names) are applied only when the PUT
  creates the member (use ``POST .../tags`` afterwards). A PUT that changes nothing leaves ``last_changed``.
* ``POST /3.0/lists/{list_id}/members`` adds (400 "Member Exists" when present and not archived);
  ``GET``/``PATCH`` ``.../members/{hash}`` (PATCH may change ``email_address``, which moves the member to the
  new hash); ``DELETE .../members/{hash}`` archives (204; the member then reads ``status: "archived"``);
  ``POST .../members/{hash}/actions/delete-permanent`` (204) forgets the member: a later GET is 404 and a
  later PUT or POST for the address is 400 "Forgotten Email Not Subscribed" (the real quirk: a permanently
  deleted address can never be re-imported through the API). ``GET``/``POST .../members/{hash}/tags``
  (``{"tags": [{"name", "status": "active"|"inactive"}]}`` -> 204).
* ``GET /3.0/lists/{list_id}/members?count=&offset=&status=`` -> ``{"members", "list_id", "total_items"}``;
  ``count`` defaults to 10 and is capped at 1000; members come in the order they were first added; archived
  members are included unless ``status`` filters them out.
* ``POST /3.0/batches`` with ``{"operations": [{"method", "path", "params"?, "body"?, "operation_id"?}]}``
  (``path`` relative to ``/3.0``, ``body`` a JSON *string*, as in the real API) answers
  ``{"id", "status": "pending", "total_operations", ...}``. The operations run after ``batch_delay`` seconds,
  ``batch_chunk`` at a time, so ``GET /3.0/batches/{id}`` shows ``pending``, ``started`` and ``finished`` with
  ``finished_operations`` (errors included) and ``errored_operations``. When finished, ``response_body_url``
  points at the fake itself. **Simplification**: the real API serves a gzipped tar archive of JSON files
  there; the fake serves one JSON array ``[{"operation_id", "status_code", "response"}]`` (``response`` is
  the operation's JSON response body as a *string*, as inside the real archive). That URL needs no auth
  (the real one is a pre-signed link). ``GET /3.0/batches`` lists batches, ``DELETE`` cancels one.
* Connection limit: Mailchimp allows 10 simultaneous connections per account. The fake counts requests in
  flight and answers 429 "Too Many Requests" beyond ``MailchimpState.max_concurrent`` (or the
  ``max_concurrent`` fault). ``GET /3.0/ping`` answers ``{"health_status": "Everything's Chimpy!"}``.

Deviations: one account per fake, any data centre; no campaigns, segments, interests, merge-field
definitions or webhooks; merge field names are not checked against the audience; the real API refuses
addresses it finds fake-looking (``example.com`` and the like) while the fake accepts any ``local@domain.tld``;
``fields``/``exclude_fields`` are ignored; batch results are JSON rather than tar.gz.

The state (:class:`MailchimpState`) lives outside the app, so a test can stop the HTTP server and serve
``create_app(state)`` again on the same port with the same members, batches, log and faults.

Control endpoints (not part of the real API; same Basic auth; never subject to faults or the connection
limit):

* ``GET /_fake/log?list_id=&subscriber_hash=&since=`` -> every state-changing member request that reached the
  API (PUT, PATCH, DELETE, POST add, delete-permanent, tags; refused ones included, with their
  ``status_code``), in order: ``[{"seq", "method", "path", "list_id", "subscriber_hash", "status_before",
  "status_after", "request_id", "status_code", "batch_id"}]``. Statuses are ``null`` for an absent member.
  ``request_id`` is the request's ``X-Request-Id`` header (else a fresh uuid); for a batch operation it is
  the ``operation_id`` (else a fresh uuid). Requests answered by an injected fault are not logged.
* ``GET /_fake/members?list_id=`` -> the full current member records (archived included, forgotten not).
* ``POST /_fake/faults`` sets the faults as a whole (``{}`` resets), ``GET /_fake/faults`` reads them:
  ``{"down": bool, "server_errors": k, "rate_limit": k, "retry_after": s | null, "delay_ms": ms,
  "fail_every": k, "max_concurrent": n | null}`` (see :class:`Faults`).
* ``GET /_fake/stats`` -> request counters, the highest concurrency seen, member and batch counts, faults.

Run it: ``python -m fakes.mailchimp --port 8030 --lists hub-a,hub-b``.
"""

from fakes.mailchimp.app import create_app
from fakes.mailchimp.runner import main
from fakes.mailchimp.world import (
    DEFAULT_API_KEY,
    ERROR_TYPE,
    MEMBER_STATUSES,
    Faults,
    MailchimpState,
    Problem,
    parse_faults,
    subscriber_hash,
)

__all__ = [
    "DEFAULT_API_KEY",
    "ERROR_TYPE",
    "MEMBER_STATUSES",
    "Faults",
    "MailchimpState",
    "Problem",
    "create_app",
    "main",
    "parse_faults",
    "subscriber_hash",
]
