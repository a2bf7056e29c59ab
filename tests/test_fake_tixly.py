"""The fake Tixly CRM API v3 over real HTTP: auth, paging, filters, sales windows, returns, the joint
subscription, determinism, changes over time, faults on demand and fictional-only e-mail addresses."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from fakes.server import RunningServer, serve_in_thread
from fakes.tixly import (
    DUO_MEMBERSHIP_ID,
    ORGANISATIONS,
    TixlyWorld,
    build_world,
    create_app,
    format_ts,
    parse_ts,
)

ANCHOR = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TOKEN = "tixly-demo-token"
DENIED = {"Message": "Authorization has been denied for this request."}
Row = dict[str, Any]


def client_for(server: RunningServer, token: str | None = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=10)


def fetch_all(client: httpx.Client, path: str, **params: Any) -> list[Row]:
    """Follow ``Next`` until it is null."""
    rows: list[Row] = []
    response = client.get(path, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"Data", "Next"}
        rows.extend(body["Data"])
        if body["Next"] is None:
            return rows
        response = client.get(body["Next"])


def key(customer: Row) -> str:
    value = customer["Edited"] or customer["Created"]
    assert isinstance(value, str)
    return value


def now_ts() -> str:
    return format_ts(time.time_ns() // 1_000_000)


class Fake:
    def __init__(self, world: TixlyWorld) -> None:
        self.world = world
        self.server = serve_in_thread(create_app(world))
        self.client = client_for(self.server)

    def close(self) -> None:
        self.client.close()
        self.server.stop()


@pytest.fixture(scope="module")
def shared() -> Iterator[Fake]:
    """A read-only fake (tests that change data or faults use ``fresh``)."""
    fake = Fake(build_world(seed=7, size="test", anchor=ANCHOR))
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def customers(shared: Fake) -> list[Row]:
    return fetch_all(shared.client, "/v3/customers")


@pytest.fixture(scope="module")
def sales(shared: Fake) -> list[Row]:
    return fetch_all(shared.client, "/v3/events/sales", pageSize=1000)


@pytest.fixture
def fresh() -> Iterator[Fake]:
    fake = Fake(build_world(seed=7, size="test", anchor=ANCHOR))
    yield fake
    fake.close()


# ---- auth, paging, filters -------------------------------------------------------------------------


def test_refuses_a_missing_or_wrong_token(shared: Fake) -> None:
    with client_for(shared.server, token=None) as anonymous, client_for(shared.server, "wrong") as wrong:
        for client in (anonymous, wrong):
            for path in ("/v3/customers", "/v3/events/sales", "/_fake/stats"):
                response = client.get(path)
                assert response.status_code == 401
                assert response.json() == DENIED
        assert anonymous.post("/_fake/advance", json={"edits": 1}).status_code == 401


def test_paging_follows_next_until_null_and_visits_every_customer_once(shared: Fake) -> None:
    seen: list[int] = []
    response = shared.client.get("/v3/customers", params={"DateFrom": "2020-01-01", "pageSize": 7})
    pages = 0
    while True:
        body = response.json()
        pages += 1
        seen.extend(c["Id"] for c in body["Data"])
        if body["Next"] is None:
            break
        assert body["Next"].startswith(shared.server.url + "/v3/customers?")
        query = parse_qs(urlsplit(body["Next"]).query)
        assert query == {"DateFrom": ["2020-01-01"], "pageSize": ["7"], "page": [str(pages + 1)]}
        response = shared.client.get(body["Next"])
    assert len(seen) == len(set(seen)) == 80
    assert pages == 12  # ceil(80 / 7)
    default = shared.client.get("/v3/customers").json()
    assert len(default["Data"]) == 80 and default["Next"] is None  # default pageSize 100
    past_the_end = shared.client.get("/v3/customers", params={"page": 9}).json()
    assert past_the_end == {"Data": [], "Next": None}


def test_customer_shape_and_never_edited_customers_have_null_edited(customers: list[Row]) -> None:
    fields = {
        "Id", "Title", "Name", "FirstName", "LastNamePrefix", "LastName", "DateOfBirth", "Gender", "AddressOne",
        "AddressTwo", "ZipCode", "City", "StreetName", "HouseNumber", "HouseExtension", "Country", "LanguageId",
        "Email", "Mobile", "Created", "Edited", "Permissions",
    }  # fmt: skip
    anchor = format_ts(int(ANCHOR.timestamp() * 1000))
    for c in customers:
        assert set(c) == fields
        assert c["Gender"] in (0, 1, 2) and c["LanguageId"] in (1, 2, 3) and c["Country"] in ("BE", "NL", "FR")
        assert len(c["Created"]) == 23 and c["Created"] < anchor  # 2025-03-02T19:04:11.123, no zone
        if c["Country"] == "BE":
            assert len(c["ZipCode"]) == 4 and c["ZipCode"].isdigit()
        if c["Edited"] is not None:
            assert c["Created"] < c["Edited"] < anchor
        for p in c["Permissions"]:
            assert set(p) == {"PermissionId", "OptIn", "Edited"} and p["Edited"] <= key(c)
    assert any(c["Edited"] is None for c in customers)
    assert any(c["Edited"] is not None for c in customers)
    assert any(p["OptIn"] for c in customers for p in c["Permissions"])


def test_date_from_filters_on_coalesce_edited_created_and_orders(shared: Fake, customers: list[Row]) -> None:
    ordered = sorted(customers, key=lambda c: (key(c), c["Id"]))
    pivot = key(ordered[40])
    expected = [c["Id"] for c in ordered if key(c) >= pivot]
    for variant in (pivot, pivot + "Z", pivot + "+00:00"):
        got = fetch_all(shared.client, "/v3/customers", DateFrom=variant, pageSize=9)
        assert [c["Id"] for c in got] == expected
        assert all(key(c) >= pivot for c in got)
    day = pivot[:10]
    by_date = fetch_all(shared.client, "/v3/customers", DateFrom=day)
    assert [c["Id"] for c in by_date] == [c["Id"] for c in ordered if key(c) >= day + "T00:00:00.000"]
    for bad in ("yesterday", "01-03-2025", "2025-13-01"):
        response = shared.client.get("/v3/customers", params={"DateFrom": bad})
        assert response.status_code == 400 and "Message" in response.json()
    for bad_paging in ({"page": 0}, {"pageSize": "many"}):
        assert shared.client.get("/v3/customers", params=bad_paging).status_code == 400


def test_parse_ts_accepts_the_documented_forms() -> None:
    ms = parse_ts("2025-03-02T19:04:11.123")
    assert format_ts(ms) == "2025-03-02T19:04:11.123"
    assert parse_ts("2025-03-02T19:04:11.123Z") == parse_ts("2025-03-02T19:04:11.123+00:00") == ms
    assert parse_ts("2025-03-02T19:04:11.123 00:00") == ms  # a '+' that arrived unencoded
    assert parse_ts("2025-03-02T20:04:11.123+01:00") == ms
    assert format_ts(parse_ts("2025-03-01")) == "2025-03-01T00:00:00.000"
    assert parse_ts("2025-03-02T19:04:11.1231") == ms + 1  # sub-millisecond rounds up
    with pytest.raises(ValueError):
        parse_ts("2025-03-01Z")


# ---- sales ----------------------------------------------------------------------------------------


def test_sales_window_is_half_open_and_sorted(shared: Fake, sales: list[Row]) -> None:
    assert sales == sorted(sales, key=lambda s: (s["Created"], s["SaleTicketId"]))
    low, high = sales[100]["Created"], sales[300]["Created"]
    window = fetch_all(shared.client, "/v3/events/sales", SoldFrom=low, SoldTo=high, pageSize=50)
    assert window == [s for s in sales if low <= s["Created"] < high]
    assert window[0]["Created"] == low and all(s["Created"] != high for s in window)
    tail = fetch_all(shared.client, "/v3/events/sales", SoldFrom=high, pageSize=1000)
    assert tail == [s for s in sales if s["Created"] >= high]


def test_returns_are_later_negative_rows_and_anonymous_sales_have_no_customer(shared: Fake, sales: list[Row]) -> None:
    truth = shared.client.get("/_fake/truth").json()
    assert len(sales) == truth["ticket_lines"]
    returns = [s for s in sales if s["TicketCount"] < 0]
    assert len(returns) == truth["returns"] > 0
    positive = {s["TicketId"]: s for s in sales if s["TicketCount"] > 0}
    for back in returns:
        original = positive[back["TicketId"]]
        assert back["TicketCount"] == -original["TicketCount"]
        for field in ("OrderId", "EventId", "CustomerId", "OrganisationID"):
            assert back[field] == original[field]
        assert back["Created"] > original["Created"] and back["SaleTicketId"] > original["SaleTicketId"]
    anonymous = [s for s in sales if s["IsAnonymousSale"]]
    assert len(anonymous) == truth["anonymous_lines"] > 0
    assert all((s["CustomerId"] is None) == s["IsAnonymousSale"] for s in sales)
    assert all(1 <= abs(s["TicketCount"]) <= 4 for s in sales)
    assert {s["OrganisationID"] for s in sales} == {org for org, _ in ORGANISATIONS[:4]}
    per_org: dict[str, int] = defaultdict(int)
    for s in sales:
        per_org[str(s["OrganisationID"])] += 1
    assert per_org == truth["lines_per_organisation"]


def test_duo_holders_have_zero_priced_tickets_at_both_first_houses(shared: Fake, sales: list[Row]) -> None:
    memberships = fetch_all(shared.client, "/v3/memberships")
    assert {m["Id"]: m["Abbreviation"] for m in memberships} == {9001: "DUO", 9002: "VRND"}
    membership_sales = fetch_all(shared.client, "/v3/memberships/sales")
    duo_sales = [m for m in membership_sales if m["MembershipID"] == DUO_MEMBERSHIP_ID]
    assert duo_sales and all(m["OrganisationID"] == 1001 for m in duo_sales)
    holders = {m["CustomerId"] for m in duo_sales}
    assert len(holders) == shared.client.get("/_fake/truth").json()["duo_holders"]
    for holder in holders:
        duo_lines = [s for s in sales if s["CustomerId"] == holder and s["SubscriptionTypeId"] == DUO_MEMBERSHIP_ID]
        assert all(s["Price"] == 0 and s["TicketType"] == "DUO" for s in duo_lines)
        assert {s["OrganisationID"] for s in duo_lines} == {1001, 1002}
    friends = [m for m in membership_sales if m["MembershipID"] == 9002]
    assert friends and all(m["OrganisationID"] == 1003 for m in friends)


def test_permissions_and_events(shared: Fake) -> None:
    permissions = fetch_all(shared.client, "/v3/permissions", pageSize=3)
    by_id = {p["Id"]: p for p in permissions}
    for org, _ in ORGANISATIONS[:4]:
        assert by_id[org * 10 + 1]["CommunicationType"] == "Email" and by_id[org * 10 + 1]["Type"] == "General"
        assert by_id[org * 10 + 2]["CommunicationType"] == "SMS" and by_id[org * 10 + 2]["EventId"] is None
    events = {e["Id"]: e for e in fetch_all(shared.client, "/v3/events", pageSize=10)}
    for perm_id in (9901, 9902):
        p = by_id[perm_id]
        assert p["Type"] == "Event related" and events[p["EventId"]]["Promoter"] == "Productiehuis Noorderlicht"
    assert all(e["OrganisationId"] in {1001, 1002, 1003, 1004} for e in events.values())
    assert all(1 <= cat["Id"] <= 10 for e in events.values() for cat in e["Categories"])
    recent = fetch_all(shared.client, "/v3/events", DateFrom="2025-01-01")
    assert recent and all((e["Edited"] or e["Created"]) >= "2025-01-01" for e in recent)


def test_every_email_is_fictional_and_some_are_engine_duplicates(customers: list[Row]) -> None:
    emails = [c["Email"] for c in customers if c["Email"] is not None]
    assert all(e.lower().endswith("@example.org") for e in emails)
    assert any(e != e.lower() for e in emails)  # mixed case occurs
    by_lower: dict[str, set[str]] = defaultdict(set)
    for e in emails:
        by_lower[e.lower()].add(e)
    assert any(len(variants) > 1 for variants in by_lower.values())  # same address, other case, other Id


# ---- determinism ----------------------------------------------------------------------------------


def test_same_seed_and_anchor_give_identical_pages_another_seed_differs() -> None:
    fakes = [Fake(build_world(seed=s, size="test", anchor=ANCHOR)) for s in (11, 11, 12)]
    try:
        pages = []
        for fake in fakes:
            pages.append(
                [
                    fake.client.get(path, params={"pageSize": 50, "page": 2}).json()["Data"]
                    for path in ("/v3/customers", "/v3/events/sales", "/v3/events", "/v3/memberships/sales")
                ]
            )
        assert pages[0] == pages[1]
        assert pages[0] != pages[2]
    finally:
        for fake in fakes:
            fake.close()


# ---- changes over time ----------------------------------------------------------------------------


def test_advance_makes_new_and_edited_customers_visible_from_the_time_before(fresh: Fake) -> None:
    before = now_ts()
    counts = {"new_customers": 3, "edits": 4, "sales": 5, "returns": 2, "permission_changes": 2, "membership_sales": 2}
    response = fresh.client.post("/_fake/advance", json=counts)
    assert response.status_code == 200
    summary = response.json()
    assert {k: summary["applied"][k] for k in counts} == counts
    assert summary["at"] >= before
    changed = fetch_all(fresh.client, "/v3/customers", DateFrom=before)
    ids = summary["ids"]
    assert {c["Id"] for c in changed} == set(ids["new_customers"]) | set(ids["edits"]) | set(ids["permission_changes"])
    for c in changed:
        if c["Id"] in ids["new_customers"]:
            assert c["Edited"] is None and c["Created"] >= before
            assert c["Email"] is None or c["Email"].lower().endswith("@example.org")
        else:
            assert c["Edited"] >= before
    new_sales = fetch_all(fresh.client, "/v3/events/sales", SoldFrom=before)
    assert len(new_sales) == 5 + 2 + summary["applied"]["duo_ticket_lines"]
    stamps = [s["Created"] for s in new_sales]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # distinct, increasing
    assert sorted(s["SaleTicketId"] for s in new_sales if s["TicketCount"] < 0) == sorted(ids["returns"])
    new_memberships = fetch_all(fresh.client, "/v3/memberships/sales", SoldFrom=before)
    assert [m["Id"] for m in new_memberships] == ids["membership_sales"]
    # a second advance continues, and nothing earlier moves before it
    again = fresh.client.post("/_fake/advance", json={"new_customers": 1}).json()
    assert again["at"] > summary["last"]
    assert fresh.client.post("/_fake/advance", json={"bogus": 1}).status_code == 400
    assert fresh.client.get("/_fake/stats").json()["customers"] == 84


def test_offset_paging_skips_a_row_when_an_earlier_record_is_edited(fresh: Fake) -> None:
    """The documented hazard: page 1 is read, a record on it is edited (moves to the end), page 2 shifts."""
    everyone = [c["Id"] for c in fetch_all(fresh.client, "/v3/customers")]
    first = fresh.client.get("/v3/customers", params={"pageSize": 10}).json()
    fresh.world.edit_customer(first["Data"][0]["Id"])
    second = fresh.client.get(first["Next"]).json()
    seen = [c["Id"] for c in first["Data"] + second["Data"]]
    assert everyone[10] not in seen  # skipped in this pass
    assert [*seen[:10], everyone[10], *seen[10:]] == everyone[:21]


def test_evolve_every_advances_in_the_background() -> None:
    world = build_world(seed=3, size="test", anchor=ANCHOR)
    with TestClient(create_app(world, evolve_every=0.05)):  # the lifespan starts the evolve task
        deadline = time.monotonic() + 5
        while world.steps < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert world.steps >= 2 and len(world.customers) > 80


# ---- faults ---------------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_then_normal(fresh: Fake) -> None:
    set_faults = fresh.client.post("/_fake/faults", json={"rate_limit": 2, "retry_after": 3})
    assert set_faults.json()["faults"]["rate_limit"] == 2
    for _ in range(2):
        response = fresh.client.get("/v3/customers")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
        assert response.json() == {"Message": "Too many requests"}
    assert fresh.client.get("/v3/customers").status_code == 200
    assert fresh.client.get("/_fake/stats").json()["rate_limited"] == 2


def test_server_errors_alternate_then_fail_every_then_reset(fresh: Fake) -> None:
    fresh.client.post("/_fake/faults", json={"server_errors": 3})
    codes = [fresh.client.get("/v3/events").status_code for _ in range(4)]
    assert codes == [503, 500, 503, 200]
    fresh.client.post("/_fake/faults", json={"fail_every": 3})
    codes = [fresh.client.get("/v3/permissions").status_code for _ in range(6)]
    assert codes == [200, 200, 503, 200, 200, 503]
    fresh.client.post("/_fake/faults", json={})
    assert all(fresh.client.get("/v3/permissions").status_code == 200 for _ in range(4))
    stats = fresh.client.get("/_fake/stats").json()
    assert stats["server_errors"] == 5 and stats["faults"]["fail_every"] == 0
    assert fresh.client.post("/_fake/faults", json={"rate_limit": -1}).status_code == 400


def test_malformed_records_and_delay(fresh: Fake) -> None:
    some_customers = fresh.client.get("/v3/customers", params={"pageSize": 3}).json()["Data"]
    some_sales = fresh.client.get("/v3/events/sales", params={"pageSize": 3}).json()["Data"]
    bad_customer, bad_sale = some_customers[1]["Id"], some_sales[1]["SaleTicketId"]
    fresh.client.post(
        "/_fake/faults", json={"malformed_customers": [bad_customer], "malformed_sales": [bad_sale], "delay_ms": 150}
    )
    started = time.monotonic()
    served = fresh.client.get("/v3/customers", params={"pageSize": 3}).json()["Data"]
    assert time.monotonic() - started >= 0.14
    assert served[1]["Email"] == "not-an-address" and served[1]["DateOfBirth"] == "31-02-1990"
    assert served[1]["Created"] == "garbage"
    assert served[0] == some_customers[0] and served[2] == some_customers[2]
    served_sales = fresh.client.get("/v3/events/sales", params={"pageSize": 3}).json()["Data"]
    assert served_sales[1]["EventId"] is None and served_sales[1]["TicketCount"] == "one"
    assert served_sales[0] == some_sales[0]
    fresh.client.post("/_fake/faults", json={})
    assert fresh.client.get("/v3/customers", params={"pageSize": 3}).json()["Data"] == some_customers


def test_unknown_api_path_answers_404_with_message(shared: Fake) -> None:
    response = shared.client.get("/v3/orders")
    assert response.status_code == 404 and "Message" in response.json()


# ---- size ---------------------------------------------------------------------------------------


def test_a_20000_customer_world_builds_and_caps_page_size() -> None:
    world = build_world(seed=7, size=20000, anchor=ANCHOR)
    assert len(world.customers) == 20000 and len(world.organisations) == 8
    assert len(world.sales) > 80_000
    fake = Fake(world)
    try:
        body = fake.client.get("/v3/events/sales", params={"pageSize": 5000}).json()
        assert len(body["Data"]) == 1000
        assert parse_qs(urlsplit(body["Next"]).query) == {"pageSize": ["5000"], "page": ["2"]}
    finally:
        fake.close()
