"""Mail over real SMTP (issue 14, point 2): a multipart plain-text + HTML mail rendered in each
language reaches a real SMTP server on loopback (aiosmtpd), sent as the cluster's own sender."""

from __future__ import annotations

import pytest

from consent_hub.config import MailConfig
from consent_hub.mail.sender import MailQueue, compose, send
from fakes.mailcatcher import MailCatcher

CONTEXT = {
    "cluster_name": "Cluster Leie",
    "link": "https://hub.example.org/my/alpha/sign-in/link/abc",
    "code": "123456",
    "minutes": 15,
}


@pytest.fixture
def catcher() -> MailCatcher:
    with MailCatcher() as running:
        yield running


def config(catcher: MailCatcher, sender: str = "Cluster Leie <privacy@leie.example.org>") -> MailConfig:
    return MailConfig(host=catcher.host, port=catcher.smtp_port, tls="none", sender=sender)


@pytest.mark.parametrize(("language", "words"), [("nl", "Aanmelden"), ("en", "Sign in"), ("fr", "Connexion")])
def test_a_sign_in_mail_arrives_as_text_and_html_in_the_language(
    catcher: MailCatcher, language: str, words: str
) -> None:
    send(config(catcher), compose("sign_in", language, "buyer@example.org", CONTEXT))
    (mail,) = catcher.wait_for("buyer@example.org")
    assert mail.message.get_content_type() == "multipart/alternative"
    assert words in mail.subject
    assert "123456" in mail.text and CONTEXT["link"] in mail.text
    assert f'href="{CONTEXT["link"]}"' in mail.html
    assert mail.message["From"] == "Cluster Leie <privacy@leie.example.org>"
    assert mail.message["Auto-Submitted"] == "auto-generated"


def test_each_cluster_sends_as_its_own_sender(catcher: MailCatcher) -> None:
    send(config(catcher, "Zuidwest <privacy@zuidwest.example.org>"), compose("sign_in", "nl", "a@example.org", CONTEXT))
    send(config(catcher, "Gent <privacy@gent.example.org>"), compose("sign_in", "nl", "b@example.org", CONTEXT))
    assert catcher.wait_for("a@example.org")[0].sender == "privacy@zuidwest.example.org"
    assert catcher.wait_for("b@example.org")[0].sender == "privacy@gent.example.org"


def test_the_queue_sends_in_the_background_and_a_dead_server_is_only_logged(
    catcher: MailCatcher, caplog: pytest.LogCaptureFixture
) -> None:
    queue = MailQueue()
    queue.submit(config(catcher), compose("sign_in", "en", "queued@example.org", CONTEXT))
    queue.drain()
    assert catcher.wait_for("queued@example.org")
    dead = MailConfig(host="127.0.0.1", port=9, tls="none", sender="x@example.org", timeout_seconds=2)
    queue.submit(dead, compose("sign_in", "en", "lost@example.org", CONTEXT))
    queue.drain()
    assert "could not be sent" in caplog.text
    assert "lost@example.org" not in caplog.text
