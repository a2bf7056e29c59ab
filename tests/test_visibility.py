"""Per-house visibility over HTTP, on both backends (invariants 2 and 3)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from consent_hub import roles
from consent_hub.consent.service import ConsentService
from tests.conftest import Hub, auth
from tests.counting import exact_people_count
from tests.factories import consent_body

EMAIL = "femke.vandamme@example.org"
HOUSES = ("schouwburg-noord", "concertzaal-zuid", "theater-west")


@pytest.fixture
def town(api, hub: Hub):  # type: ignore[no-untyped-def]
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    for h in HOUSES:
        hub.add_house(h)
    service = auth(hub.issue_key(roles.CLUSTER_SERVICE))
    pid = api.post(
        "/v1/people",
        json={
            "email": EMAIL,
            "given_name": "Femke",
            "family_name": "Vandamme",
            "street_address": "Kanaalweg 3",
            "postal_code": "8500",
            "city": "Kortrijk",
            "birth_date": "1991-04-12",
        },
        headers=service,
    ).json()["id"]
    api.post(
        f"/v1/people/{pid}/relations",
        json={"house": "schouwburg-noord", "kind": "customer", "reason": "registration"},
        headers=service,
    )
    keys = {
        (role, h): auth(hub.issue_key(role, house=h)) for h in HOUSES for role in (roles.BOX_OFFICE, roles.MARKETER)
    }
    return {"pid": pid, "service": service, "keys": keys, "hub": hub}


def consent(api, town, purpose: str, target: str | None, status: str = "granted", **extra):  # type: ignore[no-untyped-def]
    body = consent_body(purpose=purpose, target=target, status=status, **extra)
    resp = api.post(f"/v1/people/{town['pid']}/consents", json=body, headers=town["service"])
    assert resp.status_code == 201, resp.text
    return resp.json()


def sees(api, town, role: str, house: str, purpose: str) -> bool:  # type: ignore[no-untyped-def]
    h = town["keys"][(role, house)]
    got = api.get(f"/v1/people/{town['pid']}", params={"purpose": purpose}, headers=h)
    found = api.post("/v1/people/lookup", json={"email": EMAIL, "purpose": purpose}, headers=h)
    # the exact count the house's protected figure is drawn around (tests/test_count_privacy.py)
    with town["hub"].uow() as uow:
        n = exact_people_count(uow, town["hub"].actor(role=role, house=house), purpose)
    assert got.status_code in (200, 404) and found.status_code == got.status_code
    assert n == (1 if got.status_code == 200 else 0)
    if got.status_code == 404:
        assert got.json() == {"error": "PersonNotFound", "detail": "no such person"}
    return got.status_code == 200


def test_a_buyer_who_never_consented_is_invisible_to_every_other_house(api, town) -> None:  # type: ignore[no-untyped-def]
    assert sees(api, town, roles.BOX_OFFICE, "schouwburg-noord", "ticketing-service")  # own house, for service
    for house in ("concertzaal-zuid", "theater-west"):
        for purpose in ("ticketing-service", "newsletter", "cluster-marketing", "share-with-house"):
            for role in (roles.BOX_OFFICE, roles.MARKETER):
                if (role, purpose) in (
                    (roles.BOX_OFFICE, "newsletter"),
                    (roles.BOX_OFFICE, "cluster-marketing"),
                    (roles.BOX_OFFICE, "share-with-house"),
                    (roles.MARKETER, "ticketing-service"),
                ):
                    continue  # those roles have no access at all for that purpose (403)
                assert not sees(api, town, role, house, purpose), (role, house, purpose)
    # not even the own house's marketer: buying a ticket is not a newsletter consent
    assert not sees(api, town, roles.MARKETER, "schouwburg-noord", "newsletter")


def test_consent_to_one_house_grants_nothing_to_another(api, town) -> None:  # type: ignore[no-untyped-def]
    consent(api, town, "share-with-house", "concertzaal-zuid")
    assert sees(api, town, roles.MARKETER, "concertzaal-zuid", "share-with-house")
    assert not sees(api, town, roles.MARKETER, "theater-west", "share-with-house")
    assert not sees(api, town, roles.MARKETER, "concertzaal-zuid", "newsletter")  # another purpose


def test_fields_follow_role_purpose_and_relation(api, town) -> None:  # type: ignore[no-untyped-def]
    consent(api, town, "newsletter", "concertzaal-zuid")
    h = town["keys"][(roles.MARKETER, "concertzaal-zuid")]
    got = api.get(f"/v1/people/{town['pid']}", params={"purpose": "newsletter"}, headers=h).json()
    assert got["field_groups"] == ["contact", "identity", "purchases-house"] and got["bases"] == ["consent-house"]
    assert set(got["fields"]) == {"email", "phone", "given_name", "family_name", "language"}
    assert "Kanaalweg" not in str(got) and "1991" not in str(got)
    box = town["keys"][(roles.BOX_OFFICE, "schouwburg-noord")]
    own = api.get(f"/v1/people/{town['pid']}", params={"purpose": "ticketing-service"}, headers=box).json()
    assert own["fields"]["street_address"] == "Kanaalweg 3" and "birth_date" not in own["fields"]


def test_withdrawal_removes_visibility_at_once(api, town) -> None:  # type: ignore[no-untyped-def]
    consent(api, town, "cluster-marketing", None)
    assert sees(api, town, roles.MARKETER, "theater-west", "cluster-marketing")
    consent(api, town, "cluster-marketing", None, status="withdrawn")
    assert not sees(api, town, roles.MARKETER, "theater-west", "cluster-marketing")


def test_a_refusal_recorded_after_a_grant_wins(api, town) -> None:  # type: ignore[no-untyped-def]
    consent(api, town, "newsletter", "theater-west")
    consent(api, town, "newsletter", "theater-west", status="refused")
    assert not sees(api, town, roles.MARKETER, "theater-west", "newsletter")


def test_an_expired_consent_does_not_count(api, town) -> None:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    consent(
        api,
        town,
        "newsletter",
        "theater-west",
        given_at=(now - dt.timedelta(days=40)).isoformat(),
        expires_at=(now - dt.timedelta(seconds=1)).isoformat(),
    )
    assert not sees(api, town, roles.MARKETER, "theater-west", "newsletter")


def test_explain_names_the_deciding_consent(api, town) -> None:  # type: ignore[no-untyped-def]
    event = consent(api, town, "newsletter", "theater-west")
    h = town["keys"][(roles.MARKETER, "theater-west")]
    e = api.get(f"/v1/people/{town['pid']}/explain", params={"purpose": "newsletter"}, headers=h).json()
    assert e["visible"] is True
    deciding = [r for r in e["reasons"] if r["grants"]]
    assert deciding and deciding[0]["consent_event"] == event["id"] and deciding[0]["basis"] == "consent-house"
    assert deciding[0]["since"][:10] == event["given_at"][:10]
    # after a withdrawal, explain says why the person is no longer visible for that purpose
    consent(api, town, "newsletter", "theater-west", status="withdrawn")
    box = town["keys"][(roles.BOX_OFFICE, "schouwburg-noord")]
    e = api.get(f"/v1/people/{town['pid']}/explain", params={"purpose": "ticketing-service"}, headers=box).json()
    assert e["visible"] and e["reasons"][0]["basis"] == "own-house-customer"
    # a house that cannot see the person at all gets the same 404 as for nobody
    other = town["keys"][(roles.MARKETER, "concertzaal-zuid")]
    hidden = api.get(f"/v1/people/{town['pid']}/explain", params={"purpose": "newsletter"}, headers=other)
    absent = api.get(f"/v1/people/{uuid.uuid4()}/explain", params={"purpose": "newsletter"}, headers=other)
    assert hidden.status_code == absent.status_code == 404 and hidden.json() == absent.json()


def test_every_visible_read_is_audited_with_purpose_fields_and_basis(api, town, hub: Hub) -> None:  # type: ignore[no-untyped-def]
    box = town["keys"][(roles.BOX_OFFICE, "schouwburg-noord")]
    api.get(f"/v1/people/{town['pid']}", params={"purpose": "ticketing-service"}, headers=box)
    action, purpose, house, fields, detail = hub.sql(
        "SELECT action, purpose, house, fields, detail FROM audit_entries "
        "WHERE action = 'people.read' ORDER BY seq DESC"
    )[0]
    assert (action, purpose, house) == ("people.read", "ticketing-service", "schouwburg-noord")
    assert "street_address" in fields and "own-house-customer" in detail and EMAIL not in detail


def test_a_policy_change_is_picked_up_without_restart_and_audited(api, town, hub: Hub, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import shutil

    from consent_hub.access.policy import AccessPolicy
    from consent_hub.access.service import AccessService
    from consent_hub.consent.catalogue import POLICIES_DIR

    for name in ("model.conf", "policy.csv"):
        shutil.copy(POLICIES_DIR / name, tmp_path / name)
    policy = AccessPolicy(tmp_path)
    actor = hub.actor(role=roles.MARKETER, house="schouwburg-noord")
    pid = uuid.UUID(town["pid"])
    with hub.uow() as uow, pytest.raises(Exception) as denied:
        AccessService(uow, policy).get(actor, pid, purpose="ticketing-service")
    assert type(denied.value).__name__ == "Forbidden"
    with (tmp_path / "policy.csv").open("a") as fh:  # the DPO allows marketers service reads of own buyers
        fh.write("p, marketer, *, contact, read, ticketing-service, own-house-customer, allow\n")
    st = os.stat(tmp_path / "policy.csv")
    os.utime(tmp_path / "policy.csv", (st.st_atime, st.st_mtime + 5))
    with hub.uow() as uow:
        seen = AccessService(uow, policy).get(actor, pid, purpose="ticketing-service")
    assert set(seen.view.fields) == {"email", "phone"}
    loads = hub.sql("SELECT detail FROM audit_entries WHERE action = 'policy.load' ORDER BY seq")
    assert len({row[0] for row in loads}) >= 2 and policy.version in loads[-1][0]


@pytest.mark.parametrize("role", [roles.CLUSTER_ADMIN, roles.CONNECTOR])
def test_admin_and_connector_never_read_people_even_if_a_policy_line_says_so(town, hub: Hub, tmp_path, role) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from consent_hub.access.policy import AccessPolicy
    from consent_hub.access.service import AccessService
    from consent_hub.consent.catalogue import POLICIES_DIR
    from consent_hub.errors import Forbidden

    for name in ("model.conf", "policy.csv"):
        shutil.copy(POLICIES_DIR / name, tmp_path / name)
    with (tmp_path / "policy.csv").open("a") as fh:
        fh.write(f"p, {role}, *, *, read, *, *, allow\n")
    policy = AccessPolicy(tmp_path)
    assert policy.compile(role, "schouwburg-noord" if role == roles.CONNECTOR else None, "ticketing-service").bases
    actor = hub.actor(role=role, house="schouwburg-noord" if role == roles.CONNECTOR else None)
    with hub.uow() as uow, pytest.raises(Forbidden):
        AccessService(uow, policy).get(actor, uuid.UUID(town["pid"]), purpose="ticketing-service")
    with hub.uow() as uow, pytest.raises(Forbidden):
        AccessService(uow, policy).count(actor, "ticketing-service")


def test_counts_follow_consent_changes_and_erasure(api, town, hub: Hub) -> None:  # type: ignore[no-untyped-def]
    h = town["keys"][(roles.MARKETER, "theater-west")]

    def n() -> int:
        # the exact figure: the shown one is protected (tests/test_count_privacy.py); the endpoint answers
        assert api.get("/v1/people/count", params={"purpose": "cluster-marketing"}, headers=h).status_code == 200
        with hub.uow() as uow:
            return exact_people_count(uow, hub.actor(role=roles.MARKETER, house="theater-west"), "cluster-marketing")

    assert n() == 0
    consent(api, town, "cluster-marketing", None)
    assert n() == 1
    consent(api, town, "cluster-marketing", None, status="withdrawn")
    assert n() == 0
    consent(api, town, "cluster-marketing", None)
    assert n() == 1
    api.post(f"/v1/people/{town['pid']}/erase", json={}, headers=town["service"])
    assert n() == 0
    assert hub.sql("SELECT count(*) FROM access_keys")[0][0] == 0
