"""Signing in without an account: an e-mail address gets a single-use link and a code; the link's
page signs in by POST, the code is typed on the page where the address was entered.

- Tokens, codes, form handles and session ids are random (the OS CSPRNG) and stored only as keyed
  hashes (HMAC under a key of the cluster's blind-index key, so a hash of one cluster never matches
  in another and a stolen database cannot test guesses).
- An unknown address does the same work as a known one (blind index, a sign-in row, the mail
  rendered, an audit entry) and gets the same page; only no mail leaves for it. Sending happens
  after the commit, in the mail thread, so it adds no time to the answer.
- Limits per address blind index and per client network (``limits``), checked before anything is
  written; a limited request writes nothing.
- A used, expired, revoked, unknown or foreign link or code is refused with one answer.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import re
import uuid
from dataclasses import dataclass

from limits import RateLimitItem, parse

from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.buyer.repository import BuyerRepository
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.config import BuyerConfig
from consent_hub.crypto.blind_index import BUYER_SECRETS
from consent_hub.crypto.randomness import TOKEN_SHAPE, new_token, new_uuid, random_bytes
from consent_hub.errors import ClientError, ConfigurationError
from consent_hub.i18n import chosen_language
from consent_hub.mail.sender import compose, mail_queue
from consent_hub.people.fields import normalise_email
from consent_hub.people.service import PeopleService
from consent_hub.people.statuses import RECORDED_STATUSES
from consent_hub.storage.models import BuyerSession, BuyerSignIn, Person
from consent_hub.web.limits import MovingWindow, limiter_of

CODE_DIGITS = 8
CODE_SHAPE = re.compile(rf"^[0-9]{{{CODE_DIGITS}}}$")
# the sign-in page's own actor: nobody is signed in yet; the entry names the person if the address is known
SIGN_IN_ACTOR_ID = "web:sign-in"


class SignInLimited(ClientError):
    """Too many sign-in requests from this address or network: try again later."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many sign-in requests; try again later")
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}


class SignInRefused(ClientError):
    """The sign-in link or code is not valid (used, expired, revoked or wrong): ask for a new one."""

    status_code = 400


class InvalidAddress(ClientError):
    """The e-mail address is not a valid address."""

    status_code = 422


def new_code() -> str:
    return f"{int.from_bytes(random_bytes(8), 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def network_of(client_ip: str | None) -> str | None:
    """The client's network: IPv4 /24, IPv6 /48 (what the limiter counts and consent evidence keeps)."""
    if not client_ip:
        return None
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class SignInLimiter:
    """Moving-window limits per address blind index and per client network, for one cluster."""

    def __init__(self, config: BuyerConfig) -> None:
        self.window = MovingWindow(config.rate_limit_storage)
        self.per_address: RateLimitItem = parse(config.sign_in_per_address)
        self.per_network: RateLimitItem = parse(config.sign_in_per_network)

    def check(self, item: RateLimitItem, *keys: str) -> None:
        wait = self.window.hit(item, *keys)
        if wait is not None:
            raise SignInLimited(wait)


@dataclass(frozen=True)
class SignedIn:
    session_token: str
    actor: Actor
    language: str


@dataclass(frozen=True)
class BuyerSessionView:
    actor: Actor
    person_id: uuid.UUID
    language: str
    csrf: str
    token: str


@dataclass(frozen=True)
class CodeAnswer:
    signed_in: SignedIn | None
    tries_left: int


class SignInService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = BuyerRepository(uow.session)
        self.audit = AuditLog(uow.session, uow.cluster)
        cluster_config = uow.rt.settings.cluster(uow.cluster)
        if cluster_config.buyer is None:
            raise ConfigurationError("this cluster has no [buyer] configuration")
        self.config: BuyerConfig = cluster_config.buyer
        self.mail_config = cluster_config.mail
        self.cluster_name = cluster_config.display_name or uow.cluster

    def secret_hash(self, kind: str, value: str) -> bytes:
        return self.uow.rt.indexer.index(BUYER_SECRETS, f"{kind}|{value}")

    def csrf_of(self, session_token: str) -> str:
        return self.secret_hash("csrf", session_token).hex()[:40]

    @property
    def link_base(self) -> str:
        return f"{self.config.public_base_url.rstrip('/')}/my/{self.uow.cluster}/sign-in/link/"

    # -- asking for a sign-in ------------------------------------------------------------------------
    def request(self, email: str, language: str, client_ip: str | None) -> str:
        """Write a sign-in for ``email`` and mail it if the address is known; return the handle of
        the code form. The same work and the same answer either way."""
        config = self.config
        limiter = limiter_of("buyer-sign-in", self.uow.rt, lambda: SignInLimiter(config))
        network = network_of(client_ip)
        if network is not None:
            limiter.check(limiter.per_network, "sign-in-network", self.uow.cluster, network)
        try:
            address, _ = normalise_email(email)
        except ValueError:
            raise InvalidAddress("enter an e-mail address such as name@example.org") from None
        email_bidx = PeopleService(self.uow).email_index(address)
        limiter.check(limiter.per_address, "sign-in-address", self.uow.cluster, email_bidx.hex())
        person = self.repo.person_by_email_index(email_bidx)
        known = person is not None and person.status in RECORDED_STATUSES
        now = utcnow()
        token, handle, code = new_token(), new_token(), new_code()
        sign_in_id = new_uuid()
        self.repo.add(
            BuyerSignIn(
                id=sign_in_id,
                # an unknown address gets a random id that names nobody: the same row, the same work
                person_id=person.id if known and person is not None else new_uuid(),
                token_hash=self.secret_hash("link", token),
                form_hash=self.secret_hash("form", handle),
                code_hash=self.secret_hash("code", f"{sign_in_id}|{code}"),
                tries_left=self.config.code_tries,
                language=language,
                created_at=now,
                expires_at=now + dt.timedelta(minutes=self.config.link_minutes),
            )
        )
        # names no person (known or not, the entry is the same); the sign-in row says whose it was
        self.audit.append(
            Actor(SIGN_IN_ACTOR_ID, self.uow.cluster, roles.BUYER),
            AuditRecord("buyer.sign-in.requested", detail={"sign_in": str(sign_in_id)}),
        )
        mail = compose(
            "sign_in",
            language,
            address,
            {
                "cluster_name": self.cluster_name,
                "link": self.link_base + token,
                "code": code,
                "minutes": self.config.link_minutes,
            },
        )
        mail_queue().send_after_commit(self.uow.session, self.mail_config, mail, send=known)
        return handle

    # -- signing in ----------------------------------------------------------------------------------
    def with_link(self, token: str, request_id: str | None = None) -> SignedIn:
        row = self.repo.sign_in_by_token(self.secret_hash("link", token)) if TOKEN_SHAPE.match(token) else None
        return self._complete(row, "link", request_id)

    def with_code(self, handle: str, code: str, request_id: str | None = None) -> CodeAnswer:
        """A right code signs in; a wrong one spends a try (returned, not raised, so the spent try
        commits); with no try left the code is gone."""
        row = self.repo.sign_in_by_form(self.secret_hash("form", handle)) if TOKEN_SHAPE.match(handle) else None
        if row is None or not self._open(row) or row.tries_left <= 0:
            raise SignInRefused("this code can no longer be used: ask for a new one")
        code = code.strip().replace(" ", "")
        expected = self.secret_hash("code", f"{row.id}|{code}") if CODE_SHAPE.match(code) else b""
        if not hmac.compare_digest(bytes(row.code_hash), expected):
            left = self.repo.spend_try(row.id)
            self.audit.append(
                Actor(SIGN_IN_ACTOR_ID, self.uow.cluster, roles.BUYER),
                AuditRecord("buyer.sign-in.wrong-code", detail={"sign_in": str(row.id), "tries_left": left}),
            )
            return CodeAnswer(None, left)
        return CodeAnswer(self._complete(row, "code", request_id), row.tries_left)

    def _open(self, row: BuyerSignIn) -> bool:
        return row.used_at is None and row.revoked_at is None and row.expires_at > utcnow()

    def _complete(self, row: BuyerSignIn | None, by: str, request_id: str | None) -> SignedIn:
        if row is None or row.person_id is None or not self._open(row):
            raise SignInRefused("this sign-in link or code is not valid any more: ask for a new one")
        person: Person | None = self.repo.person(row.person_id)
        if person is None or person.status not in RECORDED_STATUSES:
            raise SignInRefused("this sign-in link or code is not valid any more: ask for a new one")
        now = utcnow()
        if not self.repo.use_sign_in(row.id, now):
            raise SignInRefused("this sign-in link or code is not valid any more: ask for a new one")
        self.repo.revoke_sign_ins(person.id, now)  # every other link or code of this person is gone too
        session_token = new_token()
        actor = Actor.buyer(self.uow.cluster, person.id, request_id)
        self.audit.append(actor, AuditRecord("buyer.sign-in", [person.id], detail={"sign_in": str(row.id), "by": by}))
        # the pages speak the buyer's own language (an audited read of that one field), else the
        # language of the page where they asked for the link
        own = PeopleService(self.uow).read_own(actor, person.id, fields=["language"], detail={"sign_in": str(row.id)})
        language = chosen_language(own.fields.get("language"), row.language)
        self.repo.add(
            BuyerSession(
                id_hash=self.secret_hash("session", session_token),
                person_id=person.id,
                language=language,
                created_at=now,
                last_seen_at=now,
            )
        )
        return SignedIn(session_token, actor, language)

    # -- sessions --------------------------------------------------------------------------------------
    def session(self, token: str | None, request_id: str | None = None) -> BuyerSessionView | None:
        """The signed-in buyer of this cookie, or None (unknown, ended, idle too long, person erased).
        Each use moves the idle clock."""
        if not token or not TOKEN_SHAPE.match(token):
            return None
        id_hash = self.secret_hash("session", token)
        row = self.repo.session_by_hash(id_hash)
        if row is None or row.ended_at is not None:
            return None
        now = utcnow()
        if row.last_seen_at + dt.timedelta(minutes=self.config.session_idle_minutes) <= now:
            self.repo.end_session(id_hash, now)
            return None
        person = self.repo.person(row.person_id)
        if person is None or person.status not in RECORDED_STATUSES:
            return None
        self.repo.touch_session(id_hash, now)
        actor = Actor.buyer(self.uow.cluster, row.person_id, request_id)
        return BuyerSessionView(actor, row.person_id, row.language, self.csrf_of(token), token)

    def set_language(self, session: BuyerSessionView, language: str) -> None:
        self.repo.touch_session(self.secret_hash("session", session.token), utcnow(), language)

    def sign_out(self, session: BuyerSessionView) -> None:
        self.repo.end_session(self.secret_hash("session", session.token), utcnow())
        self.audit.append(session.actor, AuditRecord("buyer.sign-out", [session.person_id]))

    def end_everything(self, person_id: uuid.UUID) -> None:
        """After an erasure: every session and open sign-in of the person ends."""
        now = utcnow()
        self.repo.end_sessions_of(person_id, now)
        self.repo.revoke_sign_ins(person_id, now)

    def csrf_ok(self, session: BuyerSessionView, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")
