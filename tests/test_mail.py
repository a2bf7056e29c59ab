"""Mail over real SMTP (issue 14, point 2): a multipart plain-text + HTML mail rendered in each
language reaches a real SMTP server on loopback (aiosmtpd), sent as the cluster's own sender."""

from __future__ import annotations

import datetime as dt
import ipaddress
import smtplib
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself (the test's private CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_starttls_and_login_as_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret-for-tests")
    with MailCatcher(tls_context=server_tls, credentials=("hub", "s3cret-for-tests")) as secure:
        cfg = MailConfig(
            host="127.0.0.1",
            port=secure.smtp_port,
            tls="starttls",
            username="hub",
            password_env="TEST_SMTP_PASSWORD",
            sender="Cluster Leie <privacy@leie.example.org>",
            ca_file=str(cert_file),
        )
        send(cfg, compose("sign_in", "fr", "tls@example.org", CONTEXT))
        assert secure.wait_for("tls@example.org")[0].subject.startswith("Connexion")
        assert secure.logins == ["hub"]
        # without TLS the server refuses the mail (it requires STARTTLS), and the hub says so
        with pytest.raises(smtplib.SMTPException):
            send(cfg.model_copy(update={"tls": "none"}), compose("sign_in", "fr", "plain@example.org", CONTEXT))
        assert not secure.to("plain@example.org")


def test_implicit_tls_as_configured(tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    with MailCatcher(tls_context=server_tls, implicit_tls=True) as secure:
        cfg = MailConfig(
            host="127.0.0.1",
            port=secure.smtp_port,
            tls="tls",
            sender="x <privacy@leie.example.org>",
            ca_file=str(cert_file),
        )
        send(cfg, compose("sign_in", "nl", "implicit@example.org", CONTEXT))
        assert secure.wait_for("implicit@example.org")[0].subject.startswith("Aanmelden")
