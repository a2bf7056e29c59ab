"""Rendering and sending mail. Sending happens in one background thread after the unit of work
commits: a sign-in answers in the same time whether or not a mail goes out, and a mail never
names a token that was rolled back. Failures are logged by their type only (never the address).

A mail waiting in the thread is lost if the process stops (the buyer asks again); the sign-in
mails are short-lived by design, so there is no durable mail queue."""

from __future__ import annotations

import functools
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import event
from sqlalchemy.orm import Session

from consent_hub.config import MailConfig
from consent_hub.errors import ConfigurationError
from consent_hub.i18n import environment

log = logging.getLogger("consent_hub.mail")
TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str


@functools.cache
def _environment(language: str) -> jinja2.Environment:
    return environment(TEMPLATES, language)


def render(name: str, language: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the mail ``name`` in ``language``."""
    env = _environment(language)
    subject = env.get_template(f"{name}.subject.txt").render(context).strip()
    text = env.get_template(f"{name}.txt").render(context)
    html = env.get_template(f"{name}.html").render(context)
    return subject, text, html


def compose(name: str, language: str, to: str, context: Mapping[str, Any]) -> Mail:
    subject, text, html = render(name, language, context)
    return Mail(to=to, subject=subject, text=text, html=html)


def build_message(config: MailConfig, mail: Mail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = config.sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(usegmt=True)
    domain = parseaddr(config.sender)[1].rpartition("@")[2] or None
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to sign-in mails
    msg.set_content(mail.text)
    msg.add_alternative(mail.html, subtype="html")
    return msg


def send(config: MailConfig, mail: Mail) -> None:
    """Send one mail now over SMTP (TLS as configured)."""
    msg = build_message(config, mail)
    context = ssl.create_default_context(cafile=config.ca_file)
    smtp: smtplib.SMTP
    if config.tls == "tls":
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_seconds, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
    with smtp:
        if config.tls == "starttls":
            smtp.starttls(context=context)
        password = config.password_value()
        if config.username and password is not None:
            smtp.login(config.username, password)
        smtp.send_message(msg)


# The sending thread waits this long before it talks SMTP. Measured here: sending right after the
# commit competed with the answer for the GIL and made the answer to a known address ~2.5 ms
# slower than to an unknown one (no mail); waiting moves that work after the answer has left.
SEND_DELAY_SECONDS = 0.2


class MailQueue:
    """One sending thread per process; ``send_after_commit`` hands it a mail once the session commits."""

    def __init__(self, delay_seconds: float = SEND_DELAY_SECONDS) -> None:
        self.delay_seconds = delay_seconds
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consent-hub-mail")
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()

    def send_after_commit(self, session: Session, config: MailConfig | None, mail: Mail, *, send: bool = True) -> None:
        """Hand ``mail`` over once the session commits. ``send=False`` does all the same work but
        sends nothing (a sign-in for an unknown address must cost what a known one costs)."""
        if config is None:
            raise ConfigurationError("this cluster has no [mail] configuration")

        def hand_over(_session: object) -> None:
            self.submit(config, mail if send else None)

        event.listen(session, "after_commit", hand_over, once=True)

    def submit(self, config: MailConfig, mail: Mail | None) -> Future[None]:
        future = self._pool.submit(self._send, config, mail, self.delay_seconds)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    @staticmethod
    def _send(config: MailConfig, mail: Mail | None, delay_seconds: float) -> None:
        time.sleep(delay_seconds)
        if mail is None:
            return
        try:
            send(config, mail)
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("a mail could not be sent (%s)", type(exc).__name__)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every handed-over mail was tried (tests, shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)


_queue: MailQueue | None = None
_queue_lock = threading.Lock()


def mail_queue() -> MailQueue:
    """The process's mail queue."""
    global _queue
    with _queue_lock:
        if _queue is None:
            _queue = MailQueue()
        return _queue
