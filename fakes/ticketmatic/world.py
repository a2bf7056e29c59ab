"""The fake Ticketmatic's world: seeded fictional accounts with contacts, events and orders, their JSON
shapes, and advance (the changes a running engine makes)."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import random
import time
import unicodedata
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fakes.ticketmatic.table import Table

DEFAULT_ACCESS_KEY = "tm-demo-key"
DEFAULT_SECRET = "tm-demo-secret"  # noqa: S105 - a fixed demo secret of a fake, not a credential
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
AUTH_TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
MAX_CLOCK_SKEW = 300
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

ACCOUNTS: tuple[tuple[str, str], ...] = (
    ("zaal-noord", "Zaal Noord"),
    ("podium-oost", "Podium Oost"),
    ("kunstencentrum-west", "Kunstencentrum West"),
)

OPTIN_UNKNOWN, OPTIN_YES, OPTIN_NO = 7601, 7602, 7603
OPTIN_NEWSLETTER, OPTIN_SMS, OPTIN_TERMS = 1, 2, 3
ORDER_UNCONFIRMED, ORDER_CONFIRMED, ORDER_ARCHIVED = 21001, 21002, 21003
DELIVERY_NOT, DELIVERY_DONE, DELIVERY_CHANGED = 2601, 2602, 2603
EVENT_DRAFT, EVENT_ACTIVE, EVENT_CLOSED = 19001, 19002, 19003
CHANNEL_WEB, CHANNEL_BOX_OFFICE = 1, 2

SALESCHANNELS = {CHANNEL_WEB: "Webshop", CHANNEL_BOX_OFFICE: "Kassa"}
PRICETYPES: dict[int, tuple[str, float]] = {
    1: ("Normaal", 1.0),
    2: ("Reductie -26", 0.7),
    3: ("65+", 0.85),
    4: ("Abonnement", 0.8),
    5: ("Vrijkaart", 0.0),
}
PRODUCTS: dict[int, tuple[str, str, int]] = {  # productid -> (code, name, price in cents)
    1: ("ABO5", "Abonnement 5 voorstellingen", 9500),
    2: ("ABO10", "Abonnement 10 voorstellingen", 17000),
    3: ("JONG", "Jongerenpas", 1500),
}
PAYMENT_METHODS = {1: "Bancontact", 2: "Visa", 3: "Cash", 4: "Overschrijving"}
CUSTOMER_TITLES = {1: "Mevrouw", 2: "Meneer", 3: "Mx."}
ADDRESS_TYPES = {1: "Thuis", 2: "Werk"}
PHONE_TYPES = {1: "Mobiel", 2: "Thuis"}

FIRST_NAMES_F = (
    "Anouk", "Lotte", "Fien", "Marie", "Elise", "Noor", "Zoë", "Hanne", "Ine", "Katrien", "Sofie", "Wendelien",
    "Amélie", "Jolien", "Liesbeth", "Margot", "Nele", "Roos", "Saar", "Tine", "Yasmina", "Chloé", "Griet", "Fatima",
)  # fmt: skip
FIRST_NAMES_M = (
    "Arne", "Bram", "Cedric", "Dries", "Emiel", "Florian", "Gilles", "Hannes", "Jef", "Kobe", "Lander", "Matthias",
    "Nathan", "Olivier", "Pieter", "Quinten", "Rik", "Stijn", "Thibault", "Wout", "Yannick", "Loïc", "Mehdi", "Seppe",
)  # fmt: skip
LAST_NAMES = (
    "Vermeersch", "Claeys", "De Smedt", "Van Damme", "Goossens", "Wuyts", "Verbeke", "Lambrecht", "Mertens",
    "Van Acker", "De Wilde", "Coppens", "Declercq", "Verhaeghe", "Hermans", "Segers", "Van Hove", "Martens",
    "Dewulf", "Bogaert", "Vanderstraeten", "Pauwels", "Van Loock", "Devos", "Maes", "Janssens", "Raes", "Tack",
    "Lemaire", "Dubois", "El Amrani", "Öztürk", "Nowak", "Verstraete", "Van Praet", "De Coninck",
)  # fmt: skip
MIDDLE_NAMES = ("", "", "", "", "", "", "", "", "Maria", "Jan", "Anne")
STREETS = (
    "Kerkstraat", "Stationsstraat", "Molenstraat", "Dorpsstraat", "Schoolstraat", "Lindenlaan", "Kastanjelaan",
    "Veldstraat", "Nieuwstraat", "Beekstraat", "Zandstraat", "Hoogstraat", "Meersstraat", "Bosstraat",
)  # fmt: skip
CITIES: tuple[tuple[str, str, str], ...] = (  # zip, city, countrycode
    ("9000", "Gent", "BE"), ("2000", "Antwerpen", "BE"), ("8000", "Brugge", "BE"), ("3000", "Leuven", "BE"),
    ("2800", "Mechelen", "BE"), ("8500", "Kortrijk", "BE"), ("9300", "Aalst", "BE"), ("3500", "Hasselt", "BE"),
    ("1000", "Brussel", "BE"), ("9100", "Sint-Niklaas", "BE"), ("8400", "Oostende", "BE"), ("4000", "Liège", "BE"),
    ("5000", "Namur", "BE"), ("4811", "Breda", "NL"), ("4331", "Middelburg", "NL"),
)  # fmt: skip
COUNTRIES = {"BE": "België", "NL": "Nederland"}
EVENT_WORDS_A = (
    "De Storm", "Nachtwacht", "Het Verloren Lied", "Zomerlicht", "Wolken", "De Vaart", "Kantelpunt", "Stille Nacht",
    "Het Huis", "Grensland", "Echo", "Zoutwater", "De Tuin", "Lichtjaren", "Onderstroom", "Tegenwind",
)  # fmt: skip
EVENT_WORDS_B = (
    "Compagnie Vlier", "Ensemble Noordzee", "Toneelhuis Kade", "Collectief Bries", "Kwartet Linde",
    "Dansgezelschap Duin", "Muziektheater Haven", "Gezelschap Polder",
)  # fmt: skip
EVENT_TAGS = ("theater", "dans", "concert", "muziektheater", "jeugd", "comedy", "opera", "performance")
LOCATIONS = ("Grote zaal", "Kleine zaal", "Studio", "Foyer")
OPTIN_METHODS = ("web", "boxoffice", "import", "api")
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols

TWO_YEARS = 2 * 365 * 86400


# ---------------------------------------------------------------------------------------------------------------
# Small helpers


def fmt_ts(ts: int) -> str:
    """Ticketmatic's wire format: ``YYYY-MM-DD HH:MM:SS``, UTC, no zone."""
    return time.strftime(TS_FORMAT, time.gmtime(ts))


def parse_ts(value: str) -> int:
    """Parse ``YYYY-MM-DD HH:MM:SS`` (or with a ``T``) as UTC; ValueError otherwise."""
    text = value.strip().replace("T", " ")
    return calendar.timegm(time.strptime(text, TS_FORMAT))


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _money(cents: int) -> float:
    return round(cents / 100, 2)


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum()).lower()


def _scramble(n: int, modulus: int, multiplier: int, offset: int) -> int:
    """A bijection on ``range(modulus)`` when ``multiplier`` is coprime with ``modulus``: unique, random-looking."""
    return (n * multiplier + offset) % modulus


def _order_code(orderid: int) -> str:
    value = _scramble(orderid, 1 << 30, 0x5DEECE66D | 1, 0x2545F491)
    chars = []
    for _ in range(6):
        chars.append(CODE_ALPHABET[value & 31])
        value >>= 5
    return "".join(chars)


def _barcode(ticketid: int) -> str:
    return f"{_scramble(ticketid, 10**12, 7_919_113_337, 104_729):012d}"


def sign_headers(access_key: str, secret: str, account: str, now: datetime | None = None) -> dict[str, str]:
    """The ``Authorization`` header of a Ticketmatic request for ``account``, signed at ``now`` (default: now, UTC)."""
    moment = now or _utc_now()
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    ts = moment.strftime(AUTH_TS_FORMAT)
    sign = hmac.new(secret.encode(), (access_key + account + ts).encode(), hashlib.sha256).hexdigest()
    return {"Authorization": f"TM-HMAC-SHA256 key={access_key} ts={ts} sign={sign}"}


# ---------------------------------------------------------------------------------------------------------------
# Records (compact; rendered to the API's JSON on demand)


@dataclass(slots=True)
class OptIn:
    optinid: int
    status: int
    method: str
    remarks: str
    userid: int | None
    createdts: int
    lastupdatets: int


@dataclass(slots=True)
class Contact:
    id: int
    firstname: str
    middlename: str
    lastname: str
    email: str | None
    birthdate: str | None
    sex: str
    customertitleid: int | None
    languagecode: str
    street: str
    zipcode: str
    city: str
    countrycode: str
    phone: str | None
    phonetypeid: int
    optins: list[OptIn]
    emailingpreference: str
    source: str
    status: str
    isdeleted: bool
    createdts: int
    lastupdatets: int


@dataclass(slots=True)
class Event:
    id: int
    name: str
    subtitle: str
    startts: int
    endts: int
    locationname: str
    productionid: int
    tags: tuple[str, ...]
    currentstatus: int
    seated: bool
    baseprice: int  # cents
    createdts: int
    lastupdatets: int


# ticket: (ticketid, eventid, pricetypeid, price cents, service charge cents)
Ticket = tuple[int, int, int, int, int]
# product line: (id, productid, price cents)
ProductLine = tuple[int, int, int]
# payment: (id, amount cents, paidts, paymentmethodid)
Payment = tuple[int, int, int, int]


@dataclass(slots=True)
class Order:
    id: int
    customerid: int
    saleschannelid: int
    status: int
    deliverystatus: int
    tickets: list[Ticket]
    products: list[ProductLine]
    payments: list[Payment]
    createdts: int
    lastupdatets: int

    def total(self) -> int:
        return sum(t[3] + t[4] for t in self.tickets) + sum(p[2] for p in self.products)

    def paid(self) -> int:
        return sum(p[1] for p in self.payments)


@dataclass
class Account:
    name: str
    house: str
    index: int
    contacts: Table[Contact] = field(default_factory=Table)
    orders: Table[Order] = field(default_factory=Table)
    events: Table[Event] = field(default_factory=Table)
    optin_defs: list[dict[str, Any]] = field(default_factory=list)
    next_contact: int = 0
    next_order: int = 0
    next_ticket: int = 0
    next_payment: int = 0
    next_product_line: int = 0
    refunds: int = 0
    batches: int = 0
    emails: set[str] = field(default_factory=set)  # lower-cased e-mails ever given to a contact here


# ---------------------------------------------------------------------------------------------------------------
# The world


class TicketmaticWorld:
    """All accounts of one fake, their data and the changes applied since the build."""

    def __init__(self, seed: int, size: str | int, anchor: int, accounts: list[Account]) -> None:
        self.seed = seed
        self.size = size
        self.anchor = anchor
        self.accounts: dict[str, Account] = {a.name: a for a in accounts}
        self.last_stamp = anchor
        self.malformed_contacts: set[int] = set()
        self.malformed_orders: set[int] = set()
        self._used_emails: set[str] = set()
        for acct in accounts:
            for c in acct.contacts.records.values():
                if c.email:
                    self._used_emails.add(c.email.lower())

    @property
    def anchor_dt(self) -> datetime:
        return datetime.fromtimestamp(self.anchor, UTC)

    # -- rendering ------------------------------------------------------------------------------------------

    def contact_json(self, c: Contact, output: str = "default") -> dict[str, Any]:
        if output == "ids":
            return {"id": c.id}
        bad = c.id in self.malformed_contacts
        email = "not-an-address" if bad else c.email
        createdts = "garbage" if bad else fmt_ts(c.createdts)
        if output == "minimal":
            return {
                "id": c.id,
                "firstname": c.firstname,
                "lastname": c.lastname,
                "email": email,
                "status": c.status,
                "isdeleted": c.isdeleted,
                "createdts": createdts,
                "lastupdatets": fmt_ts(c.lastupdatets),
            }
        return {
            "id": c.id,
            "firstname": c.firstname,
            "middlename": c.middlename,
            "lastname": c.lastname,
            "email": email,
            "birthdate": c.birthdate,
            "sex": c.sex,
            "customertitleid": c.customertitleid,
            "languagecode": c.languagecode,
            "addresses": _addresses_json(c),
            "phonenumbers": _phones_json(c),
            "optins": _optins_json(c),
            "status": c.status,
            "isdeleted": c.isdeleted,
            "createdts": createdts,
            "lastupdatets": fmt_ts(c.lastupdatets),
            "c_emailingpreference": c.emailingpreference,
            "c_source": c.source,
        }

    def order_json(self, acct: Account, o: Order, output: str = "default") -> dict[str, Any]:
        if output == "ids":
            return {"orderid": o.id}
        total, paid = o.total(), o.paid()
        paymentstatus = 0 if paid < total else (1 if paid == total else 2)
        if output == "minimal":
            return {
                "orderid": o.id,
                "code": _order_code(o.id),
                "customerid": o.customerid,
                "status": o.status,
                "totalamount": _money(total),
                "lastupdatets": fmt_ts(o.lastupdatets),
            }
        events = acct.events.records
        tickets: Any
        if o.id in self.malformed_orders:
            tickets = "none"
        else:
            tickets = []
            for tid, eid, ptid, price, service in o.tickets:
                seated = events[eid].seated
                tickets.append(
                    {
                        "id": tid,
                        "orderid": o.id,
                        "eventid": eid,
                        "tickettypeid": eid * 10 + 1,
                        "tickettypepriceid": eid * 100 + ptid,
                        "pricetypeid": ptid,
                        "price": _money(price),
                        "servicecharge": _money(service),
                        "ticketholderid": o.customerid,
                        "barcode": _barcode(tid),
                        "seatname": f"Rij {tid // 20 % 25 + 1} Stoel {tid % 20 + 1}" if seated else "",
                    }
                )
        return {
            "orderid": o.id,
            "code": _order_code(o.id),
            "customerid": o.customerid,
            "saleschannelid": o.saleschannelid,
            "status": o.status,
            "paymentstatus": paymentstatus,
            "deliverystatus": o.deliverystatus,
            "totalamount": _money(total),
            "amountpaid": _money(paid),
            "nbroftickets": len(o.tickets),
            "tickets": tickets,
            "products": [
                {
                    "id": lid,
                    "orderid": o.id,
                    "productid": pid,
                    "code": PRODUCTS[pid][0],
                    "contactid": o.customerid,
                    "price": _money(price),
                }
                for lid, pid, price in o.products
            ],
            "payments": [
                {"id": pid, "orderid": o.id, "amount": _money(amount), "paidts": fmt_ts(ts), "paymentmethodid": m}
                for pid, amount, ts, m in o.payments
            ],
            "createdts": fmt_ts(o.createdts),
            "lastupdatets": fmt_ts(o.lastupdatets),
        }

    @staticmethod
    def event_json(e: Event, output: str = "default") -> dict[str, Any]:
        if output == "ids":
            return {"id": e.id}
        if output == "minimal":
            return {"id": e.id, "name": e.name, "startts": fmt_ts(e.startts), "lastupdatets": fmt_ts(e.lastupdatets)}
        return {
            "id": e.id,
            "name": e.name,
            "subtitle": e.subtitle,
            "startts": fmt_ts(e.startts),
            "endts": fmt_ts(e.endts),
            "locationname": e.locationname,
            "productionid": e.productionid,
            "tags": list(e.tags),
            "currentstatus": e.currentstatus,
            "createdts": fmt_ts(e.createdts),
            "lastupdatets": fmt_ts(e.lastupdatets),
        }

    def order_lookup(self, acct: Account, orders: list[Order]) -> dict[str, Any]:
        event_ids = sorted({t[1] for o in orders for t in o.tickets})
        pricetype_ids = sorted({t[2] for o in orders for t in o.tickets})
        events = acct.events.records
        return {
            "events": {
                str(eid): {
                    "id": eid,
                    "name": events[eid].name,
                    "subtitle": events[eid].subtitle,
                    "startts": fmt_ts(events[eid].startts),
                    "endts": fmt_ts(events[eid].endts),
                    "locationname": events[eid].locationname,
                    "productionid": events[eid].productionid,
                }
                for eid in event_ids
            },
            "pricetypes": {str(p): {"id": p, "name": PRICETYPES[p][0]} for p in pricetype_ids},
            "saleschannels": {str(s): {"id": s, "name": n} for s, n in SALESCHANNELS.items()},
            "paymentmethods": {str(m): {"id": m, "name": n} for m, n in PAYMENT_METHODS.items()},
            "products": {str(p): {"id": p, "code": c, "name": n} for p, (c, n, _) in PRODUCTS.items()},
        }

    @staticmethod
    def contact_lookup(acct: Account) -> dict[str, Any]:
        return {
            "optins": {str(d["id"]): {"id": d["id"], "name": d["name"]} for d in acct.optin_defs},
            "customertitles": {str(t): {"id": t, "name": n} for t, n in CUSTOMER_TITLES.items()},
        }

    def export(self, account: str) -> dict[str, list[dict[str, Any]]]:
        """Every record of ``account`` as the API renders it (for tests and determinism checks)."""
        acct = self.accounts[account]
        return {
            "contacts": [self.contact_json(acct.contacts.records[i]) for i in acct.contacts.ids],
            "orders": [self.order_json(acct, acct.orders.records[i]) for i in acct.orders.ids],
            "events": [self.event_json(acct.events.records[i]) for i in acct.events.ids],
        }

    # -- ground truth ---------------------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """Ground-truth counts for checking a sync."""
        per: dict[str, Any] = {}
        emails_all: set[str] = set()
        emails_active: set[str] = set()
        owners: dict[str, set[str]] = {}
        for acct in self.accounts.values():
            contacts = acct.contacts.records.values()
            deleted = sum(1 for c in contacts if c.isdeleted)
            newsletter = Counter(
                str(o.status) for c in contacts for o in c.optins if o.optinid == OPTIN_NEWSLETTER and not c.isdeleted
            )
            acct_emails = set()
            for c in contacts:
                if c.email:
                    low = c.email.lower()
                    acct_emails.add(low)
                    emails_all.add(low)
                    if not c.isdeleted:
                        emails_active.add(low)
            for low in acct_emails:
                owners.setdefault(low, set()).add(acct.name)
            orders = acct.orders.records.values()
            per[acct.name] = {
                "house": acct.house,
                "contacts": len(acct.contacts.records),
                "contacts_active": len(acct.contacts.records) - deleted,
                "contacts_deleted": deleted,
                "contacts_without_email": sum(1 for c in contacts if not c.email),
                "distinct_emails": len(acct_emails),
                "newsletter_optins": dict(sorted(newsletter.items())),
                "events": len(acct.events.records),
                "orders": len(acct.orders.records),
                "tickets": sum(len(o.tickets) for o in orders),
                "products": sum(len(o.products) for o in orders),
                "refunds": acct.refunds,
            }
        return {
            "anchor": fmt_ts(self.anchor),
            "accounts": per,
            "distinct_emails": len(emails_all),
            "distinct_emails_active": len(emails_active),
            "emails_in_several_accounts": sum(1 for s in owners.values() if len(s) > 1),
            "contacts": sum(a["contacts"] for a in per.values()),
            "tickets": sum(a["tickets"] for a in per.values()),
            "refunds": sum(a["refunds"] for a in per.values()),
        }

    # -- changes over time ----------------------------------------------------------------------------------

    def _stamp(self, now: datetime | None) -> int:
        stamp = max(_epoch(now or _utc_now()), self.last_stamp, self.anchor)
        self.last_stamp = stamp
        return stamp

    def _unique_email(self, rng: random.Random, first: str, last: str) -> str:
        return _unique_email_in(self._used_emails, rng, first, last)

    def advance(
        self,
        account: str | None = None,
        *,
        new_contacts: int = 0,
        edits: int = 0,
        orders: int = 0,
        refunds: int = 0,
        optin_changes: int = 0,
        deletions: int = 0,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Apply deterministic changes to one account (or all) stamped with the current UTC second.

        Which records change, and how, depends only on the seed and on how many batches the account has seen;
        the timestamps are the real clock's (never before the anchor or the previous batch).
        """
        if account is not None and account not in self.accounts:
            raise KeyError(account)
        stamp = self._stamp(now)
        targets = [self.accounts[account]] if account is not None else list(self.accounts.values())
        summary: dict[str, Any] = {"stamp": fmt_ts(stamp), "accounts": {}}
        for acct in targets:
            acct.batches += 1
            rng = random.Random(f"{self.seed}:{acct.name}:advance:{acct.batches}")  # noqa: S311 - fictional data
            summary["accounts"][acct.name] = {
                "new_contacts": [self._new_contact(acct, rng, stamp) for _ in range(new_contacts)],
                "edits": [e for e in (self._edit(acct, rng, stamp) for _ in range(edits)) if e],
                "orders": [o for o in (self._new_order(acct, rng, stamp) for _ in range(orders)) if o],
                "refunds": [r for r in (self._refund(acct, rng, stamp) for _ in range(refunds)) if r],
                "optin_changes": [c for c in (self._optin_change(acct, rng, stamp) for _ in range(optin_changes)) if c],
                "deletions": [d for d in (self._delete(acct, rng, stamp) for _ in range(deletions)) if d],
            }
        return summary

    def _pick_contact(self, acct: Account, rng: random.Random) -> Contact | None:
        ids = acct.contacts.ids
        for _ in range(50):
            c = acct.contacts.records[ids[rng.randrange(len(ids))]]
            if not c.isdeleted:
                return c
        return None

    def _new_contact(self, acct: Account, rng: random.Random, stamp: int) -> int:
        others = [a for a in self.accounts.values() if a is not acct and a.contacts.ids]
        shared = _pick_shared(rng, others, acct.emails) if rng.random() < 0.2 else None
        acct.next_contact += 1
        cid = (acct.index + 1) * 10_000_000 + acct.next_contact
        c = _make_contact(rng, cid, stamp, stamp, self._unique_email, shared, allow_no_email=True)
        if c.email:
            acct.emails.add(c.email.lower())
        acct.contacts.add(c)
        return cid

    def _edit(self, acct: Account, rng: random.Random, stamp: int) -> dict[str, Any] | None:
        c = self._pick_contact(acct, rng)
        if c is None:
            return None
        what = rng.choice(("phone", "address", "email", "languagecode", "c_emailingpreference", "lastname"))
        if what == "phone":
            c.phone = _phone(rng)
            c.phonetypeid = 1
        elif what == "address":
            zipcode, city, country = CITIES[rng.randrange(len(CITIES))]
            c.street = f"{rng.choice(STREETS)} {rng.randint(1, 180)}"
            c.zipcode, c.city, c.countrycode = zipcode, city, country
        elif what == "email":
            c.email = self._unique_email(rng, c.firstname, c.lastname + str(rng.randint(1, 99)))
            acct.emails.add(c.email.lower())
        elif what == "languagecode":
            c.languagecode = rng.choice([x for x in ("NL", "FR", "EN") if x != c.languagecode])
        elif what == "c_emailingpreference":
            c.emailingpreference = rng.choice([x for x in ("html", "text", "") if x != c.emailingpreference])
        else:
            c.lastname = rng.choice([x for x in LAST_NAMES if x != c.lastname])
        if c.status == "incomplete" and c.email and c.street:
            c.status = ""
        acct.contacts.touch(c, stamp)
        return {"id": c.id, "field": what}

    def _new_order(self, acct: Account, rng: random.Random, stamp: int) -> int | None:
        c = self._pick_contact(acct, rng)
        if c is None:
            return None
        upcoming = [e for e in acct.events.records.values() if e.startts > stamp] or list(acct.events.records.values())
        event = upcoming[rng.randrange(len(upcoming))]
        acct.next_order += 1
        oid = (acct.index + 1) * 10_000_000 + 5_000_000 + acct.next_order
        order = _make_order(acct, rng, oid, c.id, event, stamp, stamp, confirmed_prob=0.92)
        acct.orders.add(order)
        return oid

    def _refund(self, acct: Account, rng: random.Random, stamp: int) -> dict[str, Any] | None:
        ids = acct.orders.ids
        if not ids:
            return None
        order = None
        for _ in range(100):
            cand = acct.orders.records[ids[rng.randrange(len(ids))]]
            if cand.tickets and cand.status != ORDER_ARCHIVED:
                order = cand
                break
        if order is None:
            return None
        ticket = order.tickets.pop(rng.randrange(len(order.tickets)))
        amount = ticket[3] + ticket[4]
        if order.payments and amount:
            acct.next_payment += 1
            pid = (acct.index + 1) * 100_000_000 + acct.next_payment
            order.payments.append((pid, -amount, stamp, order.payments[0][3]))
        if order.deliverystatus == DELIVERY_DONE:
            order.deliverystatus = DELIVERY_CHANGED
        acct.orders.touch(order, stamp)
        acct.refunds += 1
        return {"orderid": order.id, "ticketid": ticket[0], "amount": _money(amount)}

    def _optin_change(self, acct: Account, rng: random.Random, stamp: int) -> dict[str, Any] | None:
        c = self._pick_contact(acct, rng)
        if c is None:
            return None
        optinid = OPTIN_SMS if (c.phone and rng.random() < 0.2) else OPTIN_NEWSLETTER
        current = next((o for o in c.optins if o.optinid == optinid), None)
        if current is None:
            current = OptIn(optinid, OPTIN_UNKNOWN, "web", "", None, stamp, stamp)
            c.optins.append(current)
            c.optins.sort(key=lambda o: o.optinid)
        new = OPTIN_NO if current.status == OPTIN_YES else OPTIN_YES
        current.status = new
        current.method = rng.choice(("web", "api"))
        current.remarks = "Uitgeschreven via link in nieuwsbrief" if new == OPTIN_NO else "Ingeschreven via webshop"
        current.userid = None
        current.lastupdatets = max(current.lastupdatets, stamp)
        acct.contacts.touch(c, stamp)
        return {"contactid": c.id, "optinid": optinid, "status": new}

    def _delete(self, acct: Account, rng: random.Random, stamp: int) -> int | None:
        c = self._pick_contact(acct, rng)
        if c is None:
            return None
        c.isdeleted = True
        c.status = "deleted"
        acct.contacts.touch(c, stamp)
        return c.id


# ---------------------------------------------------------------------------------------------------------------
# Generation


def _addresses_json(c: Contact) -> list[dict[str, Any]]:
    if not c.street:
        return []
    return [
        {
            "id": c.id * 10 + 1,
            "typeid": 1,
            "type": ADDRESS_TYPES[1],
            "street1": c.street,
            "street2": "",
            "street3": "",
            "zip": c.zipcode,
            "city": c.city,
            "state": "",
            "countrycode": c.countrycode,
            "country": COUNTRIES[c.countrycode],
            "customerid": c.id,
        }
    ]


def _phones_json(c: Contact) -> list[dict[str, Any]]:
    if not c.phone:
        return []
    return [
        {
            "id": c.id * 10 + 1,
            "typeid": c.phonetypeid,
            "type": PHONE_TYPES[c.phonetypeid],
            "number": c.phone,
            "customerid": c.id,
        }
    ]


def _optins_json(c: Contact) -> list[dict[str, Any]]:
    ip = f"198.51.100.{c.id % 254 + 1}"  # a documentation address per contact, for the web opt-ins
    return [
        {
            "id": c.id * 10 + o.optinid,
            "optinid": o.optinid,
            "status": o.status,
            "info": {
                "method": o.method,
                "remarks": o.remarks,
                "ip": ip if o.method == "web" else "",
                "userid": o.userid,
            },
            "createdts": fmt_ts(o.createdts),
            "lastupdatets": fmt_ts(o.lastupdatets),
        }
        for o in c.optins
    ]


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return f"+32 4{rng.randint(60, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
    return f"+32 {rng.choice(('9', '3', '2', '16', '50'))} {rng.randint(100, 999)} {rng.randint(10, 99)} 00"


def _make_contact(
    rng: random.Random,
    cid: int,
    createdts: int,
    lastupdatets: int,
    make_email: Callable[[random.Random, str, str], str],
    shared: Contact | None,
    *,
    allow_no_email: bool,
    force_no_email: bool = False,
) -> Contact:
    """A fictional contact. The draws come in a fixed order (name, e-mail, person, address, opt-ins, status,
    street), so the same generator state gives the same contact."""
    female, first, middle, last = _draw_name(rng, shared)
    email = _draw_email(rng, shared, first, last, make_email, allow_no_email and shared is None, force_no_email)
    sex, title, birth = _draw_person(rng, female)
    zipcode, city, country = CITIES[rng.randrange(len(CITIES))]
    lang = "FR" if city in ("Liège", "Namur") or rng.random() < 0.08 else ("EN" if rng.random() < 0.04 else "NL")
    has_address = rng.random() < 0.85
    phone = _phone(rng) if rng.random() < 0.7 else None
    source = rng.choice(("web", "web", "web", "kassa", "import"))
    optins = _draw_optins(rng, cid, createdts, lastupdatets, phone is not None, source)
    status = "incomplete" if (email is None or not has_address) and rng.random() < 0.5 else ""
    return Contact(
        id=cid,
        firstname=first,
        middlename=middle,
        lastname=last,
        email=email,
        birthdate=birth,
        sex=sex,
        customertitleid=title,
        languagecode=lang,
        street=f"{rng.choice(STREETS)} {rng.randint(1, 180)}" if has_address else "",
        zipcode=zipcode if has_address else "",
        city=city if has_address else "",
        countrycode=country,
        phone=phone,
        phonetypeid=1 if phone and phone.startswith("+32 4") else 2,
        optins=optins,
        emailingpreference=rng.choice(("html", "html", "text", "")),
        source=source,
        status=status,
        isdeleted=False,
        createdts=createdts,
        lastupdatets=lastupdatets,
    )


def _draw_name(rng: random.Random, shared: Contact | None) -> tuple[bool, str, str, str]:
    """(female, first, middle, last): a shared contact's name, else drawn."""
    female = rng.random() < 0.55
    if shared is not None:
        return (shared.sex == "F" if shared.sex else female), shared.firstname, shared.middlename, shared.lastname
    first = rng.choice(FIRST_NAMES_F if female else FIRST_NAMES_M)
    middle = rng.choice(MIDDLE_NAMES)
    last = rng.choice(LAST_NAMES)
    return female, first, middle, last


def _draw_email(
    rng: random.Random, shared: Contact | None, first: str, last: str,
    make_email: Callable[[random.Random, str, str], str], may_lack: bool, force_none: bool,
) -> str | None:  # fmt: skip
    """None now and then (``may_lack``) or when forced; a shared contact's e-mail, its case sometimes changed;
    else a new one."""
    if force_none or (may_lack and rng.random() < 0.01):
        return None
    if shared is not None and shared.email:
        email = shared.email
        roll = rng.random()
        if roll < 0.15:
            return email.upper() if email.islower() else email.lower()
        if roll < 0.3:
            return email[:1].upper() + email[1:]
        return email
    return make_email(rng, first, last)


def _draw_person(rng: random.Random, female: bool) -> tuple[str, int | None, str | None]:
    """(sex, customer title id, birth date)."""
    sexroll = rng.random()
    sex = "" if sexroll < 0.1 else ("F" if female else "M")
    title = None if sexroll < 0.1 else (1 if female else 2)
    if sexroll < 0.02:
        title = 3
    if rng.random() < 0.6:
        birth = f"{rng.randint(1940, 2008)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    else:
        birth = None
    return sex, title, birth


def _draw_optins(
    rng: random.Random, cid: int, createdts: int, lastupdatets: int, has_phone: bool, source: str
) -> list[OptIn]:
    """The newsletter opt-in, the SMS one for a contact with a phone, and the terms."""
    optins: list[OptIn] = []
    roll = rng.random()
    news = OPTIN_UNKNOWN if roll < 0.3 else (OPTIN_YES if roll < 0.75 else OPTIN_NO)
    method = OPTIN_METHODS[rng.randrange(len(OPTIN_METHODS))]
    changed = createdts if news == OPTIN_UNKNOWN else rng.randint(createdts, lastupdatets)
    remarks = "" if news == OPTIN_UNKNOWN else ("Aangevinkt bij aankoop" if news == OPTIN_YES else "Afgemeld")
    userid = None if method in ("web", "api") else 100 + cid % 7
    optins.append(OptIn(OPTIN_NEWSLETTER, news, method, remarks, userid, createdts, changed))
    if has_phone:
        sroll = rng.random()
        sms = OPTIN_UNKNOWN if sroll < 0.5 else (OPTIN_YES if sroll < 0.7 else OPTIN_NO)
        optins.append(OptIn(OPTIN_SMS, sms, method, "", userid, createdts, createdts))
    terms = OPTIN_YES if source == "web" else OPTIN_UNKNOWN
    optins.append(OptIn(OPTIN_TERMS, terms, method, "", userid, createdts, createdts))
    return optins


def _pick_shared(rng: random.Random, others: Sequence[Account], taken: set[str]) -> Contact | None:
    """A contact of another account whose e-mail this account does not have yet (the same buyer, another house)."""
    if not others:
        return None
    for _ in range(5):
        other = others[rng.randrange(len(others))]
        if not other.contacts.ids:
            continue
        c = other.contacts.records[other.contacts.ids[rng.randrange(len(other.contacts.ids))]]
        if c.email and c.email.lower() not in taken:
            return c
    return None


def _unique_email_in(used: set[str], rng: random.Random, first: str, last: str) -> str:
    base = f"{_ascii(first)}.{_ascii(last)}"
    local = base
    while f"{local}@example.org" in used:
        local = f"{base}{rng.randint(2, 9999)}"
    email = f"{local}@example.org"
    used.add(email)
    if rng.random() < 0.1:
        email = f"{local[:1].upper()}{local[1:]}@Example.org"
    return email


def _make_order(
    acct: Account,
    rng: random.Random,
    oid: int,
    customerid: int,
    event: Event,
    createdts: int,
    lastupdatets: int,
    *,
    confirmed_prob: float,
) -> Order:
    channel = CHANNEL_WEB if rng.random() < 0.7 else CHANNEL_BOX_OFFICE
    service = 150 if channel == CHANNEL_WEB else 0
    n = 1 + min(int(rng.expovariate(0.9)), 7)
    tickets: list[Ticket] = []
    ptid = 1
    for k in range(n):
        if k == 0 or rng.random() < 0.3:
            roll = rng.random()
            ptid = 1 if roll < 0.6 else (2 if roll < 0.75 else (3 if roll < 0.9 else (4 if roll < 0.97 else 5)))
        price = int(event.baseprice * PRICETYPES[ptid][1]) // 50 * 50
        acct.next_ticket += 1
        tickets.append(
            ((acct.index + 1) * 100_000_000 + acct.next_ticket, event.id, ptid, price, service if price else 0)
        )
    products: list[ProductLine] = []
    if rng.random() < 0.05:
        pid = 1 if rng.random() < 0.6 else (2 if rng.random() < 0.5 else 3)
        acct.next_product_line += 1
        products.append(((acct.index + 1) * 10_000_000 + acct.next_product_line, pid, PRODUCTS[pid][2]))
    order = Order(
        id=oid,
        customerid=customerid,
        saleschannelid=channel,
        status=ORDER_CONFIRMED,
        deliverystatus=DELIVERY_NOT,
        tickets=tickets,
        products=products,
        payments=[],
        createdts=createdts,
        lastupdatets=lastupdatets,
    )
    if rng.random() < confirmed_prob:
        acct.next_payment += 1
        method = 3 if channel == CHANNEL_BOX_OFFICE and rng.random() < 0.5 else rng.choice((1, 1, 2, 4))
        paidts = min(createdts + rng.randint(0, 120), lastupdatets)
        order.payments.append(((acct.index + 1) * 100_000_000 + acct.next_payment, order.total(), paidts, method))
        order.deliverystatus = DELIVERY_DONE if rng.random() < 0.85 else DELIVERY_NOT
        if lastupdatets - createdts > 180 * 86400 and rng.random() < 0.3:
            order.status = ORDER_ARCHIVED
    else:
        order.status = ORDER_UNCONFIRMED
    return order


def _optin_defs(anchor: int) -> list[dict[str, Any]]:
    created = fmt_ts(anchor - TWO_YEARS - 86400 * 30)
    updated = fmt_ts(anchor - 86400 * 90)
    base = {"isarchived": False, "createdts": created, "lastupdatets": updated}
    channels = [{"saleschannelid": CHANNEL_WEB}, {"saleschannelid": CHANNEL_BOX_OFFICE}]
    return [
        {
            "id": OPTIN_NEWSLETTER,
            "typeid": 40002,
            "name": "Nieuwsbrief",
            "description": "Maandelijkse nieuwsbrief met de programmatie",
            "caption": "Ik ontvang graag de nieuwsbrief",
            "yescaption": "Ja, stuur mij de nieuwsbrief",
            "nocaption": "Nee, liever niet",
            "availability": channels,
            **base,
        },
        {
            "id": OPTIN_SMS,
            "typeid": 40002,
            "name": "SMS",
            "description": "Praktische berichten per sms",
            "caption": "Ik ontvang graag berichten per sms",
            "yescaption": "Ja",
            "nocaption": "Nee",
            "availability": [{"saleschannelid": CHANNEL_WEB}],
            **base,
        },
        {
            "id": OPTIN_TERMS,
            "typeid": 40001,
            "name": "Algemene voorwaarden",
            "description": "Aanvaarding van de algemene verkoopsvoorwaarden",
            "caption": "Ik aanvaard de algemene voorwaarden",
            "yescaption": "Ik aanvaard",
            "nocaption": "Ik aanvaard niet",
            "availability": channels,
            **base,
        },
    ]


def _build_account(
    seed: int, index: int, name: str, house: str, n_contacts: int, n_events: int, anchor: int,
    used: set[str], earlier: list[Account],
) -> Account:  # fmt: skip
    acct = Account(name=name, house=house, index=index, optin_defs=_optin_defs(anchor))
    rng = random.Random(f"{seed}:{name}:build")  # noqa: S311 - repeatable fictional data
    start = anchor - TWO_YEARS

    events: list[Event] = []
    for j in range(n_events):
        eid = (index + 1) * 1000 + j + 1
        day = start + 30 * 86400 + (TWO_YEARS + 150 * 86400) * j // n_events + rng.randint(0, 86400)
        startts = day - day % 86400 + rng.choice((18, 19)) * 3600 + rng.choice((0, 1800))  # an evening (UTC)
        created = max(start - 60 * 86400, startts - rng.randint(60, 200) * 86400 + rng.randrange(86400))
        created = min(created, anchor - 3600)
        updated = min(created + rng.randint(0, 40) * 86400, anchor - 60)
        tags = tuple(sorted(rng.sample(EVENT_TAGS, rng.randint(1, 3))))
        status = EVENT_CLOSED if startts < anchor else (EVENT_ACTIVE if rng.random() < 0.9 else EVENT_DRAFT)
        events.append(
            Event(
                id=eid,
                name=f"{rng.choice(EVENT_WORDS_A)}" + ("" if rng.random() < 0.6 else f" {rng.randint(2, 4)}"),
                subtitle=rng.choice(EVENT_WORDS_B),
                startts=startts,
                endts=startts + rng.choice((75, 90, 120, 150)) * 60,
                locationname=rng.choice(LOCATIONS),
                productionid=(index + 1) * 1000 + j // 2 + 1,
                tags=tags,
                currentstatus=status,
                seated=rng.random() < 0.6,
                baseprice=rng.choice((1200, 1500, 1800, 2200, 2500, 3200)),
                createdts=created,
                lastupdatets=updated,
            )
        )
    acct.events.load(events)
    starts = [e.startts for e in events]

    def make_email(r: random.Random, first: str, last: str) -> str:
        return _unique_email_in(used, r, first, last)

    contacts: list[Contact] = []
    for i in range(n_contacts):
        cid = (index + 1) * 10_000_000 + i + 1
        created = start + rng.randrange(TWO_YEARS - 3600)
        updated = created if rng.random() < 0.5 else rng.randint(created, anchor - 60)
        shared = _pick_shared(rng, earlier, acct.emails) if rng.random() < 0.2 else None
        c = _make_contact(
            rng, cid, created, updated, make_email, shared, allow_no_email=True, force_no_email=i % 97 == 7
        )
        if c.email:
            acct.emails.add(c.email.lower())
        if i % 37 == 11:
            c.isdeleted, c.status = True, "deleted"
        contacts.append(c)
    acct.next_contact = n_contacts
    acct.contacts.load(contacts)

    orders: list[Order] = []
    n_orders = 3 * n_contacts
    active = [c for c in contacts if not c.isdeleted] or contacts
    bulk = anchor - 86400 * (3 + index) + 2 * 3600 + 17
    for k in range(n_orders):
        c = active[rng.randrange(len(active))]
        created = rng.randint(c.createdts, anchor - 120)
        j = bisect_left(starts, created)
        event = events[rng.randrange(j, len(events))] if j < len(events) else events[rng.randrange(len(events))]
        roll = rng.random()
        if roll < 0.02:  # a nightly bulk job touched these orders in the same second
            later = max(created, bulk)
        elif roll < 0.1:
            later = rng.randint(created, anchor - 61)
        else:
            later = min(created + rng.randint(0, 600), anchor - 61)
        oid = (index + 1) * 10_000_000 + 5_000_000 + k + 1
        orders.append(_make_order(acct, rng, oid, c.id, event, created, max(created, later), confirmed_prob=0.96))
    acct.next_order = n_orders
    acct.orders.load(orders)
    return acct


def build_world(seed: int = 11, size: str | int = "test", anchor: datetime | None = None) -> TicketmaticWorld:
    """Seeded, fictional accounts. Same arguments, same data.

    ``size``: ``"test"`` (2 accounts, 50 contacts and ~150 orders each), ``"demo"`` (3 accounts, 2,000
    contacts each) or an int N (3 accounts, N contacts and ~3·N orders each). ``anchor`` (aware, UTC; default
    now floored to the minute minus one minute): every generated timestamp lies in the two years before it.
    """
    if isinstance(size, bool):
        raise ValueError("size must be 'test', 'demo' or a positive int")
    if size == "test":
        n_accounts, n_contacts, n_events = 2, 50, 12
    elif size == "demo":
        n_accounts, n_contacts, n_events = 3, 2000, 40
    elif isinstance(size, int) and 1 <= size <= 1_000_000:
        n_accounts, n_contacts, n_events = 3, size, max(12, min(400, size // 100))
    else:
        raise ValueError("size must be 'test', 'demo' or an int between 1 and 1,000,000")
    if anchor is None:
        now = _utc_now().replace(second=0, microsecond=0)
        anchor = now - timedelta(minutes=1)
    anchor_ts = _epoch(anchor)
    used: set[str] = set()
    accounts: list[Account] = []
    for index, (name, house) in enumerate(ACCOUNTS[:n_accounts]):
        accounts.append(_build_account(seed, index, name, house, n_contacts, n_events, anchor_ts, used, accounts))
    # The first account shares buyers with the later ones too (it has no earlier account to copy from).
    if len(accounts) > 1:
        first = accounts[0]
        rng = random.Random(f"{seed}:share-back")  # noqa: S311 - repeatable fictional data
        sources = [c for a in accounts[1:] for c in a.contacts.records.values() if c.email]
        taken = first.emails
        for cid in first.contacts.ids:
            c = first.contacts.records[cid]
            if c.email and rng.random() < 0.12 and sources:
                other = sources[rng.randrange(len(sources))]
                if other.email and other.email.lower() not in taken:
                    used.discard(c.email.lower())
                    c.firstname, c.middlename, c.lastname = other.firstname, other.middlename, other.lastname
                    c.email = other.email.lower() if rng.random() < 0.5 else other.email
                    taken.add(c.email.lower())
    return TicketmaticWorld(seed, size, anchor_ts, accounts)
