"""The Casbin policy (policies/model.conf + policy.csv), loaded once per process, reloaded when
the files change, and compiled per (role, house, purpose) into the bases that grant each field
group. enforce() runs only under the SyncedEnforcer's lock and never per person."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import casbin

from consent_hub.consent.catalogue import POLICIES_DIR

BASES = ("own-house-customer", "program-subscriber", "consent-house", "consent-cluster", "any-in-cluster")
HOUSE_BASES = frozenset({"own-house-customer", "program-subscriber", "consent-house", "consent-cluster"})
CLUSTER_BASES = frozenset({"any-in-cluster"})
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "contact": ("email", "phone"),
    "identity": ("given_name", "family_name", "language"),
    "address": ("street_address", "postal_code", "city", "country"),
    "demographics": ("birth_date",),
    "purchases-house": (),
    "purchases-cluster": (),
}


@dataclass(frozen=True)
class Compiled:
    """Which field groups each basis grants to (role, house, purpose) under one policy version."""

    policy_version: str
    groups_by_basis: dict[str, frozenset[str]]

    @property
    def bases(self) -> list[str]:
        return [b for b in BASES if self.groups_by_basis.get(b)]

    def groups_for(self, held: set[str]) -> set[str]:
        out: set[str] = set()
        for basis in held:
            out |= self.groups_by_basis.get(basis, frozenset())
        return out


def fields_of(groups: set[str]) -> list[str]:
    return [f for g in sorted(groups) for f in FIELD_GROUPS[g]]


class AccessPolicy:
    def __init__(self, directory: Path = POLICIES_DIR) -> None:
        self.model = directory / "model.conf"
        self.policy = directory / "policy.csv"
        self._lock = threading.Lock()
        self._stamp: tuple[float, float] | None = None
        self.version = ""
        self._enforcer: casbin.SyncedEnforcer | None = None
        self._cache: dict[tuple[str, str, str, str], Compiled] = {}
        self.refresh()

    def refresh(self) -> bool:
        """Reload when a file changed. Returns True when a new version was loaded."""
        stamp = (self.model.stat().st_mtime, self.policy.stat().st_mtime)
        if stamp == self._stamp:
            return False
        with self._lock:
            if stamp == self._stamp:
                return False
            digest = hashlib.sha256(self.model.read_bytes() + b"\0" + self.policy.read_bytes()).hexdigest()
            enforcer = casbin.SyncedEnforcer(str(self.model), str(self.policy))
            self._enforcer, self.version, self._stamp = enforcer, digest[:16], stamp
            self._cache = {}
            return True

    def enforce(self, role: str, house: str, group: str, purpose: str, basis: str) -> bool:
        assert self._enforcer is not None
        return bool(self._enforcer.enforce(role, house, group, "read", purpose, basis))

    def compile(self, role: str, house: str | None, purpose: str) -> Compiled:
        self.refresh()
        key = (self.version, role, house or "", purpose)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        # a house-bound caller is reached only through house bases, a cluster-level one only
        # through the cluster basis: the policy cannot widen that, whatever its lines say
        allowed = HOUSE_BASES if house else CLUSTER_BASES
        groups_by_basis = {
            basis: frozenset(g for g in FIELD_GROUPS if self.enforce(role, house or "", g, purpose, basis))
            for basis in BASES
            if basis in allowed
        }
        compiled = Compiled(self.version, {b: g for b, g in groups_by_basis.items() if g})
        with self._lock:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = compiled
        return compiled


_POLICY: AccessPolicy | None = None
_POLICY_LOCK = threading.Lock()


def access_policy() -> AccessPolicy:
    global _POLICY
    if _POLICY is None:
        with _POLICY_LOCK:
            if _POLICY is None:
                _POLICY = AccessPolicy()
    return _POLICY
