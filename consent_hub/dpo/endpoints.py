"""The DPO console over HTTP (``/dpo/<cluster>/...``): server-rendered HTML in the buyer pages'
manner (GOV.UK-style forms that work without JavaScript, nl/en/fr, the same security headers).

- Signing in: the DPO pastes their API key into a POST form; it is exchanged for a session and
  never appears in a URL, a log line or a page. Every form carries a CSRF token (before sign-in,
  a keyed double-submit token), and a POST from another origin is refused.
- The session cookie: HttpOnly, SameSite=Strict, path ``/dpo/<cluster>/``, Secure unless the
  request came over plain HTTP to the loopback host (the local demo, the tests).
- A person is searched by e-mail in a POST body, never a query string.
- Anything a house DPO may not see is answered exactly as something that does not exist.
- The request's unit of work commits once, before the answer is sent; a refusal rolls back first.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import jinja2
from babel.dates import format_datetime, get_timezone
from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consent_hub.api.context import registry_of
from consent_hub.buyer.signin import network_of
from consent_hub.dpo import labels
from consent_hub.dpo.service import (
    AuditQuery,
    ConsoleLimited,
    ConsoleService,
    ConsoleSession,
    ConsoleSignIn,
    ReportAsk,
    RequestDesk,
    RequestForm,
)
from consent_hub.errors import ClientError, Conflict, InvalidInput, NotFound
from consent_hub.i18n import environment, negotiate
from consent_hub.vocabulary import RequestChannel, RequestKind
from consent_hub.web.pages import CSP, LOOPBACK, HtmlPage, language_of, page_unit_of_work

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "consent_hub_dpo_session"
FORM_COOKIE = "consent_hub_dpo_form"  # the sign-in form's double-submit CSRF cookie
LANGUAGE_COOKIE = "consent_hub_dpo_language"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REFERENCE = re.compile(r"^DSR-[A-Z0-9]{4}-[A-Z0-9]{4}$")

router = APIRouter(prefix="/dpo/{cluster}", include_in_schema=False)


@functools.cache
def _env(language: str, time_zone: str = "Europe/Brussels") -> jinja2.Environment:
    env = environment(HERE / "templates", language)
    # times on the cluster's own calendar (the deadlines and the house hours are on it too)
    zone = get_timezone(time_zone)
    env.filters["datetime"] = lambda value: (
        format_datetime(value, format="medium", tzinfo=zone, locale=language) if value else ""
    )
    env.globals.update(
        rule_title=lambda rule: labels.rule_title(rule, language),
        request_status_label=lambda status: labels.request_status_label(status, language),
        kind_label=lambda kind: labels.kind_label(kind, language),
        channel_label=lambda channel: labels.channel_label(channel, language),
        pairs=lambda values: [(v, v) for v in values],
    )
    return env


@dataclass
class Desk(HtmlPage):
    """One request to a console page: the cluster's unit of work, the language, the session."""

    PREFIX: ClassVar[str] = "dpo"
    SESSION_COOKIE: ClassVar[str] = SESSION_COOKIE
    FORM_COOKIE: ClassVar[str] = FORM_COOKIE
    LANGUAGE_COOKIE: ClassVar[str] = LANGUAGE_COOKIE

    session: ConsoleSession | None = None

    def environment(self) -> jinja2.Environment:
        return _env(self.language, self.config.time_zone)

    def cookie_options(self) -> dict[str, Any]:
        return _cookie(self)


    def signed_in_values(self) -> dict[str, Any]:
        return {
            "signed_in": self.session is not None,
            "who": self.session,
            "csrf": self.session.csrf if self.session else "",
        }

    @property
    def network(self) -> str | None:
        return network_of(self.request.client.host if self.request.client else None)

    def signin(self) -> ConsoleSignIn:
        return ConsoleSignIn(self.uow)

    def console(self) -> ConsoleService:
        assert self.session is not None
        return ConsoleService(self.uow, self.session.actor)


def _secure(desk: Desk) -> bool:
    url = desk.request.url
    return not (url.scheme == "http" and url.hostname in LOOPBACK)


def _cookie(desk: Desk) -> dict[str, Any]:
    return {"path": desk.base, "httponly": True, "samesite": "strict", "secure": _secure(desk)}


class ConsoleNotFound(Exception):
    """No such cluster."""


async def desk_context(request: Request, cluster: str) -> AsyncIterator[Desk]:
    registry = registry_of(request)
    if cluster not in registry.settings.clusters:
        raise ConsoleNotFound()
    language, switched = language_of(request, LANGUAGE_COOKIE)
    async with page_unit_of_work(registry, cluster) as uow:
        yield Desk(request, cluster, uow, language, switched=switched)


DeskContext = Annotated[Desk, Depends(desk_context, scope="function")]








def _not_found(desk: Desk) -> HTMLResponse:
    return desk.message(
        404, desk._("Page not found"), desk._("There is no such page."), desk.base + "/", desk._("Start again")
    )


def problems_of(exc: InvalidInput) -> dict[str, str]:
    problems = exc.detail if isinstance(exc.detail, list) else []
    return {str(p.get("field")): str(p.get("problem")) for p in problems if isinstance(p, dict)}


def console_page(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Signed-in pages: without a session, the sign-in page (nothing is read); a refusal of the
    services is a page that says so (a NotFound the same page for every reason)."""

    @functools.wraps(handler)
    def wrapper(desk: Desk, *args: Any, **kwargs: Any) -> Response:
        if not desk.signed_in():
            return desk.redirect("/")
        try:
            return handler(desk, *args, **kwargs)
        except NotFound:
            desk.refuse()
            return _not_found(desk)
        except ClientError as exc:
            desk.refuse()
            return desk.message(
                exc.status_code if 400 <= exc.status_code < 500 else 400,
                desk._("This did not work"),
                desk._("Nothing was changed. Go back and try again."),
                desk.base + "/audit",
                desk._("Back to the console"),
            )

    return wrapper


# -- signing in --------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def sign_in_page(desk: DeskContext, signed_out: bool = False) -> Response:
    if desk.signed_in():
        return desk.redirect("/audit")
    return desk.render("sign_in.html", signed_out=signed_out)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    desk: DeskContext,
    api_key: Annotated[str, Form(max_length=300)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if not desk.form_csrf_ok(csrf):
        return desk.forbidden()
    try:
        answer = desk.signin().sign_in(api_key, desk.language, desk.network, desk.request_id)
    except ConsoleLimited as exc:
        desk.refuse()
        response = desk.message(
            429,
            desk._("Too many attempts"),
            desk._("Too many keys were refused from your network. Wait a quarter of an hour and try again."),
            desk.base + "/",
            desk._("Back to the sign-in page"),
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if answer.token is None:
        # the refusal's audit entry commits: one answer for every reason
        return desk.render(
            "sign_in.html",
            401,
            errors={"api_key": desk._("This key does not sign in here. Check that it is a DPO key of this cluster.")},
        )
    signed_in = desk.redirect("/audit")
    signed_in.set_cookie(SESSION_COOKIE, answer.token, **_cookie(desk))
    return signed_in


@router.post("/sign-out", response_class=HTMLResponse)
def sign_out(desk: DeskContext, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    if not desk.signed_in():
        return desk.redirect("/")
    if not desk.session_csrf_ok(csrf):
        return desk.forbidden()
    assert desk.session is not None
    desk.signin().sign_out(desk.session)
    response = desk.redirect("/?signed_out=true")
    response.delete_cookie(SESSION_COOKIE, **_cookie(desk))
    return response


# -- audit search ------------------------------------------------------------------------------------
def _audit_page(desk: Desk, status: int = 200, **context: Any) -> HTMLResponse:
    console = desk.console()
    return desk.render(
        "audit.html",
        status,
        page="audit",
        houses=console.houses(),
        clients=console.clients(),
        query=context.pop("query", AuditQuery()),
        **context,
    )


@router.get("/audit", response_class=HTMLResponse)
@console_page
def audit_page(desk: DeskContext) -> Response:
    return _audit_page(desk)


@router.post("/audit", response_class=HTMLResponse)
@console_page
def audit_search(
    desk: DeskContext,
    csrf: Annotated[str, Form(max_length=100)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    person: Annotated[str, Form(max_length=40)] = "",
    client: Annotated[str, Form(max_length=60)] = "",
    house: Annotated[str, Form(max_length=40)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
    purpose: Annotated[str, Form(max_length=80)] = "",
    action: Annotated[str, Form(max_length=80)] = "",
    start: Annotated[str, Form(max_length=10)] = "",
    end: Annotated[str, Form(max_length=10)] = "",
    before: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    if not desk.session_csrf_ok(csrf):
        return desk.forbidden()
    query = AuditQuery(email, person, client, house, role, purpose, action, start, end)
    try:
        found = desk.console().search(query, before)
    except InvalidInput as exc:
        desk.refuse()
        return _audit_page(desk, 422, query=query, errors=_audit_errors(desk, problems_of(exc)))
    return _audit_page(desk, query=query, found=found, before=before)


def _audit_errors(desk: Desk, problems: dict[str, str]) -> dict[str, str]:
    messages = {
        "email": desk._("Enter an e-mail address such as name@example.org"),
        "person": desk._("Enter a person id such as 5f0c1d2e-0000-4000-8000-000000000000"),
        "client": desk._("Choose a client from the list"),
        "start": desk._("Enter a date such as 2026-03-01"),
        "end": desk._("Enter a date such as 2026-03-31, on or after the first day"),
    }
    return {name: messages.get(name, desk._("Check this answer")) for name in problems}


# -- the chain ---------------------------------------------------------------------------------------
@router.get("/chain", response_class=HTMLResponse)
@console_page
def chain_page(desk: DeskContext) -> Response:
    return desk.render("chain.html", page="chain", chain=desk.console().chain(verify=False))


@router.post("/chain/verify", response_class=HTMLResponse)
@console_page
def verify_chain(desk: DeskContext, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    if not desk.session_csrf_ok(csrf):
        return desk.forbidden()
    return desk.render("chain.html", page="chain", chain=desk.console().chain(verify=True))


@router.get("/chain/checkpoint.txt")
@console_page
def checkpoint_export(desk: DeskContext) -> Response:
    text = desk.console().checkpoint_text()
    if text is None:
        return _not_found(desk)
    name = f"{desk.cluster}-checkpoint.txt"
    return Response(
        text, media_type="text/plain; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


# -- deliveries, clients, anomalies -------------------------------------------------------------------
@router.get("/deliveries", response_class=HTMLResponse)
@console_page
def deliveries_page(desk: DeskContext) -> Response:
    return desk.render("deliveries.html", page="deliveries", destinations=desk.console().destinations())


@router.get("/clients", response_class=HTMLResponse)
@console_page
def clients_page(desk: DeskContext) -> Response:
    return desk.render("clients.html", page="clients", clients=desk.console().clients())


@router.get("/anomalies", response_class=HTMLResponse)
@console_page
def anomalies_page(desk: DeskContext) -> Response:
    console = desk.console()
    names = {f"client:{c.id}": c.name for c in console.clients()}
    return desk.render("anomalies.html", page="anomalies", anomalies=console.anomalies(), client_names=names)


# -- reports -------------------------------------------------------------------------------------------
@router.get("/reports", response_class=HTMLResponse)
@console_page
def reports_page(desk: DeskContext) -> Response:
    console = desk.console()
    return desk.render("reports.html", page="reports", reports=console.report_names(), houses=console.houses())


@router.post("/reports/{name}")
@console_page
def report_download(
    desk: DeskContext,
    name: str,
    csrf: Annotated[str, Form(max_length=100)] = "",
    house: Annotated[str, Form(max_length=40)] = "",
    start: Annotated[str, Form(max_length=10)] = "",
    end: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if not desk.session_csrf_ok(csrf):
        return desk.forbidden()
    console = desk.console()
    if name not in console.report_names():
        return _not_found(desk)
    try:
        filters = console.report_filters(ReportAsk(house, start, end))
    except InvalidInput as exc:
        desk.refuse()
        messages = {
            "house": desk._("Choose a house from the list"),
            "start": desk._("Enter a date such as 2026-03-01"),
            "end": desk._("Enter a date such as 2026-03-31, on or after the first day"),
        }
        errors = {f"{name}-{field}": messages.get(field, desk._("Check this answer")) for field in problems_of(exc)}
        return desk.render(
            "reports.html", 422, page="reports", reports=console.report_names(), houses=console.houses(), errors=errors
        )
    # written to a spooled file while the unit of work is open (the report's audit entry commits
    # with it), then streamed: a large report stays on disk, not in memory
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed by the stream
    console.write_report(name, filters, spool)  # type: ignore[arg-type]
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := spool.read(64 * 1024):
                yield chunk
        finally:
            spool.close()

    filename = f"{desk.cluster}-{name}.xlsx"
    return StreamingResponse(
        chunks(), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


# -- data-subject requests ---------------------------------------------------------------------------
def _desk_of(desk: Desk) -> RequestDesk:
    assert desk.session is not None
    return RequestDesk(desk.uow, desk.session.actor)


@router.get("/requests", response_class=HTMLResponse)
@console_page
def requests_page(desk: DeskContext) -> Response:
    return desk.render("requests.html", page="requests", lists=_desk_of(desk).lists())


def _register_page(desk: Desk, status: int = 200, **context: Any) -> HTMLResponse:
    return desk.render(
        "request_new.html",
        status,
        page="requests",
        form=context.pop("form", RequestForm(language=desk.language)),
        houses=desk.console().houses(),
        kinds=[k.value for k in RequestKind],
        channels=[RequestChannel.MAIL.value, RequestChannel.BOX_OFFICE.value],
        **context,
    )


@router.get("/requests/new", response_class=HTMLResponse)
@console_page
def register_page(desk: DeskContext) -> Response:
    return _register_page(desk)


@router.post("/requests/new", response_class=HTMLResponse)
@console_page
def register_request(
    desk: DeskContext,
    csrf: Annotated[str, Form(max_length=100)] = "",
    kind: Annotated[str, Form(max_length=40)] = "",
    channel: Annotated[str, Form(max_length=40)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    house: Annotated[str, Form(max_length=40)] = "",
    verified_note: Annotated[str, Form(max_length=600)] = "",
    language: Annotated[str, Form(max_length=8)] = "nl",
    field: Annotated[str, Form(max_length=40)] = "",
    value: Annotated[str, Form(max_length=400)] = "",
    purpose: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    if not desk.session_csrf_ok(csrf):
        return desk.forbidden()
    form = RequestForm(kind, channel, email, house, verified_note, language, field, value, purpose)
    try:
        registered = _desk_of(desk).register(form)
    except InvalidInput as exc:
        desk.refuse()
        return _register_page(desk, 422, form=form, errors=_request_errors(desk, problems_of(exc)))
    except NotFound:
        # an unknown (or erased) address: said next to the field, never with the address
        desk.refuse()
        errors = {"email": desk._("The hub holds no person with this address. Check it with the person.")}
        return _register_page(desk, 422, form=form, errors=errors)
    if registered is None:
        return desk.message(
            202,
            desk._("Request received"),
            desk._(
                "If the hub knows a person with this address, the request is registered, they are mailed"
                " a receipt and the cluster's DPO handles it. Your house gets a part of it only if it"
                " is a controller for them."
            ),
            desk.base + "/requests",
            desk._("Back to the requests"),
        )
    return desk.redirect(f"/requests/{registered.reference}")


def _request_errors(desk: Desk, problems: dict[str, str]) -> dict[str, str]:
    messages = {
        "kind": desk._("Choose what the person asks for"),
        "channel": desk._("Choose how the request reached you"),
        "email": desk._("Enter an e-mail address such as name@example.org"),
        "house": desk._("Choose a house from the list"),
        "verified_note": desk._("Write the note without special characters and without personal data"),
        "note": desk._("Write a short note without personal data"),
        "reason": desk._("Write the reason, without personal data"),
        "months": desk._("Choose one or two months"),
        "field": desk._("Choose the detail to correct"),
        "value": desk._("Enter what it should be"),
        "purpose": desk._("Choose what the person objects to"),
        "language": desk._("Choose a language"),
    }
    return {name: messages.get(name, desk._("Check this answer")) for name in problems}


def _request_page(desk: Desk, reference: str, status: int = 200, **context: Any) -> HTMLResponse:
    request = _desk_of(desk).get(reference)
    assert desk.session is not None
    return desk.render(
        "request.html", status, page="requests", request=request, houses=desk.console().houses(), **context
    )


@router.get("/requests/{reference}", response_class=HTMLResponse)
@console_page
def request_page(desk: DeskContext, reference: str, done: str | None = None) -> Response:
    if not REFERENCE.match(reference):
        return _not_found(desk)
    return _request_page(desk, reference, done=done if done in RequestDesk.STEPS else None)


@router.post("/requests/{reference}/{step}", response_class=HTMLResponse)
@console_page
def request_step(
    desk: DeskContext,
    reference: str,
    step: str,
    csrf: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    months: Annotated[int, Form(ge=0, le=12)] = 0,
    house: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    if not desk.session_csrf_ok(csrf):
        return desk.forbidden()
    if not REFERENCE.match(reference) or step not in RequestDesk.STEPS:
        return _not_found(desk)
    try:
        _desk_of(desk).step(reference, step, note=note, months=months, house=house)
    except InvalidInput as exc:
        desk.refuse()
        errors = {f"{step}-{name}": text for name, text in _request_errors(desk, problems_of(exc)).items()}
        return _request_page(desk, reference, 422, errors=errors)
    except Conflict as exc:
        desk.refuse()
        return _request_page(desk, reference, 409, conflict=str(exc))
    return desk.redirect(f"/requests/{reference}?done={step}")


# -- everything else (keep last) --------------------------------------------------------------------------
@router.get("/{rest:path}", response_class=HTMLResponse)
def no_such_page(desk: DeskContext, rest: str) -> Response:
    """Any other path under the console: an HTML page that says so (never the API's JSON)."""
    desk.signed_in()
    return _not_found(desk)


# -- wiring -----------------------------------------------------------------------------------------------
PAGE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"interest-cohort=()"),
]


class ConsoleHeaders:
    """The console's security headers, on /dpo/ only (plain ASGI, like the buyer pages')."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/dpo/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in PAGE_HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*kept, *PAGE_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """The console's pages, its stylesheet and its security headers."""
    app.mount("/dpo/static", StaticFiles(directory=HERE / "static"), name="dpo-static")
    app.include_router(router)

    @app.exception_handler(ConsoleNotFound)
    async def _no_console(request: Request, exc: ConsoleNotFound) -> HTMLResponse:
        language = negotiate(request.headers.get("accept-language"))
        body = _env(language).get_template("message.html").render(
            cluster_name="consent-hub",
            base="",
            here=request.url.path,
            signed_in=False,
            who=None,
            csrf="",
            errors={},
            page="",
            heading=labels.tr(language, "Page not found"),
            message=labels.tr(language, "There is no such page."),
            link=None,
            link_text="",
        )
        return HTMLResponse(body, status_code=404)

    app.add_middleware(ConsoleHeaders)

