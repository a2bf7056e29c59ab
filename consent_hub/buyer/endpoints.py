"""The buyer's pages over HTTP (``/my/<cluster>/...``): server-rendered HTML, one topic a page,
forms that work without JavaScript, in nl/en/fr.

- Every page: a strict Content-Security-Policy (no script, no inline style, nothing from another
  site), ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``
  (a sign-in link never leaks through a Referer header), ``Cache-Control: no-store``.
- Opening a link (GET) never signs in nor changes anything but the language cookie; signing in is a
  POST from the page the link opens.
- A signed-in page needs the session cookie (HttpOnly, SameSite=Lax, Secure unless the public base
  URL is on the loopback host, path ``/my/<cluster>/``); every form that changes something carries
  the session's CSRF token, and a POST from another origin is refused.
- The request's unit of work commits once, before the answer is sent; an answer that refuses
  something rolls it back first.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consent_hub.api.context import registry_of
from consent_hub.buyer import export, labels
from consent_hub.buyer.service import ASKABLE, CLUSTER_PURPOSES, HOUSE_PURPOSES, RECTIFIABLE, BuyerService, Evidence
from consent_hub.buyer.signin import (
    BuyerSessionView,
    InvalidAddress,
    SignInLimited,
    SignInRefused,
    SignInService,
    network_of,
)
from consent_hub.consent.catalogue import load_catalogue
from consent_hub.errors import ClientError, InvalidInput
from consent_hub.i18n import environment, negotiate
from consent_hub.validation import clean_text
from consent_hub.web.pages import CSP, LOOPBACK, HtmlPage, language_of, page_unit_of_work

HERE = Path(__file__).resolve().parent
REFERENCE = re.compile(r"DSR-[A-Z0-9]{4}-[A-Z0-9]{4}")
SESSION_COOKIE = "consent_hub_session"
# before sign-in there is no session to tie a form's CSRF token to: the sign-in forms carry a token
# derived from this random cookie (double submit, keyed), set by the page that shows them
FORM_COOKIE = "consent_hub_form"
LANGUAGE_COOKIE = "consent_hub_language"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter(prefix="/my/{cluster}", include_in_schema=False)


@functools.cache
def _env(language: str) -> jinja2.Environment:
    env = environment(HERE / "templates", language)
    catalogue = load_catalogue()
    env.globals.update(
        purpose_title=lambda key: catalogue.get(key).texts[language].title if key in catalogue.purpose_keys() else key,
        role_label=lambda role: labels.role_label(role, language),
        action_label=lambda action: labels.action_label(action, language),
        field_label=lambda name: labels.field_label(name, language),
        fields_text=lambda names: ", ".join(labels.field_label(n, language) for n in names),
        status_label=lambda status: labels.status_label(status, language),
        request_status_label=lambda status: labels.request_status_label(status, language),
        sent_label=lambda what: labels.sent_label(what, language),
        kind_label=lambda kind: export.kind_label(kind, language),
    )
    return env


@dataclass
class Page(HtmlPage):
    """One request to a buyer page: its cluster's unit of work, the language, the session if any."""

    PREFIX: ClassVar[str] = "my"
    SESSION_COOKIE: ClassVar[str] = SESSION_COOKIE
    FORM_COOKIE: ClassVar[str] = FORM_COOKIE
    LANGUAGE_COOKIE: ClassVar[str] = LANGUAGE_COOKIE

    session: BuyerSessionView | None = None

    def environment(self) -> jinja2.Environment:
        return _env(self.language)

    def cookie_options(self) -> dict[str, Any]:
        return {"path": self.base, "httponly": True, "samesite": "lax", "secure": secure(self)}


    def signed_in_values(self) -> dict[str, Any]:
        return {"signed_in": self.session is not None, "csrf": self.session.csrf if self.session else ""}

    def allowed_origins(self) -> frozenset[str]:
        # the public base URL (a proxy in front of the hub) as well as the address asked
        buyer = self.config.buyer
        parts = urlsplit(buyer.public_base_url)
        return frozenset({f"{parts.scheme}://{parts.netloc}"})

    def signin(self) -> SignInService:
        return SignInService(self.uow)

    def buyer(self) -> BuyerService:
        assert self.session is not None
        return BuyerService(self.uow, self.session.actor)

    def evidence(self) -> Evidence:
        client = self.request.client.host if self.request.client else None
        try:
            agent = clean_text(self.request.headers.get("user-agent", "")[:300], 300)
        except ValueError:
            agent = None
        return Evidence(network_of(client), agent)


def secure(page: Page) -> bool:
    """Cookies are Secure unless the public base URL is on the loopback host (local demo, tests)."""
    buyer = page.config.buyer
    host = urlsplit(buyer.public_base_url).hostname if buyer else None
    return host not in LOOPBACK


async def page_context(request: Request, cluster: str) -> AsyncIterator[Page]:
    registry = registry_of(request)
    if cluster not in registry.settings.clusters or registry.settings.cluster(cluster).buyer is None:
        raise PageNotFound()
    language, switched = language_of(request, LANGUAGE_COOKIE)
    async with page_unit_of_work(registry, cluster) as uow:
        yield Page(request, cluster, uow, language, switched=switched)


class PageNotFound(Exception):
    """No buyer pages for this cluster (unknown, or without a [buyer] configuration)."""


PageContext = Annotated[Page, Depends(page_context, scope="function")]








def _sign_in_page(page: Page) -> Response:
    # nothing was read; an idle session found ended on the way stays ended
    return page.redirect("/")


def _limited(page: Page, exc: SignInLimited) -> HTMLResponse:
    page.refuse()
    minutes = max(1, (exc.retry_after + 59) // 60)
    response = page.message(
        429,
        page._("Too many attempts"),
        labels.wait_text(page.language, minutes),
        page.base + "/",
        page._("Back to the sign-in page"),
    )
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _start_session(page: Page, token: str) -> RedirectResponse:
    response = page.redirect("/houses")
    response.set_cookie(SESSION_COOKIE, token, path=page.base, httponly=True, samesite="lax", secure=secure(page))
    return response


# -- signing in --------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def sign_in_page(page: PageContext, signed_out: bool = False) -> Response:
    if page.signed_in():
        return page.redirect("/houses")
    return page.render("sign_in.html", signed_out=signed_out)


@router.post("/sign-in", response_class=HTMLResponse)
def ask_sign_in(
    page: PageContext,
    email: Annotated[str, Form(max_length=320)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if not page.form_csrf_ok(csrf):
        return page.forbidden()
    try:
        handle = page.signin().request(email, page.language, page.request.client.host if page.request.client else None)
    except (InvalidAddress, InvalidInput):
        page.refuse()
        return page.render(
            "sign_in.html", 422, errors={"email": page._("Enter an e-mail address such as name@example.org")}
        )
    except SignInLimited as exc:
        return _limited(page, exc)
    return page.render("check_mail.html", handle=handle, minutes=page.config.buyer.link_minutes)


@router.post("/sign-in/code", response_class=HTMLResponse)
def sign_in_with_code(
    page: PageContext,
    handle: Annotated[str, Form(max_length=200)] = "",
    code: Annotated[str, Form(max_length=40)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if not page.form_csrf_ok(csrf):
        return page.forbidden()
    try:
        answer = page.signin().with_code(handle, code, page.request_id)
    except SignInRefused:
        page.refuse()
        return page.render("refused.html", 400)
    if answer.signed_in is None:
        if answer.tries_left <= 0:
            return page.render("refused.html", 400)
        error = labels.tries_left_text(page.language, answer.tries_left)
        return page.render(
            "check_mail.html", 400, handle=handle, minutes=page.config.buyer.link_minutes, errors={"code": error}
        )
    return _start_session(page, answer.signed_in.session_token)


@router.get("/sign-in/link/{token}", response_class=HTMLResponse)
def open_link(page: PageContext, token: str) -> Response:
    # opening changes nothing: mail scanners open links; the button below signs in
    return page.render("confirm_link.html", token=token if re.fullmatch(r"[A-Za-z0-9_-]{1,100}", token) else "")


@router.post("/sign-in/link", response_class=HTMLResponse)
def sign_in_with_link(
    page: PageContext,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if not page.form_csrf_ok(csrf):
        return page.forbidden()
    try:
        signed_in = page.signin().with_link(token, page.request_id)
    except SignInRefused:
        page.refuse()
        return page.render("refused.html", 400)
    return _start_session(page, signed_in.session_token)


@router.post("/sign-out", response_class=HTMLResponse)
def sign_out(page: PageContext, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    if not page.signed_in():
        return _sign_in_page(page)
    if not page.session_csrf_ok(csrf):
        return page.forbidden()
    assert page.session is not None
    page.signin().sign_out(page.session)
    response = page.redirect("/?signed_out=true")
    response.delete_cookie(SESSION_COOKIE, path=page.base, httponly=True, samesite="lax", secure=secure(page))
    return response


# -- the buyer's pages --------------------------------------------------------------------------------
def signed_in_page(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Signed-in pages: without a session, to the sign-in page (nothing is read)."""

    @functools.wraps(handler)
    def wrapper(page: Page, *args: Any, **kwargs: Any) -> Response:
        if not page.signed_in():
            return _sign_in_page(page)
        try:
            return handler(page, *args, **kwargs)
        except ClientError as exc:
            page.refuse()
            return page.message(
                exc.status_code if 400 <= exc.status_code < 500 else 400,
                page._("This did not work"),
                page._("Nothing was changed. Go back and try again."),
                page.base + "/houses",
                page._("Back to my pages"),
            )

    return wrapper


@router.get("/houses", response_class=HTMLResponse)
@signed_in_page
def houses_page(page: PageContext) -> Response:
    return page.render("houses.html", page="houses", houses=page.buyer().houses())


@router.get("/choices", response_class=HTMLResponse)
@signed_in_page
def choices_page(page: PageContext, saved: int | None = None) -> Response:
    return page.render("choices.html", page="choices", groups=page.buyer().choices(page.language), saved=saved)


@router.post("/choices", response_class=HTMLResponse)
@signed_in_page
def change_choices(
    page: PageContext,
    csrf: Annotated[str, Form(max_length=100)] = "",
    choice: Annotated[list[str] | None, Form(max_length=200)] = None,
    shown: Annotated[list[str] | None, Form(max_length=300)] = None,
) -> Response:
    if not page.session_csrf_ok(csrf):
        return page.forbidden()
    pairs = [s.rpartition("|") for s in (shown or [])[:200]]
    changed = page.buyer().change_choices(
        page.language, list(choice or [])[:200], {key: sha for key, _, sha in pairs}, page.evidence()
    )
    return page.redirect(f"/choices?saved={changed}")


@router.post("/choices/withdraw-marketing", response_class=HTMLResponse)
@signed_in_page
def withdraw_marketing(page: PageContext, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    if not page.session_csrf_ok(csrf):
        return page.forbidden()
    changed = page.buyer().withdraw_marketing(page.language, page.evidence())
    return page.redirect(f"/choices?saved={changed}")


@router.get("/access", response_class=HTMLResponse)
@signed_in_page
def access_page(page: PageContext, before: int | None = None) -> Response:
    buyer = page.buyer()
    lines, older = buyer.accesses(before if before is None or before > 0 else None)
    names = buyer.house_names()
    return page.render(
        "access.html", page="access", lines=lines, older=older, house_name=lambda slug: names.get(slug, slug)
    )


@router.get("/told", response_class=HTMLResponse)
@signed_in_page
def told_page(page: PageContext) -> Response:
    buyer = page.buyer()
    names = buyer.house_names()
    return page.render("told.html", page="told", lines=buyer.told(), house_name=lambda slug: names.get(slug, slug))


@router.get("/download", response_class=HTMLResponse)
@signed_in_page
def download_page(page: PageContext) -> Response:
    return page.render("download.html", page="download", information=page.buyer().information(page.language))


@router.get("/download/my-data.json")
@signed_in_page
def download_json(page: PageContext) -> Response:
    data = page.buyer().data(page.language)
    return Response(
        export.to_json(data),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-data.json"'},
    )


@router.get("/download/my-data.xlsx")
@signed_in_page
def download_xlsx(page: PageContext) -> Response:
    data = page.buyer().data(page.language)
    return Response(
        export.to_xlsx(data), media_type=XLSX, headers={"Content-Disposition": 'attachment; filename="my-data.xlsx"'}
    )


@router.get("/requests", response_class=HTMLResponse)
@signed_in_page
def requests_page(page: PageContext, received: str | None = None, withdrawn: str | None = None) -> Response:
    shown = received if received and REFERENCE.fullmatch(received) else None
    gone = withdrawn if withdrawn and REFERENCE.fullmatch(withdrawn) else None
    return page.render(
        "requests.html", page="requests", requests=page.buyer().requests(), received=shown, withdrawn=gone
    )


@router.post("/requests/{reference}/withdraw", response_class=HTMLResponse)
@signed_in_page
def withdraw_request(page: PageContext, reference: str, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    """The buyer withdraws an open request of theirs (not once it was carried out)."""
    if not page.session_csrf_ok(csrf) or not REFERENCE.fullmatch(reference):
        return page.forbidden()
    page.buyer().withdraw_request(reference)
    return page.redirect(f"/requests?withdrawn={reference}")


def _request_heading(page: Page, kind: str) -> str:
    return {
        "rectification": page._("Correct my data"),
        "restriction": page._("Restrict the use of my data"),
        "objection": page._("Object to a use of my data"),
    }[kind]


def _request_form(page: Page, kind: str, status: int = 200, **context: Any) -> HTMLResponse:
    return page.render(
        "request_form.html",
        status,
        page="requests",
        kind=kind,
        heading=_request_heading(page, kind),
        fields=RECTIFIABLE,
        purposes=[*HOUSE_PURPOSES, *CLUSTER_PURPOSES, "ticketing-service", "program-membership"],
        answers=context.pop("answers", {}),
        **context,
    )


@router.get("/requests/new/{kind}", response_class=HTMLResponse)
@signed_in_page
def request_form(page: PageContext, kind: str) -> Response:
    if kind not in ASKABLE:
        return page.message(
            404,
            page._("Page not found"),
            page._("There is no such page."),
            page.base + "/requests",
            page._("Back to my requests"),
        )
    return _request_form(page, kind)


@router.post("/requests/new/{kind}", response_class=HTMLResponse)
@signed_in_page
def make_request(
    page: PageContext,
    kind: str,
    csrf: Annotated[str, Form(max_length=100)] = "",
    field: Annotated[str, Form(max_length=40)] = "",
    value: Annotated[str, Form(max_length=400)] = "",
    purpose: Annotated[str, Form(max_length=80)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if not page.session_csrf_ok(csrf):
        return page.forbidden()
    if kind not in ASKABLE:
        page.refuse()
        return page.message(
            404,
            page._("Page not found"),
            page._("There is no such page."),
            page.base + "/requests",
            page._("Back to my requests"),
        )
    answers = {"field": field, "value": value, "purpose": purpose, "reason": reason}
    try:
        request = page.buyer().ask(kind, page.language, answers)
    except InvalidInput as exc:
        page.refuse()
        problems = exc.detail if isinstance(exc.detail, list) else []
        messages = {
            "field": page._("Choose the detail to correct"),
            "value": page._("Enter what it should be"),
            "purpose": page._("Choose what you object to"),
            "reason": page._("Remove the special characters from your text"),
        }
        errors = {p["field"]: messages.get(p["field"], page._("Check this answer")) for p in problems}
        return _request_form(page, kind, 422, errors=errors, answers=answers)
    return page.redirect(f"/requests?received={request.reference}")


@router.get("/requests/erase", response_class=HTMLResponse)
@signed_in_page
def erase_page(page: PageContext) -> Response:
    return page.render("erase.html", page="requests", confirm=False)


@router.post("/requests/erase", response_class=HTMLResponse)
@signed_in_page
def erase_first_click(page: PageContext, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    if not page.session_csrf_ok(csrf):
        return page.forbidden()
    return page.render("erase.html", page="requests", confirm=True)


@router.post("/requests/erase/confirm", response_class=HTMLResponse)
@signed_in_page
def erase_confirmed(
    page: PageContext,
    csrf: Annotated[str, Form(max_length=100)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if not page.session_csrf_ok(csrf) or confirm != "yes":
        return page.forbidden()
    request = page.buyer().erase(page.language)
    page.session = None
    response = page.render("erased.html", reference=request.reference)
    response.delete_cookie(SESSION_COOKIE, path=page.base, httponly=True, samesite="lax", secure=secure(page))
    return response


@router.get("/{rest:path}", response_class=HTMLResponse)
def no_such_page(page: PageContext, rest: str) -> Response:
    """Any other path under the buyer's pages: an HTML page that says so (never the API's JSON)."""
    page.signed_in()
    return page.message(
        404, page._("Page not found"), page._("There is no such page."), page.base + "/", page._("Start again")
    )


# -- wiring ---------------------------------------------------------------------------------------------
class RedactSignInTokens(logging.Filter):
    """Access logs never carry a sign-in token: the path of a link's page is logged without it."""

    PATTERN = re.compile(r"(/sign-in/link/)[A-Za-z0-9_%-]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(self.PATTERN.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = self.PATTERN.sub(r"\1[redacted]", record.msg)
        return True


PAGE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"interest-cohort=()"),
]


class PageHeaders:
    """The pages' security headers, on /my/ and / only. Plain ASGI: an ``@app.middleware("http")``
    function would cost every API request a task and a copied answer stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path.startswith("/my/") or path == "/"):
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
    """The buyer's pages, their stylesheet, their security headers, the root redirect and the log filter."""
    # the stylesheet first: the pages' catch-all would answer /my/static/... otherwise
    app.mount("/my/static", StaticFiles(directory=HERE / "static"), name="buyer-static")
    app.include_router(router)
    for name in ("uvicorn.access", "uvicorn.error", "consent_hub"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSignInTokens) for f in logger.filters):
            logger.addFilter(RedactSignInTokens())

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> HTMLResponse:
        language = negotiate(request.headers.get("accept-language"))
        env = _env(language)
        body = env.get_template("message.html").render(
            cluster_name="consent-hub",
            base="",
            here=request.url.path,
            signed_in=False,
            csrf="",
            errors={},
            page="",
            heading=labels.tr(language, "Page not found"),
            message=labels.tr(language, "There is no such page."),
            link=None,
            link_text="",
        )
        return HTMLResponse(body, status_code=404)

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> Response:
        settings = registry_of(request).settings
        for name in sorted(settings.clusters):
            if settings.clusters[name].buyer is not None:
                return RedirectResponse(f"/my/{name}/", status_code=303)
        return RedirectResponse("/docs", status_code=303)

    app.add_middleware(PageHeaders)
