"""Role names. Until the per-house visibility rules (Casbin) arrive, only the cluster-level
service role may read or write people; cluster admins manage houses and clients and never see
personal data."""

from __future__ import annotations

CLUSTER_ADMIN = "cluster-admin"
CLUSTER_SERVICE = "cluster-service"
CLUSTER_DPO = "cluster-dpo"
CLUSTER_OPERATOR = "cluster-operator"  # the CLI on the hub host; not issuable as an API key
BOX_OFFICE = "box-office"
MARKETER = "marketer"
ANALYST = "analyst"
HOUSE_DPO = "house-dpo"
CONNECTOR = "connector"

CLUSTER_ROLES = frozenset({CLUSTER_ADMIN, CLUSTER_SERVICE, CLUSTER_DPO})
HOUSE_ROLES = frozenset({BOX_OFFICE, MARKETER, ANALYST, HOUSE_DPO, CONNECTOR})
ISSUABLE_ROLES = CLUSTER_ROLES | HOUSE_ROLES

PEOPLE_READERS = frozenset({CLUSTER_SERVICE, CLUSTER_OPERATOR})
PEOPLE_WRITERS = frozenset({CLUSTER_SERVICE, CLUSTER_OPERATOR})
CLUSTER_MANAGERS = frozenset({CLUSTER_ADMIN, CLUSTER_OPERATOR})
AUDIT_READERS = frozenset({CLUSTER_DPO, CLUSTER_OPERATOR})
