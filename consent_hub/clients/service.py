"""Issue, list, revoke and check bearer keys.

A key reads ``chk_<cluster>_<key id>_<secret>``: the cluster is part of the credential, so a
request opens exactly that cluster's database and nothing else. Only SHA-256 of the 256-bit
secret is stored (a slow hash adds nothing for a random secret of that size).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.api_keys import PREFIX, parse_key
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clients.auth import require_key_manager
from consent_hub.clients.repository import ClientRepository
from consent_hub.clients.schemas import ClientCreate, ClientCreated, ClientOut
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import ClientNotFound, HouseNotFound, InvalidInput, Unauthenticated
from consent_hub.houses.service import HouseService
from consent_hub.storage.models import ApiClient
from consent_hub.validation import parse

MAX_LIFETIME = dt.timedelta(days=2 * 366)


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii", "replace")).digest()


def _out(client: ApiClient, house: str | None, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": client.id,
        "key_id": client.key_id,
        "name": client.name,
        "house": house,
        "role": client.role,
        "agreement": client.agreement_ref,
        "expires_at": client.expires_at,
        "created_at": client.created_at,
        "revoked_at": client.revoked_at,
        "active": client.revoked_at is None and client.expires_at > now,
    }


class ClientService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.cluster = uow.cluster
        self.repo = ClientRepository(uow.session)
        self.houses = HouseService(uow)
        self.audit = AuditLog(uow.session, uow.cluster)

    def add(self, actor: Actor, data: ClientCreate | dict[str, Any]) -> ClientCreated:
        require_key_manager(actor, "issue API keys")
        spec = parse(ClientCreate, data)
        problems: list[dict[str, str]] = []
        if spec.role not in roles.ISSUABLE_ROLES:
            problems.append(
                {"field": "role", "problem": f"must be one of {sorted(roles.ISSUABLE_ROLES)}", "type": "value_error"}
            )
        elif spec.role in roles.HOUSE_ROLES and spec.house is None:
            problems.append(
                {"field": "house", "problem": f"role {spec.role!r} belongs to a house", "type": "value_error"}
            )
        elif spec.role in roles.CLUSTER_ROLES and spec.house is not None:
            problems.append(
                {
                    "field": "house",
                    "problem": f"role {spec.role!r} is cluster-wide; give no house",
                    "type": "value_error",
                }
            )
        now = utcnow()
        expires = dt.datetime.combine(spec.expires, dt.time(23, 59, 59), tzinfo=dt.UTC)
        if expires <= now:
            problems.append({"field": "expires", "problem": "must be in the future", "type": "value_error"})
        elif expires - now > MAX_LIFETIME:
            problems.append({"field": "expires", "problem": "at most two years ahead", "type": "value_error"})
        house_id = None
        if spec.house is not None and not problems:
            house = self.houses.find(spec.house)
            if house is None:
                raise HouseNotFound(f"unknown house {spec.house!r}")
            house_id = house.id
        if problems:
            raise InvalidInput(problems)
        key_id = base64.b32encode(secrets.token_bytes(10)).decode().lower().rstrip("=")
        secret = secrets.token_urlsafe(32)
        client = ApiClient(
            id=new_uuid(),
            key_id=key_id,
            key_hash=_hash(secret),
            name=spec.name,
            house_id=house_id,
            role=spec.role,
            agreement_ref=spec.agreement,
            expires_at=expires,
            created_at=now,
        )
        self.repo.add(client)
        self.audit.append(
            actor,
            AuditRecord(
                "client.issue",
                detail={
                    "client_id": str(client.id),
                    "house": spec.house,
                    "client_role": spec.role,
                    "expires": spec.expires.isoformat(),
                },
            ),
        )
        return ClientCreated(**_out(client, spec.house, now), api_key=f"{PREFIX}_{self.cluster}_{key_id}_{secret}")

    def list(self, actor: Actor) -> Sequence[ClientOut]:
        require_key_manager(actor, "list API keys")
        now = utcnow()
        return [ClientOut(**_out(c, h, now)) for c, h in self.repo.all_with_house()]

    def revoke(self, actor: Actor, client_id: uuid.UUID) -> ClientOut:
        require_key_manager(actor, "revoke API keys")
        client = self.repo.by_id(client_id)
        if client is None:
            raise ClientNotFound("no such API client")
        now = utcnow()
        if client.revoked_at is None:
            client.revoked_at = now
            self.audit.append(actor, AuditRecord("client.revoke", detail={"client_id": str(client.id)}))
        return ClientOut(**_out(client, self.repo.house_slug(client.house_id), now))

    def authenticate(self, token: str, request_id: str | None = None) -> Actor:
        cluster, key_id, secret = parse_key(token)
        if cluster != self.cluster:
            raise Unauthenticated("API key belongs to another cluster")
        found = self.repo.by_key_id_with_house(key_id)
        if found is None or not hmac.compare_digest(bytes(found[0].key_hash), _hash(secret)):
            raise Unauthenticated("unknown API key")
        client, house = found
        if client.revoked_at is not None:
            raise Unauthenticated("API key was revoked")
        if client.expires_at <= utcnow():
            raise Unauthenticated("API key has expired")
        return Actor(
            id=f"client:{client.id}",
            cluster=self.cluster,
            role=client.role,
            house=house,
            request_id=request_id,
        )


def authenticate_client(uow: UnitOfWork, token: str, request_id: str | None = None) -> Actor:
    """The request context's authenticator (``consent_hub.api.context.Authenticator``), wired in
    by the app factory so that the HTTP layer does not import this domain."""
    return ClientService(uow).authenticate(token, request_id)
