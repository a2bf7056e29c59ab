"""Who may register and handle data-subject requests."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def require_request_registrar(actor: Actor) -> None:
    """Staff register a request received by mail or at the counter; the DPOs handle it."""
    roles.require(actor.role, roles.REQUEST_REGISTRARS, "may not register data-subject requests")


def require_request_handler(actor: Actor) -> None:
    roles.require(actor.role, roles.REQUEST_HANDLERS, "may not handle data-subject requests")


def require_request_reader(actor: Actor) -> None:
    roles.require(actor.role, roles.REQUEST_REGISTRARS, "may not read data-subject requests")


def house_scope(actor: Actor) -> str | None:
    """The house a house role is held to (its DPO, its box office), or None: the cluster."""
    return actor.house if actor.role in roles.HOUSE_ROLES else None


def is_buyer(actor: Actor) -> bool:
    return actor.role == roles.BUYER
