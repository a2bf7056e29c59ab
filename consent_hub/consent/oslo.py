"""OSLO Toestemming (Flemish consent vocabulary) JSON-LD, with W3C DPV purpose and legal-basis
terms. Status codes from the ToestemmingStatus code list: toegelaten / geweigerd / nietGekend."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from consent_hub.consent.catalogue import Catalogue
from consent_hub.consent.states import StateView

TOESTEMMING = "https://data.vlaanderen.be/ns/toestemming#"
STATUS_SCHEME = "https://data.vlaanderen.be/id/concept/ToestemmingStatus/"
CONTEXT: dict[str, Any] = {
    "toestemming": TOESTEMMING,
    "dpv": "https://w3id.org/dpv#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dct": "http://purl.org/dc/terms/",
    "schema": "http://schema.org/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "gegevenOp": {"@id": "toestemming:gegevenOp", "@type": "xsd:date"},
    "vervalt": {"@id": "schema:expires", "@type": "xsd:date"},
}
CHANNEL = "https://data.vlaanderen.be/id/concept/Contactkanaal/"


def purpose_iri(key: str) -> str:
    return f"urn:consent-hub:purpose:{key}"


def to_jsonld(cluster: str, person_id: uuid.UUID, states: Sequence[StateView], catalogue: Catalogue) -> dict[str, Any]:
    graph: list[dict[str, Any]] = []
    used: dict[str, dict[str, Any]] = {}
    for view in states:
        s = view.state
        purpose = catalogue.get(s.purpose)
        activity_id = f"{purpose_iri(purpose.key)}:{s.target_kind}:{s.target_ref}"
        if activity_id not in used:
            used[activity_id] = {
                "@id": activity_id,
                "@type": "toestemming:Verwerkingsactiviteit",
                "rdfs:label": f"{purpose.texts['nl'].title} ({s.target_kind} {s.target_ref})",
                "toestemming:toestemmingsvraag": purpose.texts["nl"].notice,
                "dct:type": {"@id": purpose.dpv.purpose, "@type": "skos:Concept"},
                "toestemming:verwerkingsgrond": {"@id": purpose.dpv.legal_basis, "@type": "skos:Concept"},
                "toestemming:contactkanaal": [
                    {"@id": f"{CHANNEL}{c}", "@type": "skos:Concept"} for c in (purpose.channels or ("geen",))
                ],
                "dpv:hasPurpose": {"@id": purpose.dpv.purpose},
                "dpv:hasLegalBasis": {"@id": purpose.dpv.legal_basis},
            }
        consent: dict[str, Any] = {
            "@id": f"urn:uuid:{s.event_id}",
            "@type": ["toestemming:Toestemming", "dpv:ConsentRecord"],
            "toestemming:gegevenVoor": {"@id": activity_id},
            "toestemming:contactkanaal": {
                "@id": f"{CHANNEL}{purpose.channels[0] if purpose.channels else 'geen'}",
                "@type": "skos:Concept",
            },
            "gegevenOp": s.given_at.date().isoformat(),
            "toestemming:status": {"@id": f"{STATUS_SCHEME}{view.oslo_status}", "@type": "skos:Concept"},
            "dpv:hasDataSubject": {"@id": f"urn:consent-hub:{cluster}:person:{person_id}"},
        }
        if s.expires_at is not None:
            consent["vervalt"] = s.expires_at.date().isoformat()
        graph.append(consent)
    return {"@context": CONTEXT, "@graph": [*used.values(), *graph]}
