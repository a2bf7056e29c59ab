"""One request to a server-rendered page, as the buyer's pages and the DPO console both serve them:
the cluster's unit of work (committed once, before the answer; rolled back by a refusal), the
language (``?lang=`` switch, kept in a cookie, else the browser's), the sign-in forms' keyed
double-submit CSRF token, the same-origin rule for POSTs, and rendering with the common values.
Each set of pages says its own path, cookies, session and template environment."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from consent_hub.clusters import ClusterRegistry, UnitOfWork, cluster_scope
from consent_hub.crypto.randomness import TOKEN_SHAPE, new_token
from consent_hub.i18n import LANGUAGES, chosen_language, negotiate, translations

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def language_of(request: Request, cookie: str) -> tuple[str, str | None]:
    """(the page's language, the one just chosen with ``?lang=`` if any)."""
    asked = request.query_params.get("lang")
    switched = asked if asked in LANGUAGES else None
    kept = request.cookies.get(cookie)
    if switched or kept:
        return chosen_language(switched, kept), switched
    return negotiate(request.headers.get("accept-language")), switched


@asynccontextmanager
async def page_unit_of_work(registry: ClusterRegistry, cluster: str) -> AsyncIterator[UnitOfWork]:
    """The page's unit of work: committed once after the handler, rolled back on any error."""
    with cluster_scope(cluster):
        uow = await run_in_threadpool(registry.open, cluster)
        try:
            yield uow
            await run_in_threadpool(uow.commit)
        except BaseException:
            await run_in_threadpool(uow.rollback)
            raise
        finally:
            await run_in_threadpool(uow.close)


def same_origin(request: Request, also: frozenset[str] = frozenset()) -> bool:
    """A POST from another site is refused. Browsers say where a request comes from in
    ``Sec-Fetch-Site``; older ones only in ``Origin``, which is ``null`` under our
    ``Referrer-Policy: no-referrer`` (then the CSRF token and the SameSite cookie protect a form)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return origin == f"{request.url.scheme}://{request.url.netloc}" or origin in also


class SessionKeeper(Protocol):
    """What a set of pages' sign-in service offers the page: its sessions and CSRF tokens."""

    def csrf_of(self, token: str) -> str: ...

    def session(self, token: str | None, request_id: str | None = None) -> Any: ...

    def set_language(self, session: Any, language: str) -> None: ...

    def csrf_ok(self, session: Any, submitted: str | None) -> bool: ...


@dataclass
class HtmlPage:
    """The common part of one page request; subclasses name the prefix and the cookies and give
    the template environment, the cookie attributes and the sign-in forms' token."""

    PREFIX: ClassVar[str]
    SESSION_COOKIE: ClassVar[str]
    FORM_COOKIE: ClassVar[str]
    LANGUAGE_COOKIE: ClassVar[str]

    request: Request
    cluster: str
    uow: UnitOfWork
    language: str
    switched: str | None = None  # a language chosen by ?lang= (kept in a cookie)
    new_form_cookie: str | None = None
    session: Any = None  # the signed-in user's session, once ``signed_in`` found it

    # -- what each set of pages says ------------------------------------------------------------
    def environment(self) -> jinja2.Environment:
        raise NotImplementedError

    def cookie_options(self) -> dict[str, Any]:
        raise NotImplementedError

    def signin(self) -> SessionKeeper:
        raise NotImplementedError

    def signed_in_values(self) -> dict[str, Any]:
        """``signed_in``, ``csrf`` and whatever else the templates need of the session."""
        raise NotImplementedError

    def allowed_origins(self) -> frozenset[str]:
        return frozenset()

    # -- shared ---------------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"/{self.PREFIX}/{self.cluster}"

    @property
    def config(self) -> Any:
        return self.uow.rt.settings.cluster(self.cluster)

    @property
    def request_id(self) -> str | None:
        return getattr(self.request.state, "request_id", None)

    def same_origin(self) -> bool:
        return same_origin(self.request, self.allowed_origins())

    def form_token_of(self, cookie: str) -> str:
        """The sign-in forms' CSRF token for the form cookie's value (keyed)."""
        return self.signin().csrf_of(f"form|{cookie}")

    def signed_in(self) -> bool:
        """Find the session of the cookie; the user's own language unless they switched (then the
        switch is kept in the session)."""
        keeper = self.signin()
        self.session = keeper.session(self.request.cookies.get(self.SESSION_COOKIE), self.request_id)
        if self.session is None:
            return False
        if not (self.switched or self.request.cookies.get(self.LANGUAGE_COOKIE)):
            self.language = self.session.language
        if self.switched and self.switched != self.session.language:
            keeper.set_language(self.session, self.switched)
        return True

    def session_csrf_ok(self, csrf: str | None) -> bool:
        """A signed-in form: same origin and the session's CSRF token."""
        return self.session is not None and self.same_origin() and self.signin().csrf_ok(self.session, csrf)

    def forbidden(self) -> HTMLResponse:
        """A form whose token is missing, wrong or from another site: nothing is kept."""
        self.refuse()
        return self.message(
            403,
            self._("This form has expired"),
            self._("Go back, reload the page and try again."),
            self.base + "/",
            self._("Start again"),
        )

    def form_csrf(self) -> str:
        """The sign-in forms' CSRF token, from the form cookie (a new one if there is none)."""
        cookie = self.request.cookies.get(self.FORM_COOKIE)
        if not cookie or not TOKEN_SHAPE.match(cookie):
            cookie = self.new_form_cookie = self.new_form_cookie or new_token()
        return self.form_token_of(cookie)

    def form_csrf_ok(self, submitted: str) -> bool:
        cookie = self.request.cookies.get(self.FORM_COOKIE)
        if not cookie or not TOKEN_SHAPE.match(cookie) or not self.same_origin():
            return False
        return hmac.compare_digest(self.form_token_of(cookie), submitted)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        values: dict[str, Any] = {
            "cluster_name": self.config.display_name or self.cluster,
            "base": self.base,
            # the language switch reloads this page; after a POST, the start page (a POST is not repeated)
            "here": self.request.url.path if self.request.method == "GET" else self.base + "/",
            "errors": {},
            "page": "",
            **self.signed_in_values(),
        }
        if not values["signed_in"]:
            values["form_csrf"] = self.form_csrf()
        values.update(context)
        response = HTMLResponse(self.environment().get_template(template).render(values), status_code=status)
        self.keep_language(response)
        if self.new_form_cookie:
            response.set_cookie(self.FORM_COOKIE, self.new_form_cookie, **self.cookie_options())
        return response

    def keep_language(self, response: Response) -> None:
        if self.switched:
            response.set_cookie(self.LANGUAGE_COOKIE, self.switched, **self.cookie_options())

    def redirect(self, path: str) -> RedirectResponse:
        response = RedirectResponse(self.base + path, status_code=303)
        self.keep_language(response)
        return response

    def refuse(self) -> None:
        """Roll back what this request did (the unit of work then commits nothing)."""
        self.uow.rollback()

    def message(
        self, status: int, heading: str, message: str, link: str | None = None, link_text: str = ""
    ) -> HTMLResponse:
        return self.render("message.html", status, heading=heading, message=message, link=link, link_text=link_text)

    def _(self, text: str) -> str:
        return translations(self.language).gettext(text)
