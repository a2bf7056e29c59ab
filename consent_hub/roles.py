"""Role names and the role sets each guard checks against (defined here once; the guards are in
``consent_hub/<domain>/auth.py``). What a house role may read of people is the Casbin policy's
business (``access/policy.py``); these sets decide only who may call an operation at all."""

from __future__ import annotations

from enum import StrEnum

from consent_hub.errors import Forbidden


class Role(StrEnum):
    CLUSTER_ADMIN = "cluster-admin"
    CLUSTER_SERVICE = "cluster-service"
    CLUSTER_DPO = "cluster-dpo"
    CLUSTER_OPERATOR = "cluster-operator"  # the CLI on the hub host; not issuable as an API key
    BOX_OFFICE = "box-office"
    MARKETER = "marketer"
    ANALYST = "analyst"
    HOUSE_DPO = "house-dpo"
    CONNECTOR = "connector"
    # a ticket buyer signed in on their own pages (issue 14): acts on their own person only, never
    # issuable as an API key
    BUYER = "buyer"


# the names most call sites (and the tests) use, as plain strings: an actor's role, a message
# (``{role!r}``) and an audit entry read exactly as before
CLUSTER_ADMIN: str = Role.CLUSTER_ADMIN.value
CLUSTER_SERVICE: str = Role.CLUSTER_SERVICE.value
CLUSTER_DPO: str = Role.CLUSTER_DPO.value
CLUSTER_OPERATOR: str = Role.CLUSTER_OPERATOR.value
BOX_OFFICE: str = Role.BOX_OFFICE.value
MARKETER: str = Role.MARKETER.value
ANALYST: str = Role.ANALYST.value
HOUSE_DPO: str = Role.HOUSE_DPO.value
CONNECTOR: str = Role.CONNECTOR.value
BUYER: str = Role.BUYER.value

CLUSTER_ROLES: frozenset[str] = frozenset({CLUSTER_ADMIN, CLUSTER_SERVICE, CLUSTER_DPO})
HOUSE_ROLES: frozenset[str] = frozenset({BOX_OFFICE, MARKETER, ANALYST, HOUSE_DPO, CONNECTOR})
ISSUABLE_ROLES: frozenset[str] = CLUSTER_ROLES | HOUSE_ROLES

PEOPLE_READERS: frozenset[str] = frozenset({CLUSTER_SERVICE, CLUSTER_OPERATOR})
PEOPLE_WRITERS: frozenset[str] = frozenset({CLUSTER_SERVICE, CLUSTER_OPERATOR})
CLUSTER_MANAGERS: frozenset[str] = frozenset({CLUSTER_ADMIN, CLUSTER_OPERATOR})
AUDIT_READERS: frozenset[str] = frozenset({CLUSTER_DPO, CLUSTER_OPERATOR})
# the DPOs' desk (issue 15): a house DPO's view is held to their house by each service
DPOS: frozenset[str] = frozenset({CLUSTER_DPO, HOUSE_DPO})
AUDIT_SEARCHERS: frozenset[str] = AUDIT_READERS | {HOUSE_DPO}
# data-subject requests: register and handle (the DPOs; box-office staff register one at the counter)
REQUEST_HANDLERS: frozenset[str] = frozenset({CLUSTER_DPO, HOUSE_DPO, CLUSTER_OPERATOR})
REQUEST_REGISTRARS: frozenset[str] = REQUEST_HANDLERS | {BOX_OFFICE, CLUSTER_SERVICE}
# every cluster-level caller: reads the state of syncs and the outbox (ids and counts only)
CLUSTER_LEVEL: frozenset[str] = frozenset({CLUSTER_ADMIN, CLUSTER_DPO, CLUSTER_SERVICE, CLUSTER_OPERATOR})
# manage segment bitmaps (rebuild): the cluster managers and the service account that syncs
BITMAP_MAINTAINERS: frozenset[str] = CLUSTER_MANAGERS | {CLUSTER_SERVICE}
# refused even if a policy line granted them: they never read personal data (a buyer reads only
# their own, through the buyer's service, never through the houses' access policy)
NEVER_READ_PEOPLE: frozenset[str] = frozenset({CLUSTER_ADMIN, CONNECTOR, BUYER})


def require(role: str, allowed: frozenset[str], refusal: str) -> None:
    """The one role test every guard makes: Forbidden naming the role and what it may not do."""
    if role not in allowed:
        raise Forbidden(f"role {role!r} {refusal}")
