"""The request desk (issue 15) on SQLite and PostgreSQL: deadlines on the cluster's calendar, an
extension told before the first month ends, overdue and due-soon lists, routing to the controller
houses and their sign-off, every step an audit entry, house scoping as an attacker sees it, and an
erasure request carried out end to end: the fake CRM receives the permanent delete and the
person's mail holds the reference."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient

from consent_hub import roles
from consent_hub.access.service import RelationService
from consent_hub.app import create_app
from consent_hub.clock import utcnow
from consent_hub.mail.sender import mail_queue
from consent_hub.outbox.delivery import OutboxWorker
from consent_hub.requests import deadlines
from fakes import mailchimp as fake_crm
from fakes.mailcatcher import MailCatcher
from fakes.server import RunningServer, serve_in_thread
from tests.buyer_world import configure
from tests.conftest import Hub, auth
from tests.factories import add_newsletter_audience, create_person, record_consent

BRUSSELS = ZoneInfo("Europe/Brussels")
HOUSE, OTHER = "schouwburg-noord", "concertzaal-zuid"
EMAIL = "wout.peeters@example.org"
LIST = "list-noord"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


# -- the calendar ---------------------------------------------------------------------------------
def test_one_month_ends_with_the_same_date_on_the_clusters_calendar() -> None:
    # 31 January 23:30 UTC is already 1 February in Brussels: due 1 March, not 28 February
    received = dt.datetime(2026, 1, 31, 23, 30, tzinfo=dt.UTC)
    due = deadlines.one_month_deadline(received, BRUSSELS)
    assert deadlines.due_day(due, BRUSSELS) == dt.date(2026, 3, 1)
    assert due == dt.datetime(2026, 3, 1, 23, 0, tzinfo=dt.UTC)  # midnight in Brussels (CET)
    # the same moment on a UTC calendar would end on 28 February
    assert deadlines.due_day(deadlines.one_month_deadline(received, ZoneInfo("UTC")), ZoneInfo("UTC")) == dt.date(
        2026, 2, 28
    )


def test_a_month_without_the_date_ends_on_its_last_day_and_summer_time_is_kept() -> None:
    assert deadlines.months_after(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert deadlines.months_after(dt.date(2028, 1, 31), 1) == dt.date(2028, 2, 29)
    assert deadlines.months_after(dt.date(2026, 11, 30), 2) == dt.date(2027, 1, 30)
    due = deadlines.one_month_deadline(dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC), BRUSSELS)
    assert due == dt.datetime(2026, 4, 10, 22, 0, tzinfo=dt.UTC)  # midnight in Brussels (CEST)


def test_an_extension_counts_from_the_first_deadline() -> None:
    due = deadlines.one_month_deadline(dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC), BRUSSELS)
    assert deadlines.due_day(deadlines.extended_deadline(due, 2, BRUSSELS), BRUSSELS) == dt.date(2026, 4, 15)


# -- the desk -------------------------------------------------------------------------------------
@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    with MailCatcher() as c:
        yield c


@pytest.fixture
def crm() -> Iterator[RunningServer]:
    state = fake_crm.MailchimpState(lists=[LIST])
    server = serve_in_thread(fake_crm.create_app(state))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def desk(hub: Hub, catcher: MailCatcher, crm: RunningServer) -> Iterator[dict[str, Any]]:
    configure(hub, catcher)
    from consent_hub.consent.service import ConsentService

    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    hub.add_house(HOUSE)
    hub.add_house(OTHER)
    add_newsletter_audience(
        hub,
        "crm-noord",
        house=HOUSE,
        base_url=f"{crm.url}/3.0",
        list_id=LIST,
        api_key=fake_crm.DEFAULT_API_KEY,
        no_backoff=True,
        timeout_seconds=2,
    )
    pid = create_person(hub, email=EMAIL, given_name="Wout", family_name="Peeters", language="nl")
    with hub.uow() as uow:
        RelationService(uow).touch(hub.actor(), pid, HOUSE, "customer", reason="data-migration")
    keys = {
        "dpo": hub.issue_key(roles.CLUSTER_DPO),
        "house-dpo": hub.issue_key(roles.HOUSE_DPO, house=HOUSE),
        "other-dpo": hub.issue_key(roles.HOUSE_DPO, house=OTHER),
        "box-office": hub.issue_key(roles.BOX_OFFICE, house=HOUSE),
        "marketer": hub.issue_key(roles.MARKETER, house=HOUSE),
    }
    with TestClient(create_app(hub.settings, hub.registry), raise_server_exceptions=False) as client:
        yield {"hub": hub, "client": client, "keys": keys, "pid": pid, "catcher": catcher, "crm": crm}


def call(d: dict[str, Any], who: str, method: str, path: str, body: Any = None) -> httpx.Response:
    response: httpx.Response = d["client"].request(
        method, f"/v1/requests{path}", json=body, headers=auth(d["keys"][who])
    )
    return response


def register(d: dict[str, Any], kind: str, who: str = "dpo", **extra: Any) -> dict[str, Any]:
    response = call(d, who, "POST", "", {"kind": kind, "channel": "mail", "email": EMAIL, **extra})
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


def steps_in_audit(hub: Hub, reference: str) -> list[str]:
    rows = hub.sql("SELECT action, detail FROM audit_entries WHERE action LIKE 'request.%' ORDER BY seq")
    return [a for a, d in rows if json.loads(d).get("reference") == reference]


def test_a_request_by_mail_is_due_in_one_month_routed_to_the_controller_houses_and_receipted(
    desk: dict[str, Any],
) -> None:
    before = utcnow()
    req = register(desk, "access", house=OTHER)
    assert req["status"] == "received" and req["channel"] == "mail" and req["time_zone"] == "Europe/Brussels"
    assert req["due_on"] == deadlines.months_after(before.astimezone(BRUSSELS).date(), 1).isoformat()
    # addressed to one house, routed to the house that is a controller for the person
    assert req["house"] == OTHER and [p["house"] for p in req["parts"]] == [HOUSE]
    mail_queue().drain()
    mails = desk["catcher"].wait_for(EMAIL, 1)
    assert req["reference"] in mails[-1].subject and req["reference"] in mails[-1].text
    assert EMAIL not in json.dumps(req)  # the register answers ids and codes only
    assert steps_in_audit(desk["hub"], req["reference"]) == ["request.received", "request.mail"]


def test_an_unknown_or_erased_address_gets_the_same_answer_and_nothing_is_stored(desk: dict[str, Any]) -> None:
    response = call(desk, "dpo", "POST", "", {"kind": "access", "channel": "mail", "email": "nobody@example.org"})
    assert response.status_code == 404 and response.json()["error"] == "NotFound"
    assert "nobody" not in response.text
    assert desk["hub"].sql("SELECT count(*) FROM data_subject_requests")[0][0] == 0


def test_an_access_request_handled_to_done_with_every_step_audited(desk: dict[str, Any]) -> None:
    ref = register(desk, "access")["reference"]
    assert call(desk, "dpo", "POST", f"/{ref}/start").status_code == 409  # identity first
    verified = call(desk, "dpo", "POST", f"/{ref}/verify", {"note": "identity card seen at the counter"}).json()
    assert verified["status"] == "verified" and verified["verification"] == "staff"
    assert call(desk, "dpo", "POST", f"/{ref}/start").json()["status"] == "in-progress"
    executed = call(desk, "dpo", "POST", f"/{ref}/execute").json()
    assert executed["status"] == "waiting-for-house" and executed["executed"]
    # a house DPO signs off their own house's part, never another's
    assert call(desk, "other-dpo", "POST", f"/{ref}/sign-off", {}).status_code == 404
    done = call(desk, "house-dpo", "POST", f"/{ref}/sign-off", {"note": "nothing outside the hub"}).json()
    assert done["status"] == "done" and done["closed_at"] and not done["overdue"]
    assert steps_in_audit(desk["hub"], ref) == [
        "request.received",
        "request.mail",
        "request.verified",
        "request.started",
        "request.executing",
        "request.executed",
        "request.mail",
        "request.waiting-for-house",
        "request.signed-off",
        "request.done",
        "request.mail",
    ]
    mail_queue().drain()
    texts = [m.text for m in desk["catcher"].wait_for(EMAIL, 3)]
    assert any("/my/alpha/" in t for t in texts)  # the package waits on the person's own pages


def test_an_erasure_request_reaches_the_crm_as_a_permanent_delete_and_the_mail_holds_the_reference(
    desk: dict[str, Any],
) -> None:
    hub = desk["hub"]
    record_consent(hub, desk["pid"], target=HOUSE, status="granted")
    worker = OutboxWorker(hub.registry, "alpha")
    try:
        assert worker.run_once().delivered == 1  # the CRM knows the person
        ref = register(desk, "erasure", verified_note="signed letter with identity card copy, destroyed")["reference"]
        call(desk, "dpo", "POST", f"/{ref}/execute")
        assert hub.sql("SELECT status FROM people")[0][0] == "erased"
        assert worker.run_once().delivered == 1
    finally:
        worker.close()
    log = httpx.get(f"{desk['crm'].url}/_fake/log", auth=("test", fake_crm.DEFAULT_API_KEY)).json()
    assert log[-1]["path"].endswith("/actions/delete-permanent")
    erase_entry = hub.sql("SELECT actor, detail FROM audit_entries WHERE action = 'people.erase'")[0]
    assert erase_entry[0] == f"system:request-desk:{ref}" and ref in erase_entry[1]
    mail_queue().drain()
    mails = desk["catcher"].wait_for(EMAIL, 2)
    assert ref in mails[-1].subject and ref in mails[-1].text and "gewist" in mails[-1].text
    done = call(desk, "house-dpo", "POST", f"/{ref}/sign-off", {}).json()
    assert done["status"] == "done"


def test_an_extension_is_mailed_before_the_first_month_ends_and_never_after(
    desk: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = register(desk, "portability", verified_note="signed in at the counter")["reference"]
    extended = call(desk, "dpo", "POST", f"/{ref}/extend", {"months": 2, "reason": "many houses hold records"}).json()
    assert extended["extended"] and extended["extension_reason"] == "many houses hold records"
    first = dt.date.fromisoformat(register(desk, "access")["due_on"])
    assert dt.date.fromisoformat(extended["due_on"]) == deadlines.months_after(first, 2)
    mail_queue().drain()
    assert any("many houses hold records" in m.text for m in desk["catcher"].wait_for(EMAIL, 2))
    # a month and a day later, the first month is over: too late to extend
    late = register(desk, "access")["reference"]
    monkeypatch.setattr("consent_hub.requests.service.utcnow", Clock(utcnow() + dt.timedelta(days=32)))
    response = call(desk, "dpo", "POST", f"/{late}/extend", {"months": 1, "reason": "too late"})
    assert response.status_code == 409 and "first month" in response.text


def test_overdue_and_due_within_seven_days_lists(desk: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    ref = register(desk, "restriction")["reference"]
    assert [r["reference"] for r in call(desk, "dpo", "GET", "?due=soon").json()] == []
    clock = Clock(utcnow() + dt.timedelta(days=26))
    monkeypatch.setattr("consent_hub.requests.service.utcnow", clock)
    assert [r["reference"] for r in call(desk, "dpo", "GET", "?due=soon").json()] == [ref]
    clock.now = utcnow() + dt.timedelta(days=33)
    overdue = call(desk, "dpo", "GET", "?due=overdue").json()
    assert [r["reference"] for r in overdue] == [ref] and overdue[0]["overdue"] and overdue[0]["days_left"] < 0
    assert call(desk, "dpo", "GET", "?due=soon").json() == []


def test_a_refusal_is_mailed_with_the_reason_and_the_right_to_complain(desk: dict[str, Any]) -> None:
    ref = register(desk, "objection", purpose="newsletter")["reference"]
    refused = call(desk, "dpo", "POST", f"/{ref}/refuse", {"reason": "manifestly unfounded: repeated weekly"}).json()
    assert refused["status"] == "refused" and refused["closed_at"]
    assert call(desk, "dpo", "POST", f"/{ref}/execute").status_code == 409  # closed
    mail_queue().drain()
    text = desk["catcher"].wait_for(EMAIL, 2)[-1].text
    assert "manifestly unfounded" in text and "gegevensbeschermingsautoriteit" in text.lower()


def test_a_rectification_goes_through_the_people_service_and_tells_the_destinations(desk: dict[str, Any]) -> None:
    hub = desk["hub"]
    record_consent(hub, desk["pid"], target=HOUSE, status="granted")
    ref = register(
        desk, "rectification", field="family_name", value="Peeters-Claes", verified_note="identity card seen"
    )["reference"]
    assert b"Peeters-Claes" not in bytes(hub.sql("SELECT detail_ct FROM data_subject_requests")[0][0])
    executed = call(desk, "dpo", "POST", f"/{ref}/execute").json()
    assert executed["executed"] and "family_name" in executed["outcome"]
    causes = [c for (c,) in hub.sql("SELECT cause FROM outbox")]
    assert f"rectification:{ref}" in causes
    assert hub.sql("SELECT count(*) FROM audit_entries WHERE action = 'people.update'")[0][0] == 1


def test_a_house_sees_only_requests_with_its_part_and_others_look_like_no_request(desk: dict[str, Any]) -> None:
    ref = register(desk, "access")["reference"]  # routed to HOUSE only
    assert call(desk, "house-dpo", "GET", f"/{ref}").status_code == 200
    unknown = call(desk, "other-dpo", "GET", "/DSR-ZZZZ-ZZZZ")
    foreign = call(desk, "other-dpo", "GET", f"/{ref}")
    assert foreign.status_code == unknown.status_code == 404 and foreign.json() == unknown.json()
    assert call(desk, "other-dpo", "GET", "").json() == []
    assert [r["reference"] for r in call(desk, "house-dpo", "GET", "").json()] == [ref]
    # box-office staff register one at the counter for their house, but do not handle it
    counter = register(desk, "erasure", who="box-office", channel="box-office")
    assert counter["house"] == HOUSE and counter["channel"] == "box-office"
    assert call(desk, "box-office", "POST", f"/{counter['reference']}/execute").status_code == 403
    # another house's staff learn nothing: an unknown address and a person not theirs answer alike
    key = desk["keys"]["other-dpo"]
    before = desk["hub"].sql("SELECT count(*) FROM data_subject_requests")[0][0]
    answers = [
        desk["client"].post("/v1/requests", json={"kind": "access", "email": e}, headers=auth(key))
        for e in (EMAIL, "nobody.here@example.org")
    ]
    assert [a.status_code for a in answers] == [202, 202] and answers[0].json() == answers[1].json()
    assert EMAIL not in answers[0].text
    # the person's request is registered all the same, for the cluster DPO and the controller house
    assert desk["hub"].sql("SELECT count(*) FROM data_subject_requests")[0][0] == before + 1
    assert call(desk, "other-dpo", "GET", "").json() == []
    assert call(desk, "marketer", "GET", "").status_code == 403
    assert desk["hub"].sql("SELECT status FROM people")[0][0] == "active"


def test_bad_input_is_a_clear_4xx_that_changes_nothing(desk: dict[str, Any]) -> None:
    bad = call(desk, "dpo", "POST", "", {"kind": "rectification", "channel": "mail", "email": EMAIL, "field": "email"})
    assert bad.status_code == 422 and bad.json()["error"] == "InvalidInput"
    assert call(desk, "dpo", "POST", "", {"kind": "access", "channel": "web", "email": EMAIL}).status_code == 422
    assert call(desk, "dpo", "GET", "/not-a-reference").status_code == 422
    ref = register(desk, "access")["reference"]
    assert call(desk, "dpo", "POST", f"/{ref}/extend", {"months": 3, "reason": "x"}).status_code == 422
    assert desk["hub"].sql("SELECT count(*) FROM data_subject_requests")[0][0] == 1
    assert str(uuid.UUID(str(call(desk, "dpo", "GET", f"/{ref}").json()["person_id"]))) == str(desk["pid"])


def test_the_deadline_follows_the_clusters_own_time_zone(desk: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # 31 May 12:00 UTC is already 1 June on Kiritimati (UTC+14): due 1 July there, 30 June in UTC
    desk["hub"].settings.clusters["alpha"].time_zone = "Pacific/Kiritimati"
    monkeypatch.setattr("consent_hub.requests.service.utcnow", Clock(dt.datetime(2026, 5, 31, 12, tzinfo=dt.UTC)))
    req = register(desk, "access")
    assert req["time_zone"] == "Pacific/Kiritimati" and req["due_on"] == "2026-07-01"
    assert dt.datetime.fromisoformat(req["due_at"]).astimezone(dt.UTC) == dt.datetime(2026, 7, 1, 10, tzinfo=dt.UTC)


def test_the_command_line_registers_lists_and_handles_a_request(
    desk: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from consent_hub.cli import app

    hub = desk["hub"]
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(hub.dir / "hub.toml"))
    runner = CliRunner()
    made = runner.invoke(
        app,
        ["requests", "register", "-c", "alpha", "--kind", "restriction", "--email", EMAIL, "--verified-note", "letter"],
    )
    assert made.exit_code == 0, made.output
    ref = made.output.split()[0]
    assert ref.startswith("DSR-") and EMAIL not in made.output
    listed = runner.invoke(app, ["requests", "list", "-c", "alpha", "--due", "soon"])
    assert listed.exit_code == 0 and "0 request(s)" in listed.output
    assert ref in runner.invoke(app, ["requests", "list", "-c", "alpha"]).output
    executed = runner.invoke(app, ["requests", "execute", "-c", "alpha", ref])
    assert executed.exit_code == 0 and "waiting-for-house" in executed.output
    assert hub.sql("SELECT status FROM people")[0][0] == "restricted"
    signed = runner.invoke(app, ["requests", "sign-off", "-c", "alpha", ref, "--house", HOUSE])
    assert signed.exit_code == 0 and " done " in signed.output
    again = runner.invoke(app, ["requests", "refuse", "-c", "alpha", ref, "--reason", "late"])
    assert again.exit_code != 0 and "Conflict" in again.output
    shown = runner.invoke(app, ["requests", "show", "-c", "alpha", ref])
    assert "signed-off" in shown.output and "executed" in shown.output
