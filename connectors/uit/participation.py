"""The participation export for the UiT exchange platform (UiTwisselingsplatform, UWP) as RDF (Turtle), in
OSLO Cultuurparticipatie as the platform adapts it (the SHACL shapes and code lists copied under
``policies/schemas/oslo-cultuurparticipatie/``).

What leaves the hub, per person whose ``audience-research`` consent names ``uit-platform`` and who attended
something in the period (``consent_hub.exchange.service.ParticipationService``):

* a ``cp:Participant`` named by the export's pseudonym (an HMAC keyed per export: two exports cannot be
  joined on it), carrying only ``platform:geboortejaar`` (``xsd:gYear``) and ``platform:statistischeSectorId``
  / ``platform:statistischeSectorNaam``, plus the identifier and processing time the platform's shapes require;
* a ``cp:ParticipantProfiel`` of that participant (as the platform's demo data product builds it): the
  general characteristic ``ParticipantType/natuurlijkPersoon``, the same birth year and sector as
  socio-demographic characteristic, and the UWP ``ActiviteitType`` of what they attended;
* one ``cp:Deelname`` per event attended (several ticket lines for one event are one participation), linking
  the participant, the event and the event's start (``m8g:PeriodOfTime``), typed ``DeelnameType/toeschouwer``
  (configurable);
* each event once as ``crm:E7_Activity`` under the hub's own event reference (never an engine id): its
  title, its UWP ``ActiviteitType`` (the UiT ``eventtype`` term mapped through the code list's
  ``owl:sameAs``), its start and the house.

No name, e-mail address, street, postal code, phone, engine id or hub person id is written.

The statistical sector: a real deployment geocodes the buyer's full address to the Statbel statistical
sector it lies in. The hub exports only the postal code to this module, and this module maps it through
``SECTORS``, a small table of **fictional but plausibly shaped** sector ids and names for the postal codes the
fake engines use (a whole postal code is not one sector; the ids are not checked against Statbel and must not
be used for analysis). A postal code without an entry (any other code, a Dutch or French one) gets no
sector: the two sector properties are then omitted, never guessed.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from rdflib import OWL, RDF, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, SKOS

from consent_hub.actors import Actor
from consent_hub.clusters import ClusterRegistry
from consent_hub.consent.catalogue import POLICIES_DIR
from consent_hub.exchange.service import Attendance, ParticipationExport, ParticipationService

SCHEMAS_DIR: Final = POLICIES_DIR / "schemas" / "oslo-cultuurparticipatie"
SHAPES_FILE: Final = SCHEMAS_DIR / "cultuurparticipatie_shacl_uwp.ttl"
ACTIVITEITTYPE_FILE: Final = SCHEMAS_DIR / "Activiteittype.ttl"

CP = Namespace("https://data.vlaanderen.be/ns/cultuurparticipatie#")
PLATFORM = Namespace("https://data.uitwisselingsplatform.be/ns/platform#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
GENERIEK = Namespace("https://data.vlaanderen.be/ns/generiek#")
M8G = Namespace("http://data.europa.eu/m8g/")
CRM = Namespace("http://www.cidoc-crm.org/cidoc-crm/")
CONCEPT = "https://data.cultuurparticipatie.be/id/concept/"
UIT_TERM = "https://taxonomy.uitdatabank.be/terms/"
DEELNAME_TYPES: Final = ("bezoeker", "toeschouwer")
NATUURLIJK_PERSOON: Final = URIRef(f"{CONCEPT}ParticipantType/natuurlijkPersoon")

# Postal code -> (statistical sector id, name). FICTIONAL but plausibly shaped (NIS municipality code, a sector
# letter and digits, as in the platform's example ``24062A00`` / ``LEUVEN-CENTRUM``); see the module docstring.
SECTORS: dict[str, tuple[str, str]] = {
    "1000": ("21004A00", "BRUSSEL-CENTRUM"),
    "2000": ("11002A00", "ANTWERPEN-CENTRUM"),
    "2800": ("12025A00", "MECHELEN-CENTRUM"),
    "3000": ("24062A00", "LEUVEN-CENTRUM"),
    "3500": ("71022A00", "HASSELT-CENTRUM"),
    "4000": ("62063A00", "LIÈGE-CENTRE"),
    "5000": ("92094A00", "NAMUR-CENTRE"),
    "8000": ("31005A00", "BRUGGE-CENTRUM"),
    "8400": ("35013A00", "OOSTENDE-CENTRUM"),
    "8500": ("34022A00", "KORTRIJK-CENTRUM"),
    "8510": ("34022F10", "MARKE-DORP"),
    "8520": ("34023A00", "KUURNE-CENTRUM"),
    "8530": ("34013A00", "HARELBEKE-CENTRUM"),
    "8540": ("34009A00", "DEERLIJK-CENTRUM"),
    "8550": ("34042A00", "ZWEVEGEM-CENTRUM"),
    "8560": ("34041A00", "WEVELGEM-CENTRUM"),
    "8570": ("34002A00", "ANZEGEM-CENTRUM"),
    "8600": ("32003A00", "DIKSMUIDE-CENTRUM"),
    "8700": ("37015A00", "TIELT-CENTRUM"),
    "8790": ("34040A00", "WAREGEM-CENTRUM"),
    "8800": ("36015A00", "ROESELARE-CENTRUM"),
    "8900": ("33011A00", "IEPER-CENTRUM"),
    "9000": ("44021A00", "GENT-CENTRUM"),
    "9100": ("46021A00", "SINT-NIKLAAS-CENTRUM"),
    "9300": ("41002A00", "AALST-CENTRUM"),
}


def statistical_sector(postal_code: str | None) -> tuple[str, str] | None:
    """The (fictional) sector for a Belgian postal code from ``SECTORS``; None without an entry."""
    if postal_code is None:
        return None
    return SECTORS.get(postal_code.strip())


@functools.cache
def activity_types() -> dict[str, URIRef]:
    """UiT ``eventtype`` term id -> UWP ``ActiviteitType`` concept, from the code list's ``owl:sameAs``."""
    graph = Graph().parse(ACTIVITEITTYPE_FILE, format="turtle")
    out: dict[str, URIRef] = {}
    for concept, same in graph.subject_objects(OWL.sameAs):
        if isinstance(concept, URIRef) and str(same).startswith(UIT_TERM):
            out[str(same).removeprefix(UIT_TERM)] = concept
    return out


@dataclass(frozen=True)
class ExportSummary:
    export_id: str
    created_at: dt.datetime
    participants: int  # written (consenting people with at least one participation)
    participations: int
    activities: int
    with_birth_year: int
    with_sector: int
    sector_unknown: int  # had a postal code the sector table does not know: no sector written
    consenting_without_participation: int  # consenting, but nothing attended in the period: not written
    attendances_without_time: int  # the event has no start time: no participation written


@dataclass(frozen=True)
class Vocabulary:
    base: str  # no trailing slash
    issuer: URIRef  # dct:creator of the identifiers (the OVO IRI of the issuing organisation)
    source: URIRef  # platform:bron (the data product)
    deelname_type: URIRef

    def participant(self, pseudonym: str) -> URIRef:
        return URIRef(f"{self.base}/id/participant/{pseudonym}")

    def profile(self, pseudonym: str) -> URIRef:
        return URIRef(f"{self.base}/id/participantprofiel/{pseudonym}")

    def participation(self, pseudonym: str, n: int) -> URIRef:
        return URIRef(f"{self.base}/id/deelname/{pseudonym}-{n}")

    def activity(self, event_ref: str) -> URIRef:
        return URIRef(f"{self.base}/id/activiteit/{event_ref}")

    def house(self, slug: str) -> URIRef:
        return URIRef(f"{self.base}/id/organisator/{slug}")


def vocabulary(
    base_iri: str, *, issuer_iri: str | None = None, source_iri: str | None = None, deelname_type: str = "toeschouwer"
) -> Vocabulary:
    base = base_iri.rstrip("/")
    if not re.fullmatch(r"https?://[^\s/#?]+(/[^\s#?]*)?", base):
        raise ValueError("base_iri must be an http(s) IRI without query or fragment")
    if deelname_type not in DEELNAME_TYPES:
        raise ValueError(f"deelname_type must be one of {DEELNAME_TYPES}")
    return Vocabulary(
        base=base,
        issuer=URIRef(issuer_iri or f"{base}/id/organisatie/consent-hub"),
        source=URIRef(source_iri or f"{base}/id/dataproduct/consent-hub-participatie"),
        deelname_type=URIRef(f"{CONCEPT}DeelnameType/{deelname_type}"),
    )


def _moment(value: dt.datetime) -> Literal:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return Literal(aware.astimezone(dt.UTC).replace(microsecond=0), datatype=XSD.dateTime)


def _identify(graph: Graph, voc: Vocabulary, subject: URIRef, namespace: str, local: str, processed: Literal) -> None:
    """The identifier and processing time every platform entity carries (``adms:identifier``,
    ``platform:verwerktOp``)."""
    identifier = URIRef(f"{subject}#identifier")
    structured = URIRef(f"{subject}#gestructureerdeIdentificator")
    graph.add((subject, ADMS.identifier, identifier))
    graph.add((subject, PLATFORM.verwerktOp, processed))
    graph.add((identifier, RDF.type, ADMS.Identifier))
    graph.add((identifier, SKOS.notation, Literal(str(subject), datatype=XSD.anyURI)))
    graph.add((identifier, DCTERMS.creator, voc.issuer))
    graph.add((identifier, PLATFORM.bron, voc.source))
    graph.add((identifier, GENERIEK.gestructureerdeIdentificator, structured))
    graph.add((structured, RDF.type, GENERIEK.GestructureerdeIdentificator))
    graph.add((structured, GENERIEK.naamruimte, Literal(namespace, datatype=XSD.string)))
    graph.add((structured, GENERIEK.lokaleIdentificator, Literal(local, datatype=XSD.string)))


def _participations(attendances: Sequence[Attendance]) -> tuple[list[Attendance], int]:
    """One participation per event (the earliest ticket line), in start order; and how many lines had no
    start time."""
    first: dict[str, Attendance] = {}
    untimed = 0
    for a in attendances:
        if a.starts_at is None:
            untimed += 1
            continue
        if a.event_ref not in first or a.bought_at < first[a.event_ref].bought_at:
            first[a.event_ref] = a
    ordered = sorted(first.values(), key=lambda a: (a.starts_at or dt.datetime.min.replace(tzinfo=dt.UTC), a.event_ref))
    return ordered, untimed


def participation_graph(export: ParticipationExport, voc: Vocabulary) -> tuple[Graph, ExportSummary]:
    """The export as an RDF graph (nothing is read from the hub here)."""
    graph = _bound_graph()
    processed = _moment(export.created_at)
    types = activity_types()
    activities: set[str] = set()
    written = participations = with_year = with_sector = unknown_sector = idle = untimed_total = 0

    for person in export.participants:
        attended, untimed = _participations(person.attendances)
        untimed_total += untimed
        if not attended:
            idle += 1
            continue
        written += 1
        nodes = _add_participant(graph, voc, person.pseudonym, processed)
        if _add_birth_year(graph, nodes, person.birth_year):
            with_year += 1
        if _add_sector(graph, nodes, person.postal_code):
            with_sector += 1
        elif person.postal_code:
            unknown_sector += 1

        for n, attendance in enumerate(attended, start=1):
            assert attendance.starts_at is not None
            activity = voc.activity(attendance.event_ref)
            concept = types.get(attendance.uit_event_type or "")
            if concept is not None:
                graph.add((nodes.cultural, CP["Cultuurdeelname.typeActiviteit"], concept))
            if attendance.event_ref not in activities:
                activities.add(attendance.event_ref)
                _add_activity(graph, voc, activity, attendance, concept, processed)
            _add_participation(graph, voc, nodes, n, activity, attendance.starts_at)
            participations += 1

    summary = ExportSummary(
        export_id=export.export_id,
        created_at=export.created_at,
        participants=written,
        participations=participations,
        activities=len(activities),
        with_birth_year=with_year,
        with_sector=with_sector,
        sector_unknown=unknown_sector,
        consenting_without_participation=idle,
        attendances_without_time=untimed_total,
    )
    return graph, summary


@dataclass(frozen=True)
class _ParticipantNodes:
    pseudonym: str
    participant: URIRef
    profile: URIRef
    socio: URIRef  # the profile's socio-demographic characteristic
    cultural: URIRef  # the profile's cultural participation


def _bound_graph() -> Graph:
    graph = Graph()
    for prefix, ns in (
        ("cp", CP),
        ("platform", PLATFORM),
        ("adms", ADMS),
        ("generiek", GENERIEK),
        ("m8g", M8G),
        ("crm", CRM),
        ("dct", DCTERMS),
        ("skos", SKOS),
    ):
        graph.bind(prefix, ns)
    return graph


def _add_participant(graph: Graph, voc: Vocabulary, pseudonym: str, processed: Literal) -> _ParticipantNodes:
    """The participant and its profile with the profile's three characteristics."""
    participant = voc.participant(pseudonym)
    graph.add((participant, RDF.type, CP.Participant))
    _identify(graph, voc, participant, f"{voc.base}/id/participant/", pseudonym, processed)

    profile = voc.profile(pseudonym)
    general, socio, cultural = (URIRef(f"{profile}#{part}") for part in ("algemeen", "sociodemografisch", "cultureel"))
    graph.add((profile, RDF.type, CP.ParticipantProfiel))
    graph.add((profile, CP["ParticipantProfiel.persoonlijkProfielVan"], participant))
    graph.add((profile, CP["ParticipantProfiel.algemeenKenmerk"], general))
    graph.add((profile, CP["ParticipantProfiel.sociodemografisch"], socio))
    graph.add((profile, CP["ParticipantProfiel.cultureel"], cultural))
    # the profile's property names the class with a capital K, the shape of that class targets a lower-case
    # k (noted in the UWP shapes file): typed both ways so that both constraints apply
    graph.add((general, RDF.type, CP.AlgemeenParticipantKenmerk))
    graph.add((general, RDF.type, CP.AlgemeenParticipantkenmerk))
    graph.add((general, DCTERMS.type, NATUURLIJK_PERSOON))
    graph.add((socio, RDF.type, CP.SociodemografischKenmerk))
    graph.add((cultural, RDF.type, CP.Cultuurdeelname))
    return _ParticipantNodes(pseudonym, participant, profile, socio, cultural)


def _add_birth_year(graph: Graph, nodes: _ParticipantNodes, birth_year: int | None) -> bool:
    if birth_year is None:
        return False
    year = Literal(f"{birth_year:04d}", datatype=XSD.gYear)
    for node in (nodes.participant, nodes.socio):
        graph.add((node, PLATFORM.geboortejaar, year))
    return True


def _add_sector(graph: Graph, nodes: _ParticipantNodes, postal_code: str | None) -> bool:
    """The statistical sector of the postal code, when the table knows one (never guessed)."""
    sector = statistical_sector(postal_code)
    if sector is None:
        return False
    for node in (nodes.participant, nodes.socio):
        graph.add((node, PLATFORM.statistischeSectorId, Literal(sector[0], datatype=XSD.string)))
        graph.add((node, PLATFORM.statistischeSectorNaam, Literal(sector[1], datatype=XSD.string)))
    return True


def _add_activity(
    graph: Graph, voc: Vocabulary, activity: URIRef, attendance: Attendance, concept: URIRef | None, processed: Literal
) -> None:
    """An event, written once per export however many participants attended it."""
    assert attendance.starts_at is not None
    graph.add((activity, RDF.type, CRM.E7_Activity))
    _identify(graph, voc, activity, f"{voc.base}/id/activiteit/", attendance.event_ref, processed)
    graph.add((activity, DCTERMS.title, Literal(attendance.event_title, lang="nl")))
    if concept is not None:
        graph.add((activity, DCTERMS.type, concept))
    span = URIRef(f"{activity}#periode")
    graph.add((activity, CRM["P4_has_time-span"], span))
    graph.add((span, RDF.type, M8G.PeriodOfTime))
    graph.add((span, M8G.startTime, _moment(attendance.starts_at)))
    graph.add((activity, CRM.P14_carried_out_by, voc.house(attendance.house)))


def _add_participation(
    graph: Graph, voc: Vocabulary, nodes: _ParticipantNodes, n: int, activity: URIRef, starts_at: dt.datetime
) -> None:
    """The participant's n-th participation: in the activity, at its start, as input for the profile."""
    participation = voc.participation(nodes.pseudonym, n)
    moment = URIRef(f"{participation}#tijdstip")
    graph.add((participation, RDF.type, CP.Deelname))
    graph.add((participation, CP["Deelname.participant"], nodes.participant))
    graph.add((participation, CP["Deelname.activiteit"], activity))
    graph.add((participation, CP["Deelname.tijdstip"], moment))
    graph.add((participation, CP["Deelname.inputVoor"], nodes.profile))
    graph.add((participation, DCTERMS.type, voc.deelname_type))
    graph.add((moment, RDF.type, M8G.PeriodOfTime))
    graph.add((moment, M8G.startTime, _moment(starts_at)))


def export_participation(
    registry: ClusterRegistry,
    cluster: str,
    *,
    base_iri: str,
    since: dt.datetime | None = None,
    recipient: str = "uit-platform",
    purpose: str = "audience-research",
    issuer_iri: str | None = None,
    source_iri: str | None = None,
    deelname_type: str = "toeschouwer",
    actor: Actor | None = None,
) -> tuple[str, ExportSummary]:
    """Run the hub's participation export (one unit of work: the consent check, the audited read and the
    ``exchange.export`` audit entry commit together) and return it as Turtle with a summary.

    ``issuer_iri`` is the ``dct:creator`` of the identifiers (a real deployment uses the OVO IRI of the
    organisation, ``https://data.vlaanderen.be/id/organisatie/OVO...``) and ``source_iri`` the data product
    (``platform:bron``); both default to IRIs under ``base_iri``.
    """
    voc = vocabulary(base_iri, issuer_iri=issuer_iri, source_iri=source_iri, deelname_type=deelname_type)
    actor = actor or Actor.system(cluster, "uit-exchange")
    with registry.unit_of_work(cluster) as uow:
        export = ParticipationService(uow).export(actor, recipient=recipient, purpose=purpose, since=since)
    graph, summary = participation_graph(export, voc)
    return graph.serialize(format="turtle"), summary


def shapes_path() -> Path:
    """The platform's SHACL shapes the export is validated against (tests, or an operator with pyshacl)."""
    return SHAPES_FILE
