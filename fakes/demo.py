"""A fictional demo cluster: invented houses and buyers, e-mail addresses at example.org only."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from consent_hub.actors import Actor
from consent_hub.clients.service import ClientService
from consent_hub.clusters import ClusterRegistry
from consent_hub.houses.service import HouseService
from consent_hub.people.service import PeopleService
from consent_hub.vocabulary import ConsentStatus

DEMO_HOUSES = [
    ("schouwburg-leie", "Schouwburg aan de Leie", "1001"),
    ("concertzaal-ijzer", "Concertzaal De IJzer", "1002"),
    ("theater-vlasmarkt", "Theater Vlasmarkt", "1003"),
    ("cc-de-brug", "Cultuurcentrum De Brug", "1004"),
    ("danshuis-mandel", "Danshuis Mandel", "1005"),
    ("jeugdtheater-pluim", "Jeugdtheater Pluim", "1006"),
    ("festival-zomerleie", "Festival Zomerleie", "1007"),
    ("muziekclub-kanaal", "Muziekclub Kanaal", "1008"),
]

GIVEN = [
    "Anouk",
    "Bram",
    "Charlotte",
    "Dries",
    "Elise",
    "Fien",
    "Gilles",
    "Hanne",
    "Ilias",
    "Jolien",
    "Kobe",
    "Lotte",
    "Maarten",
    "Nore",
    "Olivier",
    "Pieter",
    "Quinten",
    "Roos",
    "Sander",
    "Tine",
    "Urbain",
    "Veerle",
    "Wout",
    "Xander",
    "Yana",
    "Zeno",
    "Amélie",
    "Cédric",
    "Inès",
    "Loïc",
]
FAMILY = [
    "Vandeputte",
    "Claeys",
    "Desmet",
    "Verhaeghe",
    "Lambrecht",
    "Vanhoutte",
    "Debruyne",
    "Vercruysse",
    "Goethals",
    "Decock",
    "Vandamme",
    "Maes",
    "Deprez",
    "Coussement",
    "Ryckaert",
    "Vanneste",
    "Declercq",
    "Van den Broecke",
    "Dewulf",
    "Lefebvre",
]
STREETS = ["Leiestraat", "Kanaalweg", "Vlasmarkt", "Korenlei", "Molenstraat", "Beekstraat", "Schoolstraat"]
CITIES = [
    ("8500", "Kortrijk"),
    ("8800", "Roeselare"),
    ("8900", "Ieper"),
    ("8700", "Tielt"),
    ("8790", "Waregem"),
    ("8560", "Wevelgem"),
    ("9000", "Gent"),
]


DEMO_TIXLY_PORT = 8010
DEMO_CRM_PORT = 8030
DEMO_MAIL_PAGE_PORT = 8025  # the demo's mails are read at http://127.0.0.1:8025/
DEMO_SMTP_PORT = 2525
# the buyer to try on the buyer's pages (README): a customer of the Schouwburg who gets its newsletter
DEMO_BUYER = {
    "given_name": "Noor",
    "family_name": "Vermeulen",
    "email": "noor.vermeulen@example.org",
    "language": "nl",
    "city": "Kortrijk",
    "postal_code": "8500",
    "country": "BE",
}


def demo_sync_config(cluster: str, port: int = DEMO_TIXLY_PORT, crm_port: int = DEMO_CRM_PORT) -> str:
    """hub.toml sections for the demo: a fake Tixly served beside the hub (fictional cluster of
    8 houses, 5,000 buyers, ~50,000 ticket lines, a joint subscription of two houses, opt-ins)
    and a connector that syncs it on start and every minute."""
    return f"""
# Demo only: a fake Tixly CRM API served by the hub process itself, with fictional data.
[fake_engines.tixly]
port = {port}
seed = 7
size = "demo"
evolve_every = 20

[clusters.{cluster}.connectors.tixly]
kind = "tixly"
base_url = "http://127.0.0.1:{port}/v3"
token = "tixly-demo-token"  # the fake's token; a real engine's token goes in token_env
every_seconds = 60
run_on_start = true

[clusters.{cluster}.connectors.tixly.programs.9001]
program = "duo-leie-ijzer"
houses = ["schouwburg-leie", "concertzaal-ijzer"]

# Demo only: a fake Mailchimp-shaped CRM holding the Schouwburg's newsletter audience.
[fake_engines.mailchimp]
port = {crm_port}
size = "leie-newsletter"

[clusters.{cluster}.destinations.crm-leie]
kind = "mailchimp"
base_url = "http://127.0.0.1:{crm_port}/3.0"
list_id = "leie-newsletter"
api_key = "0123456789abcdef0123456789abcdef-us21"  # the fake's key; a real one goes in api_key_env
house = "schouwburg-leie"
purpose = "newsletter"

# Demo only: a local SMTP catcher; the demo's mails (sign-in links, codes) are read at
# http://127.0.0.1:{DEMO_MAIL_PAGE_PORT}/
[fake_engines.mailcatcher]
port = {DEMO_MAIL_PAGE_PORT}
size = "smtp={DEMO_SMTP_PORT}"

[clusters.{cluster}.mail]
host = "127.0.0.1"
port = {DEMO_SMTP_PORT}
tls = "none"  # the local catcher only; a real server uses starttls or tls and password_env
sender = "Demo cluster <privacy@demo.example.org>"

# the buyer's own pages: http://127.0.0.1:8000/my/{cluster}/
[clusters.{cluster}.buyer]
public_base_url = "http://127.0.0.1:8000"
"""


def fictional_people(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - repeatable fictional data, not a secret
    for i in range(n):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        postal, city = rng.choice(CITIES)
        person: dict[str, Any] = {
            "given_name": given,
            "family_name": family,
            "email": f"{given}.{family}.{i}@example.org".lower().replace(" ", ""),
            "street_address": f"{rng.choice(STREETS)} {rng.randint(1, 240)}",
            "postal_code": postal,
            "city": city,
            "country": "BE",
            "birth_date": (dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 65))).isoformat(),
            "language": rng.choice(["nl", "nl", "nl", "fr", "en"]),
        }
        if rng.random() < 0.7:
            person["phone"] = (
                f"+32 47{rng.randint(0, 9)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
            )
        yield person


def seed_demo(registry: ClusterRegistry, cluster: str, *, people: int = 500) -> dict[str, str]:
    """Register the demo houses, the API clients and some buyers. Returns the API keys."""
    actor = Actor.cli(cluster)
    expires = (dt.date.today() + dt.timedelta(days=365)).isoformat()
    keys: dict[str, str] = {}
    with registry.unit_of_work(cluster) as uow:
        houses = HouseService(uow)
        for slug, name, org in DEMO_HOUSES:
            houses.add(actor, {"slug": slug, "name": name, "tixly_organisation_id": org})
        clients = ClientService(uow)
        for role, name in (
            ("cluster-admin", "Demo cluster admin"),
            ("cluster-service", "Demo service account"),
            ("cluster-dpo", "Demo cluster DPO"),
        ):
            created = clients.add(actor, {"name": name, "role": role, "agreement": "DEMO-DPA-2026", "expires": expires})
            keys[role] = created.api_key
        created = clients.add(
            actor,
            {
                "name": "Box office Schouwburg",
                "role": "box-office",
                "house": "schouwburg-leie",
                "agreement": "DEMO-DPA-2026",
                "expires": expires,
            },
        )
        keys["box-office@schouwburg-leie"] = created.api_key
        created = clients.add(
            actor,
            {
                "name": "Marketing Concertzaal",
                "role": "marketer",
                "house": "concertzaal-ijzer",
                "agreement": "DEMO-DPA-2026",
                "expires": expires,
            },
        )
        keys["marketer@concertzaal-ijzer"] = created.api_key
        # the DPO console's house view (the cluster DPO's key above sees the whole cluster)
        created = clients.add(
            actor,
            {
                "name": "DPO Schouwburg",
                "role": "house-dpo",
                "house": "schouwburg-leie",
                "agreement": "DEMO-DPA-2026",
                "expires": expires,
            },
        )
        keys["house-dpo@schouwburg-leie"] = created.api_key
    with registry.unit_of_work(cluster) as uow:
        ids = PeopleService(uow).bulk_create(actor, list(fictional_people(people))).created
    _seed_relations_and_consents(registry, cluster, actor, ids)
    _seed_demo_buyer(registry, cluster, actor)
    return keys


def _seed_demo_buyer(registry: ClusterRegistry, cluster: str, actor: Actor) -> None:
    """The buyer the README suggests for the buyer's pages: known to the Schouwburg only."""
    from consent_hub.access.service import RelationService
    from consent_hub.consent.catalogue import load_catalogue
    from consent_hub.consent.service import ConsentService

    with registry.unit_of_work(cluster) as uow:
        pid = PeopleService(uow).create(actor, DEMO_BUYER)
        RelationService(uow).touch(actor, pid, "schouwburg-leie", "customer", reason="data-migration")
        ConsentService(uow).record(
            actor,
            pid,
            {
                "purpose": "newsletter",
                "target": "schouwburg-leie",
                "status": ConsentStatus.GRANTED,
                "language": "nl",
                "channel": "box-office",
                "notice_sha256": load_catalogue().get("newsletter").texts["nl"].sha256,
            },
        )


def _seed_relations_and_consents(registry: ClusterRegistry, cluster: str, actor: Actor, ids: list[Any]) -> None:
    """Every buyer bought at one or two houses; some agreed to a house's newsletter or to the
    whole cluster's offers; a few refused or later withdrew."""
    from consent_hub.access.service import RelationService
    from consent_hub.consent.catalogue import load_catalogue
    from consent_hub.consent.service import ConsentService

    rng = random.Random(11)  # noqa: S311 - repeatable fictional data
    catalogue = load_catalogue()
    now = dt.datetime.now(dt.UTC)
    slugs = [slug for slug, _, _ in DEMO_HOUSES]
    with registry.unit_of_work(cluster) as uow:
        relations, consents = RelationService(uow), ConsentService(uow)
        for pid in ids:
            houses = rng.sample(slugs, rng.choice([1, 1, 2]))
            for house in houses:
                relations.touch(
                    actor,
                    pid,
                    house,
                    "customer",
                    reason="data-migration",
                    seen_at=now - dt.timedelta(days=rng.randint(1, 700)),
                )
            roll = rng.random()
            if roll < 0.35:
                purpose, target = "newsletter", houses[0]
            elif roll < 0.5:
                purpose, target = "cluster-marketing", None
            else:
                continue
            status = rng.choice([ConsentStatus.GRANTED] * 6 + [ConsentStatus.REFUSED])
            consents.record(
                actor,
                pid,
                {
                    "purpose": purpose,
                    "target": target,
                    "status": status,
                    "language": "nl",
                    "channel": rng.choice(["web", "box-office", "website-form"]),
                    "notice_sha256": catalogue.get(purpose).texts["nl"].sha256,
                    "given_at": (now - dt.timedelta(days=rng.randint(1, 300))).isoformat(),
                },
            )
