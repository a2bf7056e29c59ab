"""A small world for the buyer's pages: two houses of cluster ``alpha`` (house A knows the buyer
through a purchase, house B does not), the notices published, mail to a real SMTP catcher on
loopback, and the buyer's pages switched on for both clusters (``beta`` too, for the
other-cluster link)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from consent_hub.access.service import RelationService
from consent_hub.config import BuyerConfig, MailConfig
from consent_hub.consent.service import ConsentService
from consent_hub.people.service import PeopleService
from fakes.mailcatcher import CaughtMail, MailCatcher
from tests.conftest import Hub

BUYER_EMAIL = "fien.claeys@example.org"
HOUSE_A, HOUSE_B = "house-a", "house-b"
LINK = re.compile(r"(https?://\S+/sign-in/link/([A-Za-z0-9_-]+))")
CODE = re.compile(r"\b(\d{8})\b")


@dataclass
class BuyerWorld:
    hub: Hub
    catcher: MailCatcher
    person_id: uuid.UUID

    def last_mail(self, address: str = BUYER_EMAIL, count: int = 1) -> CaughtMail:
        return self.catcher.wait_for(address, count)[-1]

    def link_in(self, mail: CaughtMail) -> tuple[str, str]:
        match = LINK.search(mail.text)
        assert match, "no sign-in link in the mail"
        return match.group(1), match.group(2)

    def code_in(self, mail: CaughtMail) -> str:
        match = CODE.search(mail.text)
        assert match, "no code in the mail"
        return match.group(1)


def configure(hub: Hub, catcher: MailCatcher, base_url: str = "http://127.0.0.1:8000", **buyer: object) -> None:
    for name in hub.settings.clusters:
        cluster = hub.settings.clusters[name]
        cluster.display_name = f"Cluster {name.title()}"
        cluster.mail = MailConfig(
            host=catcher.host, port=catcher.smtp_port, tls="none", sender=f"Cluster {name} <privacy@{name}.example.org>"
        )
        cluster.buyer = BuyerConfig(public_base_url=base_url, **buyer)  # type: ignore[arg-type]


def build_world(hub: Hub, catcher: MailCatcher, base_url: str = "http://127.0.0.1:8000", **buyer: object) -> BuyerWorld:
    configure(hub, catcher, base_url, **buyer)
    for cluster in hub.settings.clusters:
        with hub.uow(cluster) as uow:
            ConsentService(uow).sync_notices(hub.actor(cluster))
    hub.add_house(HOUSE_A)
    hub.add_house(HOUSE_B)
    with hub.uow() as uow:
        person_id = PeopleService(uow).create(
            hub.actor(), {"email": BUYER_EMAIL, "given_name": "Fien", "family_name": "Claeys", "language": "nl"}
        )
        RelationService(uow).touch(hub.actor(), person_id, HOUSE_A, "customer", reason="data-migration")
    return BuyerWorld(hub, catcher, person_id)
