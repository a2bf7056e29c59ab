"""Signing in without an account (issue 14, point 1), over HTTP on SQLite and PostgreSQL, with mail
through a real SMTP server on loopback: used, expired, tampered and other-cluster links are refused
with one page; opening a link signs nothing in; a code is gone after the allowed wrong tries; an
unknown address gets the same answer after the same work; the limiter answers after the
configured number of requests; sessions are cookies holding nothing the database keeps, they
expire when idle and end at sign-out; forms need their CSRF token; tokens, codes and addresses stay
out of logs, other URLs and the audit log."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from consent_hub.app import create_app
from consent_hub.audit.sequencer import SEQUENCER_OPTION
from consent_hub.buyer.endpoints import RedactSignInTokens
from consent_hub.crypto.blind_index import BlindIndexer
from consent_hub.mail.sender import mail_queue
from fakes.mailcatcher import MailCatcher
from tests.buyer_world import BUYER_EMAIL, BuyerWorld, ask_sign_in, build_world, csrf_in, press_link, type_code
from tests.conftest import Hub

UNKNOWN = "nobody.here@example.org"


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    with MailCatcher() as running:
        yield running


@pytest.fixture
def world(hub: Hub, catcher: MailCatcher) -> BuyerWorld:
    return build_world(hub, catcher, sign_in_per_address="50/15 minutes", sign_in_per_network="200/15 minutes")


@pytest.fixture
def client(world: BuyerWorld) -> Iterator[TestClient]:
    app = create_app(world.hub.settings, world.hub.registry)
    with TestClient(app, raise_server_exceptions=False, headers={"Accept-Language": "en"}) as c:
        yield c


def ask(client: TestClient, email: str = BUYER_EMAIL, cluster: str = "alpha") -> Any:
    return ask_sign_in(client, email, cluster)


def handle_of(page: str) -> str:
    match = re.search(r'name="handle" value="([^"]+)"', page)
    assert match
    return match.group(1)


def link_token(world: BuyerWorld, count: int = 1) -> str:
    return world.link_in(world.last_mail(count=count))[1]


def signed_in(client: TestClient) -> bool:
    response = client.get("/my/alpha/houses", follow_redirects=False)
    return response.status_code == 200


def refused_text(response: Any) -> str:
    assert response.status_code == 400
    return re.sub(r'name="csrf" value="[^"]*"', "", response.text)


# -- links -------------------------------------------------------------------------------------------
def test_the_link_signs_in_once_and_a_used_expired_tampered_or_foreign_link_gets_one_page(
    world: BuyerWorld, client: TestClient
) -> None:
    ask(client)
    token = link_token(world)
    good = press_link(client, token, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/my/alpha/houses"
    assert signed_in(client)
    client.cookies.clear()

    used = press_link(client, token)
    ask(client)
    fresh = link_token(world, 2)
    tampered = press_link(client, fresh[:-1] + ("A" if fresh[-1] != "A" else "B"))
    foreign = press_link(client, fresh, "beta")  # a link of cluster alpha at beta
    world.hub.sql("UPDATE buyer_sign_ins SET expires_at = :t", t=dt.datetime(2020, 1, 1))
    expired = press_link(client, fresh)
    pages = {
        refused_text(r).replace("/my/beta", "/my/alpha").replace("Cluster Beta", "Cluster Alpha")
        for r in (used, tampered, foreign, expired)
    }
    assert len(pages) == 1 and "does not work" in pages.pop()
    assert not signed_in(client)


def test_opening_a_link_changes_nothing_and_its_page_sends_no_referrer(world: BuyerWorld, client: TestClient) -> None:
    ask(client)
    token = link_token(world)
    opened = client.get(f"/my/alpha/sign-in/link/{token}")
    assert opened.status_code == 200 and 'method="post"' in opened.text
    assert opened.headers["referrer-policy"] == "no-referrer"
    assert "consent_hub_session" not in opened.headers.get("set-cookie", "")
    assert world.hub.sql("SELECT count(*) FROM buyer_sessions")[0][0] == 0
    assert world.hub.sql("SELECT count(*) FROM buyer_sign_ins WHERE used_at IS NULL")[0][0] == 1
    assert not signed_in(client)


def test_links_start_with_the_public_base_url_whatever_the_host_header(world: BuyerWorld, client: TestClient) -> None:
    ask_sign_in(client, BUYER_EMAIL, headers={"Host": "evil.example.invalid"})
    link, _ = world.link_in(world.last_mail())
    assert link.startswith("http://127.0.0.1:8000/my/alpha/sign-in/link/")


def test_a_new_sign_in_revokes_the_persons_other_links(world: BuyerWorld, client: TestClient) -> None:
    ask(client)
    first = link_token(world)
    ask(client)
    second = link_token(world, 2)
    assert press_link(client, second, follow_redirects=False).status_code == 303
    client.cookies.clear()
    assert press_link(client, first).status_code == 400


# -- codes -------------------------------------------------------------------------------------------
def test_the_code_signs_in(world: BuyerWorld, client: TestClient) -> None:
    page = ask(client).text
    code = world.code_in(world.last_mail())
    response = type_code(client, page, code, follow_redirects=False)
    assert response.status_code == 303
    assert signed_in(client)


def test_a_code_is_gone_after_the_allowed_wrong_tries(world: BuyerWorld, client: TestClient) -> None:
    tries = world.hub.settings.cluster("alpha").buyer.code_tries  # type: ignore[union-attr]
    page = ask(client).text
    code = world.code_in(world.last_mail())
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for left in range(tries - 1, 0, -1):
        answer = type_code(client, page, wrong)
        assert answer.status_code == 400 and f"{left} more time" in answer.text
    last = type_code(client, page, wrong)
    assert "does not work" in last.text
    right = type_code(client, page, code)
    assert right.status_code == 400 and "does not work" in right.text
    assert not signed_in(client)
    assert world.hub.sql("SELECT tries_left FROM buyer_sign_ins")[0][0] == 0


# -- no enumeration ------------------------------------------------------------------------------------
def _shape(params: Any) -> Any:
    if isinstance(params, dict):
        return tuple(sorted((k, type(v).__name__) for k, v in params.items()))
    if isinstance(params, (list, tuple)):
        return tuple(_shape(p) if isinstance(p, (dict, list, tuple)) else type(p).__name__ for p in params)
    return type(params).__name__


@contextmanager
def work(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every statement the cluster database runs (text and parameter shape) and every keyed hash."""
    rt = hub.registry.runtime("alpha")
    seen: list[Any] = []

    def record(conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        # the audit sequencer chains whatever is queued when it runs (after this request's
        # commit, or on its tick in another thread): not the request's own work
        if not conn.get_execution_options().get(SEQUENCER_OPTION):
            seen.append(("sql", statement, _shape(parameters)))

    index = BlindIndexer.index

    def counted(self: BlindIndexer, name: str, normalised: str) -> bytes:
        seen.append(("keyed-hash", name))
        return index(self, name, normalised)

    with monkeypatch.context() as patch:
        patch.setattr(BlindIndexer, "index", counted)
        event.listen(rt.engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(rt.engine, "before_cursor_execute", record)


def test_an_unknown_address_gets_the_same_answer_after_the_same_work(
    world: BuyerWorld, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ask(client, "warm.up@example.org")  # the first request of a process prepares statements
    with work(world.hub, monkeypatch) as known_work:
        known = ask(client)
    with work(world.hub, monkeypatch) as unknown_work:
        unknown = ask(client, UNKNOWN)
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(handle_of(known.text), "") == unknown.text.replace(handle_of(unknown.text), "")
    assert known_work == unknown_work
    mail_queue().drain()
    assert world.catcher.to(BUYER_EMAIL) and not world.catcher.to(UNKNOWN)  # only the known address is mailed
    # the unknown address's row names nobody: its code can never sign in
    assert world.hub.sql("SELECT count(*) FROM buyer_sign_ins")[0][0] == 3


def test_an_invalid_address_is_a_clear_422_and_writes_nothing(world: BuyerWorld, client: TestClient) -> None:
    response = ask(client, "not an address")
    assert (
        response.status_code == 422 and 'id="email-error"' in response.text and 'aria-invalid="true"' in response.text
    )
    assert world.hub.sql("SELECT count(*) FROM buyer_sign_ins")[0][0] == 0


def test_an_oversized_field_keeps_the_one_error_shape(client: TestClient) -> None:
    response = ask_sign_in(client, "a" * 400 + "@example.org")
    assert response.status_code == 422
    assert response.json()["error"] == "InvalidInput" and "detail" in response.json()


# -- limits --------------------------------------------------------------------------------------------
def test_the_limiter_answers_after_the_configured_number_per_address(hub: Hub, catcher: MailCatcher) -> None:
    world = build_world(hub, catcher, sign_in_per_address="3/15 minutes")
    app = create_app(hub.settings, hub.registry)
    with TestClient(app, raise_server_exceptions=False, headers={"Accept-Language": "en"}) as client:
        assert [ask(client).status_code for _ in range(3)] == [200, 200, 200]
        limited = ask(client)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert "Too many attempts" in limited.text and "Wait 15 minutes" in limited.text
        # an unknown address is limited alike (the limit says nothing about who is known)
        assert [ask(client, UNKNOWN).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert world.hub.sql("SELECT count(*) FROM buyer_sign_ins")[0][0] == 6  # a limited request writes nothing


def test_the_limiter_counts_per_client_network(hub: Hub, catcher: MailCatcher) -> None:
    build_world(hub, catcher, sign_in_per_network="2/15 minutes")
    app = create_app(hub.settings, hub.registry)
    with TestClient(app, client=("203.0.113.7", 5000)) as one, TestClient(app, client=("203.0.113.99", 5000)) as two:
        assert ask(one, "a@example.org").status_code == 200
        assert ask(two, "b@example.org").status_code == 200  # the same /24
        assert ask(one, "c@example.org").status_code == 429
    with TestClient(app, client=("198.51.100.1", 5000)) as elsewhere:
        assert ask(elsewhere, "d@example.org").status_code == 200


# -- sessions --------------------------------------------------------------------------------------------
def _sign_in(world: BuyerWorld, client: TestClient) -> Any:
    ask(client)
    response = press_link(client, link_token(world), follow_redirects=False)
    assert response.status_code == 303
    return response


def test_the_session_cookie_is_httponly_lax_and_only_a_hash_is_stored(world: BuyerWorld, client: TestClient) -> None:
    response = _sign_in(world, client)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/my/alpha" in cookie
    assert "Secure" not in cookie  # the public base URL is on the loopback host
    token = client.cookies["consent_hub_session"]
    stored = world.hub.sql("SELECT id_hash FROM buyer_sessions")
    assert len(stored) == 1 and bytes(stored[0][0]) != token.encode() and token.encode() not in bytes(stored[0][0])


def test_the_session_cookie_is_secure_outside_the_loopback_host(hub: Hub, catcher: MailCatcher) -> None:
    world = build_world(hub, catcher, base_url="https://hub.example.org")
    with TestClient(create_app(hub.settings, hub.registry), base_url="https://hub.example.org") as client:
        response = _sign_in(world, client)
        assert "Secure" in response.headers["set-cookie"]


def test_a_session_expires_after_30_idle_minutes(world: BuyerWorld, client: TestClient) -> None:
    _sign_in(world, client)
    assert signed_in(client)
    world.hub.sql("UPDATE buyer_sessions SET last_seen_at = :t", t=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31))
    assert not signed_in(client)
    assert world.hub.sql("SELECT count(*) FROM buyer_sessions WHERE ended_at IS NOT NULL")[0][0] == 1


def test_signing_out_revokes_the_session(world: BuyerWorld, client: TestClient) -> None:
    _sign_in(world, client)
    token = client.cookies["consent_hub_session"]
    page = client.get("/my/alpha/houses").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post("/my/alpha/sign-out", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    client.cookies.set("consent_hub_session", token, path="/my/alpha")  # the old cookie, replayed
    assert not signed_in(client)


def test_a_changing_form_without_its_csrf_token_is_refused_and_changes_nothing(
    world: BuyerWorld, client: TestClient
) -> None:
    _sign_in(world, client)
    before = world.hub.sql("SELECT count(*) FROM consent_events")[0][0]
    for data in ({}, {"csrf": "0" * 40}):
        response = client.post("/my/alpha/choices/withdraw-marketing", data=data)
        assert response.status_code == 403
        response = client.post(
            "/my/alpha/choices",
            data={**data, "choice": ["newsletter|house|house-b"], "shown": ["newsletter|house|house-b|" + "0" * 64]},
        )
        assert response.status_code == 403
    assert world.hub.sql("SELECT count(*) FROM consent_events")[0][0] == before


def test_a_post_from_another_site_is_refused(world: BuyerWorld, client: TestClient) -> None:
    csrf = csrf_in(client.get("/my/alpha/").text)
    response = client.post(
        "/my/alpha/sign-in", data={"email": BUYER_EMAIL, "csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    assert world.hub.sql("SELECT count(*) FROM buyer_sign_ins")[0][0] == 0


def test_a_sign_in_form_without_its_csrf_token_is_refused(world: BuyerWorld, client: TestClient) -> None:
    client.get("/my/alpha/")  # the form cookie is set, but the token is not sent (or is another's)
    for data in ({"email": BUYER_EMAIL}, {"email": BUYER_EMAIL, "csrf": "0" * 40}):
        assert client.post("/my/alpha/sign-in", data=data).status_code == 403
    client.cookies.clear()  # a token without the cookie it belongs to
    csrf = csrf_in(client.get("/my/alpha/").text)
    client.cookies.clear()
    assert client.post("/my/alpha/sign-in", data={"email": BUYER_EMAIL, "csrf": csrf}).status_code == 403
    assert world.hub.sql("SELECT count(*) FROM buyer_sign_ins")[0][0] == 0


# -- what is written down -------------------------------------------------------------------------------
def test_sign_ins_are_audited_as_the_person_and_no_secret_or_address_is_written_anywhere(
    world: BuyerWorld, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page = ask(client).text
    handle = handle_of(page)
    mail = world.last_mail()
    code, token = world.code_in(mail), world.link_in(mail)[1]
    type_code(client, page, "00000000")
    press_link(client, token)
    session = client.cookies["consent_hub_session"]
    pages = [client.get(f"/my/alpha/{p}") for p in ("houses", "choices", "access", "told", "requests")]
    rows = world.hub.sql("SELECT actor, role, action, subjects, fields, detail FROM audit_entries")
    text = repr(rows)
    # the hub's own logs: not the test's SMTP server (aiosmtpd's "mail.log" logs what it receives)
    # nor the test's HTTP client (httpx logs the URLs it asks for)
    theirs = ("mail.log", "httpx", "httpcore")
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(theirs))
    for secret in (token, code, handle, session, BUYER_EMAIL, "fien", "Fien"):
        assert secret not in text, "a secret or the address is in the audit log"
        assert secret not in logged, "a secret or the address is in the logs"
        for page in pages:
            assert secret not in str(page.url)
    mine = [r for r in rows if r[0] == f"person:{world.person_id}"]
    assert {r[1] for r in mine} == {"buyer"}
    assert {"buyer.sign-in", "buyer.page.read", "consent.read", "audit.read"} <= {r[2] for r in mine}
    for table in ("buyer_sign_ins", "buyer_sessions"):
        dump = repr(world.hub.sql(f"SELECT * FROM {table}"))
        for secret in (token, code, handle, session, BUYER_EMAIL):
            assert secret not in dump


def test_the_access_log_filter_drops_a_link_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1", "GET", "/my/alpha/sign-in/link/Secret_Token-123", "1.1", 200),
        None,
    )
    RedactSignInTokens().filter(record)
    assert "Secret_Token" not in record.getMessage() and "/sign-in/link/[redacted]" in record.getMessage()


def test_a_session_of_one_cluster_means_nothing_in_another(world: BuyerWorld, client: TestClient) -> None:
    _sign_in(world, client)
    token = client.cookies["consent_hub_session"]
    client.cookies.set("consent_hub_session", token, path="/my/beta")
    response = client.get("/my/beta/houses", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/my/beta/"


def test_a_restricted_buyer_still_signs_in_and_sees_their_data(world: BuyerWorld, client: TestClient) -> None:
    from consent_hub.rights.service import RightsService

    with world.hub.uow() as uow:
        RightsService(uow).restrict(world.hub.actor(), world.person_id)
    _sign_in(world, client)
    data = client.get("/my/alpha/download/my-data.json").json()
    assert data["profile"]["status"] == "restricted" and data["profile"]["email"] == BUYER_EMAIL


def test_an_unknown_address_answers_in_the_same_time(world: BuyerWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Wall-clock, beside the same-work test above: interleaved, the median time to answer a known
    and an unknown address agree (the mail leaves after the answer, in the mail thread)."""
    import statistics
    import time

    from consent_hub.buyer.signin import SignInService

    def answer(email: str) -> float:
        started = time.perf_counter()
        with world.hub.uow() as uow:
            SignInService(uow).request(email, "en", None)
        elapsed = time.perf_counter() - started
        mail_queue().drain()  # the mail thread's work is not the answer's
        return elapsed

    answer(UNKNOWN)
    known, unknown = [], []
    for _ in range(25):
        known.append(answer(BUYER_EMAIL))
        unknown.append(answer(UNKNOWN))
    ratio = statistics.median(known) / statistics.median(unknown)
    assert 0.67 < ratio < 1.5, (
        f"known {statistics.median(known) * 1000:.2f} ms, unknown {statistics.median(unknown) * 1000:.2f} ms"
    )
