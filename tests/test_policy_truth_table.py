"""Load the real policies/ files and check a truth table of allow / deny (as pycasbin's own
tests do), and the compiled grants the service derives from them."""

from __future__ import annotations

import casbin
import pytest

from consent_hub.access.policy import BASES, FIELD_GROUPS, AccessPolicy
from consent_hub.consent.catalogue import POLICIES_DIR, load_catalogue

ENFORCER = casbin.Enforcer(str(POLICIES_DIR / "model.conf"), str(POLICIES_DIR / "policy.csv"))

TRUTH = [
    # role, house, field group, purpose, basis, allowed
    ("box-office", "h1", "contact", "ticketing-service", "own-house-customer", True),
    ("box-office", "h1", "address", "ticketing-service", "own-house-customer", True),
    ("box-office", "h1", "contact", "ticketing-service", "consent-house", False),
    ("box-office", "h1", "contact", "newsletter", "own-house-customer", False),
    ("box-office", "h1", "contact", "program-membership", "program-subscriber", True),
    ("box-office", "h1", "demographics", "ticketing-service", "own-house-customer", False),
    ("marketer", "h1", "contact", "newsletter", "consent-house", True),
    ("marketer", "h1", "identity", "newsletter", "consent-house", True),
    ("marketer", "h1", "purchases-house", "newsletter", "consent-house", True),  # its own sales, in segments
    ("marketer", "h1", "purchases-cluster", "newsletter", "consent-house", False),
    ("marketer", "h1", "contact", "newsletter", "own-house-customer", False),  # no soft opt-in
    ("marketer", "h1", "contact", "newsletter", "consent-cluster", False),
    ("marketer", "h1", "contact", "cluster-marketing", "consent-cluster", True),
    ("marketer", "h1", "purchases-cluster", "cluster-marketing", "consent-cluster", True),
    ("marketer", "h1", "address", "newsletter", "consent-house", False),  # deny overrides
    ("marketer", "h1", "demographics", "cluster-marketing", "consent-cluster", False),
    ("analyst", "h1", "demographics", "cluster-marketing", "consent-cluster", True),
    ("analyst", "h1", "contact", "cluster-marketing", "consent-cluster", False),
    ("analyst", "h1", "purchases-cluster", "cluster-marketing", "consent-cluster", True),
    ("analyst", "h1", "address", "cluster-marketing", "consent-cluster", False),
    ("house-dpo", "h1", "address", "data-subject-request", "own-house-customer", True),
    ("house-dpo", "h1", "address", "data-subject-request", "consent-house", False),
    ("cluster-dpo", "", "contact", "data-subject-request", "any-in-cluster", True),
    ("cluster-dpo", "", "contact", "newsletter", "any-in-cluster", False),
    ("cluster-service", "", "address", "ticketing-service", "any-in-cluster", True),
    ("cluster-admin", "", "contact", "ticketing-service", "any-in-cluster", False),
    ("connector", "h1", "contact", "ticketing-service", "own-house-customer", False),
]


@pytest.mark.parametrize("role, house, group, purpose, basis, allowed", TRUTH)
def test_truth_table(role: str, house: str, group: str, purpose: str, basis: str, allowed: bool) -> None:
    assert ENFORCER.enforce(role, house, group, "read", purpose, basis) is allowed


def test_policy_names_only_known_groups_purposes_and_bases() -> None:
    purposes = set(load_catalogue().purpose_keys())
    for _sub, dom, obj, act, purpose, basis, eft in ENFORCER.get_policy():
        assert obj == "*" or obj in FIELD_GROUPS
        assert purpose == "*" or purpose in purposes
        assert basis == "*" or basis in BASES
        assert act == "read" and eft in ("allow", "deny") and dom == "*"


def test_compiled_grants() -> None:
    policy = AccessPolicy()
    marketer = policy.compile("marketer", "h1", "newsletter")
    assert marketer.groups_by_basis == {"consent-house": frozenset({"contact", "identity", "purchases-house"})}
    # a house-bound role is never reached through the cluster-wide basis, whatever the policy says
    assert "any-in-cluster" not in policy.compile("box-office", "h1", "ticketing-service").groups_by_basis
    # a cluster-level role only through it
    assert set(policy.compile("cluster-service", None, "newsletter").groups_by_basis) == {"any-in-cluster"}
    assert policy.compile("cluster-admin", None, "ticketing-service").bases == []
    assert policy.compile("connector", "h1", "ticketing-service").bases == []


def test_policy_reloads_when_its_file_changes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import shutil

    for name in ("model.conf", "policy.csv"):
        shutil.copy(POLICIES_DIR / name, tmp_path / name)
    policy = AccessPolicy(tmp_path)
    before = policy.version
    assert policy.compile("connector", "h1", "ticketing-service").bases == []
    with (tmp_path / "policy.csv").open("a") as fh:
        fh.write("p, connector, *, contact, read, ticketing-service, own-house-customer, allow\n")
    stat = os.stat(tmp_path / "policy.csv")
    os.utime(tmp_path / "policy.csv", (stat.st_atime, stat.st_mtime + 5))
    assert policy.compile("connector", "h1", "ticketing-service").bases == ["own-house-customer"]
    assert policy.version != before
