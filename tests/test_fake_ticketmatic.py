"""The fake Ticketmatic 3 API over real HTTP: auth, paging, incremental lists, mutations, faults, determinism."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fakes.server import RunningServer, serve_in_thread
from fakes.ticketmatic import TicketmaticWorld, build_world, create_app, sign_headers

KEY, SECRET = "tm-demo-key", "tm-demo-secret"
NOORD, OOST = "zaal-noord", "podium-oost"
ANCHOR = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> TicketmaticWorld:
    return build_world(seed=11, size="test")


@pytest.fixture(scope="module")
def server(world: TicketmaticWorld) -> Iterator[RunningServer]:
    with serve_in_thread(create_app(world)) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c
        c.post("/_fake/faults", json={}, auth=(KEY, SECRET))


def get(client: httpx.Client, account: str, path: str, **params: Any) -> httpx.Response:
    return client.get(f"/api/1/{account}/{path}", params=params, headers=sign_headers(KEY, SECRET, account))


def ok(client: httpx.Client, account: str, path: str, **params: Any) -> dict[str, Any]:
    response = get(client, account, path, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def control(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    if body is None:
        response = client.get(f"/_fake/{path}", headers=sign_headers(KEY, SECRET, ""))
    else:
        response = client.post(f"/_fake/{path}", json=body, headers=sign_headers(KEY, SECRET, ""))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def all_rows(client: httpx.Client, account: str, path: str, limit: int = 7, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = ok(client, account, path, limit=limit, offset=offset, **params)
        if not page["data"]:
            return rows
        rows.extend(page["data"])
        offset += len(page["data"])


def parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


# --- authentication ------------------------------------------------------------------------------------------


def test_sign_headers_shape() -> None:
    header = sign_headers(KEY, SECRET, NOORD, datetime(2014, 9, 26, 15, 24, 36, tzinfo=UTC))["Authorization"]
    assert re.fullmatch(r"TM-HMAC-SHA256 key=tm-demo-key ts=2014-09-26T15:24:36 sign=[0-9a-f]{64}", header)


def test_hmac_accepted_and_refusals(client: httpx.Client) -> None:
    assert get(client, NOORD, "contacts").status_code == 200
    url = f"/api/1/{NOORD}/contacts"
    refusals = [
        sign_headers(KEY, "wrong-secret", NOORD),
        sign_headers("other-key", SECRET, NOORD),
        sign_headers(KEY, SECRET, OOST),  # signed for another account
        sign_headers(KEY, SECRET, NOORD, datetime.now(UTC) - timedelta(minutes=6)),  # stale
        sign_headers(KEY, SECRET, NOORD, datetime.now(UTC) + timedelta(minutes=6)),  # from the future
        {"Authorization": "Bearer something"},
        {},
    ]
    for headers in refusals:
        response = client.get(url, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["message"]
    fresh_enough = sign_headers(KEY, SECRET, NOORD, datetime.now(UTC) - timedelta(minutes=4))
    assert client.get(url, headers=fresh_enough).status_code == 200


def test_basic_auth(client: httpx.Client) -> None:
    assert client.get(f"/api/1/{OOST}/events", auth=(KEY, SECRET)).status_code == 200
    assert client.get(f"/api/1/{OOST}/events", auth=(KEY, "nope")).status_code == 401
    assert client.get("/_fake/truth", auth=(KEY, "nope")).status_code == 401


def test_unknown_account_is_404_json(client: httpx.Client) -> None:
    response = get(client, "nergens", "contacts")
    assert response.status_code == 404
    assert "message" in response.json()


# --- lists ---------------------------------------------------------------------------------------------------


def test_paging_visits_every_contact_once(client: httpx.Client) -> None:
    truth = control(client, "truth")["accounts"][NOORD]
    rows = all_rows(client, NOORD, "contacts", includearchived="true")
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == truth["contacts"]
    assert ids == sorted(ids)  # default order: id
    first = ok(client, NOORD, "contacts", limit=3, includearchived="true")
    assert first["nbrofresults"] == truth["contacts"] and len(first["data"]) == 3
    assert "lookup" not in first or first["lookup"] == {}
    # a plain list leaves deleted contacts out
    plain = all_rows(client, NOORD, "contacts", limit=11)
    assert len(plain) == truth["contacts_active"] == ok(client, NOORD, "contacts")["nbrofresults"]
    assert not any(r["isdeleted"] for r in plain)
    # the same for orders, and the limit is capped rather than refused
    orders = all_rows(client, NOORD, "orders", limit=40)
    assert len({o["orderid"] for o in orders}) == len(orders) == ok(client, NOORD, "orders")["nbrofresults"]
    assert len(ok(client, NOORD, "orders", limit=5000)["data"]) == len(orders)  # 150 < 1000
    assert ok(client, NOORD, "orders", limit=5, offset=10_000)["data"] == []


def test_lastupdatesince_and_ordering(client: httpx.Client) -> None:
    everything = all_rows(client, OOST, "contacts", limit=50, includearchived="true")
    stamps = sorted(parse(c["lastupdatets"]) for c in everything)
    since = stamps[len(stamps) // 2]
    expected = sum(1 for s in stamps if s >= since)
    rows = all_rows(
        client, OOST, "contacts", limit=4, lastupdatesince=since.strftime("%Y-%m-%d %H:%M:%S"), orderby="lastupdatets"
    )
    assert len(rows) == expected
    got = [parse(r["lastupdatets"]) for r in rows]
    assert all(g >= since for g in got) and got == sorted(got)
    desc = ok(
        client,
        OOST,
        "contacts",
        limit=1000,
        lastupdatesince=since.strftime("%Y-%m-%d %H:%M:%S"),
        orderby="lastupdatets",
        orderby_asc="false",
    )
    assert [r["id"] for r in desc["data"]] == [r["id"] for r in reversed(rows)]
    assert desc["nbrofresults"] == expected
    created = ok(client, OOST, "orders", orderby="createdts", limit=1000)["data"]
    assert [o["createdts"] for o in created] == sorted(o["createdts"] for o in created)


def test_bad_query_values_are_400(client: httpx.Client) -> None:
    for params in (
        {"limit": "many"},
        {"limit": "0"},
        {"offset": "-1"},
        {"orderby": "name"},
        {"orderby_asc": "maybe"},
        {"output": "everything"},
        {"lastupdatesince": "yesterday"},
        {"includearchived": "sure"},
    ):
        response = get(client, NOORD, "contacts", **params)
        assert response.status_code == 400, params
        assert response.json()["message"]


def test_output_modes_and_lookup(client: httpx.Client) -> None:
    ids = ok(client, NOORD, "orders", output="ids", limit=5)["data"]
    assert all(set(o) == {"orderid"} for o in ids) and len(ids) == 5
    minimal = ok(client, NOORD, "contacts", output="minimal", limit=2)["data"][0]
    assert "addresses" not in minimal and {"id", "email", "lastupdatets"} <= set(minimal)
    body = ok(client, NOORD, "orders", output="withlookup", limit=25)
    lookup = body["lookup"]
    event_ids = {t["eventid"] for o in body["data"] for t in o["tickets"]}
    assert event_ids and {int(k) for k in lookup["events"]} == event_ids
    for eid in event_ids:
        assert {"id", "name", "startts"} <= set(lookup["events"][str(eid)])
    assert {t["pricetypeid"] for o in body["data"] for t in o["tickets"]} == {int(k) for k in lookup["pricetypes"]}
    assert {"1", "2"} <= set(lookup["saleschannels"])
    assert {o["saleschannelid"] for o in body["data"]} <= {1, 2}
    order = body["data"][0]
    assert order["nbroftickets"] == len(order["tickets"])
    events = ok(client, NOORD, "events")["data"]
    assert all(isinstance(e["tags"], list) and e["tags"] for e in events)
    assert event_ids <= {e["id"] for e in events}


def test_optin_statuses_and_definitions(client: httpx.Client) -> None:
    defs = ok(client, NOORD, "settings/system/optins")["data"]
    by_id = {d["id"]: d for d in defs}
    assert by_id[1]["typeid"] == 40002 and by_id[2]["typeid"] == 40002 and by_id[3]["typeid"] == 40001
    assert all(d["availability"] and "saleschannelid" in d["availability"][0] for d in defs)
    contacts = all_rows(client, NOORD, "contacts", limit=50, includearchived="true")
    statuses = {o["status"] for c in contacts for o in c["optins"]}
    assert statuses <= {7601, 7602, 7603}
    newsletter = {o["status"] for c in contacts for o in c["optins"] if o["optinid"] == 1}
    assert newsletter == {7601, 7602, 7603}
    first = next(o for c in contacts for o in c["optins"])
    assert {"method", "remarks", "ip", "userid"} <= set(first["info"])


def test_emails_fictional_and_shared_between_accounts(client: httpx.Client) -> None:
    noord = all_rows(client, NOORD, "contacts", limit=100, includearchived="true")
    oost = all_rows(client, OOST, "contacts", limit=100, includearchived="true")
    for c in noord + oost:
        assert c["email"] is None or c["email"].lower().endswith("@example.org"), c["email"]
    assert any(c["email"] is None for c in noord + oost)
    emails_noord = {c["email"].lower(): c["id"] for c in noord if c["email"]}
    shared = [
        (emails_noord[c["email"].lower()], c["id"]) for c in oost if c["email"] and c["email"].lower() in emails_noord
    ]
    assert len(shared) >= 5  # about a fifth of 50
    assert all(a != b for a, b in shared)
    for c in noord[:10]:
        for phone in c["phonenumbers"]:
            assert phone["number"].startswith("+32 ")
    truth = control(client, "truth")
    assert truth["emails_in_several_accounts"] >= len(shared)


# --- changes over time ---------------------------------------------------------------------------------------


def test_refund_removes_ticket_and_bumps_lastupdatets(client: httpx.Client, world: TicketmaticWorld) -> None:
    before_truth = control(client, "truth")
    summary = control(client, "advance", {"account": NOORD, "refunds": 1})
    refund = summary["accounts"][NOORD]["refunds"][0]
    assert set(summary["accounts"]) == {NOORD}
    order = ok(client, NOORD, f"orders/{refund['orderid']}")
    assert refund["ticketid"] not in {t["id"] for t in order["tickets"]}
    assert order["nbroftickets"] == len(order["tickets"])
    assert order["lastupdatets"] == summary["stamp"]
    assert parse(order["lastupdatets"]) >= world.anchor_dt
    assert order["payments"][-1]["amount"] < 0 or refund["amount"] == 0 or not order["payments"]
    changed = all_rows(client, NOORD, "orders", lastupdatesince=summary["stamp"], orderby="lastupdatets")
    assert refund["orderid"] in {o["orderid"] for o in changed}
    after_truth = control(client, "truth")
    assert after_truth["accounts"][NOORD]["tickets"] == before_truth["accounts"][NOORD]["tickets"] - 1
    assert after_truth["refunds"] == before_truth["refunds"] + 1


def test_deletion_shows_isdeleted_in_incremental_lists(client: httpx.Client) -> None:
    summary = control(client, "advance", {"account": OOST, "deletions": 1, "edits": 2, "optin_changes": 2})
    deleted = summary["accounts"][OOST]["deletions"][0]
    changed = all_rows(client, OOST, "contacts", lastupdatesince=summary["stamp"], orderby="lastupdatets")
    row = next(c for c in changed if c["id"] == deleted)
    assert row["isdeleted"] is True and row["status"] == "deleted"
    assert deleted not in {c["id"] for c in all_rows(client, OOST, "contacts", limit=100)}
    archived = all_rows(client, OOST, "contacts", limit=100, includearchived="true")
    assert deleted in {c["id"] for c in archived}
    for change in summary["accounts"][OOST]["optin_changes"]:
        contact = ok(client, OOST, f"contacts/{change['contactid']}")
        optin = next(o for o in contact["optins"] if o["optinid"] == change["optinid"])
        assert optin["status"] == change["status"] and optin["lastupdatets"] == summary["stamp"]


def test_advance_all_accounts_new_records_and_stamps_never_go_back(client: httpx.Client) -> None:
    first = control(client, "advance", {"new_contacts": 2, "orders": 3})
    second = control(client, "advance", {"account": None, "edits": 1})
    assert set(first["accounts"]) == {NOORD, OOST}
    assert second["stamp"] >= first["stamp"]
    new_ids = first["accounts"][NOORD]["new_contacts"]
    for cid in new_ids:
        contact = ok(client, NOORD, f"contacts/{cid}")
        assert contact["createdts"] == contact["lastupdatets"] == first["stamp"]
    new_orders = first["accounts"][OOST]["orders"]
    order = ok(client, OOST, f"orders/{new_orders[0]}")
    assert order["tickets"] and order["createdts"] == first["stamp"]
    bad = client.post("/_fake/advance", json={"account": "nergens"}, auth=(KEY, SECRET))
    assert bad.status_code == 400


def test_determinism() -> None:
    a = build_world(seed=5, size="test", anchor=ANCHOR)
    b = build_world(seed=5, size="test", anchor=ANCHOR)
    c = build_world(seed=6, size="test", anchor=ANCHOR)
    assert a.export(NOORD) == b.export(NOORD) and a.export(OOST) == b.export(OOST)
    assert a.export(NOORD) != c.export(NOORD)
    assert a.truth() == b.truth()
    everything = a.export(NOORD)
    stamps = [parse(r["lastupdatets"]) for kind in ("contacts", "orders", "events") for r in everything[kind]]
    assert max(stamps) < ANCHOR and min(stamps) > ANCHOR - timedelta(days=2 * 366 + 90)
    later = ANCHOR + timedelta(hours=1)
    kwargs: dict[str, Any] = {"new_contacts": 3, "edits": 3, "orders": 3, "refunds": 2, "optin_changes": 2}
    assert a.advance(None, now=later, deletions=1, **kwargs) == b.advance(None, now=later, deletions=1, **kwargs)
    assert a.export(OOST) == b.export(OOST)
    assert set(build_world(size=7, anchor=ANCHOR).accounts) == {NOORD, OOST, "kunstencentrum-west"}


# --- faults --------------------------------------------------------------------------------------------------


def test_rate_limit_with_retry_after(client: httpx.Client) -> None:
    control(client, "faults", {"rate_limit": 2, "retry_after": 3})
    for _ in range(2):
        response = get(client, NOORD, "contacts")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
        assert response.json()["message"]
    assert get(client, NOORD, "contacts").status_code == 200
    stats = control(client, "stats")
    assert stats["by_status"]["429"] >= 2 and stats["rate_limited"] >= 2


def test_server_errors_and_fail_every(client: httpx.Client) -> None:
    control(client, "faults", {"server_errors": 2})
    assert [get(client, NOORD, "events").status_code for _ in range(3)] == [503, 500, 200]
    control(client, "faults", {"fail_every": 3})
    codes = [get(client, NOORD, "events").status_code for _ in range(6)]
    assert codes == [200, 200, 503, 200, 200, 503]
    control(client, "faults", {})
    assert all(get(client, NOORD, "events").status_code == 200 for _ in range(4))
    assert client.post("/_fake/faults", json={"rate_limit": -1}, auth=(KEY, SECRET)).status_code == 400


def test_malformed_records_and_delay(client: httpx.Client) -> None:
    contact_id = ok(client, NOORD, "contacts", limit=1)["data"][0]["id"]
    order_id = ok(client, NOORD, "orders", limit=1)["data"][0]["orderid"]
    control(client, "faults", {"malformed_contacts": [contact_id], "malformed_orders": [order_id], "delay_ms": 150})
    started = time.monotonic()
    contact = ok(client, NOORD, "contacts", limit=1)["data"][0]
    assert time.monotonic() - started >= 0.15
    assert contact["email"] == "not-an-address" and contact["createdts"] == "garbage"
    assert ok(client, NOORD, "orders", limit=1)["data"][0]["tickets"] == "none"
    assert ok(client, NOORD, "contacts", limit=2)["data"][1]["email"] != "not-an-address"
    control(client, "faults", {})
    contact = ok(client, NOORD, f"contacts/{contact_id}")
    assert contact["createdts"] != "garbage"
    assert isinstance(ok(client, NOORD, f"orders/{order_id}")["tickets"], list)


def test_stats_and_truth_shapes(client: httpx.Client) -> None:
    stats = control(client, "stats")
    assert stats["api_requests"] > 0 and stats["by_endpoint"]["contacts"] > 0
    truth = control(client, "truth")
    assert {NOORD, OOST} == set(truth["accounts"])
    assert truth["accounts"][NOORD]["house"] == "Zaal Noord"
    assert truth["distinct_emails"] > 0 and truth["tickets"] > 0
    assert client.get("/_fake/stats").status_code == 401
