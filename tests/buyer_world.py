"""A small world for the buyer's pages: two houses of cluster ``alpha`` (house A knows the buyer
through a purchase, house B does not), the notices published, mail to a real SMTP catcher on
loopback, and the buyer's pages switched on for both clusters (``beta`` too, for the
other-cluster link)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

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
            hub.actor(), {"email": BUYER_EMAIL, "given_name": "Fien", "family_name": "Claeys"}
        )
        RelationService(uow).touch(hub.actor(), person_id, HOUSE_A, "customer", reason="data-migration")
    return BuyerWorld(hub, catcher, person_id)


def csrf_in(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def ask_sign_in(client: Any, email: str = BUYER_EMAIL, cluster: str = "alpha", **kwargs: Any) -> Any:
    """Open the sign-in page (it sets the form cookie) and send the address with its CSRF token."""
    csrf = csrf_in(client.get(f"/my/{cluster}/").text)
    return client.post(f"/my/{cluster}/sign-in", data={"email": email, "csrf": csrf}, **kwargs)


def press_link(client: Any, token: str, cluster: str = "alpha", **kwargs: Any) -> Any:
    """Open a sign-in link's page and press its button."""
    csrf = csrf_in(client.get(f"/my/{cluster}/sign-in/link/{token}").text)
    return client.post(f"/my/{cluster}/sign-in/link", data={"token": token, "csrf": csrf}, **kwargs)


def type_code(client: Any, check_mail_page: str, code: str, cluster: str = "alpha", **kwargs: Any) -> Any:
    """Type a code on the page that asked for it."""
    handle = re.search(r'name="handle" value="([^"]+)"', check_mail_page)
    assert handle
    data = {"handle": handle.group(1), "code": code, "csrf": csrf_in(check_mail_page)}
    return client.post(f"/my/{cluster}/sign-in/code", data=data, **kwargs)
