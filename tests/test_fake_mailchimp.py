"""The fake Mailchimp Marketing API v3 over real HTTP: auth and problem details, upserts, subscriber hashes,
paging, archive and permanent delete, batches, faults, the connection limit, the event log and restarts."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakes.mailchimp import ERROR_TYPE, MailchimpState, create_app, subscriber_hash
from fakes.server import RunningServer, serve_in_thread

KEY = "5f2b8c0d9e1a4b7c8d6e3f2a1b0c9d8e-us21"
LIST, OTHER = "list-a", "list-b"
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


class Fake:
    def __init__(self, state: MailchimpState, **options: Any) -> None:
        self.state = state
        self.server = serve_in_thread(create_app(state, api_key=KEY, **options))
        self.client = client_for(self.server)

    def close(self) -> None:
        self.client.close()
        self.server.stop()


def client_for(server: RunningServer, key: str | None = KEY) -> httpx.Client:
    auth = ("hub", key) if key is not None else None
    return httpx.Client(base_url=server.url, auth=auth, timeout=10)


@pytest.fixture
def fake() -> Iterator[Fake]:
    running = Fake(MailchimpState([LIST, OTHER]))
    yield running
    running.close()


def member_body(email: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email_address": email,
        "status_if_new": "subscribed",
        "merge_fields": {"FNAME": "Lotte", "LNAME": "Peeters"},
        "language": "nl",
    }
    body.update(extra)
    return body


def put(client: httpx.Client, email: str, list_id: str = LIST, **extra: Any) -> httpx.Response:
    return client.put(f"/3.0/lists/{list_id}/members/{subscriber_hash(email)}", json=member_body(email, **extra))


def assert_problem(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["type"] == ERROR_TYPE
    assert body["title"] == title
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    uuid.UUID(body["instance"])
    assert isinstance(body, dict)
    return body


def test_subscriber_hash_is_md5_of_the_lower_cased_address() -> None:
    expected = hashlib.md5(b"lotte.peeters@example.org").hexdigest()
    assert subscriber_hash("Lotte.Peeters@Example.org") == expected


def test_auth_is_basic_with_any_user_and_the_key_as_password(fake: Fake) -> None:
    with client_for(fake.server, key=None) as anonymous:
        body = assert_problem(anonymous.get("/3.0/lists"), 401, "API Key Missing")
        assert set(body) == PROBLEM_KEYS
    with client_for(fake.server, key="0000000000000000000000000000000-us21") as wrong:
        body = assert_problem(wrong.get("/3.0/lists"), 401, "API Key Invalid")
        assert set(body) == PROBLEM_KEYS
        assert_problem(wrong.get("/_fake/log"), 401, "API Key Invalid")
    with httpx.Client(base_url=fake.server.url, auth=("anystring", KEY)) as other_user:
        assert other_user.get("/3.0/ping").json() == {"health_status": "Everything's Chimpy!"}


def test_lists(fake: Fake) -> None:
    body = fake.client.get("/3.0/lists").json()
    assert body["total_items"] == 2
    assert [a["id"] for a in body["lists"]] == [LIST, OTHER]
    assert fake.client.get(f"/3.0/lists/{OTHER}").json()["id"] == OTHER
    assert_problem(fake.client.get("/3.0/lists/nope"), 404, "Resource Not Found")


def test_upsert_creates_then_updates_one_member(fake: Fake) -> None:
    email = "anouk.janssens@example.org"
    created = put(fake.client, email)
    assert created.status_code == 200, created.text
    member = created.json()
    assert member["id"] == subscriber_hash(email)
    assert member["email_address"] == email
    assert member["status"] == "subscribed"
    assert member["merge_fields"]["FNAME"] == "Lotte"
    assert member["language"] == "nl"
    assert member["list_id"] == LIST
    assert {"unique_email_id", "last_changed"} <= set(member)

    again = put(fake.client, email)  # same body: nothing changes, not even last_changed
    assert again.json()["last_changed"] == member["last_changed"]
    assert again.json()["status"] == "subscribed"

    # status_if_new is ignored for an existing member; status changes it
    assert put(fake.client, email, status_if_new="pending").json()["status"] == "subscribed"
    updated = put(fake.client, email, status="unsubscribed", merge_fields={"LNAME": "Maes"}).json()
    assert updated["status"] == "unsubscribed"
    assert updated["merge_fields"]["FNAME"] == "Lotte" and updated["merge_fields"]["LNAME"] == "Maes"

    listed = fake.client.get(f"/3.0/lists/{LIST}/members").json()
    assert listed["total_items"] == 1 and listed["list_id"] == LIST
    got = fake.client.get(f"/3.0/lists/{LIST}/members/{subscriber_hash(email)}").json()
    assert got["status"] == "unsubscribed"
    # the other audience is untouched
    assert fake.client.get(f"/3.0/lists/{OTHER}/members").json()["total_items"] == 0


def test_patch_is_a_partial_update(fake: Fake) -> None:
    email = "wout.declercq@example.org"
    put(fake.client, email)
    path = f"/3.0/lists/{LIST}/members/{subscriber_hash(email)}"
    patched = fake.client.patch(path, json={"merge_fields": {"FNAME": "Wout"}}).json()
    assert patched["merge_fields"]["FNAME"] == "Wout" and patched["merge_fields"]["LNAME"] == "Peeters"
    assert patched["status"] == "subscribed"
    assert fake.client.patch(path, json={"status": "pending"}).json()["status"] == "pending"
    missing = f"/3.0/lists/{LIST}/members/{subscriber_hash('nobody@example.org')}"
    assert_problem(fake.client.patch(missing, json={"status": "subscribed"}), 404, "Resource Not Found")


def test_wrong_subscriber_hash_or_invalid_body_is_refused(fake: Fake) -> None:
    email = "jonas.maes@example.org"
    wrong = subscriber_hash("someone.else@example.org")
    response = fake.client.put(f"/3.0/lists/{LIST}/members/{wrong}", json=member_body(email))
    body = assert_problem(response, 400, "Invalid Resource")
    assert body["detail"].startswith("The resource submitted could not be validated")
    assert body["errors"][0]["field"] == "email_address"

    bad_status = put(fake.client, email, status_if_new="happy")
    assert_problem(bad_status, 400, "Invalid Resource")
    no_status = fake.client.put(f"/3.0/lists/{LIST}/members/{subscriber_hash(email)}", json={"email_address": email})
    assert assert_problem(no_status, 400, "Invalid Resource")["errors"][0]["field"] == "status_if_new"
    not_json = fake.client.put(f"/3.0/lists/{LIST}/members/{subscriber_hash(email)}", content=b"{nope")
    assert_problem(not_json, 400, "JSON Parse Error")
    assert fake.state.members(LIST) == []


def test_member_list_paging_and_status_filter(fake: Fake) -> None:
    emails = [f"lid.{i:02d}@example.org" for i in range(25)]
    for i, email in enumerate(emails):
        assert put(fake.client, email, status_if_new="subscribed" if i % 5 else "unsubscribed").status_code == 200

    first = fake.client.get(f"/3.0/lists/{LIST}/members").json()
    assert len(first["members"]) == 10 and first["total_items"] == 25  # count defaults to 10
    seen: list[str] = []
    offset = 0
    while True:
        page = fake.client.get(f"/3.0/lists/{LIST}/members", params={"count": 7, "offset": offset}).json()
        if not page["members"]:
            break
        seen.extend(m["email_address"] for m in page["members"])
        offset += 7
    assert seen == emails

    unsubscribed = fake.client.get(f"/3.0/lists/{LIST}/members", params={"status": "unsubscribed"}).json()
    assert unsubscribed["total_items"] == 5
    assert {m["status"] for m in unsubscribed["members"]} == {"unsubscribed"}
    many = fake.client.get(f"/3.0/lists/{LIST}/members", params={"count": 5000}).json()
    assert len(many["members"]) == 25
    assert_problem(fake.client.get(f"/3.0/lists/{LIST}/members", params={"count": "x"}), 400, "Invalid Resource")


def test_delete_archives_and_put_brings_the_member_back(fake: Fake) -> None:
    email = "femke.devos@example.org"
    path = f"/3.0/lists/{LIST}/members/{subscriber_hash(email)}"
    put(fake.client, email)
    assert fake.client.delete(path).status_code == 204
    assert fake.client.get(path).json()["status"] == "archived"
    archived = fake.client.get(f"/3.0/lists/{LIST}/members", params={"status": "archived"}).json()
    assert archived["total_items"] == 1
    # an archived member is re-added by PUT with status_if_new
    assert put(fake.client, email, status_if_new="pending").json()["status"] == "pending"
    assert fake.client.get(f"/3.0/lists/{LIST}/members").json()["total_items"] == 1


def test_permanent_delete_forgets_and_refuses_reimport(fake: Fake) -> None:
    email = "bram.vermeulen@example.org"
    path = f"/3.0/lists/{LIST}/members/{subscriber_hash(email)}"
    put(fake.client, email)
    assert fake.client.post(f"{path}/actions/delete-permanent").status_code == 204
    assert_problem(fake.client.get(path), 404, "Resource Not Found")

    refused = assert_problem(put(fake.client, email), 400, "Forgotten Email Not Subscribed")
    assert email in refused["detail"] and "cannot be re-imported" in refused["detail"]
    added = fake.client.post(f"/3.0/lists/{LIST}/members", json={"email_address": email, "status": "subscribed"})
    assert_problem(added, 400, "Forgotten Email Not Subscribed")
    assert_problem(fake.client.post(f"{path}/actions/delete-permanent"), 404, "Resource Not Found")
    assert fake.state.is_forgotten(LIST, email)
    assert fake.state.member(LIST, email) is None
    # only in that audience
    assert put(fake.client, email, list_id=OTHER).status_code == 200

    log = fake.client.get("/_fake/log", params={"list_id": LIST, "subscriber_hash": subscriber_hash(email)}).json()
    assert [(e["method"], e["status_before"], e["status_after"], e["status_code"]) for e in log] == [
        ("PUT", None, "subscribed", 200),
        ("POST", "subscribed", None, 204),
        ("PUT", None, None, 400),
        ("POST", None, None, 400),
        ("POST", None, None, 404),
    ]


def test_post_member_refuses_an_existing_member(fake: Fake) -> None:
    email = "noor.claeys@example.org"
    body = {"email_address": email, "status": "subscribed", "tags": ["abonnee"]}
    first = fake.client.post(f"/3.0/lists/{LIST}/members", json=body)
    assert first.status_code == 200 and [t["name"] for t in first.json()["tags"]] == ["abonnee"]
    assert_problem(fake.client.post(f"/3.0/lists/{LIST}/members", json=body), 400, "Member Exists")


def wait_for_batch(client: httpx.Client, batch_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while True:
        batch = client.get(f"/3.0/batches/{batch_id}").json()
        seen.add(batch["status"])
        assert seen <= {"pending", "started", "finished"}
        if batch["status"] == "finished":
            assert isinstance(batch, dict)
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.02)


def test_batches_run_and_their_results_are_readable(fake: Fake) -> None:
    emails = [f"batch.{i}@example.org" for i in range(5)]
    operations: list[dict[str, Any]] = [
        {
            "method": "PUT",
            "path": f"/lists/{LIST}/members/{subscriber_hash(email)}",
            "body": json.dumps(member_body(email)),
            "operation_id": f"op-{i}",
        }
        for i, email in enumerate(emails)
    ]
    operations.append(  # a mismatching hash fails on its own
        {
            "method": "PUT",
            "path": f"lists/{LIST}/members/{subscriber_hash('x@example.org')}",
            "body": json.dumps(member_body("y@example.org")),
            "operation_id": "op-bad",
        }
    )
    operations.append({"method": "GET", "path": f"lists/{LIST}/members", "params": {"count": 2}, "operation_id": "g"})
    started = fake.client.post("/3.0/batches", json={"operations": operations})
    assert started.status_code == 200, started.text
    batch = started.json()
    assert batch["status"] == "pending" and batch["total_operations"] == 7
    assert batch["finished_operations"] == 0 and batch["response_body_url"] == ""

    done = wait_for_batch(fake.client, batch["id"])
    assert done["finished_operations"] == 7 and done["errored_operations"] == 1
    assert done["response_body_url"].startswith(fake.server.url)
    with httpx.Client(timeout=10) as anonymous:  # like a pre-signed link: no auth needed
        results = anonymous.get(done["response_body_url"]).json()
    by_id = {r["operation_id"]: r for r in results}
    assert [r["operation_id"] for r in results] == [*(f"op-{i}" for i in range(5)), "op-bad", "g"]
    assert all(by_id[f"op-{i}"]["status_code"] == 200 for i in range(5))
    assert json.loads(by_id["op-0"]["response"])["email_address"] == emails[0]
    assert by_id["op-bad"]["status_code"] == 400
    assert json.loads(by_id["op-bad"]["response"])["title"] == "Invalid Resource"
    assert len(json.loads(by_id["g"]["response"])["members"]) == 2

    assert {m["email_address"] for m in fake.state.members(LIST)} == set(emails)
    log = fake.client.get("/_fake/log").json()
    assert [e["request_id"] for e in log] == [*(f"op-{i}" for i in range(5)), "op-bad"]
    assert {e["batch_id"] for e in log} == {batch["id"]}
    listed = fake.client.get("/3.0/batches").json()
    assert [b["id"] for b in listed["batches"]] == [batch["id"]]


def test_batches_wait_and_run_in_chunks() -> None:
    running = Fake(MailchimpState([LIST]), batch_delay=0.3, batch_chunk=2, batch_tick=0.05)
    try:
        operations = [
            {
                "method": "PUT",
                "path": f"lists/{LIST}/members/{subscriber_hash(e)}",
                "body": json.dumps(member_body(e)),
            }
            for e in (f"chunk.{i}@example.org" for i in range(10))
        ]
        batch = running.client.post("/3.0/batches", json={"operations": operations}).json()
        time.sleep(0.1)
        assert running.client.get(f"/3.0/batches/{batch['id']}").json()["status"] == "pending"
        statuses: set[str] = set()
        deadline = time.monotonic() + 5
        while True:
            now = running.client.get(f"/3.0/batches/{batch['id']}").json()
            statuses.add(now["status"])
            if now["status"] == "finished":
                break
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert "started" in statuses
        assert now["finished_operations"] == 10 and now["errored_operations"] == 0
        bad = running.client.post("/3.0/batches", json={"operations": [{"method": "PUT", "path": "x", "body": {}}]})
        assert_problem(bad, 400, "Invalid Resource")
    finally:
        running.close()


def set_faults(client: httpx.Client, **faults: Any) -> None:
    response = client.post("/_fake/faults", json=faults)
    assert response.status_code == 200, response.text


def test_down_and_server_errors(fake: Fake) -> None:
    set_faults(fake.client, down=True)
    assert_problem(fake.client.get("/3.0/lists"), 503, "Service Unavailable")
    assert_problem(put(fake.client, "x@example.org"), 503, "Service Unavailable")
    assert fake.client.get("/_fake/stats").json()["faults"]["down"] is True  # control endpoints still answer
    set_faults(fake.client)
    assert fake.client.get("/3.0/lists").status_code == 200

    set_faults(fake.client, server_errors=2)
    assert [fake.client.get("/3.0/lists").status_code for _ in range(3)] == [500, 503, 200]
    set_faults(fake.client, fail_every=2)
    assert [fake.client.get("/3.0/lists").status_code for _ in range(4)] == [200, 503, 200, 503]
    set_faults(fake.client)
    assert fake.state.log() == []  # refused before the API saw them
    bad = fake.client.post("/_fake/faults", json={"down": "yes"})
    assert_problem(bad, 400, "Bad Request")


def test_rate_limit_and_connection_limit(fake: Fake) -> None:
    set_faults(fake.client, rate_limit=2, retry_after=3)
    first = fake.client.get("/3.0/lists")
    assert_problem(first, 429, "Too Many Requests")
    assert first.headers["retry-after"] == "3"
    assert fake.client.get("/3.0/lists").status_code == 429
    assert fake.client.get("/3.0/lists").status_code == 200

    set_faults(fake.client, delay_ms=300, max_concurrent=2)
    codes: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        with client_for(fake.server) as own:
            code = own.get("/3.0/lists").status_code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 200, 429, 429, 429]
    stats = fake.client.get("/_fake/stats").json()
    assert stats["over_connection_limit"] == 3 and stats["max_in_flight"] >= 3 and stats["in_flight"] == 0
    set_faults(fake.client)
    assert fake.state.max_concurrent == 10  # the default limit, like Mailchimp's


def test_event_log_counts_every_call(fake: Fake) -> None:
    email = "ruben.willems@example.org"
    member_hash = subscriber_hash(email)
    for _ in range(3):
        response = fake.client.put(
            f"/3.0/lists/{LIST}/members/{member_hash}", json=member_body(email), headers={"X-Request-Id": "hub-42"}
        )
        assert response.status_code == 200
    put(fake.client, email, status="unsubscribed")
    fake.client.delete(f"/3.0/lists/{LIST}/members/{member_hash}")
    fake.client.get(f"/3.0/lists/{LIST}/members/{member_hash}")  # reads are not logged

    assert len(fake.state.members(LIST)) == 1
    log = fake.client.get("/_fake/log", params={"subscriber_hash": member_hash}).json()
    assert [e["seq"] for e in log] == [1, 2, 3, 4, 5]
    assert [(e["method"], e["status_before"], e["status_after"]) for e in log] == [
        ("PUT", None, "subscribed"),
        ("PUT", "subscribed", "subscribed"),
        ("PUT", "subscribed", "subscribed"),
        ("PUT", "subscribed", "unsubscribed"),
        ("DELETE", "unsubscribed", "archived"),
    ]
    assert [e["request_id"] for e in log[:3]] == ["hub-42"] * 3
    assert all(e["list_id"] == LIST and e["path"] == f"/3.0/lists/{LIST}/members/{member_hash}" for e in log)
    assert fake.client.get("/_fake/log", params={"since": 4}).json() == log[4:]
    members = fake.client.get("/_fake/members", params={"list_id": LIST}).json()
    assert [(m["email_address"], m["status"]) for m in members] == [(email, "archived")]


def test_stop_and_start_on_the_same_port_keeps_the_state() -> None:
    state = MailchimpState([LIST])
    first = serve_in_thread(create_app(state, api_key=KEY))
    port = first.port
    with client_for(first) as client:
        put(client, "marthe.goethals@example.org")
        put(client, "seppe.baert@example.org", status_if_new="pending")
        before = client.get(f"/3.0/lists/{LIST}/members").json()["members"]
    first.stop()
    with pytest.raises(httpx.TransportError), client_for(first) as client:
        client.get("/3.0/ping")

    second = serve_in_thread(create_app(state, api_key=KEY), port=port)
    try:
        assert second.port == port
        with client_for(second) as client:
            after = client.get(f"/3.0/lists/{LIST}/members").json()["members"]
            assert after == before
            assert len(client.get("/_fake/log").json()) == 2
            put(client, "marthe.goethals@example.org", status="unsubscribed")
        assert state.member(LIST, "marthe.goethals@example.org") is not None
        assert [m["status"] for m in state.members(LIST)] == ["unsubscribed", "pending"]
    finally:
        second.stop()
