"""The fake Tixly's world: seeded fictional organisations, customers, events and sales, their JSON shapes,
and advance (the changes a running engine makes)."""

from __future__ import annotations

import math
import random
import re
import threading
import time
import unicodedata
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

DEFAULT_TOKEN = "tixly-demo-token"  # noqa: S105 - the fake's documented demo token
DENIED = "Authorization has been denied for this request."

ORGANISATIONS: list[tuple[int, str]] = [
    (1001, "Schouwburg aan de Leie"),
    (1002, "Concertzaal De IJzer"),
    (1003, "Theater Vlasmarkt"),
    (1004, "Cultuurcentrum De Brug"),
    (1005, "Danshuis Mandel"),
    (1006, "Jeugdtheater Pluim"),
    (1007, "Festival Zomerleie"),
    (1008, "Muziekclub Kanaal"),
]

CATEGORIES: dict[int, str] = {
    1: "Theater",
    2: "Dans",
    3: "Muziek",
    4: "Concert",
    5: "Klassiek",
    6: "Jazz",
    7: "Comedy",
    8: "Familie",
    9: "Jeugd",
    10: "Circus",
}

DUO_MEMBERSHIP_ID = 9001
FRIENDS_MEMBERSHIP_ID = 9002
EXTERNAL_PROMOTER = (7001, "Productiehuis Noorderlicht")

# Ticket types: id -> (name, price factor). DUO tickets belong to the joint subscription.
TICKET_TYPES: dict[int, tuple[str, float]] = {
    1: ("Volw.", 1.0),
    2: ("-26", 0.6),
    3: ("65+", 0.85),
    4: ("Groep", 0.8),
    5: ("Vrijkaart", 0.0),
    6: ("DUO", 0.0),
}
_TT_IDS = (1, 2, 3, 4, 5)
_TT_WEIGHTS = (62, 12, 16, 6, 4)
PRICE_ZONES: dict[int, tuple[str, float]] = {
    1: ("Rang 1", 1.0),
    2: ("Rang 2", 0.85),
    3: ("Rang 3", 0.7),
    4: ("Vrije plaatsing", 1.0),
}
ENTRANCES = {"Parterre": "Ingang A", "Balkon": "Ingang B", "Staanplaatsen": "Hoofdingang"}

MS_MINUTE = 60_000
MS_HOUR = 3_600_000
MS_DAY = 86_400_000
HISTORY_DAYS = 730
FUTURE_DAYS = 120

# organisation -> (weight, halls (number, name, capacity, seated), categories, base price range in euro)
_Hall = tuple[int, str, int, bool]
_ORG_PROFILES: dict[int, tuple[float, tuple[_Hall, ...], tuple[int, ...], tuple[int, int]]] = {
    1001: (1.4, ((1, "Grote zaal", 750, True), (2, "Kleine zaal", 220, True)), (1, 2, 7, 8), (18, 36)),
    1002: (1.2, ((1, "Concertzaal", 900, True), (2, "Kamermuziekzaal", 180, True)), (5, 6, 3, 4), (16, 42)),
    1003: (0.8, ((1, "Zaal", 320, True),), (1, 7), (15, 28)),
    1004: (1.0, ((1, "Theaterzaal", 500, True), (2, "Foyer", 120, False)), (1, 3, 7, 8, 2), (12, 30)),
    1005: (0.5, ((1, "Studio 1", 200, True),), (2,), (14, 26)),
    1006: (0.6, ((1, "Zaal Pluim", 250, True),), (8, 9, 10), (8, 14)),
    1007: (0.9, ((1, "Festivalweide", 3000, False), (2, "Circustent", 600, False)), (4, 3, 10), (35, 65)),
    1008: (0.8, ((1, "Club", 450, False),), (4, 6, 3), (14, 28)),
}

# fmt: off
_TITLES_THEATRE = (
    "Het Stille Huis", "De Laatste Veerman", "Avond aan het Water", "Moeder Leie", "Vlas", "Het Gouden Uur",
    "Wolkenkrabbers", "De Zoutvaart", "Kamers zonder Deur", "Brieven aan Mariette", "Wintervlinder",
    "Het Verloren Veld", "De Kraai en de Molen", "Wachten op Warre",
)
_TITLES_COMEDY = ("Lachen met Lieven", "Zonder Filter", "Alles Komt Goed", "Praatjesmaker", "Half Vol, Half Leeg")
_TITLES_DANCE = ("Stroming", "Aarde/Adem", "Zeven Bewegingen", "Tegenwind", "Lijnen in het Zand", "Nachtvlucht")
_ENSEMBLES = (
    "Kwartet Noordwind", "Ensemble Lisdodde", "Trio Vlasbloem", "Leie Kamerorkest", "Koor Scheldezang",
    "Duo Wilgenhout",
)
_PROGRAMMES = ("Schubert & Ysaÿe", "Avondmuziek", "Barok aan de Leie", "Brahms en Benoit", "Nieuwe Vlaamse Muziek")
_BANDS = (
    "De Kraaiennesten", "Mira Valck", "Jules & de Nachtegalen", "Big Band Kanaal", "Sofie Raes Trio", "Kompas",
    "De Polderpoëten", "Nachtlicht", "Wout Vermeire Kwintet",
)
_TOURS = ("Clubtour", "Live", "Albumvoorstelling", "Zomeravond", "Unplugged")
_TITLES_FAMILY = ("Pluim en de Wolk", "De Reus van de Markt", "Kapitein Kaas", "Mo en het Maanlicht", "Boem Bam Bas")
_TITLES_CIRCUS = ("Circus Tuimel", "Hoog in de Nok", "De Vliegende Vandammes", "Touw en Trapeze")

_GIVEN_F = (
    "Anouk", "Lotte", "Emma", "Marie", "Julie", "Lien", "Sofie", "Hanne", "Elke", "Katrien", "An", "Els", "Griet",
    "Ine", "Femke", "Nele", "Fien", "Louise", "Zoë", "Chloë", "Amélie", "Renée", "Inès", "Marthe", "Jana", "Lore",
    "Veerle", "Leen", "Eline", "Margot", "Ilse", "Kaat", "Saar", "Roos", "Noor", "Mila", "Tine", "Jolien",
)
_GIVEN_M = (
    "Pieter", "Jan", "Wout", "Arne", "Bram", "Jonas", "Lucas", "Thomas", "Stijn", "Koen", "Bart", "Dries", "Joris",
    "Maarten", "Sander", "Tom", "Wim", "Geert", "Lieven", "Filip", "Jef", "Warre", "Seppe", "Lander", "Mathis",
    "Robbe", "Kobe", "Noah", "Vic", "Louis", "Dirk", "Luc", "Stefaan", "Frederik", "Hannes", "Tibo", "Ruben", "Ward",
)
_FAMILY: tuple[tuple[str | None, str], ...] = (
    (None, "Peeters"), (None, "Janssens"), (None, "Maes"), ("De", "Smet"), ("De", "Backer"), ("Van", "Damme"),
    ("Van den", "Bossche"), ("Van de", "Velde"), ("De", "Wilde"), (None, "Vandenberghe"), (None, "Verhaeghe"),
    (None, "Declercq"), (None, "D'Hondt"), ("Van", "Acker"), (None, "Claeys"), (None, "Goethals"), ("De", "Meyer"),
    (None, "Vermeulen"), (None, "Desmet"), ("Van", "Hecke"), (None, "Mertens"), (None, "Willems"), ("De", "Vos"),
    (None, "Lambrecht"), (None, "Coppens"), ("Van der", "Straeten"), (None, "Verstraete"), (None, "Deprez"),
    (None, "Vanhoutte"), (None, "Devos"), ("De", "Coninck"), (None, "Callewaert"), (None, "Dewitte"),
    (None, "Ghesquière"), (None, "Vercruysse"), ("Van", "Eeckhout"), (None, "Baert"), (None, "Ryckaert"),
)
_STREETS_BE = (
    "Leiestraat", "Kerkstraat", "Stationsstraat", "Molenstraat", "Kapelstraat", "Dorpsstraat", "Veldstraat",
    "Beekstraat", "Schoolstraat", "Nieuwstraat", "Lindelaan", "Populierenlaan", "Vlasbloemstraat", "Kanaalweg",
    "Korenbloemstraat", "Wilgenhof", "Meersstraat", "Hoogstraat", "Bosstraat", "Pastoriestraat",
)
_PLACES_BE = (
    ("8500", "Kortrijk"), ("8510", "Marke"), ("8520", "Kuurne"), ("8530", "Harelbeke"), ("8540", "Deerlijk"),
    ("8550", "Zwevegem"), ("8560", "Wevelgem"), ("8570", "Anzegem"), ("8790", "Waregem"), ("8800", "Roeselare"),
    ("8900", "Ieper"), ("8600", "Diksmuide"), ("8000", "Brugge"), ("9000", "Gent"), ("8700", "Tielt"),
)
_STREETS_NL = ("Dorpsstraat", "Markt", "Havenstraat", "Noordstraat")
_PLACES_NL = (("4501 AB", "Oostburg"), ("4531 HK", "Terneuzen"), ("4571 BC", "Axel"), ("4561 GD", "Hulst"))
_STREETS_FR = ("Rue de la Gare", "Rue Nationale", "Rue du Moulin", "Rue de l'Église")
_PLACES_FR = (("59200", "Tourcoing"), ("59100", "Roubaix"), ("59000", "Lille"), ("59250", "Halluin"))

# fmt: on

_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_ONE_US = timedelta(microseconds=1)
_TS_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$"
)


# --------------------------------------------------------------------------------------------------
# timestamps


def format_ts(ms: int) -> str:
    """Milliseconds since the epoch (UTC) -> ``2025-03-02T19:04:11.123`` (no zone, like Tixly)."""
    return (_EPOCH_NAIVE + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")


def _ms_of(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH_UTC) // _ONE_MS


def parse_ts(value: str) -> int:
    """Parse a query timestamp to milliseconds since the epoch, rounded up to a whole millisecond.

    Accepts ``2025-03-02T19:04:11.123`` (UTC), the same with ``Z`` or an offset such as ``+00:00``, and a
    plain date ``2025-03-01`` (midnight UTC). A ``+`` that arrived as a space (unencoded in a query
    string) is accepted too. Raises ``ValueError`` for anything else.
    """
    text = value.strip()
    if len(text) > 6 and text[-6] == " " and text[-5:-3].isdigit() and text[-3] == ":" and "T" in text:
        text = text[:-6] + "+" + text[-5:]
    if not _TS_RE.match(text):
        raise ValueError(value)
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    micros = (moment - _EPOCH_UTC) // _ONE_US
    return -(-micros // 1000)


# --------------------------------------------------------------------------------------------------
# records


@dataclass(slots=True)
class OptIn:
    permission_id: int
    opt_in: bool
    edited: int


@dataclass(slots=True)
class Customer:
    id: int
    title: str | None
    first_name: str
    prefix: str | None
    last_name: str
    birth: str | None
    gender: int
    street: str
    house_number: str
    house_ext: str | None
    address_two: str | None
    zip_code: str
    city: str
    country: str
    language_id: int
    email: str | None
    mobile: str | None
    created: int
    edited: int | None = None
    permissions: list[OptIn] = field(default_factory=list)

    @property
    def key(self) -> int:
        return self.created if self.edited is None else self.edited


@dataclass(slots=True)
class Event:
    id: int
    name: str
    start: int
    end: int
    org: int
    hall_id: int
    hall: str
    capacity: int
    seated: bool
    categories: tuple[int, ...]
    promoter_id: int
    promoter: str
    group_id: int
    group: str
    free: bool
    base_price: float
    created: int
    edited: int | None

    @property
    def key(self) -> int:
        return self.created if self.edited is None else self.edited


# (Created, SaleTicketId, TicketId, EventId, CustomerId, OrderId, TicketTypeId, SubscriptionTypeId, PriceZoneId,
#  Section, Row, Seat, TicketCount, Price, Fee, Online, Scanned)
SaleRow = tuple[
    int,
    int,
    int,
    int,
    int | None,
    int,
    int,
    int | None,
    int,
    str,
    str | None,
    str | None,
    int,
    float,
    float,
    bool,
    bool,
]
# (Created, Id, OrderMembershipId, OrderId, MembershipID, CustomerId, Price, isCancelled, OrganisationID,
#  RenewalType, Expires)
MembershipSaleRow = tuple[int, int, int, int, int, int, float, bool, int, str, int]

# the columns of a SaleRow that the app and the world read by position
S_CREATED: Final = 0
S_ID: Final = 1
S_TICKET: Final = 2
S_EVENT: Final = 3
S_CUSTOMER: Final = 4
S_SUB: Final = 7
S_COUNT: Final = 12


class BadRequest(Exception):
    """An invalid query or control request (answered with HTTP 400 and ``{"Message": ...}``)."""


# --------------------------------------------------------------------------------------------------
# helpers for generating people and lines


def _ascii_word(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if ch.isascii() and ch.isalnum()).lower()


def _email(first: str, prefix: str | None, last: str, number: int, style: int) -> str:
    local = f"{_ascii_word(first)}.{_ascii_word((prefix or '') + last)}.{number}"
    if style == 1:
        return ".".join(part.capitalize() for part in local.split(".")) + "@Example.org"
    if style == 2:
        return f"{local}@example.org".upper()
    return f"{local}@example.org"


def _other_case(email: str) -> str:
    """The same address in another letter case (what an engine duplicate looks like)."""
    low = email.lower()
    if email != low:
        return low
    local, _, domain = low.partition("@")
    return ".".join(part.capitalize() for part in local.split(".")) + "@" + domain.capitalize()


def _email_style(rng: random.Random) -> int:
    r = rng.random()
    return 0 if r < 0.88 else (1 if r < 0.98 else 2)


def _address(rng: random.Random, country: str) -> tuple[str, str, str | None, str, str]:
    if country == "NL":
        street, (zip_code, city) = rng.choice(_STREETS_NL), rng.choice(_PLACES_NL)
    elif country == "FR":
        street, (zip_code, city) = rng.choice(_STREETS_FR), rng.choice(_PLACES_FR)
    else:
        street, (zip_code, city) = rng.choice(_STREETS_BE), rng.choice(_PLACES_BE)
    number = str(rng.randint(1, 180))
    r = rng.random()
    ext = None if r < 0.8 else (f"bus {rng.randint(1, 12)}" if r < 0.93 else rng.choice("ABC"))
    return street, number, ext, zip_code, city


def _mobile(rng: random.Random) -> str:
    return f"+32 4{rng.randint(70, 99)} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"


def _new_person(rng: random.Random, customer_id: int, email_number: int, created: int) -> Customer:
    gender = 2 if rng.random() < 0.56 else 1
    if rng.random() < 0.04:
        gender = 0
    first = rng.choice(_GIVEN_M if gender == 1 else _GIVEN_F)
    prefix, last = rng.choice(_FAMILY)
    title = {1: "Dhr.", 2: "Mevr."}.get(gender) if rng.random() < 0.7 else None
    r = rng.random()
    country = "BE" if r < 0.94 else ("NL" if r < 0.98 else "FR")
    if country == "FR":
        language = 3
    else:
        r = rng.random()
        language = 1 if r < 0.9 else (2 if r < 0.95 else 3)
    street, number, ext, zip_code, city = _address(rng, country)
    birth = None
    if rng.random() < 0.7:
        birth = f"{rng.randint(1938, 2008):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00"
    email = None if rng.random() < 0.01 else _email(first, prefix, last, email_number, _email_style(rng))
    mobile = _mobile(rng) if rng.random() < 0.4 else None
    address_two = "p/a Administratie" if rng.random() < 0.01 else None
    return Customer(
        customer_id,
        title,
        first,
        prefix,
        last,
        birth,
        gender,
        street,
        number,
        ext,
        address_two,
        zip_code,
        city,
        country,
        language,
        email,
        mobile,
        created,
    )


def _address_one(c: Customer) -> str:
    if c.house_ext is None:
        return f"{c.street} {c.house_number}"
    if c.house_ext.startswith("bus"):
        return f"{c.street} {c.house_number} {c.house_ext}"
    return f"{c.street} {c.house_number}{c.house_ext}"


def _seat(rng: random.Random, event: Event) -> tuple[int, str, str | None, str | None]:
    """(PriceZoneId, Section, Row, Seat)."""
    if not event.seated:
        return 4, "Staanplaatsen", None, None
    section = "Parterre" if rng.random() < 0.7 else "Balkon"
    zone = rng.choice((1, 1, 2, 3)) if section == "Parterre" else rng.choice((2, 3))
    return zone, section, str(rng.randint(1, 22)), str(rng.randint(1, 30))


def _ticket_count(rng: random.Random) -> int:
    r = rng.random()
    return 1 if r < 0.45 else (2 if r < 0.85 else (3 if r < 0.93 else 4))


def _unit_price(event: Event, ticket_type: int, zone: int) -> float:
    factor = TICKET_TYPES[ticket_type][1] * PRICE_ZONES[zone][1]
    return math.floor(event.base_price * factor * 2 + 0.5) / 2


# --------------------------------------------------------------------------------------------------
# the world


class TixlyWorld:
    """All data of one fake Tixly instance. Reads and changes take ``lock`` (the app and an evolve task
    may run in different threads). Timestamps are integers: milliseconds since the epoch, UTC."""

    def __init__(self, seed: int, size_label: str, anchor: datetime, organisations: list[tuple[int, str]]) -> None:
        self.seed = seed
        self.size_label = size_label
        self.anchor = anchor
        self.anchor_ms = _ms_of(anchor)
        self.organisations = organisations
        self.lock = threading.RLock()
        self.customers: dict[int, Customer] = {}
        self.customer_ids: list[int] = []
        self.customer_index: list[tuple[int, int]] = []  # sorted (coalesce(Edited, Created), Id)
        self.events: list[Event] = []  # sorted by (key, Id)
        self.event_keys: list[tuple[int, int]] = []
        self.event_by_id: dict[int, Event] = {}
        self.events_by_org: dict[int, list[Event]] = {}  # sorted by start
        self.event_starts: dict[int, list[int]] = {}
        self.permissions: list[dict[str, Any]] = []
        self.memberships: list[dict[str, Any]] = []
        self.sales: list[SaleRow] = []  # sorted by (Created, SaleTicketId)
        self.sale_keys: list[int] = []
        self.returned_tickets: set[int] = set()
        self.sold: dict[int, int] = {}
        self.membership_sales: list[MembershipSaleRow] = []  # sorted by (Created, Id)
        self.membership_sale_keys: list[int] = []
        self.last_ms = self.anchor_ms - 1
        self.steps = 0
        self.next_customer_id = 100_001
        self.next_email_number = 100
        self.next_sale_id = 1_000_001
        self.next_ticket_id = 5_000_001
        self.next_order_id = 2_000_001
        self.next_membership_sale_id = 500_001
        self.next_membership_order_id = 8_000_001

    # ---- reading -------------------------------------------------------------------------------

    @property
    def org_ids(self) -> list[int]:
        return [org for org, _ in self.organisations]

    def org_name(self, org: int) -> str:
        return dict(self.organisations)[org]

    def customer_json(self, c: Customer, malformed: bool = False) -> dict[str, Any]:
        name = " ".join(part for part in (c.first_name, c.prefix, c.last_name) if part)
        out: dict[str, Any] = {
            "Id": c.id,
            "Title": c.title,
            "Name": name,
            "FirstName": c.first_name,
            "LastNamePrefix": c.prefix,
            "LastName": c.last_name,
            "DateOfBirth": c.birth,
            "Gender": c.gender,
            "AddressOne": _address_one(c),
            "AddressTwo": c.address_two,
            "ZipCode": c.zip_code,
            "City": c.city,
            "StreetName": c.street,
            "HouseNumber": c.house_number,
            "HouseExtension": c.house_ext,
            "Country": c.country,
            "LanguageId": c.language_id,
            "Email": c.email,
            "Mobile": c.mobile,
            "Created": format_ts(c.created),
            "Edited": None if c.edited is None else format_ts(c.edited),
            "Permissions": [
                {"PermissionId": p.permission_id, "OptIn": p.opt_in, "Edited": format_ts(p.edited)}
                for p in c.permissions
            ],
        }
        if malformed:
            out.update({"Email": "not-an-address", "DateOfBirth": "31-02-1990", "Created": "garbage"})
        return out

    def event_json(self, e: Event) -> dict[str, Any]:
        sold = self.sold.get(e.id, 0)
        status = 3 if e.start < self.anchor_ms else (2 if sold >= e.capacity else 1)
        return {
            "Id": e.id,
            "Name": e.name,
            "StartDate": format_ts(e.start),
            "EndDate": format_ts(e.end),
            "PromoterId": e.promoter_id,
            "Promoter": e.promoter,
            "HallId": e.hall_id,
            "Hall": e.hall,
            "Categories": [{"Id": cat, "Name": CATEGORIES[cat]} for cat in e.categories],
            "Sold": sold,
            "Capacity": e.capacity,
            "OrganisationId": e.org,
            "VenueId": 2000 + e.org % 1000,
            "Venue": self.org_name(e.org),
            "EventGroupId": e.group_id,
            "EventGroup": e.group,
            "IsFreeEvent": e.free,
            "SaleStatusId": status,
            "Created": format_ts(e.created),
            "Edited": None if e.edited is None else format_ts(e.edited),
        }

    def sale_json(self, r: SaleRow, malformed: bool = False) -> dict[str, Any]:
        (
            created,
            sale_id,
            ticket_id,
            event_id,
            customer_id,
            order_id,
            tt,
            sub,
            zone,
            section,
            row,
            seat,
            count,
            price,
            fee,
            online,
            scanned,
        ) = r
        org = self.event_by_id[event_id].org
        out: dict[str, Any] = {
            "SaleTicketId": sale_id,
            "TicketId": ticket_id,
            "EventId": event_id,
            "CustomerId": customer_id,
            "IsAnonymousSale": customer_id is None,
            "OrderId": order_id,
            "TicketTypeId": tt,
            "SubscriptionTypeId": sub,
            "TicketType": TICKET_TYPES[tt][0],
            "PriceZoneId": zone,
            "PriceZone": PRICE_ZONES[zone][0],
            "Section": section,
            "Row": row,
            "Seat": seat,
            "Entrance": ENTRANCES[section],
            "TicketCount": count,
            "Price": price,
            "Fee": fee,
            "Online": online,
            "Scanned": scanned,
            "SkinID": org % 1000,
            "OrganisationID": org,
            "Created": format_ts(created),
        }
        if malformed:
            out.update({"EventId": None, "TicketCount": "one"})
        return out

    @staticmethod
    def membership_sale_json(r: MembershipSaleRow) -> dict[str, Any]:
        created, sale_id, om_id, order_id, membership_id, customer_id, price, cancelled, org, renewal, expires = r
        return {
            "Id": sale_id,
            "OrderMembershipId": om_id,
            "OrderId": order_id,
            "MembershipID": membership_id,
            "CustomerId": customer_id,
            "Price": price,
            "isCancelled": cancelled,
            "SkinID": org % 1000,
            "OrganisationID": org,
            "RenewalType": renewal,
            "Created": format_ts(created),
            "Expires": format_ts(expires),
        }

    def customer_range(self, date_from: int | None) -> tuple[int, int]:
        lo = 0 if date_from is None else bisect_left(self.customer_index, (date_from, -1))
        return lo, len(self.customer_index)

    def event_range(self, date_from: int | None) -> tuple[int, int]:
        lo = 0 if date_from is None else bisect_left(self.event_keys, (date_from, -1))
        return lo, len(self.event_keys)

    @staticmethod
    def _window(keys: Sequence[int], sold_from: int | None, sold_to: int | None) -> tuple[int, int]:
        lo = 0 if sold_from is None else bisect_left(keys, sold_from)
        hi = len(keys) if sold_to is None else bisect_left(keys, sold_to)
        return lo, max(lo, hi)

    def sales_range(self, sold_from: int | None, sold_to: int | None) -> tuple[int, int]:
        return self._window(self.sale_keys, sold_from, sold_to)

    def membership_sales_range(self, sold_from: int | None, sold_to: int | None) -> tuple[int, int]:
        return self._window(self.membership_sale_keys, sold_from, sold_to)

    def truth(self) -> dict[str, Any]:
        """Ground truth for tests (everything is fictional, so nothing needs hiding)."""
        with self.lock:
            emails = [c.email.lower() for c in self.customers.values() if c.email]
            per_email = Counter(emails)
            per_org: Counter[int] = Counter()
            returns = anonymous = duo_lines = 0
            for r in self.sales:
                per_org[self.event_by_id[r[S_EVENT]].org] += 1
                if r[S_COUNT] < 0:
                    returns += 1
                if r[S_CUSTOMER] is None:
                    anonymous += 1
                if r[S_SUB] == DUO_MEMBERSHIP_ID:
                    duo_lines += 1
            duo = {m[5] for m in self.membership_sales if m[4] == DUO_MEMBERSHIP_ID and not m[7]}
            opted_in = sum(1 for c in self.customers.values() if any(p.opt_in for p in c.permissions))
            return {
                "seed": self.seed,
                "size": self.size_label,
                "anchor": format_ts(self.anchor_ms),
                "organisations": [{"Id": org, "Name": name} for org, name in self.organisations],
                "customers": len(self.customers),
                "customers_without_email": sum(1 for c in self.customers.values() if not c.email),
                "distinct_emails": len(per_email),
                "customers_sharing_an_email": sum(n for n in per_email.values() if n > 1),
                "customers_opted_in_somewhere": opted_in,
                "events": len(self.events),
                "ticket_lines": len(self.sales),
                "returns": returns,
                "anonymous_lines": anonymous,
                "lines_per_organisation": {str(org): per_org.get(org, 0) for org in self.org_ids},
                "duo_holders": len(duo),
                "duo_ticket_lines": duo_lines,
                "membership_sales": len(self.membership_sales),
                "advance_steps": self.steps,
            }

    # ---- changing ------------------------------------------------------------------------------

    def stamp(self) -> int:
        """A fresh change time: the real current UTC time, never before the anchor, strictly increasing."""
        now = time.time_ns() // 1_000_000
        self.last_ms = max(now, self.last_ms + 1, self.anchor_ms)
        return self.last_ms

    def _reindex(self, c: Customer, new_edited: int) -> None:
        old = (c.key, c.id)
        i = bisect_left(self.customer_index, old)
        if i < len(self.customer_index) and self.customer_index[i] == old:
            del self.customer_index[i]
        c.edited = new_edited
        insort(self.customer_index, (c.key, c.id))

    def _add_customer(self, c: Customer) -> None:
        self.customers[c.id] = c
        self.customer_ids.append(c.id)
        insort(self.customer_index, (c.key, c.id))

    def edit_customer(self, customer_id: int, rng: random.Random | None = None, at: int | None = None) -> str:
        """Change one field group of a customer (name, address, e-mail case, new e-mail, mobile) and set
        ``Edited``. Returns the kind of edit. Public so tests can provoke the paging hazard."""
        with self.lock:
            rng = rng or random.Random(self.seed * 7919 + customer_id)  # noqa: S311 - fake data
            at = self.stamp() if at is None else at
            c = self.customers[customer_id]
            kind = rng.choices(("name", "address", "email_case", "email_new", "mobile"), (15, 35, 20, 15, 15))[0]
            if kind == "name":
                c.prefix, c.last_name = rng.choice(_FAMILY)
            elif kind == "address":
                c.street, c.house_number, c.house_ext, c.zip_code, c.city = _address(rng, c.country)
            elif kind == "email_case" and c.email:
                c.email = _other_case(c.email)
            elif kind in ("email_case", "email_new"):
                kind = "email_new"
                self.next_email_number += 1
                c.email = _email(c.first_name, c.prefix, c.last_name, self.next_email_number, _email_style(rng))
            else:
                c.mobile = None if c.mobile and rng.random() < 0.2 else _mobile(rng)
            self._reindex(c, at)
            return kind

    def _change_permission(self, rng: random.Random, c: Customer, at: int) -> None:
        if c.permissions and rng.random() < 0.6:
            p = rng.choice(c.permissions)
            p.opt_in = not p.opt_in
            p.edited = at
        else:
            have = {p.permission_id for p in c.permissions}
            choices = [org * 10 + 1 for org in self.org_ids if org * 10 + 1 not in have]
            if not choices:
                p = rng.choice(c.permissions)
                p.opt_in = not p.opt_in
                p.edited = at
            else:
                c.permissions.append(OptIn(rng.choice(choices), True, at))
                c.permissions.sort(key=lambda o: o.permission_id)
        self._reindex(c, at)

    def _future_event(self, rng: random.Random, org: int, after: int) -> Event:
        events = self.events_by_org[org]
        i = bisect_right(self.event_starts[org], after)
        if i >= len(events):
            return events[-1]
        return events[min(len(events) - 1, i + int(rng.random() * 5))]

    def _append_sale(self, row: SaleRow) -> None:
        self.sales.append(row)
        self.sale_keys.append(row[S_CREATED])
        self.sold[row[S_EVENT]] = self.sold.get(row[S_EVENT], 0) + row[S_COUNT]

    def _new_sale(self, rng: random.Random, customer_id: int, event: Event, at: int, duo: bool = False) -> SaleRow:
        zone, section, row, seat = _seat(rng, event)
        if duo:
            tt, sub, count, price, online = 6, DUO_MEMBERSHIP_ID, 1, 0.0, True
        else:
            tt = 5 if event.free else rng.choices(_TT_IDS, _TT_WEIGHTS)[0]
            sub, count, online = None, _ticket_count(rng), rng.random() < 0.75
            price = _unit_price(event, tt, zone)
        fee = 1.5 * count if online and price > 0 else 0.0
        sale = (
            at,
            self.next_sale_id,
            self.next_ticket_id,
            event.id,
            customer_id,
            self.next_order_id,
            tt,
            sub,
            zone,
            section,
            row,
            seat,
            count,
            price,
            fee,
            online,
            False,
        )
        self.next_sale_id += 1
        self.next_ticket_id += 1
        self.next_order_id += 1
        self._append_sale(sale)
        return sale

    def _new_membership_sale(self, rng: random.Random, customer_id: int, membership_id: int, at: int) -> int:
        org, price = (self.org_ids[0], 150.0) if membership_id == DUO_MEMBERSHIP_ID else (self.org_ids[2], 45.0)
        sale_id = self.next_membership_sale_id
        row: MembershipSaleRow = (
            at,
            sale_id,
            sale_id + 100_000,
            self.next_membership_order_id,
            membership_id,
            customer_id,
            price,
            False,
            org,
            rng.choice(("Manual", "Automatic")),
            at + 365 * MS_DAY,
        )
        self.next_membership_sale_id += 1
        self.next_membership_order_id += 1
        self.membership_sales.append(row)
        self.membership_sale_keys.append(at)
        return sale_id

    def advance(self, counts: Mapping[str, int]) -> dict[str, Any]:
        """Apply deterministic changes (one seeded RNG per step), stamped with the current UTC time."""
        unknown = set(counts) - set(ADVANCE_KEYS)
        if unknown:
            raise BadRequest(f"Unknown advance keys: {sorted(unknown)}")
        n: dict[str, int] = {}
        for key in ADVANCE_KEYS:
            value = counts.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
                raise BadRequest(f"'{key}' must be an integer between 0 and 1000000")
            n[key] = value
        with self.lock:
            self.steps += 1
            rng = random.Random(self.seed * 1_000_003 + self.steps)  # noqa: S311 - fake data
            at = self.stamp()
            ids: dict[str, list[int]] = {key: [] for key in ADVANCE_KEYS}
            duo_lines = 0
            for _ in range(n["new_customers"]):
                self.next_email_number += 1
                t = self.stamp()
                c = _new_person(rng, self.next_customer_id, self.next_email_number, t)
                self.next_customer_id += 1
                if rng.random() < 0.4:
                    c.permissions.append(OptIn(rng.choice(self.org_ids) * 10 + 1, True, t))
                self._add_customer(c)
                ids["new_customers"].append(c.id)
            for _ in range(n["edits"]):
                cid = rng.choice(self.customer_ids)
                self.edit_customer(cid, rng, self.stamp())
                ids["edits"].append(cid)
            for _ in range(n["permission_changes"]):
                cid = rng.choice(self.customer_ids)
                self._change_permission(rng, self.customers[cid], self.stamp())
                ids["permission_changes"].append(cid)
            for _ in range(n["sales"]):
                cid = rng.choice(self.customer_ids)
                t = self.stamp()
                event = self._future_event(rng, rng.choice(self.org_ids), t)
                ids["sales"].append(self._new_sale(rng, cid, event, t)[S_ID])
            for _ in range(n["returns"]):
                for _attempt in range(200):
                    row = self.sales[int(rng.random() * len(self.sales))]
                    if row[S_COUNT] > 0 and row[S_SUB] is None and row[S_TICKET] not in self.returned_tickets:
                        break
                else:
                    continue
                back = (self.stamp(), self.next_sale_id, *row[2:12], -row[S_COUNT], row[13], row[14], row[15], False)
                self.next_sale_id += 1
                self.returned_tickets.add(row[S_TICKET])
                self._append_sale(back)
                ids["returns"].append(back[S_ID])
            for _ in range(n["membership_sales"]):
                cid = rng.choice(self.customer_ids)
                membership = DUO_MEMBERSHIP_ID if rng.random() < 0.6 else FRIENDS_MEMBERSHIP_ID
                ids["membership_sales"].append(self._new_membership_sale(rng, cid, membership, self.stamp()))
                if membership == DUO_MEMBERSHIP_ID:
                    for org in self.org_ids[:2]:
                        t = self.stamp()
                        self._new_sale(rng, cid, self._future_event(rng, org, t), t, duo=True)
                        duo_lines += 1
            applied: dict[str, int] = {key: len(ids[key]) for key in ADVANCE_KEYS}
            applied["duo_ticket_lines"] = duo_lines
            return {"applied": applied, "at": format_ts(at), "last": format_ts(self.last_ms), "ids": ids}


ADVANCE_KEYS = ("new_customers", "edits", "sales", "returns", "permission_changes", "membership_sales")
EVOLVE_COUNTS = {"new_customers": 2, "edits": 3, "sales": 6, "returns": 1, "permission_changes": 2}


# --------------------------------------------------------------------------------------------------
# building


def _resolve_size(size: str | int) -> tuple[str, int, int, int]:
    """(label, organisations, customers, ticket lines per customer)."""
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    if size == "test":
        return "test", 4, 80, 10
    if size == "demo":
        return "demo", 8, 5000, 10
    if isinstance(size, int) and not isinstance(size, bool) and size >= 10:
        return str(size), 8, size, 5
    raise ValueError(f"size must be 'test', 'demo' or an integer >= 10, not {size!r}")


def _default_anchor() -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=1)


def _production_name(rng: random.Random, category: int) -> str:
    if category in (1,):
        return rng.choice(_TITLES_THEATRE)
    if category == 7:
        return rng.choice(_TITLES_COMEDY)
    if category == 2:
        return rng.choice(_TITLES_DANCE)
    if category == 5:
        return f"{rng.choice(_ENSEMBLES)} - {rng.choice(_PROGRAMMES)}"
    if category in (3, 4, 6):
        return f"{rng.choice(_BANDS)} - {rng.choice(_TOURS)}"
    if category == 10:
        return rng.choice(_TITLES_CIRCUS)
    return rng.choice(_TITLES_FAMILY)


# (start, end, org, hall id, hall, capacity, seated, categories, group id, name, free, base price, created, edited)
_EventDraft = tuple[int, int, int, int, str, int, bool, tuple[int, ...], int, str, bool, float, int, int | None]


def _build_events(world: TixlyWorld, rng: random.Random, tickets_estimate: float) -> None:
    """Enough productions per house for ``tickets_estimate`` tickets, one event per performance."""
    _store_events(world, _event_drafts(world, rng, tickets_estimate))


def _event_drafts(world: TixlyWorld, rng: random.Random, tickets_estimate: float) -> list[_EventDraft]:
    """The performances per house, in drawing order (each house's first production in the future)."""
    anchor = world.anchor_ms
    history_start = anchor - HISTORY_DAYS * MS_DAY
    total_weight = sum(_ORG_PROFILES[org][0] for org in world.org_ids)
    drafts: list[_EventDraft] = []
    group_id = 30_001
    for org in world.org_ids:
        weight, halls, categories, (low, high) = _ORG_PROFILES[org]
        wanted = max(12, math.ceil(tickets_estimate * weight / total_weight / 400))
        made = 0
        forced_future = True
        while made < wanted:
            if forced_future:
                first_day = anchor + rng.randint(14, 100) * MS_DAY
                forced_future = False
            else:
                first_day = history_start + int(rng.random() * (HISTORY_DAYS + FUTURE_DAYS)) * MS_DAY
            first_day -= first_day % MS_DAY
            category = rng.choice(categories)
            cats = (category,) if rng.random() < 0.7 else tuple(sorted({category, rng.choice(categories)}))
            hall_no, hall, capacity, seated = rng.choice(halls)
            free = rng.random() < 0.03
            base = 0.0 if free else float(rng.randint(low, high))
            family = category in (8, 9)
            hour = rng.choice((14, 15)) if family else rng.choice((19, 19, 20))
            name = _production_name(rng, category)
            duration = rng.choice((75, 90, 110, 130, 150)) * MS_MINUTE
            for k in range(rng.choice((1, 1, 2, 2, 3, 4))):
                start = first_day + k * MS_DAY + hour * MS_HOUR + rng.choice((0, 30)) * MS_MINUTE
                created = start - rng.randint(120, 240) * MS_DAY
                if created < history_start:
                    created = history_start + rng.randint(0, 3 * MS_DAY)
                created = min(created, anchor - rng.randint(MS_HOUR, 10 * MS_DAY))
                edited = None
                if rng.random() < 0.3:
                    limit = min(start, anchor) - 1
                    if limit > created + 1:
                        edited = rng.randint(created + 1, limit)
                drafts.append(
                    (
                        start,
                        start + duration,
                        org,
                        (org % 1000) * 100 + hall_no,
                        hall,
                        capacity,
                        seated,
                        cats,
                        group_id,
                        name,
                        free,
                        base,
                        created,
                        edited,
                    )
                )
                made += 1
            group_id += 1
    return drafts


def _store_events(world: TixlyWorld, drafts: list[_EventDraft]) -> None:
    """The events numbered by start, the promoter's two, and the world's indexes on them."""
    drafts.sort(key=lambda d: (d[0], d[2], d[8]))
    for i, draft in enumerate(drafts):
        start, end, org, hall_id, hall, capacity, seated, cats, gid, name, free, base, created, edited = draft
        event = Event(
            i + 40_001,
            name,
            start,
            end,
            org,
            hall_id,
            hall,
            capacity,
            seated,
            cats,
            org,
            world.org_name(org),
            gid,
            name,
            free,
            base,
            created,
            edited,
        )
        world.event_by_id[event.id] = event
        world.events_by_org.setdefault(org, []).append(event)
    # the external promoter's events: the last performance at each of the first two houses
    for org in world.org_ids[:2]:
        last = world.events_by_org[org][-1]
        last.promoter_id, last.promoter = EXTERNAL_PROMOTER
    for org, events in world.events_by_org.items():
        world.event_starts[org] = [e.start for e in events]
    world.events = sorted(world.event_by_id.values(), key=lambda e: (e.key, e.id))
    world.event_keys = [(e.key, e.id) for e in world.events]


def _build_definitions(world: TixlyWorld) -> None:
    history_start = world.anchor_ms - HISTORY_DAYS * MS_DAY
    perms: list[dict[str, Any]] = []
    position = 1
    for org, name in world.organisations:
        for offset, kind, channel, what in (
            (1, "Email", "Email", "de nieuwsbrief"),
            (2, "SMS", "SMS", "sms-berichten"),
        ):
            perms.append(
                {
                    "Id": org * 10 + offset,
                    "Name": f"{'Nieuwsbrief' if offset == 1 else 'SMS'} {name}",
                    "Title": f"Ja, ik ontvang graag {what} van {name}.",
                    "Description": f"{kind}-berichten over voorstellingen en nieuws van {name}. Uitschrijven kan.",
                    "Type": "General",
                    "CommunicationType": channel,
                    "OrganisationId": org,
                    "EventId": None,
                    "OptOut": False,
                    "Preselected": False,
                    "Position": position,
                }
            )
            position += 1
    promoter = EXTERNAL_PROMOTER[1]
    for perm_id, org in zip((9901, 9902), world.org_ids[:2], strict=True):
        event = world.events_by_org[org][-1]
        perms.append(
            {
                "Id": perm_id,
                "Name": f"{promoter} - {event.name}",
                "Title": f"Ja, {promoter} mag me informeren over gelijkaardige voorstellingen.",
                "Description": f"Toestemming voor {promoter}, organisator van {event.name} in {world.org_name(org)}.",
                "Type": "Event related",
                "CommunicationType": "Both" if perm_id == 9901 else "Email",
                "OrganisationId": org,
                "EventId": event.id,
                "OptOut": False,
                "Preselected": False,
                "Position": position,
            }
        )
        position += 1
    world.permissions = sorted(perms, key=lambda p: int(p["Id"]))
    first, third = world.organisations[0][1], world.organisations[2][1]
    second = world.organisations[1][1]
    world.memberships = [
        {
            "Id": DUO_MEMBERSHIP_ID,
            "Name": "Duo-abonnement Leie & IJzer",
            "Abbreviation": "DUO",
            "Tagline": "Twee huizen, één abonnement",
            "ShortDescription": f"Vrije toegang tot een selectie voorstellingen in {first} en {second}.",
            "Description": f"Het Duo-abonnement wordt verkocht door {first} en geeft gratis tickets (type DUO) "
            f"voor geselecteerde voorstellingen in {first} en {second}.",
            "Price": 150.0,
            "Vat": 6.0,
            "AvailableOnline": True,
            "RenewDayOfMonth": 1,
            "RenewMonthOfYear": 9,
            "Created": format_ts(history_start + 2 * MS_DAY + 9 * MS_HOUR),
        },
        {
            "Id": FRIENDS_MEMBERSHIP_ID,
            "Name": f"Vrienden van {third}",
            "Abbreviation": "VRND",
            "Tagline": "Steun je huis",
            "ShortDescription": f"Vriendenkaart van {third}: voorrang bij de verkoop en een vriendenavond.",
            "Description": f"Als vriend van {third} steun je de werking en krijg je voorrang bij de ticketverkoop.",
            "Price": 45.0,
            "Vat": 21.0,
            "AvailableOnline": True,
            "RenewDayOfMonth": 1,
            "RenewMonthOfYear": 1,
            "Created": format_ts(history_start + 3 * MS_DAY + 10 * MS_HOUR),
        },
    ]


def _pick_event(rng: random.Random, world: TixlyWorld, org: int, t: int) -> Event:
    """An event of ``org`` that is on sale at ``t``: it starts after ``t``, preferably within ~4 months,
    and was announced (Created) before ``t``."""
    events = world.events_by_org[org]
    i = bisect_right(world.event_starts[org], t)
    if i >= len(events):
        return events[-1]
    horizon = t + FUTURE_DAYS * MS_DAY
    candidates = [e for e in events[i : i + 8] if e.created <= t and e.start <= horizon]
    if candidates:
        return candidates[int(rng.random() * len(candidates))]
    return events[i]


def build_world(seed: int = 7, size: str | int = "test", anchor: datetime | None = None) -> TixlyWorld:
    """Build a deterministic fake Tixly instance: same (seed, size, anchor) -> identical data.

    ``size``: ``"test"`` (4 houses, 80 customers, ~800 ticket lines), ``"demo"`` (8 houses, 5,000
    customers, ~50,000 lines) or an integer N (8 houses, N customers, ~5·N lines). ``anchor`` (aware,
    UTC) defaults to now floored to the minute minus one minute; all base data lies in the two years
    before it (announced events run up to four months after it).
    """
    label, n_orgs, n_customers, lines_per_customer = _resolve_size(size)
    if anchor is None:
        anchor = _default_anchor()
    elif anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=UTC)
    anchor = anchor.astimezone(UTC)
    world = TixlyWorld(seed, label, anchor, ORGANISATIONS[:n_orgs])
    # one generator through every phase, in this order: the phases' draws make the data
    rng = random.Random(f"tixly-fake/{seed}/{label}")  # noqa: S311 - fake data
    target_lines = n_customers * lines_per_customer

    _build_events(world, rng, target_lines * 1.7)
    _build_definitions(world)
    customers, buying_orgs = _build_customers(world, rng, n_customers)
    _build_permissions_and_edits(world, rng, customers, buying_orgs)
    world.customer_index = sorted((c.key, c.id) for c in customers)
    lines = _LineDrafts(world, rng)
    _build_orders(world, rng, lines, customers, buying_orgs, lines_per_customer)
    _build_box_office_sales(world, rng, lines, target_lines)
    _build_memberships(world, rng, lines, customers)
    lines.finish()
    return world


def _build_customers(world: TixlyWorld, rng: random.Random, n_customers: int) -> tuple[list[Customer], list[list[int]]]:
    """The customers (Ids ascending with Created), ~1 % engine duplicates, and the houses each buys from."""
    anchor_ms = world.anchor_ms
    history_start = anchor_ms - HISTORY_DAYS * MS_DAY
    org_ids = world.org_ids
    org_weights = [_ORG_PROFILES[org][0] for org in org_ids]
    created_times = sorted(rng.randint(history_start, anchor_ms - 2) for _ in range(n_customers))
    customers: list[Customer] = []
    buying_orgs: list[list[int]] = []
    duplicates = set(rng.sample(range(5, n_customers), max(1, round(n_customers * 0.01))))
    for i, created in enumerate(created_times):
        cid = world.next_customer_id
        world.next_customer_id += 1
        world.next_email_number += 1
        if i in duplicates:
            c = _duplicate_person(rng, customers[rng.randrange(i)], cid, world.next_email_number, created)
        else:
            c = _new_person(rng, cid, world.next_email_number, created)
        customers.append(c)
        r = rng.random()
        k = 1 if r < 0.45 else (2 if r < 0.82 else 3)
        orgs: list[int] = []
        while len(orgs) < min(k, len(org_ids)):
            org = rng.choices(org_ids, org_weights)[0]
            if org not in orgs:
                orgs.append(org)
        buying_orgs.append(orgs)
    return customers, buying_orgs


def _duplicate_person(rng: random.Random, original: Customer, cid: int, email_number: int, created: int) -> Customer:
    """An engine duplicate: the same person (same e-mail, other letter case) under a new Id."""
    c = _new_person(rng, cid, email_number, created)
    c.first_name, c.prefix, c.last_name, c.gender, c.title = (
        original.first_name,
        original.prefix,
        original.last_name,
        original.gender,
        original.title,
    )
    c.email = None if original.email is None else _other_case(original.email)
    if rng.random() < 0.5:
        c.street, c.house_number, c.house_ext, c.zip_code, c.city, c.country = (
            original.street,
            original.house_number,
            original.house_ext,
            original.zip_code,
            original.city,
            original.country,
        )
    return c


def _build_permissions_and_edits(
    world: TixlyWorld, rng: random.Random, customers: list[Customer], buying_orgs: list[list[int]]
) -> None:
    """Opt-ins and edits; Edited stays null for a customer never changed after creation."""
    last_ms = world.anchor_ms - 1
    for c, orgs in zip(customers, buying_orgs, strict=True):

        def later(c: Customer = c) -> int:
            return rng.randint(c.created + 1, last_ms) if c.created + 1 < last_ms else c.created

        changes: list[int] = []
        optins: dict[int, OptIn] = {}
        if rng.random() < 0.4:
            for org in orgs[: rng.choice((1, 1, 2))]:
                when = c.created if rng.random() < 0.55 else later()
                optins[org * 10 + 1] = OptIn(org * 10 + 1, True, when)
        if rng.random() < 0.08:
            org = rng.choice(orgs)
            optins[org * 10 + 1] = OptIn(org * 10 + 1, False, later())
        if c.mobile and rng.random() < 0.08:
            optins[orgs[0] * 10 + 2] = OptIn(orgs[0] * 10 + 2, True, later())
        if rng.random() < 0.02:
            perm = rng.choice((9901, 9902))
            optins[perm] = OptIn(perm, True, later())
        c.permissions = [optins[k] for k in sorted(optins)]
        changes.extend(p.edited for p in c.permissions if p.edited > c.created)
        if rng.random() < 0.25:
            changes.append(later())
        c.edited = max(changes) if changes else None
        world.customers[c.id] = c
        world.customer_ids.append(c.id)


_RETURN_P = 0.03 / 0.95  # the share of sold lines returned later


class _LineDrafts:
    """Provisional ticket lines (Created, seq, ...), sorted and numbered by :meth:`finish`; seq keeps ties
    stable. Holds the next order and ticket ids while the lines are drawn."""

    def __init__(self, world: TixlyWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.rows: list[list[Any]] = []
        self.seq = 0
        self.order_id = world.next_order_id
        self.ticket_id = world.next_ticket_id

    def add(self, t: int, event: Event, customer_id: int | None, online: bool, duo: bool) -> None:
        """One ticket line of the current order (and, now and then, its return later)."""
        rng, rand, anchor_ms = self.rng, self.rng.random, self.world.anchor_ms
        zone, section, row_no, seat = _seat(rng, event)
        if duo:
            tt, sub, count, price = 6, DUO_MEMBERSHIP_ID, 1, 0.0
        else:
            if event.free:
                tt = 5
            else:
                r = rand() * 100
                tt = 1 if r < 62 else (2 if r < 74 else (3 if r < 90 else (4 if r < 96 else 5)))
            sub, count, price = None, _ticket_count(rng), _unit_price(event, tt, zone)
        fee = 1.5 * count if online and price > 0 else 0.0
        scanned = event.start < anchor_ms and rand() < 0.92
        line = [t, self.seq, self.ticket_id, event.id, customer_id, self.order_id, tt, sub, zone, section, row_no,
                seat, count, price, fee, online, scanned]  # fmt: skip
        self.rows.append(line)
        self.seq += 1
        if customer_id is not None and not duo and rand() < _RETURN_P:
            limit = min(event.start, anchor_ms) - 1
            if limit > t + 1:
                back = rng.randint(t + 1, limit)
                self.rows.append([back, self.seq, *line[2:12], -count, price, fee, online, False])
                self.seq += 1
        self.ticket_id += 1

    def next_order(self) -> None:
        self.order_id += 1

    def finish(self) -> None:
        """Sort by Created, number SaleTicketIds in that order, and store the lines and the next ids."""
        world = self.world
        self.rows.sort(key=lambda r: (r[0], r[1]))
        sale_id = world.next_sale_id
        sales: list[SaleRow] = world.sales
        sold: dict[int, int] = {}
        for draft in self.rows:
            draft[1] = sale_id
            sale_id += 1
            line: SaleRow = tuple(draft)
            sales.append(line)
            sold[line[S_EVENT]] = sold.get(line[S_EVENT], 0) + line[S_COUNT]
            if line[S_COUNT] < 0:
                world.returned_tickets.add(line[S_TICKET])
        self.rows.clear()
        world.sale_keys = [r[0] for r in sales]
        world.sold = sold
        for event in world.event_by_id.values():
            event.capacity = max(event.capacity, sold.get(event.id, 0))
        world.next_sale_id = sale_id
        world.next_ticket_id = self.ticket_id
        world.next_order_id = self.order_id


def _build_orders(
    world: TixlyWorld, rng: random.Random, lines: _LineDrafts, customers: list[Customer],
    buying_orgs: list[list[int]], lines_per_customer: int,
) -> None:  # fmt: skip
    """The customers' orders, each of one to three lines for one event of a house they buy from."""
    last_ms = world.anchor_ms - 1
    rand = rng.random
    orders_mean = lines_per_customer * 0.93 / 1.3
    for c, orgs in zip(customers, buying_orgs, strict=True):
        if c.created + 1 >= last_ms:
            continue
        n_orders = 1 + int(rng.gammavariate(2.0, (orders_mean - 0.5) / 2))
        for _ in range(n_orders):
            t = rng.randint(c.created + 1, last_ms)
            event = _pick_event(rng, world, orgs[int(rand() * len(orgs))] if len(orgs) > 1 else orgs[0], t)
            r = rand()
            n_lines = 1 if r < 0.75 else (2 if r < 0.95 else 3)
            online = rand() < 0.75
            for _line in range(n_lines):
                lines.add(t, event, c.id, online, False)
            lines.next_order()


def _build_box_office_sales(world: TixlyWorld, rng: random.Random, lines: _LineDrafts, target_lines: int) -> None:
    """Anonymous box-office sales (~2 % of lines)."""
    history_start = world.anchor_ms - HISTORY_DAYS * MS_DAY
    org_ids = world.org_ids
    org_weights = [_ORG_PROFILES[org][0] for org in org_ids]
    for _ in range(max(1, round(target_lines * 0.02))):
        t = rng.randint(history_start, world.anchor_ms - 1)
        event = _pick_event(rng, world, rng.choices(org_ids, org_weights)[0], t)
        lines.add(t, event, None, False, False)
        lines.next_order()


def _build_memberships(world: TixlyWorld, rng: random.Random, lines: _LineDrafts, customers: list[Customer]) -> None:
    """The joint DUO subscription (with its free visits) and the friends card of the third house."""
    anchor_ms = world.anchor_ms
    last_ms = anchor_ms - 1
    n_customers = len(customers)
    org_ids = world.org_ids
    msales: list[tuple[int, int, int, float, bool, int, str]] = []  # (Created, membership, customer, ...)
    eligible = [c for c in customers if c.created < anchor_ms - 60 * MS_DAY] or customers
    n_duo = min(len(eligible), max(2, round(n_customers * 0.03)))
    first_org, second_org = org_ids[0], org_ids[1]
    for c in rng.sample(eligible, n_duo):
        sold_at = rng.randint(c.created + 1, max(c.created + 1, anchor_ms - 30 * MS_DAY))
        msales.append((sold_at, DUO_MEMBERSHIP_ID, c.id, 150.0, False, first_org, rng.choice(("Manual", "Automatic"))))
        visits = [first_org, second_org] + [rng.choice((first_org, second_org)) for _ in range(rng.randint(1, 4))]
        for org in visits:
            t = rng.randint(sold_at + 1, min(sold_at + 200 * MS_DAY, last_ms))
            lines.add(t, _pick_event(rng, world, org, t), c.id, True, True)
            lines.next_order()
    n_friends = max(1, round(n_customers * 0.02))
    third_org = org_ids[2]
    for c in rng.sample(customers, min(n_friends, len(customers))):
        if c.created + 1 >= last_ms:
            continue
        sold_at = rng.randint(c.created + 1, last_ms)
        cancelled = rng.random() < 0.1
        msales.append(
            (sold_at, FRIENDS_MEMBERSHIP_ID, c.id, 45.0, cancelled, third_org, rng.choice(("Manual", "Automatic")))
        )
    msales.sort()
    for when, membership, customer_id, price, cancelled, org, renewal in msales:
        sale_id = world.next_membership_sale_id
        world.membership_sales.append(
            (when, sale_id, sale_id + 100_000, world.next_membership_order_id, membership, customer_id, price,
             cancelled, org, renewal, when + 365 * MS_DAY)
        )  # fmt: skip
        world.membership_sale_keys.append(when)
        world.next_membership_sale_id += 1
        world.next_membership_order_id += 1
