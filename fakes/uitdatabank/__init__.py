"""A fake of the UiTdatabank Search API v3 (``https://search.uitdatabank.be``) with seeded, fictional events.

It serves ``GET /events`` the way publiq documents it (the OpenAPI file ``search.json`` and the JSON Schemas
``models/event*.json`` of ``cultuurnet/apidocs``; field names are theirs) for the one use the hub has for it:
looking up which UiT event type (``terms[]`` of domain ``eventtype``) a house gave a performance it also sells
through the ticketing engine. The catalogue is built from ``(organizer id, title, start)`` seeds chosen by the
caller (so a test can mirror some of the fake Tixly's events) plus unrelated events; every name, organizer and
place is invented. Term ids and labels come from the real UiT taxonomy as published in the UWP code lists
(``Activiteittype``/``ThemaType``, ``owl:sameAs`` to ``https://taxonomy.uitdatabank.be/terms/<id>``).

Behaviour of the real API that the fake keeps on purpose:

* Authentication by API key, as an ``x-api-key`` header or an ``apiKey`` query parameter (optionally a client
  id as ``x-client-id`` / ``clientId``). A missing or wrong key is HTTP 401 with an
  ``application/problem+json`` body of type ``https://api.publiq.be/probs/auth/unauthorized``.
* Paging with ``start`` (0..10000) and ``limit`` (0..2000, default 30); the envelope is
  ``{"@context": "http://www.w3.org/ns/hydra/context.jsonld", "@type": "PagedCollection", "itemsPerPage",
  "totalItems", "member"}``. A value out of range is HTTP 404 of type ``https://api.publiq.be/probs/url/not-found``
  with the documented detail (``The "start" parameter should be between 0 and 10000``); so is any other
  invalid query value, as the reference's ``NotFound`` response describes.
* Without ``embed=true`` a member is only ``{"@id", "@type": "Event"}``.
* Default filters: only ``workflowStatus`` ``READY_FOR_VALIDATION``/``APPROVED``, only events available now
  (``availableFrom <= now <= availableTo``; an event stops being available at its end), only ``audienceType``
  ``everyone``. ``availableFrom=*``, ``availableTo=*``, ``workflowStatus=*``, ``audienceType=*`` or
  ``disableDefaultFilters=true`` lift them: a client looking for past performances has to.
* ``dateFrom`` / ``dateTo``: events happening at some point in the window (any overlap of a sub-event, of a
  periodic event's period); permanent events always match. A ``+`` of an offset that arrived unencoded (as a
  space) makes the date-time invalid, as the documentation warns.
* A production with several performances is usually one event with ``calendarType: multiple`` and one
  ``subEvent`` per performance (``startDate``/``endDate`` span them all); the fake groups seeds with the same
  organizer and title less than 15 days apart that way. Dates carry the Brussels offset
  (``2025-03-02T20:00:00+01:00``).
* Houses type their UiT titles by hand: letter case, dashes and spacing may differ from the engine's title, and
  the listed start is sometimes the door time (30 minutes early). A house sometimes re-enters an event: the old
  copy stays as ``workflowStatus: DELETED``, with another type. A touring title can be listed by another
  organizer on the same day, with another type.
* ``q``: a small subset of the Lucene syntax only: clauses ``field:value`` or ``field:"a phrase"`` joined by
  whitespace or ``AND``, each optionally preceded by ``NOT``; fields ``id``, ``name.<lang>`` (``name.\\*``),
  ``terms.id``, ``organizer.id``, ``calendarType``, ``workflowStatus``; a trailing ``*`` matches a prefix.
  Anything else (``OR``, brackets, ranges) is answered with 404 (``not supported by the fake``).
* Also: ``organizerId``, ``id``, ``termIds[]``, ``calendarType``, ``workflowStatus`` (comma-separated),
  ``sort[created]`` / ``sort[modified]``. Other parameters are ignored. The default order is stable (creation,
  then id); the real default order is by relevance, so a client that pages should sort explicitly.

Control endpoints (not part of the real API; same key): ``POST /_fake/faults`` injects 429s (``rate_limit``,
``retry_after``) and 5xxs (``server_errors``), ``GET /_fake/stats`` counts requests.

Run it: ``python -m fakes.uitdatabank --port 8020``.
"""

from fakes.uitdatabank.app import create_app
from fakes.uitdatabank.runner import main
from fakes.uitdatabank.world import (
    DEFAULT_API_KEY,
    EVENTTYPES,
    THEMES,
    BadQuery,
    Seed,
    UitCatalogue,
    UitEvent,
    build_catalogue,
    event_iri,
    organizer_iri,
)

__all__ = [
    "DEFAULT_API_KEY",
    "EVENTTYPES",
    "THEMES",
    "BadQuery",
    "Seed",
    "UitCatalogue",
    "UitEvent",
    "build_catalogue",
    "create_app",
    "event_iri",
    "main",
    "organizer_iri",
]
