"""The catcher itself: an aiosmtpd server, an in-memory store, an optional folder, a page."""

from __future__ import annotations

import datetime as dt
import html
import ssl
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from fakes.server import RunningServer, free_port, serve_in_thread


@dataclass(frozen=True)
class CaughtMail:
    number: int
    received_at: dt.datetime
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        return "" if body is None else str(body.get_content())

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")


class MailCatcher:
    """Accepts mail on ``smtp_port``; ``mails`` lists them in order of arrival."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        smtp_port: int | None = None,
        folder: Path | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        """``tls_context`` offers STARTTLS and requires it (``implicit_tls``: TLS from the first byte,
        as on port 465); ``credentials`` (user, password) require AUTH over TLS: a test of the hub's
        TLS and login settings against a real server."""
        self.host = host
        self.smtp_port = smtp_port or free_port()
        self.folder = folder
        self._lock = threading.Lock()
        self._mails: list[CaughtMail] = []
        self.logins: list[str] = []
        options: dict[str, Any] = {}
        if tls_context is not None and implicit_tls:
            options.update(ssl_context=tls_context)
        elif tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=True)
        if credentials is not None:
            options.update(authenticator=self._authenticator(credentials), auth_required=True)
        self._controller = Controller(self, hostname=host, port=self.smtp_port, **options)

    def _authenticator(self, credentials: tuple[str, str]) -> Any:
        def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
            if isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == credentials:
                self.logins.append(data.login.decode())
                return AuthResult(success=True)
            return AuthResult(success=False, handled=False)

        return authenticate

    # aiosmtpd handler hook
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        message = message_from_bytes(data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            mail = CaughtMail(
                len(self._mails) + 1,
                dt.datetime.now(dt.UTC),
                str(envelope.mail_from or ""),
                tuple(str(r) for r in envelope.rcpt_tos),
                message,
            )
            self._mails.append(mail)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{mail.number:05d}.eml").write_bytes(data)
        return "250 Message accepted for delivery"

    def start(self) -> MailCatcher:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def mails(self) -> list[CaughtMail]:
        with self._lock:
            return list(self._mails)

    def to(self, address: str) -> list[CaughtMail]:
        return [m for m in self.mails if address.lower() in (r.lower() for r in m.recipients)]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> list[CaughtMail]:
        """The mails to ``address`` once ``count`` of them arrived (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{count} mail(s) to the address did not arrive within {timeout} s")


def create_app(catcher: MailCatcher) -> Starlette:
    """``/``: the list of mails (newest first); ``/mails/<n>``: one mail's HTML part, ``/mails/<n>.txt``
    its plain text; ``/mails.json``: the list as JSON."""

    def page(title: str, body: str) -> HTMLResponse:
        return HTMLResponse(
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
        )

    async def index(request: Request) -> Response:
        rows = "".join(
            f'<li><a href="/mails/{m.number}">{html.escape(m.subject)}</a> to {html.escape(", ".join(m.recipients))}'
            f' at {m.received_at:%Y-%m-%d %H:%M:%S} UTC (<a href="/mails/{m.number}.txt">text</a>)</li>'
            for m in reversed(catcher.mails)
        )
        return page("Demo mail catcher", f"<p>SMTP on {catcher.host}:{catcher.smtp_port}.</p><ul>{rows}</ul>")

    def _mail(request: Request) -> CaughtMail | None:
        number = str(request.path_params["number"]).removesuffix(".txt")
        mails = catcher.mails
        if not number.isdigit() or not 1 <= int(number) <= len(mails):
            return None
        return mails[int(number) - 1]

    async def one(request: Request) -> Response:
        mail = _mail(request)
        if mail is None:
            return PlainTextResponse("no such mail", status_code=404)
        if str(request.path_params["number"]).endswith(".txt"):
            return PlainTextResponse(mail.text)
        return HTMLResponse(mail.html)

    async def listing(request: Request) -> Response:
        out: list[dict[str, Any]] = [
            {
                "number": m.number,
                "to": list(m.recipients),
                "subject": m.subject,
                "received_at": m.received_at.isoformat(),
            }
            for m in catcher.mails
        ]
        return JSONResponse(out)

    return Starlette(
        routes=[Route("/", index), Route("/mails.json", listing), Route("/mails/{number}", one)],
    )


@dataclass
class RunningCatcher:
    catcher: MailCatcher
    page: RunningServer

    def stop(self) -> None:
        self.page.stop()
        self.catcher.stop()


def start_mail_catcher(host: str, port: int, seed: int, size: str, evolve_every: float = 0.0) -> RunningCatcher:
    """The demo's catcher (a ``[fake_engines.mailcatcher]`` entry): its page on ``port``, SMTP on the
    port given as ``size = "smtp=<port>"`` (default 2525)."""
    smtp_port = int(size.removeprefix("smtp=")) if size.startswith("smtp=") else 2525
    catcher = MailCatcher(host, smtp_port).start()
    return RunningCatcher(catcher, serve_in_thread(create_app(catcher), host=host, port=port))
